//! Repository-level routes: the repository, labels, permissions, contents, branch
//! protection, commit statuses and check runs.

use std::sync::Arc;

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::{Caller, Query, created, full, ok, paginate, str_field};
use crate::error::{ApiError, SimError};
use crate::github::render::encode;
use crate::ops::{CheckRunInput, StatusInput};
use crate::world::Permission;
use crate::{Sim, git, ops};

type Res = Result<Response, ApiError>;

pub async fn get_repo(State(sim): State<Arc<Sim>>, Path((o, r)): Path<(String, String)>) -> Res {
    let world = sim.world();
    let repo = ops::repo_of(&world, &full(&o, &r))?;
    Ok(ok(sim.urls.repo(&world, repo)))
}

pub async fn list_labels(
    State(sim): State<Arc<Sim>>,
    Path((o, r)): Path<(String, String)>,
    uri: OriginalUri,
    q: Query,
) -> Res {
    let items = {
        let world = sim.world();
        let repo = ops::repo_of(&world, &full(&o, &r))?;
        repo.labels
            .iter()
            .map(|l| sim.urls.label(repo, l))
            .collect()
    };
    Ok(paginate(&sim, &uri, &q, items))
}

pub async fn get_label(
    State(sim): State<Arc<Sim>>,
    Path((o, r, name)): Path<(String, String, String)>,
) -> Res {
    let world = sim.world();
    let repo = ops::repo_of(&world, &full(&o, &r))?;
    let label = repo.label(&name).ok_or_else(ApiError::not_found)?;
    Ok(ok(sim.urls.label(repo, label)))
}

pub async fn create_label(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Res {
    let repo = full(&o, &r);
    let name = str_field(&body, "name")
        .ok_or_else(|| ApiError::validation("Label", "name", "missing_field"))?;
    let color = str_field(&body, "color").unwrap_or_else(|| "ededed".into());
    let label = sim.create_label(
        caller.actor()?,
        &repo,
        &name,
        &color,
        str_field(&body, "description").as_deref(),
    )?;
    let world = sim.world();
    Ok(created(
        sim.urls.label(ops::repo_of(&world, &repo)?, &label),
    ))
}

/// GitHub's answer for a user's access. Every simulated repository is public, so any
/// existing user has at least `read`; an unknown login is a 404.
pub async fn permission(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r, login)): Path<(String, String, String)>,
) -> Res {
    let world = sim.world();
    let repo = ops::repo_of(&world, &full(&o, &r))?;
    // Only people who can push may ask, as on GitHub.
    if caller
        .0
        .is_none_or(|id| world.permission(repo, id) < Permission::Write)
    {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "Must have push access to view collaborator permission.",
        ));
    }
    let user = world
        .user_by_login(&login)
        .ok_or_else(ApiError::not_found)?;
    let p = world.permission(repo, user.id).max(Permission::Read);
    let mut u = sim.urls.user(&world, user.id);
    u["permissions"] = json!({
        "admin": p >= Permission::Admin,
        "maintain": p >= Permission::Maintain,
        "push": p >= Permission::Write,
        "triage": p >= Permission::Triage,
        "pull": p >= Permission::Read,
    });
    u["role_name"] = json!(p.role_name());
    Ok(ok(
        json!({"permission": p.legacy(), "role_name": p.role_name(), "user": u}),
    ))
}

