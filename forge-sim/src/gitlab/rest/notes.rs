//! Notes on issues and on merge requests: the same three routes on both, told apart
//! by the const parameter `MR` so each route is one handler instantiation.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;

use super::issues::{note_values, one_note};
use super::{Caller, GlError, Res, created, ok, paginate, params, project_path, sort_by_id};
use crate::Sim;

/// GitLab's `noteable_type` for the notes of an issue or a merge request.
fn kind(mr: bool) -> &'static str {
    if mr { "MergeRequest" } else { "Issue" }
}

/// `GET .../{issues,merge_requests}/:iid/notes`
pub async fn list<const MR: bool>(
    State(sim): State<Arc<Sim>>,
    Path((id, iid)): Path<(String, u64)>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Res {
    let path = project_path(&sim, &id)?;
    let p = params(&uri, &headers, &Bytes::new());
    let number = sim.gitlab_number(&path, iid, MR)?;
    let mut items = note_values(&sim, &path, number, kind(MR))?;
    sort_by_id(&p, &mut items);
    Ok(paginate(&sim, &uri, &p, items))
}

/// `POST .../{issues,merge_requests}/:iid/notes`
pub async fn create<const MR: bool>(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((id, iid)): Path<(String, u64)>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    let path = project_path(&sim, &id)?;
    let p = params(&uri, &headers, &body);
    let text = p
        .get("body")
        .filter(|b| !b.is_empty())
        .ok_or_else(|| GlError::param("body is missing"))?;
    let note = sim.gl_note(caller.actor()?, &path, iid, MR, text)?;
    let number = sim.gitlab_number(&path, iid, MR)?;
    Ok(created(one_note(&sim, &path, number, kind(MR), note)?))
}

/// `PUT .../{issues,merge_requests}/:iid/notes/:note_id`
pub async fn edit<const MR: bool>(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((id, iid, note)): Path<(String, u64, u64)>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    let path = project_path(&sim, &id)?;
    let p = params(&uri, &headers, &body);
    let text = p
        .get("body")
        .ok_or_else(|| GlError::param("body is missing"))?;
    sim.gl_edit_note(caller.actor()?, &path, iid, MR, note, text)?;
    let number = sim.gitlab_number(&path, iid, MR)?;
    Ok(ok(one_note(&sim, &path, number, kind(MR), note)?))
}
