//! Story: the forge misbehaves on demand, the way GitHub sometimes does, and always
//! says where the caller stands with its rate limit.

use crate::common;

use std::time::{Duration, Instant};

use common::{REPO, world};

#[tokio::test]
async fn server_errors_then_success_and_rate_limit_headers_on_every_answer() {
    let w = world().await;
    let maria = w.sim.user("maria").await.unwrap();
    let n = w
        .sim
        .open_issue("maria", REPO, "Flaky", "body")
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/repos/{REPO}/issues/{n}", w.sim.github_api_url());
    let get = || http.get(&url).bearer_auth(&maria.token).send();

    w.sim
        .fail_next(2, 502, Some(&format!("/repos/{REPO}/issues")));
    for _ in 0..2 {
        let res = get().await.unwrap();
        assert_eq!(res.status(), 502);
        assert!(res.headers().contains_key("x-ratelimit-remaining"));
        let body: serde_json::Value = res.json().await.unwrap();
        assert!(body["message"].is_string() && body["documentation_url"].is_string());
    }
    let res = get().await.unwrap();
    assert_eq!(res.status(), 200);
    for h in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-ratelimit-used",
        "x-ratelimit-resource",
    ] {
        assert!(res.headers().contains_key(h), "{h} is sent");
    }
    let used: u64 = res.headers()["x-ratelimit-used"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(used >= 3);

    // A fault under another prefix leaves this path alone.
    w.sim.fail_next(1, 500, Some("/repos/other/repo"));
    assert_eq!(get().await.unwrap().status(), 200);
    w.sim.clear_faults();
}

#[tokio::test]
async fn primary_and_secondary_rate_limits_and_slow_answers() {
    let w = world().await;
    let maria = w.sim.user("maria").await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/repos/{REPO}", w.sim.github_api_url());
    let get = || http.get(&url).bearer_auth(&maria.token).send();

    w.sim.rate_limit_next(1, Duration::from_secs(120));
    let res = get().await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.headers()["x-ratelimit-remaining"], "0");
    let reset: i64 = res.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset > chrono::Utc::now().timestamp() + 60);

    w.sim.secondary_limit_next(1, 429, Duration::from_secs(7));
    let res = get().await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "7");

    w.sim.slow_next(1, Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(get().await.unwrap().status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(get().await.unwrap().status(), 200);
}

#[tokio::test]
async fn each_caller_has_its_own_budget_and_spending_it_is_a_403() {
    let w = world().await;
    let maria = w.sim.user("maria").await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/repos/{REPO}", w.sim.github_api_url());

    // Anonymous callers get 60 an hour, as on GitHub.
    for _ in 0..60 {
        assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    }
    let spent = http.get(&url).send().await.unwrap();
    assert_eq!(spent.status(), 403);
    assert_eq!(spent.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(spent.headers()["x-ratelimit-limit"], "60");

    // A token's budget is its own, and reading it costs nothing.
    let gh = octocrab::Octocrab::builder()
        .base_uri(w.sim.github_api_url())
        .unwrap()
        .personal_token(maria.token.clone())
        .build()
        .unwrap();
    let before = gh.ratelimit().get().await.unwrap();
    assert_eq!(
        (before.resources.core.limit, before.resources.core.used),
        (5000, 0)
    );
    gh.repos("octo", "hello").get().await.unwrap();
    let after = gh.ratelimit().get().await.unwrap();
    assert_eq!(after.resources.core.used, 1);
    assert_eq!(after.rate.remaining, 4999);
}
