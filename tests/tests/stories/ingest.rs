//! Webhook ingest through the real router over real HTTP: what GitHub and GitLab see
//! when they deliver, and what lands in the inbox.

use gastown_tests::{Fixtures, TestTown};
use serde_json::json;

fn comment_payload() -> Vec<u8> {
    br#"{"action":"created","issue":{"number":1,"title":"t","state":"open","labels":[],"user":{"login":"a"}},"comment":{"id":9,"body":"hi","user":{"login":"a"}},"repository":{"full_name":"octo/hello","html_url":"https://github.com/octo/hello"},"sender":{"login":"a"}}"#.to_vec()
}

#[tokio::test]
async fn a_signed_delivery_is_accepted_once_and_a_redelivery_is_a_no_op() {
    let town = TestTown::builder().start().await;

    let first = town.github("issue_comment", "d-1", comment_payload()).await;
    assert_eq!(first.status, 202);
    assert_eq!(
        first.body,
        json!({ "delivery_id": "d-1", "duplicate": false })
    );

    let again = town.github("issue_comment", "d-1", comment_payload()).await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.body,
        json!({ "delivery_id": "d-1", "duplicate": true })
    );

    let inbox = town.inbox().await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].event, "issue_comment");
    assert_eq!(inbox[0].action.as_deref(), Some("created"));
    assert_eq!(inbox[0].repo.as_deref(), Some("github:octo/hello"));
}

#[tokio::test]
async fn forgeries_are_refused_and_store_nothing() {
    let town = TestTown::builder().start().await;
    let body = comment_payload();
    let forged = webhooks::sign_github(b"not the secret", &body);
    let wrong_secret = town
        .post(
            "/webhooks/github",
            &[
                ("x-github-event", "issue_comment"),
                ("x-github-delivery", "f-1"),
                ("x-hub-signature-256", &forged),
            ],
            body.clone(),
        )
        .await;
    assert_eq!(wrong_secret.status, 401);

    let unsigned = town
        .post(
            "/webhooks/github",
            &[
                ("x-github-event", "issue_comment"),
                ("x-github-delivery", "f-2"),
            ],
            body.clone(),
        )
        .await;
    assert_eq!(unsigned.status, 401);

    // Signed, then cut short in transit: the signature no longer matches.
    let good = webhooks::sign_github(gastown_tests::town::GITHUB_SECRET.as_bytes(), &body);
    let truncated_in_transit = town
        .post(
            "/webhooks/github",
            &[
                ("x-github-event", "issue_comment"),
                ("x-github-delivery", "f-3"),
                ("x-hub-signature-256", &good),
            ],
            body[..body.len() / 2].to_vec(),
        )
        .await;
    assert_eq!(truncated_in_transit.status, 401);

    let bad_token = town
        .post(
            "/webhooks/gitlab",
            &[
                ("x-gitlab-event", "Issue Hook"),
                ("x-gitlab-token", "guess"),
            ],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(bad_token.status, 401);

    assert!(town.inbox().await.is_empty(), "a forgery stored something");
}

#[tokio::test]
async fn missing_forge_headers_are_a_bad_request() {
    let town = TestTown::builder().start().await;
    let body = comment_payload();
    let sig = webhooks::sign_github(gastown_tests::town::GITHUB_SECRET.as_bytes(), &body);

    let no_event = town
        .post(
            "/webhooks/github",
            &[("x-github-delivery", "h-1"), ("x-hub-signature-256", &sig)],
            body.clone(),
        )
        .await;
    assert_eq!(no_event.status, 400);
    assert_eq!(
        no_event.body["error"],
        "missing required header x-github-event"
    );

    let no_delivery = town
        .post(
            "/webhooks/github",
            &[
                ("x-github-event", "issue_comment"),
                ("x-hub-signature-256", &sig),
            ],
            body,
        )
        .await;
    assert_eq!(no_delivery.status, 400);
    assert_eq!(
        no_delivery.body["error"],
        "missing required header x-github-delivery"
    );

    let gitlab = town
        .post(
            "/webhooks/gitlab",
            &[("x-gitlab-token", gastown_tests::town::GITLAB_TOKEN)],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(gitlab.status, 400);
    assert_eq!(
        gitlab.body["error"],
        "missing required header x-gitlab-event"
    );

    assert!(town.inbox().await.is_empty());
}

#[tokio::test]
async fn a_genuine_body_that_does_not_parse_is_kept_as_failed_and_acknowledged() {
    let town = TestTown::builder().start().await;
    let truncated = comment_payload()[..40].to_vec();
    let r = town.github("issue_comment", "p-1", truncated).await;
    assert_eq!(r.status, 202);
    let garbage = town
        .github("issues", "p-2", b"<html>not json</html>".to_vec())
        .await;
    assert_eq!(garbage.status, 202);

    let inbox = town.inbox().await;
    assert_eq!(inbox.len(), 2);
    for row in &inbox {
        assert_eq!(row.status.as_str(), "failed", "{row:?}");
        let error = row.last_error.as_deref().unwrap_or_default();
        assert!(error.contains(&row.event), "error names the event: {error}");
    }
    assert_eq!(town.drain().await, 0, "failed rows are not worked");
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused_with_413() {
    let town = TestTown::builder()
        .env("GT_INGEST_MAX_BODY_BYTES", "2048")
        .start()
        .await;
    let mut big = comment_payload();
    big.extend(std::iter::repeat_n(b' ', 4096));
    let r = town.github("issue_comment", "big-1", big).await;
    assert_eq!(r.status, 413);
    assert!(town.inbox().await.is_empty());
}

/// A GitLab delivery with a wrong token is answered 401 from its headers: the bot does
/// not wait for (or buffer) a body it would throw away. The sender declares 8 MiB, sends
/// 64 KiB and then waits; the answer must come while the body is still incomplete.
#[tokio::test]
async fn a_forged_gitlab_delivery_is_refused_before_its_body_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let town = TestTown::builder().start().await;
    let mut conn = tokio::net::TcpStream::connect(town.addr).await.unwrap();
    let declared = 8 * 1024 * 1024;
    let head = format!(
        "POST /webhooks/gitlab HTTP/1.1\r\nHost: {}\r\nX-Gitlab-Event: Issue Hook\r\n\
         X-Gitlab-Token: guess\r\nContent-Type: application/json\r\n\
         Content-Length: {declared}\r\n\r\n",
        town.addr
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&vec![b' '; 64 * 1024]).await.unwrap();

    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), conn.read(&mut answer))
        .await
        .expect("an answer before the rest of the body was sent")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(town.inbox().await.is_empty());
}

