//! A town on a fresh database, serving real HTTP on a loopback port.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bot::app::server::App;
use bot::clock::{ManualClock, SharedClock};
use bot::config::Config;
use bot::store::{self, Bead, InboxRow};
use serde_json::Value;
use webhooks::ForgeKind;

pub const GITHUB_SECRET: &str = "it's a secret to everybody";
pub const GITLAB_TOKEN: &str = "glpat-test-token";

#[derive(Clone)]
pub struct TestTownBuilder {
    env: HashMap<String, String>,
    github: Option<(String, String, String)>,
    gitlab: Option<(String, String, String)>,
    dir: Option<Arc<tempfile::TempDir>>,
    runner: Option<Arc<dyn runner::Runner>>,
}

impl TestTownBuilder {
    /// Any `GT_*` setting, as an operator would set it.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Act on a GitHub at `api_url` (the simulator) whose web host is `host`, with
    /// `token`, as `gt serve` does with `GT_GITHUB_TOKEN`.
    pub fn github_forge(mut self, api_url: &str, host: &str, token: &str) -> Self {
        self.github = Some((api_url.into(), host.into(), token.into()));
        self.env("GT_GITHUB_HOST", host)
            .env("GT_GITHUB_TOKEN", token)
    }

    /// Act on the simulated github.com of [`crate::forge::github_com`] (the host the
    /// fixtures' deliveries name) as its `bot` account.
    pub fn github_com(self, sim: &forge_sim::SimHandle, bot: &forge_sim::UserHandle) -> Self {
        self.github_forge(&sim.github_api_url(), "github.com", &bot.token)
    }

    /// Act on a GitLab at `api_url` (the simulator's `/api/v4`) whose web host is `host`.
    pub fn gitlab_forge(mut self, api_url: &str, host: &str, token: &str) -> Self {
        self.gitlab = Some((api_url.into(), host.into(), token.into()));
        self.env("GT_GITLAB_HOST", host)
            .env("GT_GITLAB_TOKEN", token)
    }

    /// Run polecats as local processes (the real `gt` binary as their tool CLI).
    pub fn local_runner(mut self) -> Self {
        self.runner = Some(Arc::new(runner::LocalRunner::new()));
        self.env("GT_RUNNER", "local").env(
            "GT_RUNNER_GT_BINARY",
            &crate::process::gt_binary().display().to_string(),
        )
    }

    /// Run polecats in a town container (Docker must be up and the town image built).
    pub fn docker_runner(mut self, runner: Arc<dyn runner::Runner>, image: &str) -> Self {
        self.runner = Some(runner);
        self.env("GT_RUNNER", "docker")
            .env("GT_RUNNER_IMAGE", image)
            .env(
                "GT_RUNNER_GT_BINARY",
                &crate::process::gt_binary().display().to_string(),
            )
    }

