//! Story: a maintainer opens an issue and labels it; the bot's endpoint receives a
//! signed `issues` `labeled` delivery that verifies with the shared secret.

use crate::common;

use common::{REPO, SECRET, WAIT, world};

#[tokio::test]
async fn labeling_an_issue_delivers_a_signed_labeled_event() {
    let w = world().await;
    let n = w
        .sim
        .open_issue("maria", REPO, "Add a greeting", "Say hello.")
        .await
        .unwrap();
    w.sim.add_label("maria", REPO, n, "gt:sling").await.unwrap();

    // opened, then labeled
    w.sim.wait_for_deliveries(2, WAIT).await.unwrap();
    let got = w.receiver.received();
    assert_eq!(got.len(), 2);
    let labeled = &got[1];
    assert_eq!(labeled.header("x-github-event"), "issues");
    assert!(labeled.header("user-agent").starts_with("GitHub-Hookshot/"));
    assert_eq!(labeled.header("content-type"), "application/json");
    assert_eq!(labeled.header("x-github-delivery").len(), 36);
    webhooks::verify_github(
        &[SECRET],
        Some(labeled.header("x-hub-signature-256").as_bytes()),
        &labeled.body,
    )
    .expect("the signature verifies with the secret");
    assert!(
        webhooks::verify_github(
            &["wrong"],
            Some(labeled.header("x-hub-signature-256").as_bytes()),
            &labeled.body
        )
        .is_err()
    );
    let payload = labeled.json();
    assert_eq!(payload["action"], "labeled");
    assert_eq!(payload["label"]["name"], "gt:sling");
    assert_eq!(payload["issue"]["number"], n);
    assert_eq!(payload["sender"]["login"], "maria");
    assert_eq!(payload["repository"]["full_name"], REPO);

    let log = w.sim.deliveries();
    assert_eq!(log[1].attempts[0].status, Some(202));
}

#[tokio::test]
async fn a_delivery_can_be_redelivered_with_the_same_guid() {
    let w = world().await;
    w.sim
        .open_issue("maria", REPO, "One", "body")
        .await
        .unwrap();
    w.sim.wait_for_deliveries(1, WAIT).await.unwrap();
    let guid = w.sim.deliveries()[0].guid.clone();
    assert!(w.sim.redeliver(&guid));
    w.sim.wait_for_deliveries(2, WAIT).await.unwrap();
    let got = w.receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].header("x-github-delivery"),
        got[1].header("x-github-delivery")
    );
    assert_eq!(got[0].body, got[1].body);
    assert_eq!(w.sim.deliveries()[0].attempts.len(), 2);
}

#[tokio::test]
async fn dropped_and_duplicated_deliveries_are_faults_on_demand() {
    let w = world().await;
    w.sim.drop_deliveries(1);
    w.sim.duplicate_deliveries(1);
    let n = w
        .sim
        .open_issue("maria", REPO, "Flaky hooks", "body")
        .await
        .unwrap();
    w.sim.comment("rita", REPO, n, "me too").await.unwrap();
    w.sim.wait_for_deliveries(2, WAIT).await.unwrap();
    let got = w.receiver.received();
    // `opened` was dropped; the comment arrived twice with one GUID.
    assert_eq!(got.len(), 2);
    assert!(
        got.iter()
            .all(|r| r.header("x-github-event") == "issue_comment")
    );
    assert_eq!(
        got[0].header("x-github-delivery"),
        got[1].header("x-github-delivery")
    );
    let log = w.sim.deliveries();
    assert!(log[0].dropped);
    assert_eq!(log[1].attempts.len(), 2);
}

#[tokio::test]
async fn people_without_triage_cannot_label() {
    let w = world().await;
    let n = w
        .sim
        .open_issue("rita", REPO, "Question", "How?")
        .await
        .unwrap();
    let err = w.sim.add_label("rita", REPO, n, "bug").await.unwrap_err();
    assert!(
        matches!(err, forge_sim::SimError::Forbidden { .. }),
        "{err}"
    );
    assert!(w.sim.labels(REPO, n).await.is_empty());
}

#[tokio::test]
async fn after_downtime_the_hooks_api_shows_the_failure_and_redelivers_it() {
    let w = world().await;
    let octo = w.sim.user("octo").await.unwrap();
    w.receiver.fail_next(1);
    w.sim
        .open_issue("maria", REPO, "While you were out", "body")
        .await
        .unwrap();
    w.sim.wait_for_deliveries(1, WAIT).await.unwrap();

    let http = reqwest::Client::new();
    let api = w.sim.github_api_url();
    let hooks: serde_json::Value = http
        .get(format!("{api}/repos/{REPO}/hooks"))
        .bearer_auth(&octo.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hook = hooks[0]["id"].as_u64().unwrap();
    assert_eq!(hooks[0]["last_response"]["code"], 503);
    let list: serde_json::Value = http
        .get(format!("{api}/repos/{REPO}/hooks/{hook}/deliveries"))
        .bearer_auth(&octo.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["status_code"], 503);
    assert_eq!(list[0]["event"], "issues");
    let id = list[0]["id"].as_u64().unwrap();
    let res = http
        .post(format!(
            "{api}/repos/{REPO}/hooks/{hook}/deliveries/{id}/attempts"
        ))
        .bearer_auth(&octo.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    w.sim.wait_for_deliveries(2, WAIT).await.unwrap();
    let one: serde_json::Value = http
        .get(format!("{api}/repos/{REPO}/hooks/{hook}/deliveries/{id}"))
        .bearer_auth(&octo.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (one["status_code"].as_u64(), one["redelivery"].as_bool()),
        (Some(202), Some(true))
    );
    assert_eq!(one["request"]["payload"]["action"], "opened");

    // Only admins see hooks.
    let maria = w.sim.user("maria").await.unwrap();
    let res = http
        .get(format!("{api}/repos/{REPO}/hooks"))
        .bearer_auth(&maria.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}
