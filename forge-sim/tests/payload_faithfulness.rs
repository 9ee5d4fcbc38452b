//! Story: everything the simulator sends looks like what GitHub sends. For every event
//! a session of ordinary work produces, each key path and JSON type in the matching real
//! fixture (`fixtures/github/<event>/<action>.1.json`) must appear in the simulator's
//! payload.
//!
//! Rules of the walk: a `null` on either side only requires the key (GitHub documents
//! those fields as nullable); arrays compare their first elements when both have one;
//! all numbers are one type.

mod common;

use std::path::Path;

use common::{REPO, WAIT, fixtures, world};
use forge_sim::MergeMethod;
use serde_json::Value;

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every place where `ours` lacks a key path of `real` or has another type there.
fn missing(real: &Value, ours: &Value, path: &str, out: &mut Vec<String>) {
    if real.is_null() || ours.is_null() {
        return;
    }
    if kind(real) != kind(ours) {
        out.push(format!(
            "{path}: {} in the fixture, {} here",
            kind(real),
            kind(ours)
        ));
        return;
    }
    match (real, ours) {
        (Value::Object(r), Value::Object(o)) => {
            for (k, rv) in r {
                let p = format!("{path}.{k}");
                match o.get(k) {
                    Some(ov) => missing(rv, ov, &p, out),
                    None => out.push(format!("{p}: missing")),
                }
            }
        }
        (Value::Array(r), Value::Array(o)) => {
            if let (Some(r0), Some(o0)) = (r.first(), o.first()) {
                missing(r0, o0, &format!("{path}[0]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_walker_finds_missing_keys_and_wrong_types() {
    let real = serde_json::json!({"a": {"b": 1, "c": [{"d": "x"}]}, "e": null});
    let ours = serde_json::json!({"a": {"b": "1", "c": [{}]}});
    let mut out = Vec::new();
    missing(&real, &ours, "$", &mut out);
    assert_eq!(
        out,
        vec![
            "$.a.b: number in the fixture, string here",
            "$.a.c[0].d: missing",
            "$.e: missing"
        ]
    );
}

#[tokio::test]
async fn every_payload_has_the_real_payloads_key_paths_and_types() {
    let Some(fixtures) = fixtures() else { return };
    let w = world().await;
    let sim = &w.sim;
    // Issues and comments.
    let n = sim
        .open_issue("maria", REPO, "Greet", "Say hello")
        .await
        .unwrap();
    sim.add_label("maria", REPO, n, "gt:sling").await.unwrap();
    sim.remove_label("maria", REPO, n, "gt:sling")
        .await
        .unwrap();
    let c = sim.comment("maria", REPO, n, "on it").await.unwrap();
    sim.edit_comment("maria", REPO, c, "on it now")
        .await
        .unwrap();
    sim.sim()
        .delete_comment(sim.user("maria").await.unwrap().id, REPO, c)
        .unwrap();
    sim.sim()
        .edit_issue(
            sim.user("maria").await.unwrap().id,
            REPO,
            n,
            forge_sim::ops::IssuePatch {
                title: Some("Greet warmly".into()),
                ..Default::default()
            },
        )
        .unwrap();
    sim.close_issue("maria", REPO, n).await.unwrap();
    sim.reopen_issue("maria", REPO, n).await.unwrap();
    // A pull request's life: push, open, push again, CI, review, close, reopen, merge.
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
    let maria = sim.user("maria").await.unwrap().id;
    let run = sim
        .sim()
        .create_check_run(
            maria,
            REPO,
            forge_sim::ops::CheckRunInput {
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
            forge_sim::ops::CheckRunInput {
                conclusion: Some("success".into()),
                title: Some("Gates".into()),
                summary: Some("all green".into()),
                ..Default::default()
            },
        )
        .unwrap();
    sim.approve("octo", REPO, pr).await.unwrap();
    sim.review_comment("octo", REPO, pr, "hello.txt", 1, "Nice.")
        .await
        .unwrap();
    sim.sim()
        .edit_pull(
            maria,
            REPO,
            pr,
            forge_sim::ops::PullPatch {
                state: Some(forge_sim::world::IssueState::Closed),
                ..Default::default()
            },
        )
        .unwrap();
    sim.sim()
        .edit_pull(
            maria,
            REPO,
            pr,
            forge_sim::ops::PullPatch {
                state: Some(forge_sim::world::IssueState::Open),
                ..Default::default()
            },
        )
        .unwrap();
    sim.merge_pr("maria", REPO, pr, MergeMethod::Merge)
        .await
        .unwrap();

    let expected = sim.deliveries().len();
    sim.wait_for_deliveries(expected, WAIT).await.unwrap();
    let mut checked = Vec::new();
    let mut problems = Vec::new();
    for d in sim.deliveries() {
        let file = format!("{}.1.json", d.action.as_deref().unwrap_or("event"));
        let path = fixtures.join("github").join(&d.event).join(&file);
        if !Path::new(&path).exists() {
            continue;
        }
        let real: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let mut out = Vec::new();
        missing(&real, &d.payload, "$", &mut out);
        problems.extend(out.into_iter().map(|p| format!("{}/{file}: {p}", d.event)));
        checked.push(format!("{}/{file}", d.event));
    }
    checked.sort();
    checked.dedup();
    for want in [
        "issues/opened.1.json",
        "issues/edited.1.json",
        "issues/labeled.1.json",
        "issues/unlabeled.1.json",
        "issues/closed.1.json",
        "issues/reopened.1.json",
        "issue_comment/created.1.json",
        "issue_comment/edited.1.json",
        "issue_comment/deleted.1.json",
        "pull_request/opened.1.json",
        "pull_request/synchronize.1.json",
        "pull_request/closed.1.json",
        "pull_request/reopened.1.json",
        "pull_request_review/submitted.1.json",
        "pull_request_review_comment/created.1.json",
        "status/event.1.json",
        "check_run/created.1.json",
        "check_run/completed.1.json",
        "push/event.1.json",
    ] {
        if fixtures.join("github").join(want).exists() {
            assert!(
                checked.iter().any(|c| c == want),
                "no delivery was checked against {want}: {checked:?}"
            );
        }
    }
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
    // The session's deliveries all reached the receiver.
    assert_eq!(w.receiver.received().len(), expected);
}
