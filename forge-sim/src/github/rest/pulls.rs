//! `/repos/{o}/{r}/pulls...`: pull requests, reviews, review comments and merging.

use std::sync::Arc;

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Caller, Query, full, ok, paginate, str_field};
use crate::error::{ApiError, SimError};
use crate::git::MergeMethod;
use crate::ops::{NewPull, PullPatch};
use crate::world::{IssueState, ReviewState};
use crate::{Sim, ops};

type Res = Result<Response, ApiError>;

fn render_pull(sim: &Sim, repo: &str, n: u64) -> Res {
    let world = sim.world();
    let r = ops::repo_of(&world, repo)?;
    let (Some(issue), Some(pr)) = (r.issues.get(&n), r.pulls.get(&n)) else {
        return Err(ApiError::not_found());
    };
    Ok(ok(sim.urls.pull(&world, r, issue, pr)))
}

pub async fn list(
    State(sim): State<Arc<Sim>>,
    Path((o, r)): Path<(String, String)>,
    uri: OriginalUri,
    q: Query,
) -> Res {
    let items = {
        let world = sim.world();
        let repo = ops::repo_of(&world, &full(&o, &r))?;
        let state = q.get("state").map(String::as_str).unwrap_or("open");
        let head = q
            .get("head")
            .map(|h| h.split_once(':').map_or(h.as_str(), |(_, b)| b));
        let mut pulls: Vec<_> = repo
            .pulls
            .values()
            .filter(|p| state == "all" || repo.issues[&p.number].state.as_str() == state)
            .filter(|p| head.is_none_or(|h| p.head_ref == h))
            .filter(|p| q.get("base").is_none_or(|b| p.base_ref == *b))
            .collect();
        pulls.sort_by_key(|p| std::cmp::Reverse(p.number));
        pulls
            .into_iter()
            .map(|p| sim.urls.pull(&world, repo, &repo.issues[&p.number], p))
            .collect()
    };
    Ok(paginate(&sim, &uri, &q, items))
}

pub async fn get_one(
    State(sim): State<Arc<Sim>>,
    Path((o, r, n)): Path<(String, String, u64)>,
) -> Res {
    render_pull(&sim, &full(&o, &r), n)
}

