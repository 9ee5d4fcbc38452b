//! Town decisions: what a forge event means for the beads. Pure functions over the
//! event and the state the caller looked up; the worker applies the result in the same
//! transaction that marks the delivery processed.

use webhooks::{IssueAction, IssueEvent, IssueState};

use crate::forge::Permission;
use crate::store::{Bead, BeadStatus};

/// What to do about an issue event.
#[derive(Debug, Clone, PartialEq)]
pub enum IssueDecision {
    /// Create a task bead for the issue.
    Sling(Box<SlingRequest>),
    /// The issue is already a bead; slinging is idempotent.
    AlreadySlung { bead_id: String },
    /// Its bead was closed unmerged or failed, and a writer slings it again: the same
    /// bead opens again, its attempts counted afresh.
    Reopen { bead_id: String },
    /// The person who added the label may not sling work: say so, do nothing else.
    Refuse { user: String },
    /// Nobody could ask the forge whether the person who added the label may write
    /// (the bot has no client for that forge and host): nothing slings, and no comment
    /// can be posted either.
    Unchecked { user: String },
    /// The event does not concern the town.
    Nothing,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlingRequest {
    pub title: String,
    pub body: String,
    /// Who put the sling label on; the permission check uses it.
    pub slung_by: String,
    pub metadata: crate::decisions::meta::TaskMeta,
}

/// An issue is slung when the sling label (or a `gt:formula:<name>` label) is added,
/// or when it is opened (or reopened) already carrying one (GitLab sends labels set at
/// creation only on the open event). The caller looks up the actor's permission for
/// exactly these events.
pub fn wants_sling(event: &IssueEvent, sling_label: &str) -> bool {
    let slings_by = |l: &str| l == sling_label || crate::decisions::pick::is_formula_label(l);
    let slings = match &event.action {
        IssueAction::Labeled { label } => slings_by(label),
        IssueAction::Opened | IssueAction::Reopened => event.labels.iter().any(|l| slings_by(l)),
        _ => false,
    };
    slings && event.state != IssueState::Closed
}

/// What an issue event means for the town. `permission` is the actor's access to the
/// repository as the forge reports it, or `None` when no forge client is configured
/// to ask: then nothing slings (every check fails closed).
pub fn decide_issue(
    event: &IssueEvent,
    sling_label: &str,
    existing: Option<&Bead>,
    permission: Option<Permission>,
) -> IssueDecision {
    if !wants_sling(event, sling_label) {
        return IssueDecision::Nothing;
    }
    let again = existing.filter(|b| {
        b.status == BeadStatus::Failed
            || (b.status == BeadStatus::Closed
                && b.close_reason != Some(crate::store::CloseReason::Merged))
    });
    if let Some(bead) = existing.filter(|b| b.status != BeadStatus::Tombstone)
        && (again.is_none() || !permission.is_some_and(|p| p.can_command()))
    {
        return IssueDecision::AlreadySlung {
            bead_id: bead.id.clone(),
        };
    }
    if let Some(bead) = again {
        return IssueDecision::Reopen {
            bead_id: bead.id.clone(),
        };
    }
    let Some(permission) = permission else {
        return IssueDecision::Unchecked {
            user: event.actor.login.clone(),
        };
    };
    if !permission.can_command() {
        return IssueDecision::Refuse {
            user: event.actor.login.clone(),
        };
    }
    IssueDecision::Sling(Box::new(SlingRequest {
        title: event.title.clone(),
        body: event.body.clone().unwrap_or_default(),
        slung_by: event.actor.login.clone(),
        metadata: crate::decisions::meta::TaskMeta {
            slung_by: Some(event.actor.login.clone()),
            permission: Some(permission),
            label: Some(sling_label.to_string()),
            issue_url: event.url.clone(),
            issue_author: event.author.clone(),
            ..Default::default()
        },
    }))
}

/// Why an issue event withdraws the work slung from it (the issue closed, the sling
/// label taken off), if it does. Anyone who may close the issue or edit its labels may
/// stop the work: stopping asks nothing of the town.
pub fn withdrawal(event: &IssueEvent, sling_label: &str) -> Option<&'static str> {
    match &event.action {
        IssueAction::Closed => Some("the issue was closed"),
        IssueAction::Unlabeled { label } if label == sling_label => {
            Some("the sling label was removed")
        }
        IssueAction::Unlabeled { label } if crate::decisions::pick::is_formula_label(label) => {
            Some("the formula label was removed")
        }
        _ => None,
    }
}

