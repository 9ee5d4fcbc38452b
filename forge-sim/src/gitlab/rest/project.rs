//! Project-level routes: the project and its merge setting, users and members (access
//! levels), labels, commit statuses, pipelines and raw files.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{Caller, GlError, Res, created, ok, paginate, params, project_path};
use crate::gitlab::render;
use crate::ops::gitlab::{GlStatusInput, project_of};
use crate::ops::require;
use crate::world::Permission;
use crate::{Sim, git};

pub async fn get_project(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Res {
    let path = project_path(&sim, &id)?;
    let world = sim.world();
    let (r, gl) = project_of(&world, &path)?;
    Ok(ok(render::project(&sim.urls, r, gl)))
}

/// `PUT /projects/:id`: only `only_allow_merge_if_pipeline_succeeds` (maintainers).
pub async fn edit_project(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path(id): Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    let path = project_path(&sim, &id)?;
    let p = params(&uri, &headers, &body);
    let actor = caller.actor()?;
    {
        let world = sim.world();
        let (r, _) = project_of(&world, &path)?;
        require(&world, r, actor, Permission::Maintain)?;
    }
    if let Some(v) = p.get("only_allow_merge_if_pipeline_succeeds") {
        sim.set_pipelines_must_succeed(&path, v == "true")?;
    }
    get_project(State(sim), Path(path)).await
}

/// `GET /users?username=`: a list of zero or one users.
pub async fn users(State(sim): State<Arc<Sim>>, uri: OriginalUri, headers: HeaderMap) -> Res {
    let p = params(&uri, &headers, &Bytes::new());
    let items: Vec<Value> = {
        let world = sim.world();
        world
            .users
            .values()
            .filter(|u| {
                p.get("username")
                    .is_none_or(|n| u.login.eq_ignore_ascii_case(n))
            })
            .map(|u| render::user(&sim.urls, &world, u.id))
            .collect()
    };
    Ok(paginate(&sim, &uri, &p, items))
}

/// GitLab's access level for a permission; `None` is not a member.
pub fn access_level(p: Permission) -> Option<u64> {
    match p {
        Permission::None => None,
        Permission::Read => Some(10),
        Permission::Triage => Some(20),
        Permission::Write => Some(30),
        Permission::Maintain => Some(40),
        Permission::Admin => Some(50),
    }
}

/// `GET /projects/:id/members/all/:user_id`: 404 for non-members.
pub async fn member(State(sim): State<Arc<Sim>>, Path((id, user)): Path<(String, u64)>) -> Res {
    let path = project_path(&sim, &id)?;
    let world = sim.world();
    let (r, _) = project_of(&world, &path)?;
    if !world.users.contains_key(&user) {
        return Err(GlError::not_found("User"));
    }
    let level =
        access_level(world.permission(r, user)).ok_or_else(|| GlError::not_found("Member"))?;
    let mut v = render::user(&sim.urls, &world, user);
    v["access_level"] = json!(level);
    v["created_at"] = json!(render::time(r.created_at));
    v["expires_at"] = Value::Null;
    v["membership_state"] = json!("active");
    Ok(ok(v))
}

pub async fn labels(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Res {
    let path = project_path(&sim, &id)?;
    let p = params(&uri, &headers, &Bytes::new());
    let items = {
        let world = sim.world();
        let (r, _) = project_of(&world, &path)?;
        r.labels.iter().map(|l| render::label(r, l)).collect()
    };
    Ok(paginate(&sim, &uri, &p, items))
}

pub async fn label(State(sim): State<Arc<Sim>>, Path((id, name)): Path<(String, String)>) -> Res {
    let path = project_path(&sim, &id)?;
    let world = sim.world();
    let (r, _) = project_of(&world, &path)?;
    let by_id = name.parse::<u64>().ok();
    r.labels
        .iter()
        .find(|l| l.name == name || Some(l.id) == by_id)
        .map(|l| ok(render::label(r, l)))
        .ok_or_else(|| GlError::not_found("Label"))
}

/// `POST /projects/:id/labels`: 409 when the name exists.
pub async fn create_label(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path(id): Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    let path = project_path(&sim, &id)?;
    let p = params(&uri, &headers, &body);
    let name = p
        .get("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| GlError::param("name is missing"))?;
    let color = p
        .get("color")
        .ok_or_else(|| GlError::param("color is missing"))?;
    let l = sim.create_label(
        caller.actor()?,
        &path,
        name,
        color,
        p.get("description").map(String::as_str),
    )?;
    let world = sim.world();
    let (r, _) = project_of(&world, &path)?;
    Ok(created(render::label(r, &l)))
}

fn render_status(
    sim: &Sim,
    world: &crate::world::World,
    s: &crate::world::CommitStatus,
    git_ref: &str,
) -> Value {
    json!({
        "id": s.id,
        "sha": s.sha,
        "ref": git_ref,
        "status": s.state,
        "name": s.context,
        "target_url": s.target_url,
        "description": s.description,
        "created_at": render::time(s.created_at),
        "started_at": render::time(s.created_at),
        "finished_at": if matches!(s.state.as_str(), "pending" | "running") { Value::Null } else { json!(render::time(s.created_at)) },
        "allow_failure": false,
        "coverage": null,
        "pipeline_id": null,
        "author": render::user(&sim.urls, world, s.creator),
    })
}

/// `POST /projects/:id/statuses/:sha` (needs developer).
pub async fn create_status(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((id, sha)): Path<(String, String)>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    let path = project_path(&sim, &id)?;
    let p = params(&uri, &headers, &body);
    let state = p
        .get("state")
        .ok_or_else(|| GlError::param("state is missing"))?;
    let input = GlStatusInput {
        state: state.clone(),
        name: p.get("name").or_else(|| p.get("context")).cloned(),
        git_ref: p.get("ref").cloned(),
        target_url: p.get("target_url").cloned(),
        description: p.get("description").cloned(),
    };
    let sid = sim
        .gl_create_status(caller.actor()?, &path, &sha, input)
        .await?;
    let world = sim.world();
    let (r, gl) = project_of(&world, &path)?;
    let s = r
        .statuses
        .iter()
        .find(|s| s.id == sid)
        .ok_or_else(|| GlError::not_found("Status"))?;
    let git_ref = gl
        .latest_pipeline(&s.sha)
        .map(|p| p.git_ref.clone())
        .unwrap_or_default();
    Ok(created(render_status(&sim, &world, s, &git_ref)))
}

/// `GET .../repository/commits/:sha/statuses`; `:sha` may be a branch.
pub async fn statuses(
    State(sim): State<Arc<Sim>>,
    Path((id, sha)): Path<(String, String)>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Res {
    let path = project_path(&sim, &id)?;
    let p = params(&uri, &headers, &Bytes::new());
    let dir = project_of(&sim.world(), &path)?.0.git_dir.clone();
    let commit = git::rev_parse(&dir, &sha)
        .await
        .map_err(crate::SimError::from)?
        .ok_or_else(|| GlError::not_found("Commit"))?;
    let items = {
        let world = sim.world();
        let (r, gl) = project_of(&world, &path)?;
        let git_ref = gl
            .latest_pipeline(&commit)
            .map(|p| p.git_ref.clone())
            .unwrap_or_default();
        r.statuses
            .iter()
            .filter(|s| s.sha == commit)
            .filter(|s| p.get("name").is_none_or(|n| *n == s.context))
            .map(|s| render_status(&sim, &world, s, &git_ref))
            .collect()
    };
    Ok(paginate(&sim, &uri, &p, items))
}

/// `GET /projects/:id/pipelines` with `ref`, `sha`, `status`; newest first.
pub async fn pipelines(
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
        let mut list: Vec<&crate::gitlab::model::Pipeline> = gl
            .pipelines
            .iter()
            .filter(|x| p.get("ref").is_none_or(|v| *v == x.git_ref))
            .filter(|x| p.get("sha").is_none_or(|v| *v == x.sha))
            .filter(|x| p.get("status").is_none_or(|v| *v == x.status))
            .collect();
        list.sort_by_key(|x| x.id);
        if p.get("sort").map(String::as_str) != Some("asc") {
            list.reverse();
        }
        list.into_iter()
            .map(|x| render::pipeline(&sim.urls, r, x))
            .collect()
    };
    Ok(paginate(&sim, &uri, &p, items))
}

/// `DELETE .../repository/branches/:branch` (the name URL-encoded): 204; 404 "Branch
/// Not Found"; 400 for the default or a protected branch.
pub async fn delete_branch(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((id, branch)): Path<(String, String)>,
) -> Res {
    let path = project_path(&sim, &id)?;
    match sim.delete_branch(caller.actor()?, &path, &branch).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(crate::SimError::Invalid(m)) if m == "Reference does not exist" => {
            Err(GlError::not_found("Branch"))
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET .../repository/files/:path/raw?ref=`: the bytes, or 404 "File Not Found".
pub async fn file_raw(
    State(sim): State<Arc<Sim>>,
    Path((id, file)): Path<(String, String)>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Res {
    let path = project_path(&sim, &id)?;
    let p = params(&uri, &headers, &Bytes::new());
    let (dir, default) = {
        let world = sim.world();
        let (r, _) = project_of(&world, &path)?;
        (r.git_dir.clone(), r.default_branch.clone())
    };
    let rev = p.get("ref").cloned().unwrap_or(default);
    let found = git::read_file(&dir, &rev, &file)
        .await
        .map_err(crate::SimError::from)?;
    let (bytes, _) = found.ok_or_else(|| GlError::not_found("File"))?;
    let mut r = (StatusCode::OK, bytes).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(r)
}
