//! Story: everything the simulator sends for a GitLab project looks like what GitLab
//! sends. GitLab publishes no schema, so for every hook a session of ordinary work
//! produces, the matching real fixture (`fixtures/gitlab/*.json`, mapped by
//! `X-Gitlab-Event` as `SOURCES.md` says) is compared both ways: each of its key paths
//! and JSON types must appear in the simulator's payload, and the payload may carry no
//! key the fixture lacks unless GitLab documents it for that hook ([`DOCUMENTED`]: the
//! samples are from an older GitLab). A REST field leaking into a hook fails here.
//!
//! The walk's rules are [`forge_sim::conformance::compare`]'s.

mod common;
mod gitlab_common;

use common::{WAIT, fixtures};
use forge_sim::conformance::compare;
use gitlab_common::{PROJECT, gl_world};
use serde_json::Value;

/// Keys GitLab sends in hooks beyond the (older) samples, by the object that holds them:
/// (fixture, object's key path, keys). Each is in GitLab's "Webhook events" docs
/// examples or in the hook data builders those examples come from (`Project#hook_attrs`,
/// `IssueBuilder`, `MergeRequestBuilder`, `NoteBuilder`).
const DOCUMENTED: &[(&str, &str, &[&str])] = &[
    // Every project object (and an MR's source and target) names its CI config path;
    // source and target are project objects, with their id.
    ("*", "$.project", &["ci_config_path"]),
    ("*", "$.object_attributes.source", &["id", "ci_config_path"]),
    ("*", "$.object_attributes.target", &["id", "ci_config_path"]),
    ("*", "$.merge_request.source", &["id", "ci_config_path"]),
    ("*", "$.merge_request.target", &["id", "ci_config_path"]),
    ("issue.json", "$.object_attributes", &["closed_at"]),
    ("note_issue.json", "$.issue", ISSUE),
    ("merge_request.json", "$.object_attributes", MERGE_REQUEST),
    ("note_merge_request.json", "$.merge_request", MERGE_REQUEST),
    // A note's type (`DiffNote`), its text as `description`, and a diff note's position.
    (
        "note_issue.json",
        "$.object_attributes",
        &["type", "description"],
    ),
    (
        "note_merge_request.json",
        "$.object_attributes",
        &["type", "description", "position"],
    ),
    ("pipeline.json", "$.object_attributes", &["name", "url"]),
    ("pipeline.json", "$.commit", &["title"]),
    ("push.json", "$", &["message", "ref_protected"]),
];

/// An issue's attributes in hooks that the go-gitlab sample lacks.
const ISSUE: &[&str] = &[
    "closed_at",
    "confidential",
    "discussion_locked",
    "due_date",
    "duplicated_to_id",
    "escalation_policy",
    "escalation_status",
    "human_time_change",
    "last_edited_at",
    "last_edited_by_id",
    "moved_to_id",
    "relative_position",
    "severity",
    "state_id",
    "time_change",
    "updated_by_id",
    "url",
    "weight",
];

/// A merge request's attributes in hooks that the go-gitlab samples lack (`position`
/// is in the note sample's merge request, so GitLab sent it in both).
const MERGE_REQUEST: &[&str] = &[
    "assignee_ids",
    "blocking_discussions_resolved",
    "draft",
    "first_contribution",
    "human_time_change",
    "human_time_estimate",
    "human_total_time_spent",
    "last_edited_at",
    "last_edited_by_id",
    "merge_commit_sha",
    "oldrev",
    "position",
    "reviewer_ids",
    "state_id",
    "time_change",
    "total_time_spent",
    "url",
];

/// Whether `path` (in a payload compared with `file`) is a key GitLab documents.
fn documented(file: &str, path: &str) -> bool {
    let Some((object, key)) = path.rsplit_once('.') else {
        return false;
    };
    DOCUMENTED
        .iter()
        .any(|(f, o, keys)| (*f == "*" || *f == file) && *o == object && keys.contains(&key))
}

#[test]
fn only_documented_keys_pass_beyond_the_samples() {
    assert!(documented("push.json", "$.ref_protected"));
    assert!(documented("issue.json", "$.project.ci_config_path"));
    assert!(!documented("issue.json", "$.ref_protected"));
    assert!(!documented(
        "merge_request.json",
        "$.object_attributes.squash_commit_sha"
    ));
    assert!(!documented("issue.json", "$.repository.git_http_url"));
}

