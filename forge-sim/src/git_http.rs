//! git smart HTTP at `{web}/{owner}/{repo}.git`, served by `git http-backend` as a CGI
//! program so clones and pushes are exactly git's. The simulator does the HTTP basic
//! auth (the password is a user's API token, as with GitHub's personal tokens): every
//! request needs valid credentials, fetching needs read access (every repository is
//! public, so any user), pushing needs write. After a push the changed refs become
//! `push` (and `pull_request` `synchronize`) webhooks.

use std::process::Stdio;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use tokio::io::AsyncWriteExt;
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
        let response = match cgi(&sim, &login, &path_info, req).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "git http-backend failed");
                (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
            }
        };
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

/// Run `git http-backend` for one request and turn its CGI output into a response.
async fn cgi(
    sim: &Sim,
    login: &str,
    path_info: &str,
    req: Request,
) -> Result<Response, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, MAX_BODY)
        .await
        .map_err(std::io::Error::other)?;
    let h = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", &sim.data_dir)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", path_info)
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("QUERY_STRING", parts.uri.query().unwrap_or_default())
        .env("CONTENT_TYPE", h(header::CONTENT_TYPE))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", h(header::CONTENT_ENCODING))
        .env(
            "GIT_PROTOCOL",
            parts
                .headers
                .get("git-protocol")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default(),
        )
        .env("REMOTE_USER", login)
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let out = child.wait_with_output().await?;
    let _ = writer.await;
    if !out.stderr.is_empty() {
        tracing::debug!(stderr = %String::from_utf8_lossy(&out.stderr), "git http-backend");
    }
    Ok(parse_cgi(&out.stdout))
}

/// Split CGI output into headers (with `Status:`) and body.
fn parse_cgi(out: &[u8]) -> Response {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, sep)) = split else {
        return (StatusCode::BAD_GATEWAY, "malformed CGI output").into_response();
    };
    let mut status = StatusCode::OK;
    let mut response = Response::new(Body::from(out[end + sep..].to_vec()));
    for line in String::from_utf8_lossy(&out[..end]).lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("status") {
            status = v
                .split_whitespace()
                .next()
                .and_then(|c| c.parse().ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(status);
        } else if let (Ok(k), Ok(v)) = (
            header::HeaderName::try_from(k.trim()),
            HeaderValue::from_str(v),
        ) {
            response.headers_mut().append(k, v);
        }
    }
    *response.status_mut() = status;
    response
}