#[tokio::test]
async fn an_endpoint_without_a_secret_refuses_everything_with_503() {
    let town = TestTown::builder()
        .env("GT_GITHUB_WEBHOOK_SECRET", "")
        .start()
        .await;
    let r = town.github("issue_comment", "n-1", comment_payload()).await;
    assert_eq!(r.status, 503);
    assert!(
        r.body["error"]
            .as_str()
            .unwrap()
            .contains("GT_GITHUB_WEBHOOK_SECRET"),
        "{:?}",
        r.body
    );
    assert!(town.inbox().await.is_empty());
}

#[tokio::test]
async fn a_rotated_secret_keeps_both_secrets_valid() {
    let town = TestTown::builder()
        .env(
            "GT_GITHUB_WEBHOOK_SECRET",
            &format!("new-secret,{}", gastown_tests::town::GITHUB_SECRET),
        )
        .start()
        .await;
    let body = comment_payload();
    let with_new = webhooks::sign_github(b"new-secret", &body);
    let r = town
        .post(
            "/webhooks/github",
            &[
                ("x-github-event", "issue_comment"),
                ("x-github-delivery", "rot-1"),
                ("x-hub-signature-256", &with_new),
            ],
            body.clone(),
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(
        town.github("issue_comment", "rot-2", body).await.status,
        202
    );
}

#[tokio::test]
async fn form_encoded_github_deliveries_are_accepted() {
    let town = TestTown::builder().start().await;
    // Addressed to the bot, so that it waits for the worker rather than being settled.
    let json = String::from_utf8(comment_saying("/gt status")).unwrap();
    let form: String = format!(
        "payload={}",
        json.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    );
    let body = form.into_bytes();
    let sig = webhooks::sign_github(gastown_tests::town::GITHUB_SECRET.as_bytes(), &body);
    let r = town
        .post(
            "/webhooks/github",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("x-github-event", "issue_comment"),
                ("x-github-delivery", "form-1"),
                ("x-hub-signature-256", &sig),
            ],
            body,
        )
        .await;
    assert_eq!(r.status, 202);
    let inbox = town.inbox().await;
    assert_eq!(inbox[0].status.as_str(), "pending");
    assert_eq!(inbox[0].repo.as_deref(), Some("github:octo/hello"));
}