pub async fn create(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Res {
    let repo = full(&o, &r);
    let field = |k: &str| {
        str_field(&body, k).ok_or_else(|| ApiError::validation("PullRequest", k, "missing_field"))
    };
    let new = NewPull {
        title: field("title")?,
        head: field("head")?
            .split_once(':')
            .map_or_else(|| field("head"), |(_, b)| Ok(b.to_owned()))?,
        base: field("base")?,
        body: str_field(&body, "body"),
        draft: body.get("draft").and_then(Value::as_bool).unwrap_or(false),
    };
    let n = sim.open_pull(caller.actor()?, &repo, new).await?;
    let mut res = render_pull(&sim, &repo, n)?;
    *res.status_mut() = StatusCode::CREATED;
    Ok(res)
}

pub async fn patch(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r, n)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> Res {
    let repo = full(&o, &r);
    let state = match body.get("state").and_then(Value::as_str) {
        None => None,
        Some("open") => Some(IssueState::Open),
        Some("closed") => Some(IssueState::Closed),
        Some(_) => return Err(ApiError::validation("PullRequest", "state", "invalid")),
    };
    let patch = PullPatch {
        title: str_field(&body, "title"),
        body: str_field(&body, "body"),
        state,
    };
    sim.edit_pull(caller.actor()?, &repo, n, patch)?;
    render_pull(&sim, &repo, n)
}

pub async fn list_reviews(
    State(sim): State<Arc<Sim>>,
    Path((o, r, n)): Path<(String, String, u64)>,
    uri: OriginalUri,
    q: Query,
) -> Res {
    let items = {
        let world = sim.world();
        let repo = ops::repo_of(&world, &full(&o, &r))?;
        let pr = repo.pulls.get(&n).ok_or(SimError::NoIssue(n))?;
        pr.reviews
            .iter()
            .map(|rv| sim.urls.review(&world, repo, n, rv))
            .collect()
    };
    Ok(paginate(&sim, &uri, &q, items))
}

pub async fn create_review(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r, n)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> Res {
    let repo = full(&o, &r);
    let state = match body.get("event").and_then(Value::as_str) {
        Some("APPROVE") => ReviewState::Approved,
        Some("REQUEST_CHANGES") => ReviewState::ChangesRequested,
        Some("COMMENT") => ReviewState::Commented,
        // A review without `event` stays pending on GitHub; the simulator does not model
        // pending reviews.
        _ => {
            return Err(ApiError::validation(
                "PullRequestReview",
                "event",
                "missing_field",
            ));
        }
    };
    let id = sim.review(
        caller.actor()?,
        &repo,
        n,
        state,
        str_field(&body, "body").as_deref(),
    )?;
    let world = sim.world();
    let r = ops::repo_of(&world, &repo)?;
    let review = r.pulls[&n]
        .reviews
        .iter()
        .find(|rv| rv.id == id)
        .expect("just created");
    Ok(ok(sim.urls.review(&world, r, n, review)))
}

pub async fn list_review_comments(
    State(sim): State<Arc<Sim>>,
    Path((o, r, n)): Path<(String, String, u64)>,
    uri: OriginalUri,
    q: Query,
) -> Res {
    let items = {
        let world = sim.world();
        let repo = ops::repo_of(&world, &full(&o, &r))?;
        let pr = repo.pulls.get(&n).ok_or(SimError::NoIssue(n))?;
        pr.review_comments
            .iter()
            .map(|c| sim.urls.review_comment(&world, repo, n, c))
            .collect()
    };
    Ok(paginate(&sim, &uri, &q, items))
}

pub async fn merge(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r, n)): Path<(String, String, u64)>,
    body: Option<Json<Value>>,
) -> Res {
    let repo = full(&o, &r);
    let body = body.map(|Json(b)| b).unwrap_or(Value::Null);
    let method = match body.get("merge_method").and_then(Value::as_str) {
        None | Some("merge") => MergeMethod::Merge,
        Some("squash") => MergeMethod::Squash,
        Some("rebase") => MergeMethod::Rebase,
        Some(_) => {
            return Err(ApiError::validation(
                "PullRequest",
                "merge_method",
                "invalid",
            ));
        }
    };
    let message = match (
        str_field(&body, "commit_title"),
        str_field(&body, "commit_message"),
    ) {
        (Some(t), Some(m)) => Some(format!("{t}\n\n{m}")),
        (Some(t), None) => Some(t),
        (None, Some(m)) => Some(m),
        (None, None) => None,
    };
    let sha = sim
        .merge_pull(
            caller.actor()?,
            &repo,
            n,
            method,
            str_field(&body, "sha").as_deref(),
            message,
        )
        .await?;
    Ok(ok(
        json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"}),
    ))
}

pub async fn is_merged(
    State(sim): State<Arc<Sim>>,
    Path((o, r, n)): Path<(String, String, u64)>,
) -> Res {
    let world = sim.world();
    let repo = ops::repo_of(&world, &full(&o, &r))?;
    let merged = repo.pulls.get(&n).is_some_and(|p| p.merged);
    Ok(if merged {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
    .into_response())
}

/// `POST /repos/{o}/{r}/pulls/{n}/comments`: comment on a line (`path`, `line`).
pub async fn create_review_comment(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r, n)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> Res {
    let repo = full(&o, &r);
    let missing = |f: &str| ApiError::validation("PullRequestReviewComment", f, "missing_field");
    let text = str_field(&body, "body").ok_or_else(|| missing("body"))?;
    let path = str_field(&body, "path").ok_or_else(|| missing("path"))?;
    let line = body
        .get("line")
        .and_then(Value::as_u64)
        .ok_or_else(|| missing("line"))?;
    let id = sim.review_comment(caller.actor()?, &repo, n, &path, line, &text)?;
    let world = sim.world();
    let r = ops::repo_of(&world, &repo)?;
    let c = r.pulls[&n]
        .review_comments
        .iter()
        .find(|c| c.id == id)
        .expect("just created");
    Ok((
        StatusCode::CREATED,
        Json(sim.urls.review_comment(&world, r, n, c)),
    )
        .into_response())
}