/// A file at `?ref=` (default branch otherwise), base64 in 60-column lines like GitHub,
/// or a directory's listing (an array, without contents).
pub async fn contents(
    State(sim): State<Arc<Sim>>,
    Path((o, r, path)): Path<(String, String, String)>,
    q: Query,
) -> Res {
    let repo = full(&o, &r);
    let (git_dir, default_branch, api, web) = {
        let world = sim.world();
        let r = ops::repo_of(&world, &repo)?;
        (
            r.git_dir.clone(),
            r.default_branch.clone(),
            sim.urls.repo_api(r),
            sim.urls.repo_web(r),
        )
    };
    let rev = q.get("ref").cloned().unwrap_or(default_branch);
    let entry = |path: &str, kind: &str, sha: &str, size: u64| {
        let url = format!("{api}/contents/{path}?ref={}", encode(&rev));
        let (git_url, html, download) = if kind == "dir" {
            (
                format!("{api}/git/trees/{sha}"),
                format!("{web}/tree/{rev}/{path}"),
                Value::Null,
            )
        } else {
            (
                format!("{api}/git/blobs/{sha}"),
                format!("{web}/blob/{rev}/{path}"),
                // GitHub points at raw.githubusercontent.com; the simulator serves the
                // same bytes itself (see [`raw`]).
                json!(format!(
                    "{api}/raw/{}?ref={}",
                    path.split('/').map(encode).collect::<Vec<_>>().join("/"),
                    encode(&rev)
                )),
            )
        };
        json!({
            "type": kind,
            "size": size,
            "name": path.rsplit('/').next().unwrap_or(path),
            "path": path,
            "sha": sha,
            "url": url,
            "git_url": git_url,
            "html_url": html,
            "download_url": download,
            "_links": {"self": url, "git": git_url, "html": html},
        })
    };
    let file = git::read_file(&git_dir, &rev, &path)
        .await
        .map_err(SimError::from)?;
    let Some((bytes, sha)) = file else {
        let listing = git::list_tree(&git_dir, &rev, &path)
            .await
            .map_err(SimError::from)?;
        let entries = listing.ok_or_else(ApiError::not_found)?;
        let items: Vec<Value> = entries
            .iter()
            .map(|e| {
                let kind = match e.kind.as_str() {
                    "tree" => "dir",
                    "commit" => "submodule",
                    _ => "file",
                };
                let child = match path.trim_end_matches('/') {
                    "" => e.name.clone(),
                    dir => format!("{dir}/{}", e.name),
                };
                entry(&child, kind, &e.sha, e.size)
            })
            .collect();
        return Ok(ok(Value::Array(items)));
    };
    let mut v = entry(&path, "file", &sha, bytes.len() as u64);
    // Over 1 MB GitHub leaves the content out of the JSON (`encoding: "none"`); clients
    // fetch `download_url` instead.
    if bytes.len() > INLINE_LIMIT {
        v["encoding"] = json!("none");
        v["content"] = json!("");
        return Ok(ok(v));
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let wrapped: Vec<&str> = b64
        .as_bytes()
        .chunks(60)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    v["encoding"] = json!("base64");
    v["content"] = json!(format!("{}\n", wrapped.join("\n")));
    Ok(ok(v))
}

/// The largest file the contents API inlines (1 MB).
const INLINE_LIMIT: usize = 1024 * 1024;

/// A file's raw bytes at `?ref=` (default branch otherwise): what a file's
/// `download_url` (raw.githubusercontent.com on GitHub) answers.
pub async fn raw(
    State(sim): State<Arc<Sim>>,
    Path((o, r, path)): Path<(String, String, String)>,
    q: Query,
) -> Res {
    let (git_dir, default_branch) = {
        let world = sim.world();
        let r = ops::repo_of(&world, &full(&o, &r))?;
        (r.git_dir.clone(), r.default_branch.clone())
    };
    let rev = q.get("ref").cloned().unwrap_or(default_branch);
    let (bytes, _) = git::read_file(&git_dir, &rev, &path)
        .await
        .map_err(SimError::from)?
        .ok_or_else(ApiError::not_found)?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        bytes,
    )
        .into_response())
}

/// `GET /repos/{o}/{r}/contents`: the root directory.
pub async fn contents_root(
    State(sim): State<Arc<Sim>>,
    Path((o, r)): Path<(String, String)>,
    q: Query,
) -> Res {
    contents(State(sim), Path((o, r, String::new())), q).await
}

