//! Helpers the stories share: a simulator with a repository and people, a webhook
//! receiver, and the real fixtures.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use forge_sim::conformance::{SCHEMA_ENV, WebhookSchema};
use forge_sim::ops::{CheckRunInput, IssuePatch, PullPatch};
use forge_sim::world::{IssueState, ReviewState};
use forge_sim::{ForgeSim, MergeMethod, Permission, SimHandle, SimOptions};

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

/// Octokit's webhook schema from [`SCHEMA_ENV`]. `None` (the test skips) when it is
/// not set, unless `CI` is set: CI downloads it, so there its absence is a failure.
pub fn webhook_schema() -> Option<WebhookSchema> {
    let schema = WebhookSchema::from_env().expect("the webhook schema loads");
    if schema.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{SCHEMA_ENV} is not set and CI is set: .ci/run downloads the schema first"
        );
        eprintln!(
            "skipping: {SCHEMA_ENV} is not set. Point it at schema.json of the npm package \
             @octokit/webhooks-schemas (the version .ci/run pins), e.g. \
             `npm pack @octokit/webhooks-schemas@7.6.1 && tar xzf octokit-webhooks-schemas-7.6.1.tgz` \
             and {SCHEMA_ENV}=$PWD/package/schema.json"
        );
    }
    schema
}

/// Run git with no user or system configuration and no prompts.
pub async fn git(dir: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .await
        .expect("git runs")
}

pub async fn ok(dir: &Path, args: &[&str]) {
    let out = git(dir, args).await;
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The clone URL of [`REPO`] with `token` as the basic-auth password.
pub fn url_with(sim: &SimHandle, token: &str) -> String {
    sim.git_url(REPO)
        .replacen("http://", &format!("http://x-access-token:{token}@"), 1)
}

/// Ordinary work on [`REPO`] that makes the simulator send every GitHub event and action
/// it can: an issue's life (labels, comments, edits, close, reopen); a pull request's
/// (labels, edit, comments, pushes, a status, check runs, each kind of review, a line
/// comment, close, reopen, merge); and pushes that create, force-move and delete a
/// branch. Returns how many deliveries it caused, all finished.
pub async fn github_session(w: &World) -> usize {
    let sim = &w.sim;
    let maria = sim.user("maria").await.unwrap().id;
    let octo = sim.user("octo").await.unwrap().id;
    // Issues and comments.
    let n = sim
        .open_issue("maria", REPO, "Greet", "Say hello")
        .await
        .unwrap();
    sim.add_label("maria", REPO, n, "gt:sling").await.unwrap();
    sim.remove_label("maria", REPO, n, "gt:sling")
        .await
        .unwrap();
    let c = sim.comment("rita", REPO, n, "on it").await.unwrap();
    sim.edit_comment("rita", REPO, c, "on it now")
        .await
        .unwrap();
    sim.sim().delete_comment(maria, REPO, c).unwrap();
    let retitle = IssuePatch {
        title: Some("Greet warmly".into()),
        ..Default::default()
    };
    sim.sim().edit_issue(maria, REPO, n, retitle).unwrap();
    sim.close_issue("maria", REPO, n).await.unwrap();
    sim.reopen_issue("maria", REPO, n).await.unwrap();
    // A pull request's life.
    let sha = sim
        .commit_file("maria", REPO, "greet", "hello.txt", "hello\n", "Add hello")
        .await
        .unwrap();
    let pr = sim
        .open_pull(
            "maria",
            REPO,
            "greet",
            "main",
            "Greet",
            &format!("Fixes #{n}"),
        )
        .await
        .unwrap();
    sim.add_label("maria", REPO, pr, "gt:sling").await.unwrap();
    sim.remove_label("maria", REPO, pr, "gt:sling")
        .await
        .unwrap();
    let retitle = PullPatch {
        title: Some("Greet warmly".into()),
        ..Default::default()
    };
    sim.sim().edit_pull(maria, REPO, pr, retitle).unwrap();
    sim.comment("rita", REPO, pr, "Nice idea").await.unwrap();
    let sha2 = sim
        .commit_file(
            "maria",
            REPO,
            "greet",
            "hello.txt",
            "hello, world\n",
            "Say more",
        )
        .await
        .unwrap();
    assert_ne!(sha, sha2);
    sim.set_status("maria", REPO, &sha2, "success", "ci/test")
        .await
        .unwrap();
    let run = sim
        .sim()
        .create_check_run(
            maria,
            REPO,
            CheckRunInput {
                name: Some("gates".into()),
                head_sha: Some(sha2.clone()),
                status: Some("in_progress".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    sim.sim()
        .update_check_run(
            maria,
            REPO,
            run,
            CheckRunInput {
                conclusion: Some("success".into()),
                title: Some("Gates".into()),
                summary: Some("all green".into()),
                ..Default::default()
            },
        )
        .unwrap();
    sim.sim()
        .create_check_run(
            maria,
            REPO,
            CheckRunInput {
                name: Some("lint".into()),
                head_sha: Some(sha2.clone()),
                conclusion: Some("failure".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    sim.request_changes("octo", REPO, pr, "Greet the world.")
        .await
        .unwrap();
    sim.sim()
        .review(octo, REPO, pr, ReviewState::Commented, Some("Better."))
        .unwrap();
    sim.approve("octo", REPO, pr).await.unwrap();
    sim.review_comment("octo", REPO, pr, "hello.txt", 1, "Nice.")
        .await
        .unwrap();
    for state in [IssueState::Closed, IssueState::Open] {
        let patch = PullPatch {
            state: Some(state),
            ..Default::default()
        };
        sim.sim().edit_pull(maria, REPO, pr, patch).unwrap();
    }
    sim.merge_pr("maria", REPO, pr, MergeMethod::Merge)
        .await
        .unwrap();
    // A branch pushed with git, force-moved, then deleted.
    let token = sim.user("maria").await.unwrap().token;
    let tmp = tempfile::tempdir().unwrap();
    ok(
        tmp.path(),
        &["clone", "--quiet", &url_with(sim, &token), "work"],
    )
    .await;
    let work = tmp.path().join("work");
    ok(&work, &["checkout", "--quiet", "-b", "scratch"]).await;
    std::fs::write(work.join("scratch.txt"), "one\n").unwrap();
    ok(&work, &["add", "scratch.txt"]).await;
    ok(&work, &["commit", "--quiet", "-m", "Scratch"]).await;
    ok(&work, &["push", "--quiet", "origin", "scratch"]).await;
    ok(
        &work,
        &["commit", "--quiet", "--amend", "-m", "Scratch again"],
    )
    .await;
    ok(&work, &["push", "--quiet", "--force", "origin", "scratch"]).await;
    ok(&work, &["push", "--quiet", "origin", ":scratch"]).await;

    let sent = sim.deliveries().len();
    sim.wait_for_deliveries(sent, WAIT).await.unwrap();
    sent
}
