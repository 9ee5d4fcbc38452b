//! The shared retry and rate-limit policy against a real local HTTP server: what is
//! retried, how long it waits (read from the injected sleeper, not the clock), and when
//! it gives up.

mod forge_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::any;
use bot::forge::resilience::{SendFailure, send};
use forge_support::{NOW_SECS, policy, serve};

/// A route answering `script[n]` on its n-th hit (the last one repeats).
fn scripted(hits: Arc<AtomicUsize>, script: Vec<(u16, Vec<(&'static str, String)>)>) -> Router {
    Router::new().route(
        "/x",
        any(move || {
            let n = hits.fetch_add(1, Ordering::SeqCst);
            let (status, headers) = script[n.min(script.len() - 1)].clone();
            async move {
                let mut h = HeaderMap::new();
                for (k, v) in headers {
                    h.insert(k, v.parse().unwrap());
                }
                (StatusCode::from_u16(status).unwrap(), h, "{}")
            }
        }),
    )
}

async fn call(base: &str, p: &bot::forge::resilience::Policy) -> Result<u16, SendFailure> {
    call_with(http::Method::GET, base, p).await
}

async fn call_with(
    method: http::Method,
    base: &str,
    p: &bot::forge::resilience::Policy,
) -> Result<u16, SendFailure> {
    let url = url::Url::parse(&format!("{base}/x")).unwrap();
    send(
        p,
        &reqwest::Client::new(),
        method,
        url,
        HeaderMap::new(),
        vec![],
    )
    .await
    .map(|r| r.status().as_u16())
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let hits = Arc::new(AtomicUsize::new(0));
    let base = serve(scripted(
        hits.clone(),
        vec![(502, vec![]), (503, vec![]), (200, vec![])],
    ))
    .await;
    let (p, sleeper) = policy(5, Duration::from_secs(60));
    assert_eq!(call(&base, &p).await.unwrap(), 200);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    let sleeps = sleeper.sleeps();
    assert_eq!(sleeps.len(), 2);
    // Exponential with jitter: the second wait is drawn from a window twice as high.
    assert!(sleeps[0] >= Duration::from_millis(50) && sleeps[0] <= Duration::from_millis(100));
    assert!(sleeps[1] >= Duration::from_millis(100) && sleeps[1] <= Duration::from_millis(200));
}

#[tokio::test]
async fn too_many_requests_waits_for_retry_after() {
    let hits = Arc::new(AtomicUsize::new(0));
    let base = serve(scripted(
        hits.clone(),
        vec![(429, vec![("retry-after", "7".into())]), (200, vec![])],
    ))
    .await;
    let (p, sleeper) = policy(5, Duration::from_secs(60));
    assert_eq!(call(&base, &p).await.unwrap(), 200);
    assert_eq!(sleeper.sleeps(), vec![Duration::from_secs(7)]);
}

#[tokio::test]
async fn primary_rate_limit_waits_until_reset() {
    let hits = Arc::new(AtomicUsize::new(0));
    let reset = (NOW_SECS + 120).to_string();
    let base = serve(scripted(
        hits.clone(),
        vec![
            (
                403,
                vec![
                    ("x-ratelimit-remaining", "0".into()),
                    ("x-ratelimit-reset", reset),
                ],
            ),
            (200, vec![]),
        ],
    ))
    .await;
    let (p, sleeper) = policy(5, Duration::from_secs(600));
    assert_eq!(call(&base, &p).await.unwrap(), 200);
    // Until the reset, plus one second of slack.
    assert_eq!(sleeper.sleeps(), vec![Duration::from_secs(121)]);
}

#[tokio::test]
async fn gitlab_rate_limit_headers_are_read_too() {
    let hits = Arc::new(AtomicUsize::new(0));
    let reset = (NOW_SECS + 30).to_string();
    let base = serve(scripted(
        hits.clone(),
        vec![
            (
                429,
                vec![
                    ("RateLimit-Remaining", "0".into()),
                    ("RateLimit-Reset", reset),
                ],
            ),
            (200, vec![]),
        ],
    ))
    .await;
    let (p, sleeper) = policy(5, Duration::from_secs(600));
    assert_eq!(call(&base, &p).await.unwrap(), 200);
    assert_eq!(sleeper.sleeps(), vec![Duration::from_secs(31)]);
}

#[tokio::test]
async fn not_found_and_plain_forbidden_are_not_retried() {
    for status in [404u16, 403, 422] {
        let hits = Arc::new(AtomicUsize::new(0));
        let base = serve(scripted(
            hits.clone(),
            vec![(status, vec![]), (200, vec![])],
        ))
        .await;
        let (p, sleeper) = policy(5, Duration::from_secs(60));
        assert_eq!(call(&base, &p).await.unwrap(), status);
        assert_eq!(hits.load(Ordering::SeqCst), 1, "{status} was retried");
        assert!(sleeper.sleeps().is_empty());
    }
}

#[tokio::test]
async fn a_reset_beyond_the_budget_fails_without_waiting() {
    let hits = Arc::new(AtomicUsize::new(0));
    let reset = (NOW_SECS + 3600).to_string();
    let base = serve(scripted(
        hits.clone(),
        vec![(
            403,
            vec![
                ("x-ratelimit-remaining", "0".into()),
                ("x-ratelimit-reset", reset),
            ],
        )],
    ))
    .await;
    let (p, sleeper) = policy(5, Duration::from_secs(300));
    match call(&base, &p).await {
        Err(SendFailure::GaveUp { attempts, .. }) => assert_eq!(attempts, 1),
        other => panic!("expected give-up, got {other:?}"),
    }
    assert!(sleeper.sleeps().is_empty());
}

#[tokio::test]
async fn persistent_outage_gives_up_after_max_attempts() {
    let hits = Arc::new(AtomicUsize::new(0));
    let base = serve(scripted(hits.clone(), vec![(503, vec![])])).await;
    let (p, sleeper) = policy(4, Duration::from_secs(60));
    match call(&base, &p).await {
        Err(SendFailure::GaveUp { attempts, last }) => {
            assert_eq!(attempts, 4);
            assert!(last.contains("503"), "{last}");
        }
        other => panic!("expected give-up, got {other:?}"),
    }
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    assert_eq!(sleeper.sleeps().len(), 3);
}

#[tokio::test]
async fn connection_refused_is_retried_then_gives_up() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (p, sleeper) = policy(3, Duration::from_secs(60));
    match call(&format!("http://127.0.0.1:{port}"), &p).await {
        Err(SendFailure::GaveUp { attempts, .. }) => assert_eq!(attempts, 3),
        other => panic!("expected give-up, got {other:?}"),
    }
    assert_eq!(sleeper.sleeps().len(), 2);
}

#[tokio::test]
async fn a_create_is_not_repeated_after_an_ambiguous_failure() {
    // 502 after a POST: the comment may exist already, so no second POST.
    let hits = Arc::new(AtomicUsize::new(0));
    let base = serve(scripted(hits.clone(), vec![(502, vec![]), (201, vec![])])).await;
    let (p, sleeper) = policy(5, Duration::from_secs(60));
    assert_eq!(call_with(http::Method::POST, &base, &p).await.unwrap(), 502);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(sleeper.sleeps().is_empty());

    // 503 and rate limits prove nothing was done: those are retried.
    let hits = Arc::new(AtomicUsize::new(0));
    let base = serve(scripted(
        hits.clone(),
        vec![
            (503, vec![]),
            (429, vec![("retry-after", "3".into())]),
            (201, vec![]),
        ],
    ))
    .await;
    let (p, sleeper) = policy(5, Duration::from_secs(60));
    assert_eq!(call_with(http::Method::POST, &base, &p).await.unwrap(), 201);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert_eq!(sleeper.sleeps()[1], Duration::from_secs(3));
}
