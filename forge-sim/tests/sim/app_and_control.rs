//! Story: the bot authenticates as a GitHub App (JWT → installation token) and acts as
//! `<slug>[bot]`; and a person drives a running simulator through `/_sim`.

use crate::common;

use base64::Engine;
use common::{REPO, WAIT, world};
use serde_json::{Value, json};

/// A well-formed RS256 JWT; the simulator checks its claims, not its signature.
fn jwt(iss: u64, exp_in: i64) -> String {
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let now = chrono::Utc::now().timestamp();
    format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(json!({"alg": "RS256", "typ": "JWT"})),
        b64(json!({"iss": iss, "iat": now - 60, "exp": now + exp_in}))
    )
}

#[tokio::test]
async fn an_app_installation_token_acts_as_the_bot() {
    let w = world().await;
    let http = reqwest::Client::new();
    let api = w.sim.github_api_url();
    let installation: Value = http
        .get(format!("{api}/repos/{REPO}/installation"))
        .bearer_auth(jwt(1, 600))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = installation["id"].as_u64().unwrap();
    let res = http
        .post(format!("{api}/app/installations/{id}/access_tokens"))
        .bearer_auth(jwt(1, 600))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let token: Value = res.json().await.unwrap();
    assert!(token["expires_at"].is_string());
    let token = token["token"].as_str().unwrap().to_owned();

    let n = w
        .sim
        .open_issue("maria", REPO, "Hi bot", "hello")
        .await
        .unwrap();
    let res = http
        .post(format!("{api}/repos/{REPO}/issues/{n}/comments"))
        .bearer_auth(&token)
        .json(&json!({"body": "On it."}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let comment: Value = res.json().await.unwrap();
    assert_eq!(comment["user"]["login"], "gastown[bot]");
    assert_eq!(comment["user"]["type"], "Bot");

    for bad in [jwt(2, 600), jwt(1, -10), "not.a.jwt".to_owned()] {
        let res = http
            .post(format!("{api}/app/installations/{id}/access_tokens"))
            .bearer_auth(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
    }
}

/// A throwaway RSA key pair made for this test; it guards nothing.
const TEST_APP_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC5Ng7T0hl98gYE\nwdSZLWTxrSl0znFY5/oraPEB566/PF9NrlrztOtDXse5HkPoU9h/K3FykURVihHc\na68OSJwczfoXa/2ao8BSTL/hoLATCkYWERHUcDtiowCQMoa9XTxQf2gQPVBod+uI\nnQk1YX+tVyYYapObq5hHsH1ilXHs5LW3qYhlyZfFYfvk4PBXv+OcfdGoKK2pGKxW\n718Ff1RXM6z8tjcHIpA+wOLHumZ2TfXMBwq7BGvXNFO8vQuBAscBsAnXtZeOgYoS\nxChm1am/F14wc7iakI88wvMFRjm/bT8o59NDeynJJTa41NV8+vt/YwW1w/MC92ba\n1l8ppKorAgMBAAECggEAHKhZJfxZ1muG8+B8AVGNT3nQMtMopa2LP4FG3VkYaF2y\nj2X9i70ANBXryGB++GlU0+SIcsY4cRXiip0c4pRol2plmo8ql+1jejiG7iX7aI7L\n5mkwvZK6FZqMIUO4Jn/RL9Fu7ChYkzmO9734qUpTQ6J68gc3nLwx3VHZLNJb5OAB\nH9a70kvOTedEc8+Iuag5iZO03F/RX4wyShHQoLUzmfgn0I7rP6HOn1KvkoW0RZxd\nIV1jPxK6FDXtnMmk1LRaJgR0HX60Im1drRzkPSi0HV+jHY9eITJclKpeyOAHe+Il\nRxvYKFdsdF5Nv9v2JatTVsca6FHV0rb2P3GzHAYxwQKBgQDm5lxz/6shYBPvhGV6\nGgyoMRvMFSpNDrS9sU0H8hzz0yMksUhL0g5nFYzh3Ycz0Jl3zefC83RBXXZR5V3l\nrQ0NkBTIj9/fwaUMZThvzERkKppU8f9i7A3xqBbDlCbet8KGngoevc/HK6+7FDyv\nqLjyiIb/x6UEYRA2cBao0ZKB6wKBgQDNWD2ml/zldQfobPQr4Es0NE3aM2Kbiqko\nsR49NhnTqwL378U4z2Om3d0GBZJQkVDn7caAoglj2NqNLWN5bn6OwdvUQpNlMb3T\n8RAJFaPIReS4BlwbZrm01/cW4ndJ3Yd5b3WMh2WP1ax22tdWK6umBnzbN42kTxqa\nJY2F9KwowQKBgQCJy7orA85WCad8DlAdEUSybzQ+k/b9q6QTfKcS8dtza3KSqDYU\nAZTU0hiUhob0Vi3wQHJqdq3PgH5nG3Hw6lha2rx8gNhDCaZ9Aj8vAQFjocUeopkd\nqPAdYonLSDP2QEYX3mL9u5svKpQiGk6pKhDNtMqUBMonFeH+CuCK+R7s5wKBgBY4\nmlNQ1zktdPGd+L5Ww0ye7F3UebNDShLxN8h/9kOFmgiilcEUEECaebSRHchCMXMn\ns/dvkXyQlvX4F2+omWFxcQyDN9gXjedFiuqwwMyHY7zWU1lTwHzlcgOz9hy0MFjf\nyuSuMjticAtcmzjj+Os6gIBofpdtR/+uWKZKV+cBAoGATdYyWv4Ec4f+nKeh7CCd\nOEVJDYVLMzpixYXpN9udqU6D+lGgq8bqUqiWE+8ZuIprFF4LDyzk3aB26OPTrYe4\nDobnbcWpuDI83yWsRP+fb9LoZVqIYYrTfym+wLIXGeAeRsghwqVuJ/j9AIgUZar7\nS9l27lj0a5kfHl5ysw+JEU8=\n-----END PRIVATE KEY-----";
const TEST_APP_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAuTYO09IZffIGBMHUmS1k\n8a0pdM5xWOf6K2jxAeeuvzxfTa5a87TrQ17HuR5D6FPYfytxcpFEVYoR3GuvDkic\nHM36F2v9mqPAUky/4aCwEwpGFhER1HA7YqMAkDKGvV08UH9oED1QaHfriJ0JNWF/\nrVcmGGqTm6uYR7B9YpVx7OS1t6mIZcmXxWH75ODwV7/jnH3RqCitqRisVu9fBX9U\nVzOs/LY3ByKQPsDix7pmdk31zAcKuwRr1zRTvL0LgQLHAbAJ17WXjoGKEsQoZtWp\nvxdeMHO4mpCPPMLzBUY5v20/KOfTQ3spySU2uNTVfPr7f2MFtcPzAvdm2tZfKaSq\nKwIDAQAB\n-----END PUBLIC KEY-----";

#[tokio::test]
async fn octocrab_as_a_github_app_with_a_verified_jwt() {
    let options = forge_sim::SimOptions {
        app_id: 42,
        app_public_key_pem: Some(TEST_APP_PUBLIC_KEY.to_owned()),
        ..Default::default()
    };
    let sim = forge_sim::ForgeSim::start(options).await.unwrap();
    sim.create_repo(REPO, "main").await.unwrap();
    let n = sim
        .open_issue("octo", REPO, "For the bot", "")
        .await
        .unwrap();

    let key = jsonwebtoken::EncodingKey::from_rsa_pem(TEST_APP_KEY.as_bytes()).unwrap();
    let app = octocrab::Octocrab::builder()
        .base_uri(sim.github_api_url())
        .unwrap()
        .app(42.into(), key)
        .build()
        .unwrap();
    let bot = app.installation(1.into()).unwrap();
    let comment = bot
        .issues("octo", "hello")
        .create_comment(n, "Slung.")
        .await
        .unwrap();
    assert_eq!(comment.user.login, "gastown[bot]");

    // Claims alone no longer pass once a key is configured.
    let res = reqwest::Client::new()
        .post(format!(
            "{}/app/installations/1/access_tokens",
            sim.github_api_url()
        ))
        .bearer_auth(jwt(42, 600))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn a_person_drives_the_simulator_over_http() {
    let w = world().await;
    let http = reqwest::Client::new();
    let ctl = w.sim.control_url();
    let user: Value = http
        .post(format!("{ctl}/users"))
        .json(&json!({"login": "sam"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(user["token"].as_str().unwrap().starts_with("ghp_"));
    let res = http
        .post(format!("{ctl}/repos/{REPO}/grant"))
        .json(&json!({"login": "sam", "permission": "triage"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let issue: Value = http
        .post(format!("{ctl}/repos/{REPO}/issues"))
        .json(&json!({"as": "sam", "title": "From curl", "body": "hi"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let n = issue["number"].as_u64().unwrap();
    let res = http
        .post(format!("{ctl}/repos/{REPO}/issues/{n}/labels"))
        .json(&json!({"as": "sam", "label": "gt:sling"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    w.sim.wait_for_deliveries(2, WAIT).await.unwrap();
    let log: Value = http
        .get(format!("{ctl}/deliveries"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log[1]["action"], "labeled");
    assert!(
        log[1].get("secret").is_none(),
        "secrets stay out of the log"
    );
    let fault = http
        .post(format!("{ctl}/faults"))
        .json(&json!({"kind": "server_error", "n": 1, "status": 503}))
        .send()
        .await
        .unwrap();
    assert_eq!(fault.status(), 204);
    let res = http
        .get(format!("{}/repos/{REPO}", w.sim.github_api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
}

#[tokio::test]
async fn a_script_takes_a_pull_request_from_commit_to_merge_over_http() {
    let w = world().await;
    let http = reqwest::Client::new();
    let ctl = w.sim.control_url();
    let post = |path: &str, body: Value| http.post(format!("{ctl}{path}")).json(&body).send();

    let res = post(
        &format!("/repos/{REPO}/protection"),
        json!({"branch": "main", "contexts": ["ci"]}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 204);
    let commit: Value = post(
        &format!("/repos/{REPO}/commits"),
        json!({"as": "maria", "branch": "feat", "path": "f.txt", "content": "f\n", "message": "F"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let sha = commit["sha"].as_str().unwrap().to_owned();
    let pr: Value = post(
        &format!("/repos/{REPO}/pulls"),
        json!({"as": "maria", "head": "feat", "base": "main", "title": "F"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let n = pr["number"].as_u64().unwrap();
    let blocked = post(
        &format!("/repos/{REPO}/pulls/{n}/merge"),
        json!({"as": "maria"}),
    )
    .await
    .unwrap();
    assert_eq!(blocked.status(), 405);
    let res = post(
        &format!("/repos/{REPO}/statuses/{sha}"),
        json!({"as": "maria", "state": "success", "context": "ci"}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 201);
    let merged: Value = post(
        &format!("/repos/{REPO}/pulls/{n}/merge"),
        json!({"as": "maria", "method": "squash"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        w.sim.branch_sha(REPO, "main").await.unwrap().as_deref(),
        merged["sha"].as_str()
    );
    assert_eq!(
        w.sim
            .read_file(REPO, "main", "f.txt")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"f\n"[..])
    );
}
