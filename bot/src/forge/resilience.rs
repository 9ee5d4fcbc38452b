//! The resilience policy both forge clients share: retry transient failures with
//! exponential backoff and jitter, wait out primary and secondary rate limits instead of
//! hammering the forge, and give up with [`ForgeError::Unavailable`] once the attempts
//! or the waiting budget are spent.
//!
//! The policy only decides; it does not know HTTP clients. Each client classifies its
//! own failures into a [`Retry`] verdict ([`classify_status`] does it for any HTTP
//! status plus headers, so GitHub and GitLab read the same rules) and runs its call
//! through [`Policy::run`]. Sleeping and "now" are injected ([`Sleeper`], [`Clock`]) so
//! tests check the waits without waiting.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use rand::RngExt;

use crate::clock::{Clock, SystemClock};

use super::ForgeError;

/// How the policy sleeps. Production sleeps on tokio; tests record the waits.
pub trait Sleeper: Send + Sync + 'static {
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}

/// Sleeps on the tokio timer.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// A permanent answer (4xx, bad input): retrying cannot help.
    No,
    /// A transient failure (5xx, connection reset, timeout): back off and try again,
    /// waiting at least the given time when the forge said so.
    Transient(Option<Duration>),
    /// Rate limited: wait this long before the next attempt.
    RateLimited(Duration),
}

impl Retry {
    /// For a request that may have taken effect although it failed (a POST that creates
    /// a comment, issue or pull request): retrying could create it twice, so a transient
    /// failure is retried only when it proves nothing happened (`unapplied`: a 503, or a
    /// connection that never opened). Rate limits are refused before processing and are
    /// always waited out.
    pub fn if_unapplied(self, unapplied: bool) -> Retry {
        match self {
            Retry::Transient(_) if !unapplied => Retry::No,
            r => r,
        }
    }
}

/// Tunables for [`Policy`]; the defaults suit a bot that can afford to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySettings {
    /// Attempts in all for a transient failure (the first try included).
    pub max_attempts: u32,
    /// First backoff; doubles on each retry.
    pub base_delay: Duration,
    /// Longest single backoff.
    pub max_delay: Duration,
    /// The most one call may spend waiting (backoff plus rate limits) before it fails
    /// with [`ForgeError::Unavailable`]: a rate limit that resets in an hour should
    /// fail the call now so the worker's own retry schedule takes over.
    pub max_wait: Duration,
    /// Timeout for one HTTP attempt.
    pub request_timeout: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_wait: Duration::from_secs(300),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// A waiting floor for a secondary limit that names no time: GitHub documents "wait at
/// least one minute" for those.
const SECONDARY_LIMIT_FLOOR: Duration = Duration::from_secs(60);

/// The shared retry and rate-limit policy.
#[derive(Clone)]
pub struct Policy {
    pub settings: RetrySettings,
    sleeper: Arc<dyn Sleeper>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self::new(RetrySettings::default())
    }
}

/// Why [`Policy::run`] stopped.
#[derive(Debug)]
pub enum Failure<E> {
    /// The last error was permanent; the caller maps it.
    Permanent(E),
    /// Attempts or waiting budget spent.
    GaveUp { attempts: u32, last: String },
}

impl<E> Failure<E> {
    /// Map a give-up onto [`ForgeError::Unavailable`], and a permanent error with `f`.
    pub fn into_forge(
        self,
        call: &'static str,
        repo: &str,
        f: impl FnOnce(E) -> ForgeError,
    ) -> ForgeError {
        match self {
            Failure::Permanent(e) => f(e),
            Failure::GaveUp { attempts, last } => ForgeError::Unavailable {
                call,
                repo: repo.to_owned(),
                attempts,
                last,
            },
        }
    }
}

impl Policy {
    pub fn new(settings: RetrySettings) -> Self {
        Self {
            settings,
            sleeper: Arc::new(TokioSleeper),
            clock: Arc::new(SystemClock),
        }
    }

    /// Replace how the policy sleeps and reads the time (tests).
    pub fn with_time(mut self, sleeper: Arc<dyn Sleeper>, clock: Arc<dyn Clock>) -> Self {
        self.sleeper = sleeper;
        self.clock = clock;
        self
    }

