//! A crash loses nothing that was acknowledged: `gt serve` is SIGKILLed in the middle of
//! a burst of deliveries, restarted on the same database, and works every delivery it
//! had answered 2xx exactly once.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use gastown_tests::Fixtures;
use gastown_tests::process::{GtServe, gt};
use gastown_tests::town::GITHUB_SECRET;
use tokio::sync::Mutex;

const CONNECTIONS: usize = 8;
const KILL_AFTER_ACKS: usize = 120;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_acknowledged_before_a_sigkill_are_all_worked_after_restart() {
    let Some(fx) = Fixtures::find() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gastown.db").display().to_string();
    // The bot checks mara's write access on (simulated) github.com before it slings.
    let (github, bot) = gastown_tests::forge::github_com(&["octo/hello"], &["mara"]).await;
    let api = github.github_api_url();
    let env = [
        ("GT_DATABASE", db.as_str()),
        ("GT_GITHUB_WEBHOOK_SECRET", GITHUB_SECRET),
        ("GT_GITHUB_API_URL", api.as_str()),
        ("GT_GITHUB_TOKEN", bot.token.as_str()),
    ];
    let server = GtServe::start(&env).await;
    let url = format!("{}/webhooks/github", server.url);

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let client = reqwest::Client::new();
    let mut senders = Vec::new();
    for conn in 0..CONNECTIONS {
        let (client, url, acked) = (client.clone(), url.clone(), acked.clone());
        let bodies: Vec<Vec<u8>> = (0..100)
            .map(|i| {
                let issue = (conn * 1000 + i) as u64;
                fx.github_sling("octo/hello", issue, "mara")
            })
            .collect();
        senders.push(tokio::spawn(async move {
            for (i, body) in bodies.into_iter().enumerate() {
                let id = format!("crash-{conn}-{i}");
                let sig = webhooks::sign_github(GITHUB_SECRET.as_bytes(), &body);
                let res = client
                    .post(&url)
                    .header("x-github-event", "issues")
                    .header("x-github-delivery", &id)
                    .header("x-hub-signature-256", sig)
                    .body(body)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status().is_success() => acked.lock().await.push(id),
                    // The server is gone: a forge would retry later.
                    _ => return,
                }
            }
        }));
    }
    // Kill while the burst is still going.
    loop {
        if acked.lock().await.len() >= KILL_AFTER_ACKS {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.kill9().await;
    for s in senders {
        s.await.unwrap();
    }
    let acked: HashSet<String> = acked.lock().await.iter().cloned().collect();
    assert!(
        acked.len() >= KILL_AFTER_ACKS && acked.len() < CONNECTIONS * 100,
        "the kill landed mid-burst ({} acked)",
        acked.len()
    );

    // Restart on the same database: it resumes the pending deliveries by itself.
    let restarted = GtServe::start(&env).await;
    let health = format!("{}/healthz", restarted.url);
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let v: serde_json::Value = reqwest::get(&health).await.unwrap().json().await.unwrap();
            if v["inbox_pending"] == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the restarted server drains its inbox");

    let inbox: Vec<serde_json::Value> =
        serde_json::from_str(&gt(&["inbox", "list", "--json", "--limit", "100000"], &env).await)
            .unwrap();
    for id in &acked {
        let rows: Vec<_> = inbox
            .iter()
            .filter(|r| r["delivery_id"] == id.as_str())
            .collect();
        assert_eq!(
            rows.len(),
            1,
            "acknowledged delivery {id} is stored exactly once"
        );
        assert_eq!(rows[0]["status"], "processed", "{id}: {:?}", rows[0]);
    }
    // Every stored delivery slung a distinct issue, and each issue became one bead.
    let mut beads: Vec<serde_json::Value> =
        serde_json::from_str(&gt(&["beads", "list", "--json"], &env).await).unwrap();
    // Each slung issue is one task (its molecule and steps come with it).
    beads.retain(|b| b["type"] == "task");
    assert_eq!(beads.len(), inbox.len());
    assert!(beads.len() >= acked.len());
    restarted.kill9().await;
}

/// An agent waiting on a model that does not answer holds a request open in the bot
/// (the model proxy); stopping the bot, as SIGTERM does, still ends: what is in flight
/// is cut after the grace, and nothing of it was owed (the CLI retries its request).
#[tokio::test]
async fn stopping_the_bot_does_not_wait_for_an_agent_s_model_request() {
    use bot::harness::demo::{DemoRunner, REPO, Stage};
    use gastown_tests::model::{Behaviour, FakeModel};
    let model = FakeModel::start(Behaviour::Slow(Duration::from_secs(3600), "late".into())).await;
    // An agent that asks the model through the bot and waits for the answer.
    let runtime = r#"{"asker":{"command":["sh","-c",
        "exec curl -s -H \"Authorization: Bearer $GT_TOKEN\" -H 'content-type: application/json' -d '{\"model\":\"m\",\"messages\":[]}' \"$GT_MODEL_URL/chat/completions\""]}}"#;
    let dir = tempfile::tempdir().unwrap();
    let extra = [
        ("GT_RUNTIMES", runtime),
        ("GT_POLECATS_RUNTIME", "asker"),
        ("GT_LLM_API_URL", model.url.as_str()),
        ("GT_LLM_TIMEOUT_SECS", "3600"),
        ("GT_LOG", "warn"),
    ];
    let stage = Stage::start(DemoRunner::Local, dir.path(), &extra, &|_: &str| {})
        .await
        .unwrap();
    let n = stage
        .sim
        .open_issue("mara", REPO, "Ask", "Ask the model.")
        .await
        .unwrap();
    stage
        .sim
        .add_label("mara", REPO, n, "gt:sling")
        .await
        .unwrap();
    while model.requests().is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::timeout(Duration::from_secs(120), stage.stop(false))
        .await
        .expect("the bot stopped with the model request in flight")
        .unwrap();
}
