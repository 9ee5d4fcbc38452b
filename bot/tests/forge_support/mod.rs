//! Helpers shared by the forge client tests: a local axum server, and time that the
//! policy reads and sleeps on without the test waiting.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bot::clock::ManualClock;
use bot::forge::resilience::{Policy, RetrySettings, Sleeper};

/// The fake "now" every test starts at (seconds since the epoch).
pub const NOW_SECS: u64 = 1_800_000_000;

/// Records each sleep and moves the manual clock forward by it, returning at once.
pub struct RecordingSleeper {
    pub sleeps: Mutex<Vec<Duration>>,
    pub clock: Arc<ManualClock>,
}

impl RecordingSleeper {
    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps.lock().unwrap().clone()
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.sleeps.lock().unwrap().push(d);
        self.clock.advance(d.as_millis() as i64);
        Box::pin(async {})
    }
}

/// A policy on recorded time, with small bounds so give-up paths are quick.
pub fn policy(max_attempts: u32, max_wait: Duration) -> (Policy, Arc<RecordingSleeper>) {
    let clock = ManualClock::new((NOW_SECS * 1000) as i64);
    let sleeper = Arc::new(RecordingSleeper {
        sleeps: Mutex::new(Vec::new()),
        clock: clock.clone(),
    });
    let p = Policy::new(RetrySettings {
        max_attempts,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(2),
        max_wait,
        request_timeout: Duration::from_secs(5),
    })
    .with_time(sleeper.clone(), clock);
    (p, sleeper)
}

/// Serve `router` on a free local port; returns `http://127.0.0.1:port`.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// Requests the fake saw, as (method path?query, body), for assertions.
#[derive(Clone, Default)]
pub struct Log(pub Arc<Mutex<Vec<(String, serde_json::Value)>>>);

impl Log {
    pub fn push(&self, what: impl Into<String>, body: serde_json::Value) {
        self.0.lock().unwrap().push((what.into(), body));
    }

    pub fn entries(&self) -> Vec<(String, serde_json::Value)> {
        self.0.lock().unwrap().clone()
    }
}