/// The fixture file for a delivery.
fn fixture_for(event: &str, payload: &Value) -> Option<&'static str> {
    Some(match event {
        "Issue Hook" => "issue.json",
        "Merge Request Hook" => "merge_request.json",
        "Pipeline Hook" => "pipeline.json",
        "Push Hook" => "push.json",
        "Note Hook" => match payload["object_attributes"]["noteable_type"].as_str()? {
            "Issue" => "note_issue.json",
            "MergeRequest" => "note_merge_request.json",
            _ => return None,
        },
        _ => return None,
    })
}

#[tokio::test]
async fn every_gitlab_hook_has_the_real_payloads_key_paths_and_types() {
    let Some(fixtures) = fixtures() else { return };
    let w = gl_world().await;
    let sim = &w.sim;
    // An issue's life: open, label, comment, relabel, close.
    let issue = sim
        .gl_open_issue("rita", PROJECT, "Greet", "Say hello")
        .await
        .unwrap();
    sim.gl_add_label("maria", PROJECT, issue, "gt:sling")
        .await
        .unwrap();
    sim.gl_comment("rita", PROJECT, issue, false, "on it")
        .await
        .unwrap();
    sim.gl_remove_label("maria", PROJECT, issue, "gt:sling")
        .await
        .unwrap();
    // A merge request's life: push, open, push, CI, notes, approve, merge.
    sim.commit_file("devi", PROJECT, "greet", "hello.txt", "hi\n", "Add hello")
        .await
        .unwrap();
    let mr = sim
        .gl_open_mr(
            "devi",
            PROJECT,
            "greet",
            "main",
            "Greet",
            &format!("Closes #{issue}"),
        )
        .await
        .unwrap();
    sim.commit_file("devi", PROJECT, "greet", "hello.txt", "hello\n", "More")
        .await
        .unwrap();
    let p = sim.run_pipeline("devi", PROJECT, "greet").await.unwrap();
    sim.finish_pipeline(PROJECT, p, "success").await.unwrap();
    sim.gl_comment("maria", PROJECT, mr, true, "Looks good")
        .await
        .unwrap();
    sim.gl_diff_note("maria", PROJECT, mr, "hello.txt", 1, "Nice.")
        .await
        .unwrap();
    sim.gl_approve("maria", PROJECT, mr).await.unwrap();
    sim.gl_merge("maria", PROJECT, mr, false).await.unwrap();
    assert_eq!(
        sim.sim().world().repo(PROJECT).unwrap().issues[&1].state,
        forge_sim::world::IssueState::Closed,
        "`Closes #1` closed issue iid 1"
    );

    let expected = sim.deliveries().len();
    sim.wait_for_deliveries(expected, WAIT).await.unwrap();
    let mut checked = Vec::new();
    let mut problems = Vec::new();
    for d in sim.deliveries() {
        let Some(file) = fixture_for(&d.event, &d.payload) else {
            continue;
        };
        let path = fixtures.join("gitlab").join(file);
        if !path.exists() {
            continue;
        }
        let real: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let diff = compare(&real, &d.payload);
        let action = d.action.clone().unwrap_or_default();
        let out = (diff.missing.into_iter().map(|p| format!("{p}: missing")))
            .chain(
                (diff.extra.into_iter())
                    .filter(|p| !documented(file, p))
                    .map(|p| format!("{p}: neither in the fixture nor documented")),
            )
            .chain(diff.mistyped);
        problems.extend(out.map(|p| format!("{file} ({action}): {p}")));
        checked.push(file);
    }
    checked.sort();
    checked.dedup();
    for want in [
        "issue.json",
        "merge_request.json",
        "note_issue.json",
        "note_merge_request.json",
        "pipeline.json",
        "push.json",
    ] {
        if fixtures.join("gitlab").join(want).exists() {
            assert!(
                checked.contains(&want),
                "nothing was checked against {want}: {checked:?}"
            );
        }
    }
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
    let actions: Vec<String> = sim
        .deliveries()
        .iter()
        .filter(|d| d.event == "Merge Request Hook")
        .filter_map(|d| d.action.clone())
        .collect();
    assert_eq!(actions, ["open", "update", "approved", "merge"]);
    assert_eq!(w.receiver.received().len(), expected);
}