    /// Seconds since the epoch, for rate-limit reset times.
    pub fn now_epoch_secs(&self) -> u64 {
        (self.clock.now_ms().max(0) / 1000) as u64
    }

    /// The backoff before retry number `retry` (1-based): exponential with "equal
    /// jitter" (half fixed, half random) so many bots do not retry in lockstep.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .settings
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20));
        let capped = exp.min(self.settings.max_delay);
        let half = capped / 2;
        let jitter_ms = rand::rng().random_range(0..=half.as_millis() as u64);
        half + Duration::from_millis(jitter_ms)
    }

    /// Run `op` until it succeeds, fails permanently, or the budget is spent.
    pub async fn run<T, E, F, Fut>(
        &self,
        mut op: F,
        classify: impl Fn(&E) -> Retry,
    ) -> Result<T, Failure<E>>
    where
        E: fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempts = 0u32;
        let mut transient_retries = 0u32;
        let mut waited = Duration::ZERO;
        loop {
            attempts += 1;
            let err = match op().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let wait = match classify(&err) {
                Retry::No => return Err(Failure::Permanent(err)),
                Retry::Transient(hint) => {
                    transient_retries += 1;
                    if transient_retries >= self.settings.max_attempts {
                        return Err(Failure::GaveUp {
                            attempts,
                            last: err.to_string(),
                        });
                    }
                    let backoff = self.backoff(transient_retries);
                    hint.map_or(backoff, |h| h.max(backoff))
                }
                Retry::RateLimited(d) => d.max(Duration::from_secs(1)),
            };
            if waited + wait > self.settings.max_wait {
                tracing::warn!(
                    attempts,
                    wait_s = wait.as_secs(),
                    "forge asks to wait longer than the budget allows; giving up"
                );
                return Err(Failure::GaveUp {
                    attempts,
                    last: format!("{err} (would wait {}s more)", wait.as_secs()),
                });
            }
            tracing::info!(attempts, wait_ms = wait.as_millis() as u64, error = %err, "forge call failed; waiting before retrying");
            waited += wait;
            self.sleeper.sleep(wait).await;
        }
    }
}

fn header_u64(headers: &HeaderMap, names: &[&str]) -> Option<u64> {
    names.iter().find_map(|n| {
        headers
            .get(*n)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    })
}

/// Classify an HTTP answer: the same rules read GitHub's `x-ratelimit-*` and GitLab's
/// `RateLimit-*` headers (header names are case-insensitive).
pub fn classify_status(status: u16, headers: &HeaderMap, now_epoch_secs: u64) -> Retry {
    let retry_after = header_u64(headers, &["retry-after"]).map(Duration::from_secs);
    let remaining = header_u64(headers, &["x-ratelimit-remaining", "ratelimit-remaining"]);
    let reset = header_u64(headers, &["x-ratelimit-reset", "ratelimit-reset"]);
    match status {
        403 | 429 => {
            if let Some(d) = retry_after {
                // Secondary limit (GitHub) or throttling (GitLab): the forge says how long.
                Retry::RateLimited(d)
            } else if remaining == Some(0) {
                // Primary limit: wait for the window to reset (plus a second of slack).
                let until = reset.map_or(SECONDARY_LIMIT_FLOOR, |r| {
                    Duration::from_secs(r.saturating_sub(now_epoch_secs) + 1)
                });
                Retry::RateLimited(until)
            } else if status == 429 {
                Retry::RateLimited(SECONDARY_LIMIT_FLOOR)
            } else {
                Retry::No
            }
        }
        500..=599 => Retry::Transient(retry_after),
        408 => Retry::Transient(None),
        _ => Retry::No,
    }
}

/// A failed attempt of [`send`].
#[derive(Debug)]
pub enum SendError {
    /// No answer: connection refused or reset, timeout.
    Transport(reqwest::Error),
    /// An answer the policy retries (5xx, rate limit); kept to return it if it is the last.
    Status(http::Response<Bytes>),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Transport(e) => write!(f, "{e}"),
            SendError::Status(r) => write!(f, "HTTP {}", r.status()),
        }
    }
}

