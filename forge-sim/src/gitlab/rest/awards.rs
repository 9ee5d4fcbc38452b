//! Award emoji on notes: `.../{issues,merge_requests}/:iid/notes/:note_id/award_emoji`
//! (diff notes are merge request notes), told apart by the const parameter `MR`, and
//! `GET /user`, which a client needs to tell its own awards from other people's.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;

use super::{Caller, GlError, Res, created, ok, paginate, params, project_path};
use crate::Sim;
use crate::gitlab::render;
use crate::ops::gitlab::AwardRefusal;

impl From<AwardRefusal> for GlError {
    fn from(e: AwardRefusal) -> Self {
        match e {
            // GitLab answers every refused award with `not_found!("Award Emoji <why>")`.
            AwardRefusal::Taken | AwardRefusal::Refused(_) => Self::new(
                StatusCode::NOT_FOUND,
                format!("404 Award Emoji {e} Not Found"),
            ),
            AwardRefusal::Unauthorized => Self::unauthorized(),
            AwardRefusal::Other(e) => e.into(),
        }
    }
}

/// `GET /user`: the caller; 401 without a token.
pub async fn current_user(State(sim): State<Arc<Sim>>, caller: Caller) -> Res {
    let id = caller.actor()?;
    Ok(ok(render::current_user(&sim.urls, &sim.world(), id)))
}

/// `GET .../notes/:note_id/award_emoji`, oldest first, paged.
pub async fn list<const MR: bool>(
    State(sim): State<Arc<Sim>>,
    Path((id, iid, note)): Path<(String, u64, u64)>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Res {
    let path = project_path(&sim, &id)?;
    let p = params(&uri, &headers, &Bytes::new());
    let awards = sim.gl_awards(&path, iid, MR, note)?;
    let items = {
        let world = sim.world();
        awards
            .iter()
            .map(|a| render::award(&sim.urls, &world, note, a))
            .collect()
    };
    Ok(paginate(&sim, &uri, &p, items))
}

/// `GET .../notes/:note_id/award_emoji/:award_id`.
pub async fn get_one<const MR: bool>(
    State(sim): State<Arc<Sim>>,
    Path((id, iid, note, award)): Path<(String, u64, u64, u64)>,
) -> Res {
    let path = project_path(&sim, &id)?;
    let awards = sim.gl_awards(&path, iid, MR, note)?;
    let a = awards
        .iter()
        .find(|a| a.id == award)
        .ok_or_else(|| GlError::new(StatusCode::NOT_FOUND, "404 Not found"))?;
    Ok(ok(render::award(&sim.urls, &sim.world(), note, a)))
}

/// `POST .../notes/:note_id/award_emoji` with `name`: 201, or 404 for a name the
/// caller gave this note already.
pub async fn create<const MR: bool>(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((id, iid, note)): Path<(String, u64, u64)>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    let path = project_path(&sim, &id)?;
    let p = params(&uri, &headers, &body);
    let actor = caller.actor()?;
    let name = p
        .get("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| GlError::param("name is missing"))?;
    let award = sim.gl_award(actor, &path, iid, MR, note, name)?;
    Ok(created(render::award(
        &sim.urls,
        &sim.world(),
        note,
        &award,
    )))
}

/// `DELETE .../notes/:note_id/award_emoji/:award_id`: 204; someone else's is 401.
pub async fn delete<const MR: bool>(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((id, iid, note, award)): Path<(String, u64, u64, u64)>,
) -> Res {
    let path = project_path(&sim, &id)?;
    sim.gl_unaward(caller.actor()?, &path, iid, MR, note, award)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
