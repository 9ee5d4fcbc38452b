//! Story: every webhook the simulator sends is one GitHub could send. Each delivery of
//! a session of ordinary work (every event and action the simulator emits) must match
//! its event's and action's definition in GitHub's published webhook schema (octokit's
//! `schema.json`, strict about keys it does not define), so a payload rendered from a
//! REST shape (uppercase review states, REST-only fields) fails here.

use crate::common;

use common::{github_session, webhook_schema, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_delivery_matches_githubs_published_schema() {
    let Some(schema) = webhook_schema() else {
        return;
    };
    let w = world().await;
    let sent = github_session(&w).await;
    let report = schema.check(&w.sim.deliveries()).unwrap();
    // The session reached every event and action the simulator emits for GitHub.
    assert_eq!(report.checked, SENT.iter().map(|s| s.to_string()).collect());
    assert!(
        report.problems.is_empty(),
        "{} violations:\n{}",
        report.problems.len(),
        report.problems.join("\n")
    );
    assert_eq!(w.receiver.received().len(), sent);
}

/// Every event and action the simulator sends for GitHub, as octokit names them.
const SENT: [&str; 22] = [
    "check_run$completed",
    "check_run$created",
    "issue_comment$created",
    "issue_comment$deleted",
    "issue_comment$edited",
    "issues$closed",
    "issues$edited",
    "issues$labeled",
    "issues$opened",
    "issues$reopened",
    "issues$unlabeled",
    "pull_request$closed",
    "pull_request$edited",
    "pull_request$labeled",
    "pull_request$opened",
    "pull_request$reopened",
    "pull_request$synchronize",
    "pull_request$unlabeled",
    "pull_request_review$submitted",
    "pull_request_review_comment$created",
    "push$event",
    "status$event",
];

/// The schema is not taken on trust either: the real payloads in the fixtures, for each
/// event and action the simulator sends, hold no key the schema forbids and no value of
/// a type it forbids, so the schema's strictness is GitHub's. (The samples are older
/// than some fields the schema now requires, such as a repository's `topics`; those
/// are left out of this check.)
#[test]
fn the_real_payloads_break_no_rule_of_the_schema_but_newer_required_fields() {
    let Some(schema) = webhook_schema() else {
        return;
    };
    let Some(fixtures) = common::fixtures() else {
        return;
    };
    let mut checked = 0;
    for name in SENT {
        let (event, action) = name.split_once('$').unwrap();
        let path = fixtures
            .join("github")
            .join(event)
            .join(format!("{action}.1.json"));
        if !path.exists() {
            continue;
        }
        let payload: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let found: Vec<String> = schema
            .violations(event, &payload)
            .unwrap()
            .into_iter()
            .filter(|v| !v.ends_with("is a required property"))
            .collect();
        assert!(found.is_empty(), "{}: {found:#?}", path.display());
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} fixtures");
}

/// What the issue found, shown against the real schema: a REST review state and a
/// REST-only issue field in an otherwise good delivery are each reported where they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_shapes_in_a_delivery_are_reported() {
    let Some(schema) = webhook_schema() else {
        return;
    };
    let w = world().await;
    github_session(&w).await;
    let deliveries = w.sim.deliveries();
    let find = |event: &str| {
        deliveries
            .iter()
            .find(|d| d.event == event)
            .unwrap()
            .payload
            .clone()
    };
    let mut review = find("pull_request_review");
    assert_eq!(
        schema.violations("pull_request_review", &review).unwrap(),
        Vec::<String>::new()
    );
    review["review"]["state"] = "APPROVED".into();
    let found = schema.violations("pull_request_review", &review).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("/review/state: \"APPROVED\""),
        "{found:?}"
    );

    let mut issue = find("issues");
    issue["issue"]["closed_by"] = serde_json::Value::Null;
    let found = schema.violations("issues", &issue).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("/issue: ") && found[0].contains("'closed_by'"),
        "{found:?}"
    );
}
