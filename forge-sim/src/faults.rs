//! Faults on demand, so the bot's retry and rate-limit handling can be tested against
//! real HTTP: the next N API requests (optionally only under a path prefix) fail with
//! 5xx, hit a primary or secondary rate limit, or are slowed down.
//!
//! Every API answer also carries GitHub's `x-ratelimit-*` headers from an hourly budget
//! per caller (5000 per token, 60 for anonymous callers), and a caller who spends it
//! gets GitHub's 403 until the window resets. `GET /rate_limit` reads the budget
//! without spending it, as on GitHub.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// What a fault does to a request it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer with this 5xx status.
    ServerError(u16),
    /// 403 with `x-ratelimit-remaining: 0` and a reset `reset_in` from now.
    PrimaryRateLimit { reset_in: Duration },
    /// A secondary (abuse) limit: this status (403 or 429) with `retry-after`.
    SecondaryRateLimit { status: u16, retry_after: Duration },
    /// Answer normally, after this delay.
    Delay(Duration),
}

#[derive(Debug, Clone)]
struct Rule {
    kind: FaultKind,
    remaining: u32,
    path_prefix: Option<String>,
}

/// GitHub's hourly budgets.
const TOKEN_LIMIT: u64 = 5000;
const ANONYMOUS_LIMIT: u64 = 60;
const WINDOW_SECS: i64 = 3600;

/// One caller's window: requests used and when it resets (unix seconds).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub limit: u64,
    pub used: u64,
    pub reset: i64,
}

impl Budget {
    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }
}

#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<Rule>>,
    /// Pushes still to decline, as a forge's pre-receive hook does (a protected
    /// branch, a push rule): git answers the pusher `pre-receive hook declined`.
    declined_pushes: std::sync::atomic::AtomicU32,
    /// Caller key (the `Authorization` value, or "" for anonymous) → budget.
    budgets: Mutex<HashMap<String, Budget>>,
}

impl Faults {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Apply `kind` to the next `n` API requests whose path (after the API base, e.g.
    /// `/repos/o/r/issues`) starts with `path_prefix`, or to any request when `None`.
    pub fn inject(&self, kind: FaultKind, n: u32, path_prefix: Option<String>) {
        self.rules.lock().expect("faults lock").push(Rule {
            kind,
            remaining: n,
            path_prefix,
        });
    }

    pub fn clear(&self) {
        self.rules.lock().expect("faults lock").clear();
        self.declined_pushes
            .store(0, std::sync::atomic::Ordering::SeqCst);
    }

    /// Decline the next `n` pushes.
    pub fn decline_pushes(&self, n: u32) {
        self.declined_pushes
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether this push is one to decline (counting it if so).
    pub(crate) fn take_declined_push(&self) -> bool {
        self.declined_pushes
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok()
    }

    pub(crate) fn take(&self, path: &str) -> Option<FaultKind> {
        let mut rules = self.rules.lock().expect("faults lock");
        let rule = rules.iter_mut().find(|r| {
            r.remaining > 0 && r.path_prefix.as_deref().is_none_or(|p| path.starts_with(p))
        })?;
        rule.remaining -= 1;
        let kind = rule.kind;
        rules.retain(|r| r.remaining > 0);
        Some(kind)
    }

    /// The caller's budget now, spending one request when `spend` is set.
    pub fn budget(&self, caller: &str, now: i64, spend: bool) -> Budget {
        let limit = if caller.is_empty() {
            ANONYMOUS_LIMIT
        } else {
            TOKEN_LIMIT
        };
        let mut budgets = self.budgets.lock().expect("faults lock");
        let b = budgets.entry(caller.to_owned()).or_insert(Budget {
            limit,
            used: 0,
            reset: now + WINDOW_SECS,
        });
        if b.reset <= now {
            *b = Budget {
                limit,
                used: 0,
                reset: now + WINDOW_SECS,
            };
        }
        if spend {
            b.used += 1;
        }
        *b
    }
}

/// The key a request's budget is kept under.
pub fn caller_key(req: &Request) -> String {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn primary_limit() -> Response {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "API rate limit exceeded for user. (But here's the good news: Authenticated requests get a higher rate limit.)",
    )
    .into_response()
}

/// Middleware over the GitHub API routes: spend the caller's budget, apply a matching
/// fault, then stamp the rate-limit headers on whatever answer goes out.
pub async fn layer(State(faults): State<Arc<Faults>>, req: Request, next: Next) -> Response {
    let now = chrono::Utc::now().timestamp();
    let path = req
        .uri()
        .path()
        .strip_prefix(crate::API_PREFIX)
        .unwrap_or(req.uri().path())
        .to_owned();
    let budget = faults.budget(&caller_key(&req), now, path != "/rate_limit");
    let mut remaining = budget.remaining();
    let mut reset_at = budget.reset;
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
            ApiError::new(status, "Server Error").into_response()
        }
        Some(FaultKind::PrimaryRateLimit { reset_in }) => {
            remaining = 0;
            reset_at = now + reset_in.as_secs() as i64;
            primary_limit()
        }
        Some(FaultKind::SecondaryRateLimit {
            status,
            retry_after,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
            let mut r = ApiError::new(
                status,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            )
            .into_response();
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(retry_after.as_secs()));
            r
        }
        Some(FaultKind::Delay(d)) => {
            tokio::time::sleep(d).await;
            next.run(req).await
        }
        None => next.run(req).await,
    };
    let h = response.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(budget.limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(reset_at));
    h.insert(
        "x-ratelimit-used",
        HeaderValue::from(budget.used.min(budget.limit)),
    );
    h.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
    h.insert(
        "x-github-api-version-selected",
        HeaderValue::from_static("2022-11-28"),
    );
    response
}
