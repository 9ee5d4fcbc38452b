//! Reactions on comments: `/repos/{o}/{r}/issues/comments/{id}/reactions` for issue
//! (and pull request conversation) comments, `/repos/{o}/{r}/pulls/comments/{id}/...`
//! for review comments, told apart by the const parameter `DIFF`. GitHub answers a new
//! reaction with 201 and the caller's existing one of the same content with 200.

use std::sync::Arc;

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{Caller, Query, created, full, ok, paginate, str_field};
use crate::Sim;
use crate::error::ApiError;
use crate::ops::GITHUB_REACTIONS;

type Res = Result<Response, ApiError>;

/// GitHub's schema check of `content`: missing, or not one of its eight, is a 422.
fn content_of(body: &Value) -> Result<String, ApiError> {
    let invalid = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m);
    let content = str_field(body, "content")
        .ok_or_else(|| invalid("Invalid request.\n\n\"content\" wasn't supplied.".into()))?;
    if !GITHUB_REACTIONS.contains(&content.as_str()) {
        let allowed = GITHUB_REACTIONS
            .iter()
            .map(|c| format!("{c:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(invalid(format!(
            "Invalid request.\n\nFor 'properties/content', {content:?} is not one of [{allowed}]."
        )));
    }
    Ok(content)
}

/// `GET .../comments/{id}/reactions`: oldest first, `content` filters.
pub async fn list<const DIFF: bool>(
    State(sim): State<Arc<Sim>>,
    Path((o, r, id)): Path<(String, String, u64)>,
    uri: OriginalUri,
    q: Query,
) -> Res {
    let reactions = sim.reactions_on(&full(&o, &r), id, DIFF)?;
    let items = {
        let world = sim.world();
        reactions
            .iter()
            .filter(|x| q.get("content").is_none_or(|c| *c == x.content))
            .map(|x| sim.urls.reaction(&world, x))
            .collect()
    };
    Ok(paginate(&sim, &uri, &q, items))
}

/// `POST .../comments/{id}/reactions` with `{"content": ...}`.
pub async fn create<const DIFF: bool>(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r, id)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> Res {
    let actor = caller.actor()?;
    let content = content_of(&body)?;
    let (reaction, new) = sim.react(actor, &full(&o, &r), id, DIFF, &content)?;
    let v = sim.urls.reaction(&sim.world(), &reaction);
    Ok(if new { created(v) } else { ok(v) })
}

/// `DELETE .../comments/{id}/reactions/{reaction_id}`: 204.
pub async fn delete<const DIFF: bool>(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r, id, reaction)): Path<(String, String, u64, u64)>,
) -> Res {
    sim.unreact(caller.actor()?, &full(&o, &r), id, DIFF, reaction)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