#[tokio::test]
async fn gitlab_delivery_ids_prefer_the_idempotency_key_and_dedupe_per_host() {
    let town = TestTown::builder().start().await;
    let Some(fx) = Fixtures::find() else { return };
    let body = fx.bytes("gitlab/issue.json");
    let headers = |key: Option<&'static str>, instance: &'static str| {
        let mut h = vec![
            ("x-gitlab-event", "Issue Hook"),
            ("x-gitlab-token", gastown_tests::town::GITLAB_TOKEN),
            ("x-gitlab-event-uuid", "uuid-1"),
            ("x-gitlab-instance", instance),
        ];
        if let Some(k) = key {
            h.push(("idempotency-key", k));
        }
        h
    };
    let a = town
        .post(
            "/webhooks/gitlab",
            &headers(Some("idem-1"), "https://gl.one"),
            body.clone(),
        )
        .await;
    assert_eq!(a.body["delivery_id"], "idem-1");
    let b = town
        .post(
            "/webhooks/gitlab",
            &headers(None, "https://gl.one"),
            body.clone(),
        )
        .await;
    assert_eq!(b.body["delivery_id"], "uuid-1");
    assert_eq!(b.status, 202);
    // The same id from another GitLab instance is another delivery.
    let c = town
        .post(
            "/webhooks/gitlab",
            &headers(Some("idem-1"), "https://gl.two"),
            body.clone(),
        )
        .await;
    assert_eq!(c.status, 202);
    let again = town
        .post(
            "/webhooks/gitlab",
            &headers(Some("idem-1"), "https://gl.one"),
            body.clone(),
        )
        .await;
    assert_eq!(again.status, 200);
    // With neither header, the body's hash identifies it.
    let bare = town
        .post(
            "/webhooks/gitlab",
            &[
                ("x-gitlab-event", "Issue Hook"),
                ("x-gitlab-token", gastown_tests::town::GITLAB_TOKEN),
            ],
            body,
        )
        .await;
    assert!(
        bare.body["delivery_id"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{:?}",
        bare.body
    );
    assert_eq!(town.inbox().await.len(), 4);
}

#[tokio::test]
async fn healthz_and_readyz_report_the_pending_inbox() {
    let town = TestTown::builder().start().await;
    town.github("issue_comment", "hz-1", comment_saying("/gt status"))
        .await;
    // Liveness and readiness (Kubernetes' probes) ask the same: can deliveries be kept?
    for probe in ["/healthz", "/readyz"] {
        let r = reqwest::get(town.url(probe)).await.unwrap();
        assert_eq!(r.status(), 200, "{probe}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v, json!({ "status": "ok", "inbox_pending": 1 }), "{probe}");
    }
}

fn comment_saying(text: &str) -> Vec<u8> {
    let mut payload: serde_json::Value = serde_json::from_slice(&comment_payload()).unwrap();
    payload["comment"]["body"] = json!(text);
    serde_json::to_vec(&payload).unwrap()
}

#[tokio::test]
async fn talk_that_addresses_nobody_is_settled_at_ingest_and_only_asks_reach_the_worker() {
    let town = TestTown::builder().start().await;
    for (id, text) in [
        ("talk-1", "Thanks, this looks right to me."),
        ("ask-1", "/gt help"),
        ("ask-2", "&#47;gt help"),
    ] {
        let r = town.github("issue_comment", id, comment_saying(text)).await;
        assert_eq!(r.status, 202, "{id}");
    }
    let again = town
        .github("issue_comment", "talk-1", comment_saying("Thanks"))
        .await;
    assert_eq!(again.status, 200, "a settled delivery still deduplicates");

    let inbox = town.inbox().await;
    let status = |id: &str| {
        let row = inbox.iter().find(|r| r.delivery_id == id).unwrap();
        (row.status.as_str(), row.last_error.clone())
    };
    assert_eq!(
        status("talk-1"),
        ("ignored", Some(bot::decisions::triage::NOBODY.to_string()))
    );
    // What the command parser reads as addressed, however it is spelled, is worked.
    assert_eq!(status("ask-1"), ("pending", None));
    assert_eq!(status("ask-2"), ("pending", None));

    let talk = inbox.iter().find(|r| r.delivery_id == "talk-1").unwrap().id;
    let store = town.app.store.clone();
    let body = store
        .read(move |c| bot::store::delivery_body(c, talk))
        .await
        .unwrap();
    assert_eq!(body, None, "the body of talk is not kept");
    let retry = store
        .write(move |c| bot::store::retry_delivery(c, talk, 0))
        .await
        .unwrap_err();
    insta::assert_snapshot!(retry.to_string(), @"delivery 1 was settled when it arrived (a comment that addresses nobody: nothing to do) and its body was not kept; ask the forge to redeliver it");
}