/// The outcome of [`send`] after the policy gave up.
#[derive(Debug, thiserror::Error)]
pub enum SendFailure {
    #[error("request could not be sent: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp { attempts: u32, last: String },
}

/// Send one request through the policy with reqwest, returning the forge's answer
/// (any status the policy does not retry) with its headers.
pub async fn send(
    policy: &Policy,
    client: &reqwest::Client,
    method: http::Method,
    url: url::Url,
    headers: HeaderMap,
    body: Vec<u8>,
) -> Result<http::Response<Bytes>, SendFailure> {
    let timeout = policy.settings.request_timeout;
    // POSTs create things; see [`Retry::if_unapplied`].
    let creates = method == http::Method::POST;
    let result = policy
        .run(
            || {
                let req = client
                    .request(method.clone(), url.clone())
                    .headers(headers.clone())
                    .timeout(timeout)
                    .body(body.clone());
                async move {
                    let resp = req.send().await.map_err(SendError::Transport)?;
                    let status = resp.status();
                    let resp_headers = resp.headers().clone();
                    let bytes = resp.bytes().await.map_err(SendError::Transport)?;
                    let mut out = http::Response::new(bytes);
                    *out.status_mut() = status;
                    *out.headers_mut() = resp_headers;
                    if classify_status(status.as_u16(), out.headers(), policy.now_epoch_secs())
                        == Retry::No
                    {
                        Ok(out)
                    } else {
                        Err(SendError::Status(out))
                    }
                }
            },
            |e| match e {
                SendError::Transport(t) if t.is_builder() => Retry::No,
                SendError::Transport(t) => {
                    Retry::Transient(None).if_unapplied(!creates || t.is_connect())
                }
                SendError::Status(r) => {
                    classify_status(r.status().as_u16(), r.headers(), policy.now_epoch_secs())
                        .if_unapplied(
                            !creates || r.status() == http::StatusCode::SERVICE_UNAVAILABLE,
                        )
                }
            },
        )
        .await;
    match result {
        Ok(r) => Ok(r),
        Err(Failure::Permanent(SendError::Status(r))) => Ok(r),
        Err(Failure::Permanent(SendError::Transport(e))) if e.is_builder() => {
            Err(SendFailure::Transport(e))
        }
        Err(Failure::Permanent(SendError::Transport(e))) => Err(SendFailure::GaveUp {
            attempts: 1,
            last: format!("{e} (not retried: the request may have been applied)"),
        }),
        Err(Failure::GaveUp { attempts, last }) => Err(SendFailure::GaveUp { attempts, last }),
    }
}

/// A secret (token, key) that never shows in logs or `Debug` output.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself; call only where it goes on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_rules() {
        let mut h = HeaderMap::new();
        assert_eq!(classify_status(404, &h, 0), Retry::No);
        assert_eq!(classify_status(403, &h, 0), Retry::No);
        assert_eq!(classify_status(502, &h, 0), Retry::Transient(None));
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        h.insert("x-ratelimit-reset", "1100".parse().unwrap());
        assert_eq!(
            classify_status(403, &h, 1000),
            Retry::RateLimited(Duration::from_secs(101))
        );
        let mut g = HeaderMap::new();
        g.insert("RateLimit-Remaining", "0".parse().unwrap());
        g.insert("RateLimit-Reset", "1010".parse().unwrap());
        assert_eq!(
            classify_status(429, &g, 1000),
            Retry::RateLimited(Duration::from_secs(11))
        );
        let mut s = HeaderMap::new();
        s.insert("retry-after", "7".parse().unwrap());
        assert_eq!(
            classify_status(403, &s, 0),
            Retry::RateLimited(Duration::from_secs(7))
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = Policy::new(RetrySettings {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            ..RetrySettings::default()
        });
        let b1 = p.backoff(1);
        assert!(b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100));
        let b3 = p.backoff(3);
        assert!(b3 >= Duration::from_millis(200) && b3 <= Duration::from_millis(400));
        let b10 = p.backoff(10);
        assert!(b10 <= Duration::from_millis(1000));
    }

    #[test]
    fn secret_is_redacted() {
        assert_eq!(format!("{:?}", Secret::new("ghp_x")), "Secret(***)");
    }
}
