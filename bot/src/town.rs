//! Town decisions: what a forge event means for the beads. Pure functions over the
//! event and the state the caller looked up; the worker applies the result in the same
//! transaction that marks the delivery processed.

use serde_json::json;
use webhooks::{IssueAction, IssueEvent, IssueState};

use crate::store::{Bead, BeadStatus};

/// What to do about an issue event.
#[derive(Debug, Clone, PartialEq)]
pub enum IssueDecision {
    /// Create a task bead for the issue.
    Sling(SlingRequest),
    /// The issue is already a bead; slinging is idempotent.
    AlreadySlung { bead_id: String },
    /// The event does not concern the town.
    Nothing,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlingRequest {
    pub title: String,
    pub body: String,
    /// Who put the sling label on; the permission check uses it.
    pub slung_by: String,
    pub metadata: serde_json::Value,
}

/// An issue is slung when the sling label is added, or when it is opened (or reopened)
/// already carrying it (GitLab sends labels set at creation only on the open event).
pub fn decide_issue(
    event: &IssueEvent,
    sling_label: &str,
    existing: Option<&Bead>,
) -> IssueDecision {
    let carries_label = || event.labels.iter().any(|l| l == sling_label);
    let slings = match &event.action {
        IssueAction::Labeled { label } => label == sling_label,
        IssueAction::Opened | IssueAction::Reopened => carries_label(),
        _ => false,
    };
    if !slings || event.state == IssueState::Closed {
        return IssueDecision::Nothing;
    }
    if let Some(bead) = existing.filter(|b| b.status != BeadStatus::Tombstone) {
        return IssueDecision::AlreadySlung {
            bead_id: bead.id.clone(),
        };
    }
    IssueDecision::Sling(SlingRequest {
        title: event.title.clone(),
        body: event.body.clone().unwrap_or_default(),
        slung_by: event.actor.login.clone(),
        metadata: json!({
            "slung_by": event.actor.login,
            "issue_url": event.url,
            "issue_author": event.author,
            "label": sling_label,
        }),
    })
}

/// `github:owner/repo#12`, `gitlab:host/group/project#12`.
pub fn issue_ref(rig_id: &str, number: u64) -> String {
    format!("{rig_id}#{number}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use webhooks::{Actor, ForgeKind, RepoRef};

    fn issue(action: IssueAction, labels: &[&str]) -> IssueEvent {
        IssueEvent {
            repo: RepoRef {
                forge: ForgeKind::GitHub,
                host: "github.com".into(),
                path: "o/r".into(),
                id: None,
                default_branch: None,
            },
            actor: Actor {
                login: "mara".into(),
                id: None,
            },
            number: 7,
            title: "Fix the flux".into(),
            body: Some("It is broken".into()),
            url: None,
            author: Some("ana".into()),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            state: IssueState::Open,
            action,
        }
    }

    #[test]
    fn adding_the_sling_label_slings_and_records_who() {
        let e = issue(
            IssueAction::Labeled {
                label: "gt:sling".into(),
            },
            &["gt:sling"],
        );
        match decide_issue(&e, "gt:sling", None) {
            IssueDecision::Sling(r) => {
                assert_eq!(r.slung_by, "mara");
                assert_eq!(r.title, "Fix the flux");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_labels_and_closed_issues_do_nothing() {
        let e = issue(
            IssueAction::Labeled {
                label: "bug".into(),
            },
            &["bug"],
        );
        assert_eq!(decide_issue(&e, "gt:sling", None), IssueDecision::Nothing);
        let mut e = issue(
            IssueAction::Labeled {
                label: "gt:sling".into(),
            },
            &["gt:sling"],
        );
        e.state = IssueState::Closed;
        assert_eq!(decide_issue(&e, "gt:sling", None), IssueDecision::Nothing);
        let e = issue(IssueAction::Edited, &["gt:sling"]);
        assert_eq!(decide_issue(&e, "gt:sling", None), IssueDecision::Nothing);
    }

    #[test]
    fn opened_with_the_label_already_on_slings() {
        let e = issue(IssueAction::Opened, &["gt:sling", "bug"]);
        assert!(matches!(
            decide_issue(&e, "gt:sling", None),
            IssueDecision::Sling(_)
        ));
    }
}
