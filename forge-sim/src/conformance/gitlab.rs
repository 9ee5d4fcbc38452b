//! GitLab's side: which fixture each hook is compared with, and which keys GitLab
//! documents beyond those samples. GitLab publishes no schema, so a hook is held to its
//! fixture both ways: every key path and type of the sample is in the hook, and every
//! key of the hook is in the sample or documented here.

use std::path::Path;

use serde_json::Value;

use super::{Report, compare};
use crate::Delivery;

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
pub fn documented(file: &str, path: &str) -> bool {
    let Some((object, key)) = path.rsplit_once('.') else {
        return false;
    };
    DOCUMENTED
        .iter()
        .any(|(f, o, keys)| (*f == "*" || *f == file) && *o == object && keys.contains(&key))
}

/// The fixture (in `fixtures/gitlab`) a hook is compared with, by its `X-Gitlab-Event`
/// as the fixtures' `SOURCES.md` maps them; `None` for hooks without one.
pub fn fixture_for(event: &str, payload: &Value) -> Option<&'static str> {
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

/// Compare each GitLab delivery with its fixture in `dir` (the `fixtures/gitlab`
/// folder): missing keys, other types, and keys neither in the sample nor documented.
/// `checked` names the fixture files used.
pub fn compare_with_fixtures(dir: &Path, deliveries: &[Delivery]) -> Report {
    let mut report = Report::default();
    for d in deliveries.iter().filter(|d| d.gitlab.is_some()) {
        let Some(file) = fixture_for(&d.event, &d.payload) else {
            continue;
        };
        let Ok(bytes) = std::fs::read(dir.join(file)) else {
            continue;
        };
        let Ok(real) = serde_json::from_slice::<Value>(&bytes) else {
            report.problems.push(format!("{file}: not JSON"));
            continue;
        };
        let diff = compare(&real, &d.payload);
        let action = d.action.clone().unwrap_or_default();
        let extra = diff
            .extra
            .into_iter()
            .filter(|p| !documented(file, p))
            .map(|p| format!("{p}: neither in the fixture nor documented"));
        let found = (diff.missing.into_iter().map(|p| format!("{p}: missing")))
            .chain(extra)
            .chain(diff.mistyped);
        report
            .problems
            .extend(found.map(|p| format!("{file} ({action}) #{}: {p}", d.id)));
        report.checked.insert(file.to_owned());
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
