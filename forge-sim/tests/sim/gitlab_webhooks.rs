//! Stories: what a person does on a GitLab project reaches the hook the way GitLab
//! sends it — `X-Gitlab-Event`, the token verbatim, one `update` per label change with
//! `changes.labels`, an MR `update` with `oldrev` after a push, approvals as MR hooks.

use crate::common;
use crate::gitlab_common;

use common::WAIT;
use gitlab_common::{PROJECT, TOKEN, gl_world};

#[tokio::test]
async fn a_labelled_issue_sends_an_issue_hook_update_with_the_label_change() {
    let w = gl_world().await;
    let sim = &w.sim;
    let iid = sim
        .gl_open_issue("rita", PROJECT, "Greet", "Say hello")
        .await
        .unwrap();
    assert_eq!(iid, 1, "issues are numbered by iid");
    sim.gl_add_label("maria", PROJECT, iid, "gt:sling")
        .await
        .unwrap();
    sim.wait_for_deliveries(2, WAIT).await.unwrap();

    let got = w.receiver.received();
    assert_eq!(got.len(), 2);
    let (open, label) = (&got[0], &got[1]);
    for r in &got {
        assert_eq!(r.header("x-gitlab-event"), "Issue Hook");
        assert_eq!(
            r.header("x-gitlab-token"),
            TOKEN,
            "the token is sent verbatim"
        );
        assert!(r.header("user-agent").starts_with("GitLab/"));
        assert_eq!(r.header("x-gitlab-instance"), sim.web_url());
        assert!(!r.header("idempotency-key").is_empty());
        assert!(r.headers.get("x-hub-signature-256").is_none());
    }
    assert_eq!(open.json()["object_attributes"]["action"], "open");
    let body = label.json();
    assert_eq!(body["object_kind"], "issue");
    assert_eq!(body["object_attributes"]["action"], "update");
    assert_eq!(body["object_attributes"]["iid"], 1);
    assert_eq!(body["user"]["username"], "maria");
    assert_eq!(body["project"]["path_with_namespace"], PROJECT);
    assert_eq!(body["changes"]["labels"]["previous"], serde_json::json!([]));
    assert_eq!(body["changes"]["labels"]["current"][0]["title"], "gt:sling");
    assert_eq!(body["labels"][0]["title"], "gt:sling");
}

#[tokio::test]
async fn a_guest_cannot_label_and_nothing_is_sent() {
    let w = gl_world().await;
    let sim = &w.sim;
    let iid = sim.gl_open_issue("rita", PROJECT, "Hi", "").await.unwrap();
    assert!(sim.gl_add_label("rita", PROJECT, iid, "x").await.is_err());
    sim.wait_for_deliveries(1, WAIT).await.unwrap();
    assert_eq!(sim.deliveries().len(), 1, "only the open was sent");
}

#[tokio::test]
async fn a_redelivery_keeps_its_idempotency_key() {
    let w = gl_world().await;
    let sim = &w.sim;
    sim.gl_open_issue("maria", PROJECT, "Once", "")
        .await
        .unwrap();
    sim.wait_for_deliveries(1, WAIT).await.unwrap();
    let guid = sim.deliveries()[0].guid.clone();
    assert!(sim.redeliver(&guid));
    sim.wait_for_deliveries(2, WAIT).await.unwrap();
    let got = w.receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].header("idempotency-key"),
        got[1].header("idempotency-key")
    );
    assert_eq!(got[0].header("x-gitlab-event-uuid"), guid);
}

#[tokio::test]
async fn a_merge_request_is_updated_by_a_push_and_approved() {
    let w = gl_world().await;
    let sim = &w.sim;
    let first = sim
        .commit_file("devi", PROJECT, "greet", "hello.txt", "hi\n", "Add hello")
        .await
        .unwrap();
    let iid = sim
        .gl_open_mr("devi", PROJECT, "greet", "main", "Greet", "Closes #1")
        .await
        .unwrap();
    assert_eq!(iid, 1, "merge requests have their own iids");
    let second = sim
        .commit_file("devi", PROJECT, "greet", "hello.txt", "hello\n", "More")
        .await
        .unwrap();
    sim.gl_approve("maria", PROJECT, iid).await.unwrap();
    sim.gl_unapprove("maria", PROJECT, iid).await.unwrap();
    assert!(
        sim.gl_approve("devi", PROJECT, iid).await.is_err(),
        "authors cannot approve their own MR"
    );
    let n = sim.deliveries().len();
    sim.wait_for_deliveries(n, WAIT).await.unwrap();
    let seen: Vec<(String, String)> = sim
        .deliveries()
        .iter()
        .map(|d| (d.event.clone(), d.action.clone().unwrap_or_default()))
        .collect();
    let want = [
        ("Push Hook", ""),
        ("Merge Request Hook", "open"),
        ("Push Hook", ""),
        ("Merge Request Hook", "update"),
        ("Merge Request Hook", "approved"),
        ("Merge Request Hook", "unapproved"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(e, a)| (e.to_string(), a.to_string()))
        .collect();
    assert_eq!(seen, want);
    let update = &sim.deliveries()[3].payload;
    assert_eq!(update["object_attributes"]["oldrev"], first.as_str());
    assert_eq!(
        update["object_attributes"]["last_commit"]["id"],
        second.as_str()
    );
    let push = &sim.deliveries()[2].payload;
    assert_eq!(push["before"], first.as_str());
    assert_eq!(push["after"], second.as_str());
    assert_eq!(push["ref"], "refs/heads/greet");
}
