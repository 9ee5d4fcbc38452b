//! `/projects/:id/issues...`: issues by iid, their notes and label events.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::{Caller, GlError, Res, created, ok, paginate, param_list, params, project_path};
use crate::Sim;
use crate::gitlab::render;
use crate::ops::gitlab::{GlIssueEdit, project_of};
use crate::world::IssueState;

fn render_issue(sim: &Sim, path: &str, iid: u64) -> Result<Value, GlError> {
    let world = sim.world();
    let (r, gl) = project_of(&world, path)?;
    let number = gl
        .issues
        .get(&iid)
        .ok_or_else(|| GlError::not_found("Issue"))?;
    Ok(render::issue(&sim.urls, &world, r, iid, &r.issues[number]))
}

/// `state_event=close|reopen`.
pub(super) fn state_event(p: &HashMap<String, String>) -> Result<Option<IssueState>, GlError> {
    match p.get("state_event").map(String::as_str) {
        None => Ok(None),
        Some("close") => Ok(Some(IssueState::Closed)),
        Some("reopen") => Ok(Some(IssueState::Open)),
        Some(_) => Err(GlError::param("state_event does not have a valid value")),
    }
}

fn list_issues(sim: &Sim, path: &str, p: &HashMap<String, String>) -> Result<Vec<Value>, GlError> {
    let world = sim.world();
    let (r, gl) = project_of(&world, path)?;
    let state = p.get("state").map(String::as_str).unwrap_or("all");
    let wanted = param_list(p, "labels").unwrap_or_default();
    let mut out: Vec<(u64, Value)> = gl
        .issues
        .iter()
        .map(|(iid, n)| (*iid, &r.issues[n]))
        .filter(|(_, i)| match state {
            "opened" => i.state == IssueState::Open,
            "closed" => i.state == IssueState::Closed,
            _ => true,
        })
        .filter(|(_, i)| match wanted.first().map(String::as_str) {
            Some("None") => i.labels.is_empty(),
            Some("Any") => !i.labels.is_empty(),
            _ => wanted
                .iter()
                .all(|w| i.labels.iter().any(|l| l.eq_ignore_ascii_case(w))),
        })
        .map(|(iid, i)| (iid, render::issue(&sim.urls, &world, r, iid, i)))
        .collect();
    // GitLab's default order: newest first.
    if p.get("sort").map(String::as_str) == Some("asc") {
        out.sort_by_key(|(iid, _)| *iid);
    } else {
        out.sort_by_key(|(iid, _)| std::cmp::Reverse(*iid));
    }
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

pub async fn list(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Res {
    let path = project_path(&sim, &id)?;
    let p = params(&uri, &headers, &Bytes::new());
    let items = list_issues(&sim, &path, &p)?;
    Ok(paginate(&sim, &uri, &p, items))
}

pub async fn get_one(State(sim): State<Arc<Sim>>, Path((id, iid)): Path<(String, u64)>) -> Res {
    let path = project_path(&sim, &id)?;
    Ok(ok(render_issue(&sim, &path, iid)?))
}

pub async fn create(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path(id): Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    let path = project_path(&sim, &id)?;
    let p = params(&uri, &headers, &body);
    let title = p
        .get("title")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| GlError::param("title is missing"))?;
    let labels = param_list(&p, "labels").unwrap_or_default();
    let iid = sim.gl_open_issue(
        caller.actor()?,
        &path,
        title,
        p.get("description").map(String::as_str),
        &labels,
    )?;
    Ok(created(render_issue(&sim, &path, iid)?))
}

pub async fn edit(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((id, iid)): Path<(String, u64)>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    let path = project_path(&sim, &id)?;
    let p = params(&uri, &headers, &body);
    let edit = GlIssueEdit {
        title: p.get("title").cloned(),
        description: p.get("description").cloned(),
        state: state_event(&p)?,
        labels: param_list(&p, "labels"),
        add_labels: param_list(&p, "add_labels").unwrap_or_default(),
        remove_labels: param_list(&p, "remove_labels").unwrap_or_default(),
    };
    sim.gl_edit_issue(caller.actor()?, &path, iid, edit)?;
    Ok(ok(render_issue(&sim, &path, iid)?))
}

/// Notes on world number `number`: people's comments and GitLab's system notes.
pub(super) fn note_values(
    sim: &Sim,
    path: &str,
    number: u64,
    kind: &str,
) -> Result<Vec<Value>, GlError> {
    let world = sim.world();
    let (r, gl) = project_of(&world, path)?;
    let issue = r
        .issues
        .get(&number)
        .ok_or_else(|| GlError::not_found("Noteable"))?;
    let iid = gl.iid(number).unwrap_or(number);
    let noteable_id = r.pulls.get(&number).map_or(issue.id, |p| p.id);
    let on = (kind, noteable_id, iid);
    let mut notes: Vec<Value> = issue
        .comments
        .iter()
        .map(|c| render::note(&sim.urls, &world, on, c, false))
        .collect();
    for c in gl.system_notes.get(&number).into_iter().flatten() {
        notes.push(render::note(&sim.urls, &world, on, c, true));
    }
    if let Some(pr) = r.pulls.get(&number) {
        for c in &pr.review_comments {
            notes.push(render::diff_note(&sim.urls, &world, r, pr, iid, c));
        }
    }
    for n in &mut notes {
        n["project_id"] = json!(r.id);
    }
    Ok(notes)
}

pub(super) fn one_note(
    sim: &Sim,
    path: &str,
    number: u64,
    kind: &str,
    note: u64,
) -> Result<Value, GlError> {
    note_values(sim, path, number, kind)?
        .into_iter()
        .find(|n| n["id"] == json!(note))
        .ok_or_else(|| GlError::not_found("Note"))
}

/// `resource_label_events`: who added or removed which label, oldest first.
pub async fn label_events(
    State(sim): State<Arc<Sim>>,
    Path((id, iid)): Path<(String, u64)>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Res {
    let path = project_path(&sim, &id)?;
    let p = params(&uri, &headers, &Bytes::new());
    let number = sim.gitlab_number(&path, iid, false)?;
    let items = {
        let world = sim.world();
        let (r, _) = project_of(&world, &path)?;
        let issue = &r.issues[&number];
        issue
            .timeline
            .iter()
            .filter(|e| matches!(e.event, "labeled" | "unlabeled"))
            .map(|e| {
                let label = e.label.as_deref().and_then(|n| r.label(n)).map(|l| {
                    json!({"id": l.id, "name": l.name, "color": format!("#{}", l.color), "description": l.description})
                });
                json!({
                    "id": e.id,
                    "user": render::user(&sim.urls, &world, e.actor),
                    "created_at": render::time(e.created_at),
                    "resource_type": "Issue",
                    "resource_id": issue.id,
                    "label": label,
                    "action": if e.event == "labeled" { "add" } else { "remove" },
                })
            })
            .collect()
    };
    Ok(paginate(&sim, &uri, &p, items))
}
