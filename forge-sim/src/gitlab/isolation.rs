//! A repository belongs to one forge: GitHub's API does not see GitLab projects (the
//! GitLab API already answers 404 for GitHub repositories), so a client pointed at the
//! wrong forge fails as it would against the real ones.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Sim;
use crate::error::ApiError;

/// Middleware over the GitHub routes: `/repos/{o}/{r}/...` of a GitLab project is 404.
pub async fn hide_from_github(State(sim): State<Arc<Sim>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let path = path.strip_prefix(crate::API_PREFIX).unwrap_or(path);
    let mut segments = path.trim_start_matches('/').split('/');
    if segments.next() == Some("repos")
        && let (Some(owner), Some(name)) = (segments.next(), segments.next())
    {
        let world = sim.world();
        let gitlab = world
            .repo_id(&format!("{owner}/{name}"))
            .is_some_and(|id| world.gitlab.contains_key(&id));
        if gitlab {
            return ApiError::not_found().into_response();
        }
    }
    next.run(req).await
}
