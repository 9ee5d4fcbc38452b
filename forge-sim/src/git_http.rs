//! git smart HTTP at `{web}/{owner}/{repo}.git`, served by `git http-backend` as a CGI
//! program (through the `git_http` crate) so clones and pushes are exactly git's. The
//! simulator does the HTTP basic auth (the password is a user's API token, as with
//! GitHub's personal tokens): every request needs valid credentials, fetching needs read
//! access (every repository is public, so any user), pushing needs write. After a push
//! the changed refs become `push` (and `pull_request` `synchronize`) webhooks.

use std::sync::Arc;

use ::git_http::CgiRequest;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use tracing::{Instrument, info_span};

use crate::world::Permission;
use crate::{Sim, git, ops};

/// Largest push the simulator accepts.
const MAX_BODY: usize = 512 * 1024 * 1024;

pub fn router(sim: Arc<Sim>) -> Router {
    // Only the smart protocol's three paths, so nothing else at two levels deep (the
    // API's `/api/github/...` included) is mistaken for a repository.
    Router::new()
        .route("/{owner}/{repo}/info/refs", get(serve))
        .route("/{owner}/{repo}/git-upload-pack", post(serve))
        .route("/{owner}/{repo}/git-receive-pack", post(serve))
        // GitLab projects may sit in a subgroup: `group/sub/project.git`.
        .route("/{group}/{sub}/{repo}/info/refs", get(serve_nested))
        .route("/{group}/{sub}/{repo}/git-upload-pack", post(serve_nested))
        .route("/{group}/{sub}/{repo}/git-receive-pack", post(serve_nested))
        .with_state(sim)
}

/// A repository one namespace level deeper, served like any other.
async fn serve_nested(
    sim: State<Arc<Sim>>,
    Path((group, sub, repo)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    serve(sim, Path((format!("{group}/{sub}"), repo)), req).await
}

fn unauthorized() -> Response {
    let mut r = (StatusCode::UNAUTHORIZED, "Authentication failed\n").into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"forge-sim\""),
    );
    r
}

fn token_of(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let (_, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some(password.to_owned())
}

async fn serve(
    State(sim): State<Arc<Sim>>,
    Path((owner, repo)): Path<(String, String)>,
    req: Request,
) -> Response {
    let rest = req
        .uri()
        .path()
        .rsplit_once(".git/")
        .map(|(_, r)| r.to_owned())
        .unwrap_or_default();
    let Some(name) = repo.strip_suffix(".git") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let full = format!("{owner}/{name}");
    let is_push = rest == "git-receive-pack"
        || req
            .uri()
            .query()
            .is_some_and(|q| q.contains("service=git-receive-pack"));
    let (user, login, path_info) = {
        let world = sim.world();
        let Some(r) = world.repo(&full) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let Some(user) =
            token_of(req.headers()).and_then(|t| world.user_by_token(&t, ops::now()).cloned())
        else {
            return unauthorized();
        };
        if is_push && world.permission(r, user.id) < Permission::Write {
            return (
                StatusCode::FORBIDDEN,
                format!("Permission to {full}.git denied to {}.\n", user.login),
            )
                .into_response();
        }
        (
            user.id,
            user.login,
            format!("/{}/{}.git/{rest}", r.owner, r.name),
        )
    };
    let span = info_span!("git_http", repo = %full, user = %login, push = is_push);
    async move {
        let guard = if is_push {
            Some(sim.push_lock.lock().await)
        } else {
            None
        };
        let before = if is_push {
            let dir = ops::repo_of(&sim.world(), &full).map(|r| r.git_dir.clone());
            match dir {
                Ok(dir) => git::refs(&dir).await.ok(),
                Err(_) => None,
            }
        } else {
            None
        };
        // A declined push runs a pre-receive hook that refuses it, so the pusher sees
        // what a forge's push rule says: `! [remote rejected] ... (pre-receive hook
        // declined)`, and no ref moves.
        let mut env = Vec::new();
        if rest == "git-receive-pack" && sim.faults.take_declined_push() {
            match declining_hooks(&sim.data_dir).await {
                Ok(dir) => {
                    env.push(("GIT_CONFIG_COUNT".into(), "1".into()));
                    env.push(("GIT_CONFIG_KEY_0".into(), "core.hooksPath".into()));
                    env.push(("GIT_CONFIG_VALUE_0".into(), dir.display().to_string()));
                }
                Err(e) => tracing::error!(error = %e, "cannot write the declining hook"),
            }
        }
        let cgi = CgiRequest {
            project_root: sim.data_dir.clone(),
            path_info,
            remote_user: login,
            env,
            max_body: MAX_BODY,
        };
        // A push is answered once git is done, so its refs are final for `after_push`;
        // a fetch streams.
        let served = if is_push {
            ::git_http::serve_to_end(cgi, req).await
        } else {
            ::git_http::serve(cgi, req).await
        };
        let response = served.unwrap_or_else(|e| {
            tracing::error!(error = %e, "git http-backend failed");
            e.into_response()
        });
        if let Some(before) = before
            && let Err(e) = sim.after_push(&full, user, &before).await
        {
            tracing::error!(error = %e, "could not process push");
        }
        drop(guard);
        response
    }
    .instrument(span)
    .await
}

/// A hooks directory whose pre-receive hook declines every push, made once.
async fn declining_hooks(data_dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    let dir = data_dir.join(".declining-hooks");
    let hook = dir.join("pre-receive");
    if !hook.exists() {
        tokio::fs::create_dir_all(&dir).await?;
        let tmp = dir.join("pre-receive.tmp");
        tokio::fs::write(
            &tmp,
            "#!/bin/sh\necho 'error: GH006: this push was declined by a rule of the \
             repository (simulated)' >&2\nexit 1\n",
        )
        .await?;
        use std::os::unix::fs::PermissionsExt;
        tokio::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).await?;
        tokio::fs::rename(&tmp, &hook).await?;
    }
    Ok(dir)
}
