//! GitLab REST v4, at the paths and with the parameters the gitlab crate's endpoint
//! builders use (form-encoded bodies; JSON is accepted too). Projects are addressed by
//! numeric id or URL-encoded path; issues and merge requests by `iid`. Handlers only
//! translate HTTP to [`crate::ops::gitlab`] and world reads to JSON.

mod awards;
mod issues;
mod mrs;
mod notes;
mod project;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::error::SimError;
use crate::ops::gitlab::MergeRefusal;
use crate::{Sim, ops};

/// Every route, relative to [`super::API_PREFIX`].
pub fn router(sim: Arc<Sim>) -> Router {
    let p = "/projects/{id}";
    Router::new()
        .route("/users", get(project::users))
        .route("/user", get(awards::current_user))
        .route(p, get(project::get_project).put(project::edit_project))
        .route(&format!("{p}/members/all/{{user}}"), get(project::member))
        .route(
            &format!("{p}/labels"),
            get(project::labels).post(project::create_label),
        )
        .route(&format!("{p}/labels/{{name}}"), get(project::label))
        .route(
            &format!("{p}/statuses/{{sha}}"),
            post(project::create_status),
        )
        .route(
            &format!("{p}/repository/commits/{{sha}}/statuses"),
            get(project::statuses),
        )
        .route(&format!("{p}/pipelines"), get(project::pipelines))
        .route(
            &format!("{p}/repository/branches/{{branch}}"),
            axum::routing::delete(project::delete_branch),
        )
        .route(
            &format!("{p}/repository/files/{{file}}/raw"),
            get(project::file_raw),
        )
        .route(
            &format!("{p}/issues"),
            get(issues::list).post(issues::create),
        )
        .route(
            &format!("{p}/issues/{{iid}}"),
            get(issues::get_one).put(issues::edit),
        )
        .route(
            &format!("{p}/issues/{{iid}}/notes"),
            get(notes::list::<false>).post(notes::create::<false>),
        )
        .route(
            &format!("{p}/issues/{{iid}}/notes/{{note}}"),
            put(notes::edit::<false>),
        )
        .route(
            &format!("{p}/issues/{{iid}}/notes/{{note}}/award_emoji"),
            get(awards::list::<false>).post(awards::create::<false>),
        )
        .route(
            &format!("{p}/issues/{{iid}}/notes/{{note}}/award_emoji/{{award}}"),
            get(awards::get_one::<false>).delete(awards::delete::<false>),
        )
        .route(
            &format!("{p}/issues/{{iid}}/resource_label_events"),
            get(issues::label_events),
        )
        .route(
            &format!("{p}/merge_requests"),
            get(mrs::list).post(mrs::create),
        )
        .route(
            &format!("{p}/merge_requests/{{iid}}"),
            get(mrs::get_one).put(mrs::edit),
        )
        .route(
            &format!("{p}/merge_requests/{{iid}}/notes"),
            get(notes::list::<true>).post(notes::create::<true>),
        )
        .route(
            &format!("{p}/merge_requests/{{iid}}/notes/{{note}}"),
            put(notes::edit::<true>),
        )
        .route(
            &format!("{p}/merge_requests/{{iid}}/notes/{{note}}/award_emoji"),
            get(awards::list::<true>).post(awards::create::<true>),
        )
        .route(
            &format!("{p}/merge_requests/{{iid}}/notes/{{note}}/award_emoji/{{award}}"),
            get(awards::get_one::<true>).delete(awards::delete::<true>),
        )
        .route(
            &format!("{p}/merge_requests/{{iid}}/approvals"),
            get(mrs::approvals),
        )
        .route(
            &format!("{p}/merge_requests/{{iid}}/approve"),
            post(mrs::approve),
        )
        .route(
            &format!("{p}/merge_requests/{{iid}}/unapprove"),
            post(mrs::unapprove),
        )
        .route(
            &format!("{p}/merge_requests/{{iid}}/reviewers"),
            get(mrs::reviewers),
        )
        .route(
            &format!("{p}/merge_requests/{{iid}}/merge"),
            put(mrs::merge),
        )
        .fallback(|| async { GlError::new(StatusCode::NOT_FOUND, "404 Not Found") })
        .layer(axum::middleware::from_fn_with_state(
            sim.clone(),
            known_token,
        ))
        .with_state(sim)
}

