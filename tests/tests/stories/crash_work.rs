//! A bot killed while its polecat works loses nothing: `gt serve` is SIGKILLed with an
//! agent mid-work, started again on the same database and port, and the work lands
//! once (one status comment, the file on main), with the simulator's forge failing a
//! burst of its API calls meanwhile.

use std::time::{Duration, Instant};

use gastown_tests::process::{GtServe, gt};
use gastown_tests::town::GITHUB_SECRET;
use serde_json::Value;

const REPO: &str = "octo/hello";
const WAIT: Duration = Duration::from_secs(120);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The task beads, as `gt beads list --json` shows them.
async fn tasks(env: &[(&str, &str)]) -> Vec<Value> {
    let out = gt(&["beads", "list", "--json"], env).await;
    let all: Vec<Value> = serde_json::from_str(&out).unwrap();
    all.into_iter().filter(|b| b["type"] == "task").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_killed_while_its_polecat_works_restarts_and_the_work_lands_once() {
    let (sim, bot) = gastown_tests::forge::github_with_repo(REPO).await;
    gastown_tests::story::configure(&sim, "mara", REPO, "merge_strategy: direct\n").await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gastown.db").display().to_string();
    let port = free_port();
    let (listen, public) = (
        format!("127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}"),
    );
    let (host, api) = (sim.addr().to_string(), sim.github_api_url());
    let env = [
        ("GT_DATABASE", db.as_str()),
        ("GT_LISTEN", listen.as_str()),
        ("GT_PUBLIC_URL", public.as_str()),
        ("GT_RUNNER", "local"),
        ("GT_GITHUB_HOST", host.as_str()),
        ("GT_GITHUB_API_URL", api.as_str()),
        ("GT_GITHUB_TOKEN", bot.token.as_str()),
        ("GT_GITHUB_WEBHOOK_SECRET", GITHUB_SECRET),
        ("GT_PATROL_BACKOFF_SECS", "[0]"),
        ("GT_PATROL_TICK_SECS", "1"),
    ];
    let serve = GtServe::start(&env).await;
    sim.set_hook(
        REPO,
        &format!("{}/webhooks/github", serve.url),
        GITHUB_SECRET,
    )
    .await
    .unwrap();
    let plan = "Slow.\n\n```gastown-plan\nfiles:\n  - path: docs/slow.md\n    content: |\n      slow\ncommands:\n  - sleep 2\ncommit: Slow work\n```\n";
    let n = gastown_tests::story::sling(&sim, REPO, "Slow", plan).await;

    let deadline = Instant::now() + WAIT;
    loop {
        let t = tasks(&env).await;
        if t.iter().any(|b| b["status"] == "in_progress") {
            break;
        }
        assert!(Instant::now() < deadline, "never in progress: {t:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    serve.kill9().await;
    // The forge has a bad minute: its next API calls fail with 502s, then a 429.
    sim.fail_next(5, 502, None);
    sim.secondary_limit_next(2, 429, Duration::from_secs(1));
    let serve = GtServe::start(&env).await;

    let deadline = Instant::now() + WAIT;
    loop {
        let issue = sim.issue(REPO, n).await.unwrap();
        if issue.closed_at.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the issue never closed: {:#?}",
            tasks(&env).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let landed = sim.read_file(REPO, "main", "docs/slow.md").await.unwrap();
    assert_eq!(landed.as_deref(), Some(&b"slow\n"[..]));
    let statuses = sim
        .comments(REPO, n)
        .await
        .into_iter()
        .filter(|c| c.body.contains("<!-- gastown:status"))
        .count();
    assert_eq!(statuses, 1, "one status comment, edited in place");
    assert!(sim.pull_requests(REPO).await.is_empty(), "direct: no PR");
    let t = tasks(&env).await;
    assert_eq!(t.len(), 1, "one bead: {t:#?}");
    assert_eq!(t[0]["status"], "closed");
    serve.kill9().await;
}
