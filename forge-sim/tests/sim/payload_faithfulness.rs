//! Story: everything the simulator sends looks like what GitHub sends. For every event
//! a session of ordinary work produces, each key path and JSON type in the matching real
//! fixture (`fixtures/github/<event>/<action>.1.json`) must appear in the simulator's
//! payload.
//!
//! The walk's rules are [`forge_sim::conformance::compare`]'s. Keys the simulator sends
//! beyond a fixture's are judged by the published schema instead (`webhook_schema.rs`):
//! a sample does not show every optional field.

use crate::common;

use std::path::Path;

use common::{fixtures, github_session, world};
use forge_sim::conformance::compare;
use serde_json::Value;

/// Keys a fixture has that GitHub sends only when there is something to name, which
/// the schema marks optional and non-null: the simulator's world never has one, so it
/// leaves them out (an explicit `null` would break the schema).
const ABSENT_WHEN_NONE: &[&str] = &[
    // The fixture's run was made by a deployment.
    "$.check_run.deployment",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_payload_has_the_real_payloads_key_paths_and_types() {
    let Some(fixtures) = fixtures() else { return };
    let w = world().await;
    let sent = github_session(&w).await;
    let mut checked = Vec::new();
    let mut problems = Vec::new();
    for d in w.sim.deliveries() {
        let file = format!("{}.1.json", d.action.as_deref().unwrap_or("event"));
        let path = fixtures.join("github").join(&d.event).join(&file);
        if !Path::new(&path).exists() {
            continue;
        }
        let real: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let diff = compare(&real, &d.payload);
        let missing = diff
            .missing
            .iter()
            .filter(|p| !ABSENT_WHEN_NONE.contains(&p.as_str()))
            .map(|p| format!("{p}: missing"));
        problems.extend(
            missing
                .chain(diff.mistyped)
                .map(|p| format!("{}/{file}: {p}", d.event)),
        );
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
        "pull_request/edited.1.json",
        "pull_request/labeled.1.json",
        "pull_request/unlabeled.1.json",
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
    assert_eq!(w.receiver.received().len(), sent);
}