/// `GET /repos/{o}/{r}/branches/{branch}` and `.../branches/{branch}/protection/
/// required_status_checks`; branch names may hold slashes, so one route takes the rest.
pub async fn branch_routes(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r, rest)): Path<(String, String, String)>,
) -> Res {
    match rest.strip_suffix("/protection/required_status_checks") {
        Some(branch) => required_checks(&sim, caller, &full(&o, &r), branch),
        None => branch(&sim, &full(&o, &r), &rest).await,
    }
}

/// `DELETE /repos/{o}/{r}/git/refs/heads/{branch}`: 204, or 422 for the default or a
/// protected branch, or one that does not exist.
pub async fn delete_ref(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r, rest)): Path<(String, String, String)>,
) -> Res {
    let Some(branch) = rest.strip_prefix("heads/") else {
        return Err(SimError::Invalid("Reference does not exist".into()).into());
    };
    sim.delete_branch(caller.actor()?, &full(&o, &r), branch)
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

/// The protection summary GitHub shows anyone who can read the repository.
fn protection_summary(contexts: Option<&Vec<String>>) -> Value {
    let contexts = contexts.cloned().unwrap_or_default();
    json!({
        "enabled": !contexts.is_empty(),
        "required_status_checks": {
            "enforcement_level": if contexts.is_empty() { "off" } else { "non_admins" },
            "contexts": contexts,
            "checks": contexts.iter().map(|c| json!({"context": c, "app_id": null})).collect::<Vec<_>>(),
        },
    })
}

/// `GET /repos/{o}/{r}/branches/{branch}`: the branch's head and protection summary.
async fn branch(sim: &Sim, repo: &str, name: &str) -> Res {
    let git_dir = ops::repo_of(&sim.world(), repo)?.git_dir.clone();
    let sha = git::rev_parse(&git_dir, &format!("refs/heads/{name}"))
        .await
        .map_err(SimError::from)?
        .ok_or_else(|| ApiError::new(axum::http::StatusCode::NOT_FOUND, "Branch not found"))?;
    let world = sim.world();
    let r = ops::repo_of(&world, repo)?;
    let api = sim.urls.repo_api(r);
    let protection = r.protection.get(name);
    Ok(ok(json!({
        "name": name,
        "commit": {"sha": sha, "url": format!("{api}/commits/{sha}")},
        "_links": {
            "self": format!("{api}/branches/{}", encode(name)),
            "html": format!("{}/tree/{name}", sim.urls.repo_web(r)),
        },
        "protected": protection.is_some(),
        "protection": protection_summary(protection),
        "protection_url": format!("{api}/branches/{}/protection", encode(name)),
    })))
}

/// The protection settings themselves are only shown to people who administer the
/// repository (on GitHub: admins, and apps with `administration: read`; the simulator
/// lets maintainers read them too); everyone else gets a 404, as for a missing branch.
fn required_checks(sim: &Sim, caller: Caller, repo: &str, branch: &str) -> Res {
    let world = sim.world();
    let r = ops::repo_of(&world, repo)?;
    let may_read = caller
        .0
        .is_some_and(|id| world.permission(r, id) >= Permission::Maintain);
    if !may_read {
        return Err(ApiError::not_found());
    }
    let contexts = r
        .protection
        .get(branch)
        .ok_or_else(|| ApiError::new(axum::http::StatusCode::NOT_FOUND, "Branch not protected"))?;
    let url = format!(
        "{}/branches/{}/protection/required_status_checks",
        sim.urls.repo_api(r),
        encode(branch)
    );
    Ok(ok(json!({
        "url": url,
        "strict": false,
        "contexts": contexts,
        "contexts_url": format!("{url}/contexts"),
        "checks": contexts.iter().map(|c| json!({"context": c, "app_id": null})).collect::<Vec<_>>(),
    })))
}

pub async fn create_status(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r, sha)): Path<(String, String, String)>,
    Json(body): Json<Value>,
) -> Res {
    let repo = full(&o, &r);
    // GitHub refuses longer descriptions ("description is too long (maximum is 140
    // characters)").
    if str_field(&body, "description").is_some_and(|d| d.chars().count() > 140) {
        return Err(ApiError::validation("Status", "description", "custom"));
    }
    let input = StatusInput {
        state: str_field(&body, "state")
            .ok_or_else(|| ApiError::validation("Status", "state", "missing_field"))?,
        context: str_field(&body, "context"),
        description: str_field(&body, "description"),
        target_url: str_field(&body, "target_url"),
    };
    let id = sim
        .create_status(caller.actor()?, &repo, &sha, input)
        .await?;
    let world = sim.world();
    let r = ops::repo_of(&world, &repo)?;
    let s = r
        .statuses
        .iter()
        .find(|s| s.id == id)
        .expect("just created");
    Ok(created(sim.urls.status(&world, r, s)))
}