/// A GitLab error answer: `{"message": ...}` (or `{"error": ...}` for a bad parameter,
/// as GitLab's API framework answers those).
#[derive(Debug)]
pub struct GlError {
    pub status: StatusCode,
    pub body: Value,
}

impl GlError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({"message": message.into()}),
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("404 {what} Not Found"))
    }

    /// A missing or invalid parameter: 400 `{"error": "title is missing"}`.
    pub fn param(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: json!({"error": message.into()}),
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "401 Unauthorized")
    }
}

impl From<SimError> for GlError {
    fn from(e: SimError) -> Self {
        match &e {
            SimError::NoRepo(_) => Self::not_found("Project"),
            SimError::NoUser(_) => Self::not_found("User"),
            SimError::NoIssue(_) => Self::new(StatusCode::NOT_FOUND, "404 Not found"),
            SimError::NotFound(what) if what.starts_with("label") => Self::not_found("Label"),
            SimError::NotFound(_) => Self::new(StatusCode::NOT_FOUND, "404 Not found"),
            SimError::Exists(what) if what.starts_with("label") => {
                Self::new(StatusCode::CONFLICT, "Label already exists")
            }
            SimError::Exists(m) => Self::new(StatusCode::CONFLICT, m.clone()),
            SimError::Forbidden { .. } => Self::new(StatusCode::FORBIDDEN, "403 Forbidden"),
            SimError::Invalid(m) => Self::new(StatusCode::BAD_REQUEST, m.clone()),
            SimError::NotMergeable(_) => {
                Self::new(StatusCode::METHOD_NOT_ALLOWED, "405 Method Not Allowed")
            }
            SimError::HeadMoved { .. } => Self::new(
                StatusCode::CONFLICT,
                "SHA does not match HEAD of source branch",
            ),
            SimError::Timeout(_) | SimError::Git(_) | SimError::Io(_) => {
                tracing::error!(error = %e, "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "500 Internal Server Error",
                )
            }
        }
    }
}

impl From<MergeRefusal> for GlError {
    fn from(e: MergeRefusal) -> Self {
        match e {
            MergeRefusal::Unauthorized => Self::unauthorized(),
            MergeRefusal::NotAllowed(m) => Self::new(StatusCode::METHOD_NOT_ALLOWED, m),
            MergeRefusal::Conflict => {
                Self::new(StatusCode::NOT_ACCEPTABLE, "Branch cannot be merged")
            }
            MergeRefusal::ShaMismatch(_) => Self::new(StatusCode::CONFLICT, e.to_string()),
            MergeRefusal::Other(e) => e.into(),
        }
    }
}

impl IntoResponse for GlError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

pub type Res = Result<Response, GlError>;

/// Unknown tokens are a 401 on every route, as on GitLab.
async fn known_token(
    axum::extract::State(sim): axum::extract::State<Arc<Sim>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    if let Err(e) = Caller::from_request_parts(&mut parts, &sim).await {
        return e.into_response();
    }
    next.run(axum::extract::Request::from_parts(parts, body))
        .await
}

/// The caller, from `PRIVATE-TOKEN: <token>` or `Authorization: Bearer <token>`.
/// Anonymous callers may read public projects (all simulated ones are).
#[derive(Debug, Clone, Copy)]
pub struct Caller(pub Option<u64>);

impl Caller {
    pub fn actor(self) -> Result<u64, GlError> {
        self.0.ok_or_else(GlError::unauthorized)
    }
}

impl FromRequestParts<Arc<Sim>> for Caller {
    type Rejection = GlError;