    pub async fn start(mut self) -> TestTown {
        let dir = match &self.dir {
            Some(dir) => dir.clone(),
            None => Arc::new(tempfile::tempdir().expect("tempdir")),
        };
        self.dir = Some(dir.clone());
        let builder = self.clone();
        let mut env = self.env;
        env.entry("GT_DATABASE".into())
            .or_insert_with(|| dir.path().join("gastown.db").display().to_string());
        env.entry("GT_DATA_DIR".into())
            .or_insert_with(|| dir.path().join("data").display().to_string());
        // Agents call back on the port this town serves.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        env.insert("GT_PUBLIC_URL".into(), format!("http://{addr}"));
        let config = Config::load(None, &|k| env.get(k).cloned()).expect("test config");
        let clock = ManualClock::new(1_795_622_257_000);
        let shared: SharedClock = clock.clone();
        let mut forges = bot::forge::registry::Forges::new();
        if let Some((api, host, token)) = &self.github {
            let mut cfg = bot::forge::config::ForgeConfig::new(
                webhooks::ForgeKind::GitHub,
                host.clone(),
                "GT_GITHUB_TOKEN",
            );
            cfg.api_base = Some(api.clone());
            let token = token.clone();
            let forge = bot::forge::config::build_forge(&cfg, &move |k| {
                (k == "GT_GITHUB_TOKEN").then(|| token.clone())
            })
            .expect("github forge");
            forges = forges.with(forge);
        }
        if let Some((api, host, token)) = &self.gitlab {
            let mut cfg = bot::forge::config::ForgeConfig::new(
                webhooks::ForgeKind::GitLab,
                host.clone(),
                "GT_GITLAB_TOKEN",
            );
            cfg.api_base = Some(api.clone());
            let token = token.clone();
            let forge = bot::forge::config::build_forge(&cfg, &move |k| {
                (k == "GT_GITLAB_TOKEN").then(|| token.clone())
            })
            .expect("gitlab forge");
            forges = forges.with(forge);
        }
        let mut app = App::builder(config, shared).forges(forges);
        if let Some(runner) = &self.runner {
            app = app.runner(runner.clone());
        }
        // One bot, built once: its dispatcher and refinery keep their in-memory state
        // across the rounds a test drives, as `gt serve`'s do.
        let app = app.build().expect("build the bot");
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
            builder,
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
    /// How this town was built, so it can be restarted on the same database.
    builder: TestTownBuilder,
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
            github: None,
            gitlab: None,
            dir: None,
            runner: None,
        }
        .env("GT_GITHUB_WEBHOOK_SECRET", GITHUB_SECRET)
        .env("GT_GITLAB_WEBHOOK_TOKEN", GITLAB_TOKEN)
    }

    /// Stop this town and start it again on the same database, as after a crash or a
    /// deploy. The new town listens on a new port.
    pub async fn restart(self) -> TestTown {
        let builder = self.builder.clone();
        drop(self);
        builder.start().await
    }

    /// Restart with a new runner instance, as a new `gt serve` process would have.
    pub async fn restart_with_runner(self, runner: Arc<dyn runner::Runner>) -> TestTown {
        let mut builder = self.builder.clone();
        builder.runner = Some(runner);
        drop(self);
        builder.start().await
    }

    /// A task bead on `repo` (a GitHub rig) hooked to a polecat whose session token is
    /// `token`, as the dispatcher would leave it, without starting a process: for
    /// driving the agent tools directly. Returns the bead id.
    pub async fn hooked_bead(&self, repo: &str, name: &'static str, token: &str) -> String {
        self.hooked_bead_as(store::Role::Polecat, repo, name, token)
            .await
    }

    /// The same with a session of `role`: what a token of that role may do, tried
    /// directly.
    pub async fn hooked_bead_as(
        &self,
        role: store::Role,
        repo: &str,
        name: &'static str,
        token: &str,
    ) -> String {
        let (repo, digest) = (repo.to_string(), bot::ids::token_digest(token));
        let now = bot::clock::Clock::now_ms(&*self.clock);
        self.app
            .store
            .write(move |c| {
                let town = store::ensure_town(c, "default", now)?;
                let (rig, _) =
                    store::ensure_rig(c, &town, ForgeKind::GitHub, "github.com", &repo, now)?;
                let bead = store::create_bead(
                    c,
                    &store::NewBead {
                        bead_type: store::BeadType::Task,
                        title: format!("Work of {name}"),
                        body: "Do the thing.".into(),
                        priority: 2,
                        town_id: Some(town.clone()),
                        rig_id: Some(rig.id.clone()),
                        parent_id: None,
                        forge_ref: None,
                        created_by: "test".into(),
                        metadata: serde_json::json!({}),
                    },
                    now,
                    bot::ids::random_bead_id,
                )?;
                let branch = format!("gt/{}", bead.id);
                let session = format!("{role}-{name}-{}", bead.id);
                bot::lifecycle::hook(
                    c,
                    &store::Hooking {
                        role,
                        bead_id: &bead.id,
                        rig_id: &rig.id,
                        town_id: &town,
                        name,
                        branch: &branch,
                        session_id: &session,
                        token_sha256: &digest,
                    },
                    now,
                )?;
                Ok(bead.id)
            })
            .await
            .expect("hook a bead")
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
        self.app.worker.drain().await.expect("drain inbox")
    }

    /// Perform every due forge action (comments, labels): the other sync point.
    pub async fn act(&self) -> usize {
        self.app.actions.drain().await.expect("drain actions")
    }

    /// One round of the polecats: settle exits, hook and start agents.
    pub async fn polecats(&self) -> usize {
        self.app
            .polecats
            .as_ref()
            .expect("a town built with a runner")
            .step()
            .await
            .expect("polecat round")
    }

    /// The escalations nobody acknowledged (with `all`, every one), newest first.
    pub async fn escalations(&self, all: bool) -> Vec<store::Escalation> {
        self.app
            .store
            .read(move |c| store::list_escalations(c, all))
            .await
            .expect("read escalations")
    }

    /// One bead as the store holds it now.
    pub async fn bead(&self, id: &str) -> Bead {
        let id = id.to_string();
        self.app
            .store
            .read(move |c| store::get_bead(c, &id))
            .await
            .expect("read a bead")
    }

    /// Bring the town's clock to the wall clock's: what a `gt` process wrote (at its own
    /// time) is then due for the town's loops.
    pub fn catch_up_to_wall_clock(&self) {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis() as i64;
        let now = bot::clock::Clock::now_ms(&*self.clock);
        self.clock.advance((wall - now).max(0) + 1_000);
    }

    /// One tick of the patrol at the town's clock: dead and stuck agents, zombie hooks,
    /// breakers, escalations due.
    pub async fn patrol(&self) -> usize {
        self.app.patrol.tick().await.expect("patrol tick")
    }

    /// Answer every Mayor turn due: the model's tool loop, then the answer queued.
    pub async fn mayor(&self) -> usize {
        self.app.mayor.drain().await.expect("mayor turns")
    }

    /// One round of the refinery: start runs, judge reports, land work.
    pub async fn refinery(&self) -> usize {
        self.app.refinery.step().await.expect("refinery round")
    }

    /// Keep the town turning (inbox, polecats, refinery, forge actions) until `done` holds for
    /// the beads, or fail after `timeout`. Agents are real processes, so this waits on
    /// their progress; each turn is a full round, never a fixed sleep standing in for one.
    pub async fn run_until(
        &self,
        timeout: std::time::Duration,
        what: &str,
        done: impl Fn(&[Bead]) -> bool,
    ) -> Vec<Bead> {
        let start = std::time::Instant::now();
        loop {
            self.drain().await;
            self.mayor().await;
            self.polecats().await;
            self.refinery().await;
            self.act().await;
            let beads = self.beads().await;
            if done(&beads) {
                return beads;
            }
            if start.elapsed() > timeout {
                panic!("timed out after {timeout:?} waiting for {what}; beads: {beads:#?}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Work the inbox, then perform what it queued.
    pub async fn settle(&self) {
        self.drain().await;
        self.act().await;
    }

    pub async fn inbox(&self) -> Vec<InboxRow> {
        self.app
            .store
            .read(|c| store::list_inbox(c, None, 10_000))
            .await
            .unwrap()
    }

    /// The task beads (a slung issue, a rework), without the molecules and steps
    /// that come with them.
    pub async fn tasks(&self) -> Vec<Bead> {
        let mut beads = self.beads().await;
        beads.retain(|b| b.bead_type == store::BeadType::Task);
        beads
    }

    /// A bead's history, oldest first.
    pub async fn events(&self, bead: &str) -> Vec<store::BeadEvent> {
        let id = bead.to_string();
        self.app
            .store
            .read(move |c| store::bead_events(c, &id))
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