/// An issue event on `o/r` by mara, as the decisions' tests need one.
#[cfg(test)]
pub(crate) fn test_issue(action: IssueAction, labels: &[&str], body: &str) -> IssueEvent {
    use webhooks::{Actor, ForgeKind, RepoRef};
    IssueEvent {
        repo: RepoRef {
            forge: ForgeKind::GitHub,
            host: "github.com".into(),
            path: "o/r".into(),
            id: None,
            default_branch: None,
        },
        actor: Actor::person("mara"),
        number: 7,
        title: "Fix the flux".into(),
        body: Some(body.into()),
        url: None,
        author: Some("ana".into()),
        labels: labels.iter().map(|s| s.to_string()).collect(),
        state: IssueState::Open,
        action,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(action: IssueAction, labels: &[&str]) -> IssueEvent {
        test_issue(action, labels, "It is broken")
    }

    #[test]
    fn adding_the_sling_label_slings_and_records_who() {
        let e = issue(
            IssueAction::Labeled {
                label: "gt:sling".into(),
            },
            &["gt:sling"],
        );
        match decide_issue(&e, "gt:sling", None, Some(Permission::Write)) {
            IssueDecision::Sling(r) => {
                assert_eq!(r.slung_by, "mara");
                assert_eq!(r.title, "Fix the flux");
            }
            other => panic!("{other:?}"),
        }
    }

    fn slung(status: BeadStatus, reason: Option<crate::store::CloseReason>) -> Bead {
        Bead {
            id: "gt-k3x9".into(),
            bead_type: crate::store::BeadType::Task,
            status,
            close_reason: reason,
            title: "Fix the flux".into(),
            body: String::new(),
            priority: 2,
            town_id: None,
            rig_id: Some("github:o/r".into()),
            parent_id: None,
            hook: None,
            forge_ref: Some("github:o/r#7".into()),
            created_by: "mara".into(),
            created_at: 0,
            updated_at: 0,
            closed_at: None,
            metadata: serde_json::json!({}),
            branch: None,
            attempts: 3,
        }
    }

    #[test]
    fn slinging_again_reopens_work_that_was_stopped_or_failed_never_merged_work() {
        use crate::store::CloseReason;
        let relabel = issue(
            IssueAction::Labeled {
                label: "gt:sling".into(),
            },
            &["gt:sling"],
        );
        let write = Some(Permission::Write);
        let reopen = IssueDecision::Reopen {
            bead_id: "gt-k3x9".into(),
        };
        let already = IssueDecision::AlreadySlung {
            bead_id: "gt-k3x9".into(),
        };
        for (bead, expected) in [
            (
                slung(BeadStatus::Closed, Some(CloseReason::Wontfix)),
                &reopen,
            ),
            (slung(BeadStatus::Failed, None), &reopen),
            (
                slung(BeadStatus::Closed, Some(CloseReason::Merged)),
                &already,
            ),
            (slung(BeadStatus::InProgress, None), &already),
        ] {
            assert_eq!(
                &decide_issue(&relabel, "gt:sling", Some(&bead), write),
                expected
            );
        }
        // A reader's relabel reopens nothing.
        let stopped = slung(BeadStatus::Closed, Some(CloseReason::Wontfix));
        assert_eq!(
            decide_issue(&relabel, "gt:sling", Some(&stopped), Some(Permission::Read)),
            already
        );
    }

    #[test]
    fn closing_the_issue_or_taking_the_label_off_withdraws_the_work() {
        let closed = issue(IssueAction::Closed, &["gt:sling"]);
        assert_eq!(
            withdrawal(&closed, "gt:sling"),
            Some("the issue was closed")
        );
        let off = |label: &str| {
            issue(
                IssueAction::Unlabeled {
                    label: label.into(),
                },
                &[],
            )
        };
        assert_eq!(
            withdrawal(&off("gt:sling"), "gt:sling"),
            Some("the sling label was removed")
        );
        assert_eq!(
            withdrawal(&off("gt:formula:bugfix"), "gt:sling"),
            Some("the formula label was removed")
        );
        assert_eq!(withdrawal(&off("bug"), "gt:sling"), None);
        assert_eq!(
            withdrawal(&issue(IssueAction::Edited, &[]), "gt:sling"),
            None
        );
    }

    #[test]
    fn other_labels_and_closed_issues_do_nothing() {
        let e = issue(
            IssueAction::Labeled {
                label: "bug".into(),
            },
            &["bug"],
        );
        assert_eq!(
            decide_issue(&e, "gt:sling", None, None),
            IssueDecision::Nothing
        );
        let mut e = issue(
            IssueAction::Labeled {
                label: "gt:sling".into(),
            },
            &["gt:sling"],
        );
        e.state = IssueState::Closed;
        assert_eq!(
            decide_issue(&e, "gt:sling", None, None),
            IssueDecision::Nothing
        );
        let e = issue(IssueAction::Edited, &["gt:sling"]);
        assert_eq!(
            decide_issue(&e, "gt:sling", None, None),
            IssueDecision::Nothing
        );
    }

    #[test]
    fn only_write_access_or_better_slings() {
        let e = issue(
            IssueAction::Labeled {
                label: "gt:sling".into(),
            },
            &["gt:sling"],
        );
        for p in [Permission::None, Permission::Read, Permission::Triage] {
            assert_eq!(
                decide_issue(&e, "gt:sling", None, Some(p)),
                IssueDecision::Refuse {
                    user: "mara".into()
                },
                "{p:?}"
            );
        }
        for p in [Permission::Write, Permission::Maintain, Permission::Admin] {
            assert!(matches!(
                decide_issue(&e, "gt:sling", None, Some(p)),
                IssueDecision::Sling(_)
            ));
        }
    }

    #[test]
    fn opened_with_the_label_already_on_slings() {
        let e = issue(IssueAction::Opened, &["gt:sling", "bug"]);
        assert!(matches!(
            decide_issue(&e, "gt:sling", None, Some(Permission::Admin)),
            IssueDecision::Sling(_)
        ));
    }

    #[test]
    fn a_label_nobody_could_check_slings_nothing() {
        let e = issue(
            IssueAction::Labeled {
                label: "gt:sling".into(),
            },
            &["gt:sling"],
        );
        assert_eq!(
            decide_issue(&e, "gt:sling", None, None),
            IssueDecision::Unchecked {
                user: "mara".into()
            }
        );
    }
}
