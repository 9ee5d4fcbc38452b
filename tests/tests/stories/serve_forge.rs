//! The real `gt serve` process against the simulated GitHub, configured only through
//! the environment as an operator would: it catches up on what it missed while it was
//! down, and answers a new sling on the issue.

use std::time::Duration;

use forge_sim::{ForgeSim, Permission, SimHandle, SimOptions};
use gastown_tests::process::GtServe;
use gastown_tests::town::GITHUB_SECRET;

const REPO: &str = "octo/hello";

/// Polls the simulator (state in another process) until `pred` holds, for at most 30 s.
async fn eventually<F, Fut>(what: &str, mut pred: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !pred().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn has_status_comment(sim: &SimHandle, n: u64) -> bool {
    status_comments(sim, n).await > 0
}

async fn status_comments(sim: &SimHandle, n: u64) -> usize {
    sim.comments(REPO, n)
        .await
        .iter()
        .filter(|c| c.body.contains("<!-- gastown:status"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gt_serve_catches_up_at_start_and_answers_new_slings() {
    let sim = ForgeSim::start(SimOptions::default()).await.unwrap();
    sim.create_repo(REPO, "main").await.unwrap();
    let bot = sim.add_user("gastown-bot").await.unwrap();
    sim.grant(REPO, "gastown-bot", Permission::Admin)
        .await
        .unwrap();
    sim.add_user("mara").await.unwrap();
    sim.grant(REPO, "mara", Permission::Write).await.unwrap();

    // Slung while the bot was not listening: nobody delivered it.
    let missed = sim
        .open_issue("mara", REPO, "Slung while down", "")
        .await
        .unwrap();
    sim.add_label("mara", REPO, missed, "gt:sling")
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gastown.db").display().to_string();
    let host = sim.addr().to_string();
    let api = sim.github_api_url();
    let serve = GtServe::start(&[
        ("GT_DATABASE", db.as_str()),
        ("GT_GITHUB_WEBHOOK_SECRET", GITHUB_SECRET),
        ("GT_GITHUB_HOST", host.as_str()),
        ("GT_GITHUB_API_URL", api.as_str()),
        ("GT_GITHUB_TOKEN", bot.token.as_str()),
        ("GT_RIGS", &format!("github:{host}/{REPO}")),
    ])
    .await;
    eventually("catch-up to answer the missed sling", || {
        has_status_comment(&sim, missed)
    })
    .await;

    sim.set_hook(
        REPO,
        &format!("{}/webhooks/github", serve.url),
        GITHUB_SECRET,
    )
    .await
    .unwrap();
    let fresh = sim.open_issue("mara", REPO, "Slung now", "").await.unwrap();
    sim.add_label("mara", REPO, fresh, "gt:sling")
        .await
        .unwrap();
    eventually("the status comment on the new sling", || {
        has_status_comment(&sim, fresh)
    })
    .await;
    assert_eq!(status_comments(&sim, missed).await, 1);
    serve.kill9().await;
}
