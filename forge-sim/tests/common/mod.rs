//! Helpers the stories share: a simulator with a repository and people, a webhook
//! receiver, and the real fixtures.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use forge_sim::{ForgeSim, Permission, SimHandle, SimOptions};

pub const REPO: &str = "octo/hello";
pub const SECRET: &str = "It's a Secret to Everybody";
/// Every wait in the tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(20);

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("deliveries are JSON")
    }
}

/// A webhook receiver: a small axum server that records what it gets and answers 202
/// (or 503 while told to fail, like a bot that is down).
#[derive(Clone, Default)]
pub struct Receiver {
    pub got: Arc<Mutex<Vec<Received>>>,
    fail_next: Arc<AtomicU32>,
}

impl Receiver {
    pub async fn start() -> (Self, String) {
        let me = Self::default();
        let app = Router::new()
            .route("/webhooks/github", post(receive))
            .with_state(me.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks/github", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (me, url)
    }

    /// Answer the next `n` deliveries with 503.
    pub fn fail_next(&self, n: u32) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

async fn receive(State(me): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    me.got.lock().unwrap().push(Received { headers, body });
    let failing = me
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::ACCEPTED
    }
}

/// A town's usual cast: `octo` owns the repository, `maria` maintains it, `rita` can
/// only read, and the webhook goes to a fresh receiver.
pub struct World {
    pub sim: SimHandle,
    pub receiver: Receiver,
}

pub async fn world() -> World {
    let sim = ForgeSim::start(SimOptions::default())
        .await
        .expect("simulator starts");
    sim.create_repo(REPO, "main")
        .await
        .expect("repository is created");
    sim.add_user("maria").await.unwrap();
    sim.add_user("rita").await.unwrap();
    sim.grant(REPO, "maria", Permission::Maintain)
        .await
        .unwrap();
    sim.grant(REPO, "rita", Permission::Read).await.unwrap();
    let (receiver, url) = Receiver::start().await;
    sim.set_hook(REPO, &url, SECRET).await.unwrap();
    World { sim, receiver }
}

/// The real payload fixtures: `GT_FIXTURES`, else `../../shared/fixtures` from the
/// crate. `None` (the test skips) when they are absent, unless `CI` is set.
pub fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var_os("GT_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"));
    if dir.join("github").is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "fixtures missing at {} and CI is set",
        dir.display()
    );
    eprintln!("skipping: no fixtures at {}", dir.display());
    None
}
