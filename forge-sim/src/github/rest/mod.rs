//! The GitHub REST API subset, at the paths octocrab calls. Handlers only translate
//! HTTP to [`crate::ops`] and world reads to JSON; they hold no logic of their own.

mod app;
mod hooks;
mod issues;
mod pulls;
mod reactions;
mod repos;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::Value;

use crate::error::ApiError;
use crate::{Sim, ops};

/// Every route, relative to [`crate::API_PREFIX`].
pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route(
            "/app/installations/{id}/access_tokens",
            post(app::access_token),
        )
        .route("/rate_limit", get(repos::rate_limit))
        .route("/repos/{o}/{r}/hooks", get(hooks::list).post(hooks::create))
        .route(
            "/repos/{o}/{r}/hooks/{id}/deliveries",
            get(hooks::list_deliveries),
        )
        .route(
            "/repos/{o}/{r}/hooks/{id}/deliveries/{d}",
            get(hooks::get_delivery),
        )
        .route(
            "/repos/{o}/{r}/hooks/{id}/deliveries/{d}/attempts",
            post(hooks::redeliver),
        )
        .route("/repos/{o}/{r}", get(repos::get_repo))
        .route("/repos/{o}/{r}/installation", get(app::repo_installation))
        .route(
            "/repos/{o}/{r}/issues",
            get(issues::list).post(issues::create),
        )
        .route(
            "/repos/{o}/{r}/issues/{n}",
            get(issues::get_one).patch(issues::patch),
        )
        .route(
            "/repos/{o}/{r}/issues/{n}/comments",
            get(issues::list_comments).post(issues::create_comment),
        )
        .route(
            "/repos/{o}/{r}/issues/comments/{id}",
            get(issues::get_comment)
                .patch(issues::patch_comment)
                // GitHub also takes POST for PATCH; octocrab's `update_comment` uses it.
                .post(issues::patch_comment)
                .delete(issues::delete_comment),
        )
        .route(
            "/repos/{o}/{r}/issues/comments/{id}/reactions",
            get(reactions::list::<false>).post(reactions::create::<false>),
        )
        .route(
            "/repos/{o}/{r}/issues/comments/{id}/reactions/{reaction}",
            axum::routing::delete(reactions::delete::<false>),
        )
        .route(
            "/repos/{o}/{r}/pulls/comments/{id}/reactions",
            get(reactions::list::<true>).post(reactions::create::<true>),
        )
        .route(
            "/repos/{o}/{r}/pulls/comments/{id}/reactions/{reaction}",
            axum::routing::delete(reactions::delete::<true>),
        )
        .route("/repos/{o}/{r}/issues/{n}/events", get(issues::list_events))
        .route(
            "/repos/{o}/{r}/issues/{n}/labels",
            get(issues::list_issue_labels)
                .post(issues::add_labels)
                .put(issues::set_labels),
        )
        .route(
            "/repos/{o}/{r}/issues/{n}/labels/{name}",
            axum::routing::delete(issues::remove_label),
        )
        .route(
            "/repos/{o}/{r}/labels",
            get(repos::list_labels).post(repos::create_label),
        )
        .route("/repos/{o}/{r}/labels/{name}", get(repos::get_label))
        .route(
            "/repos/{o}/{r}/collaborators/{user}/permission",
            get(repos::permission),
        )
        .route("/repos/{o}/{r}/contents", get(repos::contents_root))
        .route("/repos/{o}/{r}/contents/", get(repos::contents_root))
        .route("/repos/{o}/{r}/contents/{*path}", get(repos::contents))
        .route("/repos/{o}/{r}/raw/{*path}", get(repos::raw))
        // Branch names may hold slashes, so one route takes the rest.
        .route("/repos/{o}/{r}/branches/{*rest}", get(repos::branch_routes))
        // `DELETE /git/refs/heads/<branch>`: the branch may hold slashes.
        .route(
            "/repos/{o}/{r}/git/refs/{*rest}",
            axum::routing::delete(repos::delete_ref),
        )
        .route("/repos/{o}/{r}/statuses/{sha}", post(repos::create_status))
        // `{ref}` may hold slashes (`heads/main`), so one route takes the rest.
        .route("/repos/{o}/{r}/commits/{*rest}", get(repos::commit_routes))
        .route("/repos/{o}/{r}/check-runs", post(repos::create_check_run))
        .route(
            "/repos/{o}/{r}/check-runs/{id}",
            get(repos::get_check_run).patch(repos::patch_check_run),
        )
        .route("/repos/{o}/{r}/pulls", get(pulls::list).post(pulls::create))
        .route(
            "/repos/{o}/{r}/pulls/{n}",
            get(pulls::get_one).patch(pulls::patch),
        )
        .route(
            "/repos/{o}/{r}/pulls/{n}/reviews",
            get(pulls::list_reviews).post(pulls::create_review),
        )
        .route(
            "/repos/{o}/{r}/pulls/{n}/comments",
            get(pulls::list_review_comments).post(pulls::create_review_comment),
        )
        .route(
            "/repos/{o}/{r}/pulls/{n}/merge",
            put(pulls::merge).get(pulls::is_merged),
        )
        .fallback(|| async { ApiError::not_found() })
        .layer(axum::middleware::from_fn_with_state(
            sim.clone(),
            known_credentials,
        ))
        .with_state(sim)
}

