//! Faults and rate-limit headers on the GitLab API. The same injected faults as the
//! GitHub API (see [`crate::faults`]) apply here, answered GitLab's way: a rate limit is
//! `429` with `Retry-After` and the plain-text body `Retry later`, server errors are
//! `{"message": "500 Internal Server Error"}`, and every answer carries GitLab's
//! `RateLimit-*` headers from the caller's budget (the simulator's hourly budget, keyed
//! by the `PRIVATE-TOKEN` or `Authorization` value).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::rest::GlError;
use crate::faults::{FaultKind, Faults};

fn caller_key(req: &Request) -> String {
    let h = req.headers();
    h.get("private-token")
        .or_else(|| h.get(header::AUTHORIZATION))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn retry_later(status: StatusCode, retry_after: u64) -> Response {
    let mut r = (status, "Retry later\n").into_response();
    r.headers_mut()
        .insert("retry-after", HeaderValue::from(retry_after));
    r
}

/// Middleware over the GitLab routes: spend the budget, apply a fault, stamp headers.
pub async fn layer(State(faults): State<Arc<Faults>>, req: Request, next: Next) -> Response {
    let now = chrono::Utc::now().timestamp();
    let path = req.uri().path().to_owned();
    let budget = faults.budget(&caller_key(&req), now, true);
    let mut remaining = budget.remaining();
    let fault = if budget.used > budget.limit {
        Some(FaultKind::PrimaryRateLimit {
            reset_in: Duration::from_secs((budget.reset - now).max(0) as u64),
        })
    } else {
        faults.take(&path)
    };
    let mut response = match fault {
        Some(FaultKind::ServerError(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            let reason = status.canonical_reason().unwrap_or("Error");
            GlError::new(status, format!("{} {reason}", status.as_u16())).into_response()
        }
        Some(FaultKind::PrimaryRateLimit { reset_in }) => {
            remaining = 0;
            retry_later(StatusCode::TOO_MANY_REQUESTS, reset_in.as_secs())
        }
        Some(FaultKind::SecondaryRateLimit { retry_after, .. }) => {
            // GitLab has one kind of limit, always 429.
            retry_later(StatusCode::TOO_MANY_REQUESTS, retry_after.as_secs())
        }
        Some(FaultKind::Delay(d)) => {
            tokio::time::sleep(d).await;
            next.run(req).await
        }
        None => next.run(req).await,
    };
    let reset = budget.reset;
    let h = response.headers_mut();
    h.insert("ratelimit-limit", HeaderValue::from(budget.limit));
    h.insert(
        "ratelimit-observed",
        HeaderValue::from(budget.used.min(budget.limit)),
    );
    h.insert("ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("ratelimit-reset", HeaderValue::from(reset));
    if let Some(v) = chrono::DateTime::from_timestamp(reset, 0)
        .map(|t| t.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .and_then(|s| HeaderValue::from_str(&s).ok())
    {
        h.insert("ratelimit-resettime", v);
    }
    response
}