/// Resolve a ref or sha the way GitHub's commit routes do; unknown is 404/422.
async fn resolve(sim: &Sim, repo: &str, rev: &str) -> Result<String, ApiError> {
    let git_dir = ops::repo_of(&sim.world(), repo)?.git_dir.clone();
    git::rev_parse(&git_dir, rev)
        .await
        .map_err(SimError::from)?
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                format!("No commit found for SHA: {rev}"),
            )
        })
}

/// `GET /repos/{o}/{r}/commits/{ref}/status|statuses|check-runs`.
pub async fn commit_routes(
    State(sim): State<Arc<Sim>>,
    Path((o, r, rest)): Path<(String, String, String)>,
    uri: OriginalUri,
    q: Query,
) -> Res {
    let path = |rev: &str| Path((o.clone(), r.clone(), rev.to_owned()));
    if let Some(rev) = rest.strip_suffix("/status") {
        combined_status(State(sim), path(rev)).await
    } else if let Some(rev) = rest.strip_suffix("/statuses") {
        list_statuses(State(sim), path(rev), uri, q).await
    } else if let Some(rev) = rest.strip_suffix("/check-runs") {
        list_check_runs(State(sim), path(rev), q).await
    } else {
        Err(ApiError::not_found())
    }
}

async fn combined_status(
    State(sim): State<Arc<Sim>>,
    Path((o, r, rev)): Path<(String, String, String)>,
) -> Res {
    let repo = full(&o, &r);
    let sha = resolve(&sim, &repo, &rev).await?;
    let world = sim.world();
    let r = ops::repo_of(&world, &repo)?;
    // The latest status per context, newest first.
    let mut latest: Vec<&crate::world::CommitStatus> = Vec::new();
    for s in r.statuses.iter().rev().filter(|s| s.sha == sha) {
        if !latest.iter().any(|l| l.context == s.context) {
            latest.push(s);
        }
    }
    let state = if latest
        .iter()
        .any(|s| s.state == "error" || s.state == "failure")
    {
        "failure"
    } else if latest.is_empty() || latest.iter().any(|s| s.state == "pending") {
        "pending"
    } else {
        "success"
    };
    let api = sim.urls.repo_api(r);
    Ok(ok(json!({
        "state": state,
        "statuses": latest.iter().map(|s| sim.urls.status(&world, r, s)).collect::<Vec<_>>(),
        "sha": sha,
        "total_count": latest.len(),
        "repository": sim.urls.repo(&world, r),
        "commit_url": format!("{api}/commits/{sha}"),
        "url": format!("{api}/commits/{sha}/status"),
    })))
}

async fn list_statuses(
    State(sim): State<Arc<Sim>>,
    Path((o, r, rev)): Path<(String, String, String)>,
    uri: OriginalUri,
    q: Query,
) -> Res {
    let repo = full(&o, &r);
    let sha = resolve(&sim, &repo, &rev).await?;
    let items = {
        let world = sim.world();
        let r = ops::repo_of(&world, &repo)?;
        r.statuses
            .iter()
            .rev()
            .filter(|s| s.sha == sha)
            .map(|s| sim.urls.status(&world, r, s))
            .collect()
    };
    Ok(paginate(&sim, &uri, &q, items))
}