/// A request with credentials the forge does not know is a 401 on every route, even
/// one that anonymous callers may read, as on GitHub. App JWTs are checked by the app
/// routes themselves.
async fn known_credentials(
    axum::extract::State(sim): axum::extract::State<Arc<Sim>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let is_jwt = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.matches('.').count() == 2);
    if !is_jwt {
        let (mut parts, body) = req.into_parts();
        if let Err(e) = Caller::from_request_parts(&mut parts, &sim).await {
            return e.into_response();
        }
        return next
            .run(axum::extract::Request::from_parts(parts, body))
            .await;
    }
    next.run(req).await
}

/// The authenticated caller, from `Authorization: Bearer|token <token>`. Anonymous
/// callers may read (every simulated repository is public); a token the forge does not
/// know is a 401, as on GitHub.
#[derive(Debug, Clone, Copy)]
pub struct Caller(pub Option<u64>);

impl Caller {
    /// The caller's user id, or 401 for anonymous writes.
    pub fn actor(self) -> Result<u64, ApiError> {
        self.0
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "Requires authentication"))
    }
}

impl FromRequestParts<Arc<Sim>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, sim: &Arc<Sim>) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(Caller(None));
        };
        let value = value.to_str().map_err(|_| ApiError::unauthorized())?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .or_else(|| value.strip_prefix("token "))
            .ok_or_else(ApiError::unauthorized)?
            .trim();
        let world = sim.world();
        let user = world
            .user_by_token(token, ops::now())
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Caller(Some(user.id)))
    }
}

pub type Query = axum::extract::Query<HashMap<String, String>>;

/// `200` with a JSON body.
pub fn ok(v: Value) -> Response {
    Json(v).into_response()
}

/// `201` with a JSON body.
pub fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

/// One page of `items` by `per_page` (default 30, at most 100) and `page`, with the
/// `Link` header GitHub sends (`next`, `last`, `first`, `prev` as they apply).
pub fn paginate(
    sim: &Sim,
    uri: &OriginalUri,
    query: &HashMap<String, String>,
    items: Vec<Value>,
) -> Response {
    let crate::paging::Page {
        items,
        page,
        per_page,
        pages: last,
        ..
    } = crate::paging::page_of(query, 30, items);
    let mut response = ok(Value::Array(items));
    let link_to = |p: usize| crate::paging::link_to(sim, uri, per_page, p, false);
    let mut links = Vec::new();
    if page < last {
        links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
        links.push(format!("{}; rel=\"last\"", link_to(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"first\"", link_to(1)));
        links.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
    }
    if !links.is_empty()
        && let Ok(v) = HeaderValue::from_str(&links.join(", "))
    {
        response.headers_mut().insert(header::LINK, v);
    }
    response
}

/// `owner/name` from the path's two segments.
pub fn full(o: &str, r: &str) -> String {
    format!("{o}/{r}")
}

/// A string field of a JSON body.
pub fn str_field(body: &Value, key: &str) -> Option<String> {
    body.get(key).and_then(Value::as_str).map(str::to_owned)
}
