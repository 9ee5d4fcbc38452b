//! A town on a fresh database, serving real HTTP on a loopback port.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bot::clock::{ManualClock, SharedClock};
use bot::config::Config;
use bot::server::App;
use bot::store::{self, Bead, InboxRow};
use serde_json::Value;

pub const GITHUB_SECRET: &str = "it's a secret to everybody";
pub const GITLAB_TOKEN: &str = "glpat-test-token";

pub struct TestTownBuilder {
    env: HashMap<String, String>,
}

impl TestTownBuilder {
    /// Any `GT_*` setting, as an operator would set it.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    pub async fn start(self) -> TestTown {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut env = self.env;
        env.entry("GT_DATABASE".into())
            .or_insert_with(|| dir.path().join("gastown.db").display().to_string());
        let config = Config::load(None, &|k| env.get(k).cloned()).expect("test config");
        let clock = ManualClock::new(1_795_622_257_000);
        let shared: SharedClock = clock.clone();
        let app = App::open(config, shared).expect("open app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app.router();
        let server = tokio::spawn(async move {
            axum_serve(listener, router).await;
        });
        TestTown {
            app,
            clock,
            addr,
            client: reqwest::Client::new(),
            _server: AbortOnDrop(server),
            _dir: dir,
        }
    }
}

async fn axum_serve(listener: tokio::net::TcpListener, router: axum::Router) {
    axum::serve(listener, router).await.expect("serve");
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub struct TestTown {
    pub app: App,
    pub clock: Arc<ManualClock>,
    pub addr: SocketAddr,
    client: reqwest::Client,
    _server: AbortOnDrop,
    _dir: tempfile::TempDir,
}

/// What the bot answered to a delivery.
#[derive(Debug)]
pub struct Delivered {
    pub status: u16,
    pub body: Value,
}

impl TestTown {
    /// A town whose GitHub and GitLab webhooks are configured with the test secrets.
    pub fn builder() -> TestTownBuilder {
        TestTownBuilder {
            env: HashMap::new(),
        }
        .env("GT_GITHUB_WEBHOOK_SECRET", GITHUB_SECRET)
        .env("GT_GITLAB_WEBHOOK_TOKEN", GITLAB_TOKEN)
    }

    /// The database file, for driving the `gt` CLI against this town.
    pub fn database(&self) -> String {
        self.app.config.database.display().to_string()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POST with exactly these headers.
    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Delivered {
        let mut req = self.client.post(self.url(path)).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        Delivered {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    /// Deliver as GitHub does: signed, with event and delivery id headers.
    pub async fn github(&self, event: &str, delivery: &str, body: Vec<u8>) -> Delivered {
        let sig = webhooks::sign_github(GITHUB_SECRET.as_bytes(), &body);
        self.post(
            "/webhooks/github",
            &[
                ("content-type", "application/json"),
                ("x-github-event", event),
                ("x-github-delivery", delivery),
                ("x-hub-signature-256", &sig),
            ],
            body,
        )
        .await
    }

    /// Deliver as GitLab does: the secret token verbatim, an event UUID.
    pub async fn gitlab(&self, event: &str, uuid: &str, body: Vec<u8>) -> Delivered {
        self.post(
            "/webhooks/gitlab",
            &[
                ("content-type", "application/json"),
                ("x-gitlab-event", event),
                ("x-gitlab-event-uuid", uuid),
                ("x-gitlab-token", GITLAB_TOKEN),
                ("x-gitlab-instance", "https://gitlab.example.com"),
            ],
            body,
        )
        .await
    }

    /// Work every due delivery: the sync point tests use instead of sleeping.
    pub async fn drain(&self) -> usize {
        self.app.worker().drain().await.expect("drain inbox")
    }

    pub async fn inbox(&self) -> Vec<InboxRow> {
        self.app
            .store
            .read(|c| store::list_inbox(c, None, 10_000))
            .await
            .unwrap()
    }

    pub async fn beads(&self) -> Vec<Bead> {
        self.app
            .store
            .read(|c| store::list_beads(c, None))
            .await
            .unwrap()
    }
}
