//! `/projects/:id/merge_requests...`: merge requests by iid, their notes (with
//! `DiffNote`s), approvals, reviewers and merging.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::issues::state_event;
use super::{Caller, GlError, Res, created, ok, paginate, params, project_path};
use crate::Sim;
use crate::gitlab::render;
use crate::ops::gitlab::{GlIssueEdit, project_of};
use crate::world::IssueState;

fn render_mr(sim: &Sim, path: &str, iid: u64) -> Result<Value, GlError> {
    let world = sim.world();
    let (r, gl) = project_of(&world, path)?;
    let n = gl
        .mrs
        .get(&iid)
        .ok_or_else(|| GlError::not_found("Merge Request"))?;
    Ok(render::mr(
        &sim.urls,
        &world,
        r,
        gl,
        iid,
        &r.issues[n],
        &r.pulls[n],
    ))
}

pub async fn list(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Res {
    let path = project_path(&sim, &id)?;
    let p = params(&uri, &headers, &Bytes::new());
    let items = {
        let world = sim.world();
        let (r, gl) = project_of(&world, &path)?;
        let state = p.get("state").map(String::as_str).unwrap_or("all");
        gl.mrs
            .iter()
            .rev()
            .map(|(iid, n)| (*iid, &r.issues[n], &r.pulls[n]))
            .filter(|(_, i, pr)| match state {
                "opened" => i.state == IssueState::Open && !pr.merged,
                "closed" => i.state == IssueState::Closed && !pr.merged,
                "merged" => pr.merged,
                _ => true,
            })
            .filter(|(_, _, pr)| p.get("source_branch").is_none_or(|b| *b == pr.head_ref))
            .filter(|(_, _, pr)| p.get("target_branch").is_none_or(|b| *b == pr.base_ref))
            .map(|(iid, i, pr)| render::mr(&sim.urls, &world, r, gl, iid, i, pr))
            .collect()
    };
    Ok(paginate(&sim, &uri, &p, items))
}

pub async fn get_one(State(sim): State<Arc<Sim>>, Path((id, iid)): Path<(String, u64)>) -> Res {
    let path = project_path(&sim, &id)?;
    Ok(ok(render_mr(&sim, &path, iid)?))
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
    let get = |k: &str| {
        p.get(k)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| GlError::param(format!("{k} is missing")))
    };
    let (source, target, title) = (get("source_branch")?, get("target_branch")?, get("title")?);
    let exists = {
        let world = sim.world();
        let (r, _) = project_of(&world, &path)?;
        r.pulls.values().any(|pr| {
            pr.head_ref == *source
                && pr.base_ref == *target
                && !pr.merged
                && r.issues[&pr.number].state == IssueState::Open
        })
    };
    if exists {
        return Err(GlError {
            status: StatusCode::CONFLICT,
            body: json!({"message": [format!("Another open merge request already exists for this source branch: !{source}")]}),
        });
    }
    let iid = sim
        .gl_open_mr(
            caller.actor()?,
            &path,
            source,
            target,
            title,
            p.get("description").map(String::as_str),
        )
        .await?;
    Ok(created(render_mr(&sim, &path, iid)?))
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
        ..Default::default()
    };
    sim.gl_edit_mr(caller.actor()?, &path, iid, edit)?;
    Ok(ok(render_mr(&sim, &path, iid)?))
}

fn render_approvals(
    sim: &Sim,
    path: &str,
    iid: u64,
    caller: Option<u64>,
) -> Result<Value, GlError> {
    let world = sim.world();
    let (r, gl) = project_of(&world, path)?;
    let n = gl
        .mrs
        .get(&iid)
        .ok_or_else(|| GlError::not_found("Merge Request"))?;
    let (i, pr) = (&r.issues[n], &r.pulls[n]);
    let by = gl.approvals.get(n).cloned().unwrap_or_default();
    Ok(json!({
        "id": pr.id,
        "iid": iid,
        "project_id": r.id,
        "title": i.title,
        "description": i.body,
        "state": if pr.merged { "merged" } else if i.state == IssueState::Open { "opened" } else { "closed" },
        "created_at": render::time(i.created_at),
        "updated_at": render::time(i.updated_at),
        "merge_status": render::merge_status(pr).0,
        "approved": !by.is_empty(),
        "approvals_required": 0,
        "approvals_left": 0,
        "require_password_to_approve": false,
        "approved_by": by.iter().map(|u| json!({"user": render::user(&sim.urls, &world, *u)})).collect::<Vec<_>>(),
        "suggested_approvers": [],
        "approvers": [],
        "approver_groups": [],
        "user_has_approved": caller.is_some_and(|c| by.contains(&c)),
        "user_can_approve": caller.is_some_and(|c| !by.contains(&c) && c != i.author),
        "has_approval_rules": false,
        "merge_request_approvers_available": false,
        "multiple_approval_rules_available": false,
    }))
}

pub async fn approvals(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((id, iid)): Path<(String, u64)>,
) -> Res {
    let path = project_path(&sim, &id)?;
    Ok(ok(render_approvals(&sim, &path, iid, caller.0)?))
}

pub async fn approve(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((id, iid)): Path<(String, u64)>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    let path = project_path(&sim, &id)?;
    let p = params(&uri, &headers, &body);
    let actor = caller.actor()?;
    sim.gitlab_number(&path, iid, true)?;
    sim.gl_approve(actor, &path, iid, p.get("sha").map(String::as_str))?;
    Ok(created(render_approvals(&sim, &path, iid, Some(actor))?))
}

pub async fn unapprove(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((id, iid)): Path<(String, u64)>,
) -> Res {
    let path = project_path(&sim, &id)?;
    let actor = caller.actor()?;
    sim.gl_unapprove(actor, &path, iid)?;
    Ok(created(render_approvals(&sim, &path, iid, Some(actor))?))
}

/// Reviewers: the simulator assigns none, so the list is empty.
pub async fn reviewers(State(sim): State<Arc<Sim>>, Path((id, iid)): Path<(String, u64)>) -> Res {
    let path = project_path(&sim, &id)?;
    sim.gitlab_number(&path, iid, true)?;
    Ok(ok(json!([])))
}

pub async fn merge(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((id, iid)): Path<(String, u64)>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    let path = project_path(&sim, &id)?;
    let p = params(&uri, &headers, &body);
    let squash = p.get("squash").is_some_and(|v| v == "true");
    sim.gitlab_number(&path, iid, true)?;
    sim.gl_merge(
        caller.actor()?,
        &path,
        iid,
        squash,
        p.get("sha").map(String::as_str),
    )
    .await?;
    Ok(ok(render_mr(&sim, &path, iid)?))
}