async fn list_check_runs(
    State(sim): State<Arc<Sim>>,
    Path((o, r, rev)): Path<(String, String, String)>,
    q: Query,
) -> Res {
    let repo = full(&o, &r);
    let sha = resolve(&sim, &repo, &rev).await?;
    let world = sim.world();
    let r = ops::repo_of(&world, &repo)?;
    // `filter=latest` (GitHub's default) keeps only the most recent run of each check;
    // `filter=all` lists re-runs too.
    let latest_only = match q.get("filter").map(String::as_str) {
        None | Some("latest") => true,
        Some("all") => false,
        Some(_) => return Err(ApiError::validation("CheckRun", "filter", "invalid")),
    };
    let mut seen = std::collections::HashSet::new();
    let runs: Vec<&crate::world::CheckRun> = r
        .check_runs
        .iter()
        .rev()
        .filter(|c| c.head_sha == sha)
        .filter(|c| !latest_only || seen.insert(c.name.as_str()))
        .filter(|c| q.get("check_name").is_none_or(|n| c.name == *n))
        .filter(|c| q.get("status").is_none_or(|s| c.status == *s))
        .collect();
    // Paged like every list (30 by default, at most 100); `total_count` counts them all.
    let per_page = q
        .get("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = q
        .get("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let shown: Vec<Value> = runs
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|c| sim.urls.check_run(&world, r, c))
        .collect();
    Ok(ok(json!({"total_count": runs.len(), "check_runs": shown})))
}

fn check_input(body: &Value) -> CheckRunInput {
    let output = body.get("output").cloned().unwrap_or(Value::Null);
    CheckRunInput {
        name: str_field(body, "name"),
        head_sha: str_field(body, "head_sha"),
        status: str_field(body, "status"),
        conclusion: str_field(body, "conclusion"),
        details_url: str_field(body, "details_url"),
        external_id: str_field(body, "external_id"),
        title: str_field(&output, "title"),
        summary: str_field(&output, "summary"),
    }
}

fn render_check_run(sim: &Sim, repo: &str, id: u64) -> Res {
    let world = sim.world();
    let r = ops::repo_of(&world, repo)?;
    let c = r
        .check_runs
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(sim.urls.check_run(&world, r, c)))
}

pub async fn create_check_run(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Res {
    let repo = full(&o, &r);
    let id = sim
        .create_check_run(caller.actor()?, &repo, check_input(&body))
        .await?;
    let mut res = render_check_run(&sim, &repo, id)?;
    *res.status_mut() = axum::http::StatusCode::CREATED;
    Ok(res)
}

pub async fn get_check_run(
    State(sim): State<Arc<Sim>>,
    Path((o, r, id)): Path<(String, String, u64)>,
) -> Res {
    render_check_run(&sim, &full(&o, &r), id)
}

pub async fn patch_check_run(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r, id)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> Res {
    let repo = full(&o, &r);
    sim.update_check_run(caller.actor()?, &repo, id, check_input(&body))?;
    render_check_run(&sim, &repo, id)
}

/// `GET /rate_limit`: the caller's budget, without spending it.
pub async fn rate_limit(State(sim): State<Arc<Sim>>, req: axum::extract::Request) -> Res {
    let now = ops::now();
    let b = sim
        .faults
        .budget(&crate::faults::caller_key(&req), now, false);
    let core = json!({
        "limit": b.limit,
        "remaining": b.remaining(),
        "reset": b.reset,
        "used": b.used.min(b.limit),
        "resource": "core",
    });
    let other = |resource: &str, limit: u64| json!({"limit": limit, "remaining": limit, "reset": now + 60, "used": 0, "resource": resource});
    Ok(ok(json!({
        "resources": {
            "core": core,
            "search": other("search", 30),
            "graphql": other("graphql", 5000),
            "integration_manifest": other("integration_manifest", 5000),
            "code_search": other("code_search", 10),
        },
        "rate": core,
    })))
}
