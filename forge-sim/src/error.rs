//! Errors: [`SimError`] for the driver API, [`ApiError`] for REST answers shaped like
//! GitHub's (`{"message", "documentation_url"}`, plus `errors` on 422) so clients take
//! the same error paths against the simulator as against GitHub.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::git::GitError;

/// What a driver call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("no such user: {0}")]
    NoUser(String),
    #[error("no such repository: {0}")]
    NoRepo(String),
    #[error("no such issue or pull request: #{0}")]
    NoIssue(u64),
    /// Anything else that does not exist: a label, a comment, a check run.
    #[error("no such {0}")]
    NotFound(String),
    #[error("{0} already exists")]
    Exists(String),
    #[error("{login} lacks {needed} permission on {repo}")]
    Forbidden {
        login: String,
        repo: String,
        needed: &'static str,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("pull request is not mergeable: {0}")]
    NotMergeable(String),
    #[error("head branch was modified: expected {expected}, is {actual}")]
    HeadMoved { expected: String, actual: String },
    #[error("timed out waiting for {0}")]
    Timeout(String),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A REST error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub errors: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: None,
        }
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found")
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Bad credentials")
    }

    /// GitHub's 422 with one `errors` entry.
    pub fn validation(resource: &str, field: &str, code: &str) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: "Validation Failed".into(),
            errors: Some(json!([{ "resource": resource, "code": code, "field": field }])),
        }
    }
}

impl From<SimError> for ApiError {
    fn from(e: SimError) -> Self {
        match &e {
            SimError::NoUser(_) | SimError::NoRepo(_) | SimError::NoIssue(_) => Self::not_found(),
            // GitHub's wording for the one not-found callers commonly handle.
            SimError::NotFound(what) if what.starts_with("label") => {
                Self::new(StatusCode::NOT_FOUND, "Label does not exist")
            }
            SimError::NotFound(_) => Self::not_found(),
            SimError::Exists(_) => Self::validation("Label", "name", "already_exists"),
            // GitHub answers 403 for authenticated callers without access to a write.
            SimError::Forbidden { .. } => Self::new(
                StatusCode::FORBIDDEN,
                "Resource not accessible by integration",
            ),
            SimError::Invalid(m) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, m.clone()),
            SimError::NotMergeable(_) => Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Pull Request is not mergeable",
            ),
            SimError::HeadMoved { .. } => Self::new(
                StatusCode::CONFLICT,
                "Head branch was modified. Review and try the merge again.",
            ),
            SimError::Timeout(_) | SimError::Git(_) | SimError::Io(_) => {
                tracing::error!(error = %e, "internal error");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Server Error")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "message": self.message,
            "documentation_url": "https://docs.github.com/rest",
            "status": self.status.as_u16().to_string(),
        });
        if let Some(errors) = self.errors {
            body["errors"] = errors;
        }
        (self.status, axum::Json(body)).into_response()
    }
}
