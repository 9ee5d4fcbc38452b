//! `/repos/{o}/{r}/issues...`: issues, their comments and labels.

use std::sync::Arc;

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Caller, Query, full, ok, paginate, str_field};
use crate::error::{ApiError, SimError};
use crate::ops::IssuePatch;
use crate::world::IssueState;
use crate::{Sim, ops};

type Res = Result<Response, ApiError>;

fn state_of(body: &Value) -> Result<Option<IssueState>, ApiError> {
    match body.get("state").and_then(Value::as_str) {
        None => Ok(None),
        Some("open") => Ok(Some(IssueState::Open)),
        Some("closed") => Ok(Some(IssueState::Closed)),
        Some(_) => Err(ApiError::validation("Issue", "state", "invalid")),
    }
}

fn labels_of(body: &Value) -> Option<Vec<String>> {
    // GitHub takes `["a", "b"]`, `{"labels": [...]}`, and label objects with `name`.
    let list = body.get("labels").unwrap_or(body).as_array()?;
    Some(
        list.iter()
            .filter_map(|l| l.as_str().or_else(|| l.get("name").and_then(Value::as_str)))
            .map(str::to_owned)
            .collect(),
    )
}

fn render_issue(sim: &Sim, repo: &str, n: u64) -> Res {
    let world = sim.world();
    let r = ops::repo_of(&world, repo)?;
    let issue = r.issues.get(&n).ok_or(SimError::NoIssue(n))?;
    Ok(ok(sim.urls.issue(&world, r, issue)))
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
        let wanted: Vec<&str> = q
            .get("labels")
            .map(|l| {
                l.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let mut issues: Vec<_> = repo
            .issues
            .values()
            .filter(|i| state == "all" || i.state.as_str() == state)
            .filter(|i| {
                wanted
                    .iter()
                    .all(|w| i.labels.iter().any(|l| l.eq_ignore_ascii_case(w)))
            })
            .filter(|i| {
                q.get("creator")
                    .is_none_or(|c| world.login(i.author).eq_ignore_ascii_case(c))
            })
            .collect();
        // GitHub's default: newest first.
        if q.get("direction").map(String::as_str) == Some("asc") {
            issues.sort_by_key(|i| i.number);
        } else {
            issues.sort_by_key(|i| std::cmp::Reverse(i.number));
        }
        issues
            .into_iter()
            .map(|i| sim.urls.issue(&world, repo, i))
            .collect()
    };
    Ok(paginate(&sim, &uri, &q, items))
}

pub async fn get_one(
    State(sim): State<Arc<Sim>>,
    Path((o, r, n)): Path<(String, String, u64)>,
) -> Res {
    render_issue(&sim, &full(&o, &r), n)
}

pub async fn create(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Res {
    let repo = full(&o, &r);
    let title = str_field(&body, "title")
        .ok_or_else(|| ApiError::validation("Issue", "title", "missing_field"))?;
    let labels = body
        .get("labels")
        .and_then(|_| labels_of(&body))
        .unwrap_or_default();
    let n = sim.open_issue(
        caller.actor()?,
        &repo,
        &title,
        str_field(&body, "body").as_deref(),
        &labels,
    )?;
    let mut res = render_issue(&sim, &repo, n)?;
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
    let patch = IssuePatch {
        title: str_field(&body, "title"),
        body: str_field(&body, "body"),
        state: state_of(&body)?,
        labels: body.get("labels").and_then(|_| labels_of(&body)),
    };
    sim.edit_issue(caller.actor()?, &repo, n, patch)?;
    render_issue(&sim, &repo, n)
}

pub async fn list_comments(
    State(sim): State<Arc<Sim>>,
    Path((o, r, n)): Path<(String, String, u64)>,
    uri: OriginalUri,
    q: Query,
) -> Res {
    let items = {
        let world = sim.world();
        let repo = ops::repo_of(&world, &full(&o, &r))?;
        let issue = repo.issues.get(&n).ok_or(SimError::NoIssue(n))?;
        issue
            .comments
            .iter()
            .map(|c| sim.urls.comment(&world, repo, n, c))
            .collect()
    };
    Ok(paginate(&sim, &uri, &q, items))
}

/// `GET /repos/{o}/{r}/issues/{n}/events`: the issue's event history, oldest first.
pub async fn list_events(
    State(sim): State<Arc<Sim>>,
    Path((o, r, n)): Path<(String, String, u64)>,
    uri: OriginalUri,
    q: Query,
) -> Res {
    let items = {
        let world = sim.world();
        let repo = ops::repo_of(&world, &full(&o, &r))?;
        let issue = repo.issues.get(&n).ok_or(SimError::NoIssue(n))?;
        issue
            .timeline
            .iter()
            .map(|e| {
                let label = e
                    .label
                    .as_deref()
                    .and_then(|name| repo.label(name))
                    .map(|l| serde_json::json!({ "name": l.name, "color": l.color }));
                serde_json::json!({
                    "id": e.id,
                    "node_id": format!("LE_{}", e.id),
                    "url": format!("{}/repos/{}/issues/events/{}", sim.urls.api, repo.full_name(), e.id),
                    "actor": sim.urls.user(&world, e.actor),
                    "event": e.event,
                    "commit_id": null,
                    "commit_url": null,
                    "created_at": crate::github::render::time(e.created_at),
                    "label": label,
                    "performed_via_github_app": null,
                })
            })
            .collect()
    };
    Ok(paginate(&sim, &uri, &q, items))
}

fn render_comment(sim: &Sim, repo: &str, id: u64) -> Res {
    let world = sim.world();
    let r = ops::repo_of(&world, repo)?;
    r.issues
        .values()
        .find_map(|i| {
            i.comments
                .iter()
                .find(|c| c.id == id)
                .map(|c| sim.urls.comment(&world, r, i.number, c))
        })
        .map(ok)
        .ok_or_else(ApiError::not_found)
}

pub async fn create_comment(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r, n)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> Res {
    let repo = full(&o, &r);
    let text = str_field(&body, "body")
        .ok_or_else(|| ApiError::validation("IssueComment", "body", "missing_field"))?;
    let id = sim.comment(caller.actor()?, &repo, n, &text)?;
    let mut res = render_comment(&sim, &repo, id)?;
    *res.status_mut() = StatusCode::CREATED;
    Ok(res)
}

pub async fn get_comment(
    State(sim): State<Arc<Sim>>,
    Path((o, r, id)): Path<(String, String, u64)>,
) -> Res {
    render_comment(&sim, &full(&o, &r), id)
}

pub async fn patch_comment(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r, id)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> Res {
    let repo = full(&o, &r);
    let text = str_field(&body, "body")
        .ok_or_else(|| ApiError::validation("IssueComment", "body", "missing_field"))?;
    sim.edit_comment(caller.actor()?, &repo, id, &text)?;
    render_comment(&sim, &repo, id)
}

pub async fn delete_comment(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r, id)): Path<(String, String, u64)>,
) -> Res {
    sim.delete_comment(caller.actor()?, &full(&o, &r), id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn issue_labels(sim: &Sim, repo: &str, n: u64) -> Res {
    let world = sim.world();
    let r = ops::repo_of(&world, repo)?;
    let issue = r.issues.get(&n).ok_or(SimError::NoIssue(n))?;
    let labels: Vec<Value> = issue
        .labels
        .iter()
        .filter_map(|l| r.label(l))
        .map(|l| sim.urls.label(r, l))
        .collect();
    Ok(ok(json!(labels)))
}

pub async fn list_issue_labels(
    State(sim): State<Arc<Sim>>,
    Path((o, r, n)): Path<(String, String, u64)>,
) -> Res {
    issue_labels(&sim, &full(&o, &r), n)
}

pub async fn add_labels(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r, n)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> Res {
    let repo = full(&o, &r);
    let labels =
        labels_of(&body).ok_or_else(|| ApiError::validation("Label", "labels", "invalid"))?;
    sim.add_labels(caller.actor()?, &repo, n, &labels)?;
    issue_labels(&sim, &repo, n)
}

pub async fn set_labels(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r, n)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> Res {
    let repo = full(&o, &r);
    let labels =
        labels_of(&body).ok_or_else(|| ApiError::validation("Label", "labels", "invalid"))?;
    sim.edit_issue(
        caller.actor()?,
        &repo,
        n,
        IssuePatch {
            labels: Some(labels),
            ..Default::default()
        },
    )?;
    issue_labels(&sim, &repo, n)
}

pub async fn remove_label(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r, n, name)): Path<(String, String, u64, String)>,
) -> Res {
    let repo = full(&o, &r);
    sim.remove_label(caller.actor()?, &repo, n, &name)?;
    issue_labels(&sim, &repo, n)
}