    async fn from_request_parts(parts: &mut Parts, sim: &Arc<Sim>) -> Result<Self, GlError> {
        let token = match parts.headers.get("private-token") {
            Some(v) => v
                .to_str()
                .map_err(|_| GlError::unauthorized())?
                .trim()
                .to_owned(),
            None => match parts.headers.get(header::AUTHORIZATION) {
                None => return Ok(Caller(None)),
                Some(v) => v
                    .to_str()
                    .ok()
                    .and_then(|v| {
                        v.strip_prefix("Bearer ")
                            .or_else(|| v.strip_prefix("bearer "))
                    })
                    .ok_or_else(GlError::unauthorized)?
                    .trim()
                    .to_owned(),
            },
        };
        let world = sim.world();
        let user = world
            .user_by_token(&token, ops::now())
            .ok_or_else(GlError::unauthorized)?;
        Ok(Caller(Some(user.id)))
    }
}

/// The project path for `{id}` (a numeric id or a decoded `group/sub/project`).
pub fn project_path(sim: &Sim, id: &str) -> Result<String, GlError> {
    let world = sim.world();
    let repo = match id.parse::<u64>() {
        Ok(n) => world.repos.get(&n),
        Err(_) => world.repo(id),
    };
    repo.filter(|r| world.gitlab.contains_key(&r.id))
        .map(|r| r.full_name())
        .ok_or_else(|| GlError::not_found("Project"))
}

/// Request parameters: the query, then a form-encoded or JSON body over it. JSON
/// arrays become comma-separated, as GitLab reads `labels`.
pub fn params(uri: &OriginalUri, headers: &HeaderMap, body: &Bytes) -> HashMap<String, String> {
    let mut out: HashMap<String, String> =
        form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json {
        if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) {
            for (k, v) in m {
                let s = match v {
                    Value::String(s) => s,
                    Value::Array(a) => a
                        .iter()
                        .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(","),
                    Value::Null => continue,
                    other => other.to_string(),
                };
                out.insert(k, s);
            }
        }
    } else {
        out.extend(form_urlencoded::parse(body).into_owned());
    }
    out
}

/// A comma-separated list parameter.
pub fn param_list(p: &HashMap<String, String>, key: &str) -> Option<Vec<String>> {
    p.get(key).map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

pub fn ok(v: Value) -> Response {
    Json(v).into_response()
}

pub fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

/// One page by `per_page` (default 20, at most 100) and `page`, with GitLab's
/// `x-page`, `x-per-page`, `x-next-page`, `x-prev-page`, `x-total`, `x-total-pages`
/// and a `Link` header (`next`, `prev`, `first`, `last`).
pub fn paginate(
    sim: &Sim,
    uri: &OriginalUri,
    p: &HashMap<String, String>,
    items: Vec<Value>,
) -> Response {
    let crate::paging::Page {
        items,
        page,
        per_page,
        total,
        pages,
    } = crate::paging::page_of(p, 20, items);
    let mut response = ok(Value::Array(items));
    let link_to = |n: usize| crate::paging::link_to(sim, uri, per_page, n, true);
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
    }
    if page < pages {
        links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
    }
    links.push(format!("{}; rel=\"first\"", link_to(1)));
    links.push(format!("{}; rel=\"last\"", link_to(pages)));
    let next = if page < pages {
        (page + 1).to_string()
    } else {
        String::new()
    };
    let prev = if page > 1 {
        (page - 1).to_string()
    } else {
        String::new()
    };
    let h = response.headers_mut();
    for (k, v) in [
        ("x-page", page.to_string()),
        ("x-per-page", per_page.to_string()),
        ("x-next-page", next),
        ("x-prev-page", prev),
        ("x-total", total.to_string()),
        ("x-total-pages", pages.to_string()),
        ("link", links.join(", ")),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    response
}

/// Sort notes or events by id: `sort=asc` oldest first, GitLab's default `desc`.
pub fn sort_by_id(p: &HashMap<String, String>, items: &mut [Value]) {
    items.sort_by_key(|v| v["id"].as_u64().unwrap_or(0));
    if p.get("sort").map(String::as_str) != Some("asc") {
        items.reverse();
    }
}
