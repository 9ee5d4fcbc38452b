//! A person approves the `human` step a molecule waits for: the `gt:approved` label,
//! or a comment with a line `/gt approve` (the least of the commands issue's parser:
//! code blocks and quotes do not count). Only people with write access approve; an
//! approval is of the step waiting at that moment, and the bot takes the label off
//! again either way, so it never approves a later step by being left on.

use webhooks::{CommentAction, CommentEvent, CommentTarget, IssueAction, IssueEvent, IssueState};

use crate::clock::Millis;
use crate::decisions::comments::{self, APPROVED_LABEL};
use crate::forge::Permission;
use crate::lifecycle::molecule;
use crate::lifecycle::outbox::{CommentOn, queue_comment};
use crate::store::{self, Bead, ForgeAction, Rig, StoreError, Tx};

/// Whether `issue` is someone adding the approval label to an open issue.
pub fn wanted(issue: &IssueEvent) -> bool {
    matches!(&issue.action, IssueAction::Labeled { label } if label == APPROVED_LABEL)
        && issue.state != IssueState::Closed
}

/// Act on the approval label: approve the waiting step if the labeller may, and take
/// the label off. `permission` is the labeller's, `None` when nobody could ask.
pub fn by_label(
    tx: &Tx<'_>,
    rig: &Rig,
    issue: &IssueEvent,
    task: Option<&Bead>,
    permission: Option<Permission>,
    now: Millis,
) -> Result<(), StoreError> {
    let Some(task) = task.filter(|t| crate::decisions::meta::task(t).molecule.is_some()) else {
        return Ok(());
    };
    let user = &issue.actor.login;
    let approved = if permission.is_some_and(Permission::can_command) {
        molecule::approve(tx, task, user, now)?
    } else {
        tracing::info!(bead = %task.id, %user, "approval label ignored: no write access");
        None
    };
    let key = format!("{}:unlabel:{APPROVED_LABEL}:{now}", task.id);
    let unlabel = ForgeAction::StatusLabels {
        number: issue.number,
        add: Vec::new(),
        remove: vec![APPROVED_LABEL.to_string()],
    };
    store::enqueue_action(tx, &key, &rig.id, Some(&task.id), &unlabel, now)?;
    match approved {
        Some(step) => say_approved(tx, rig, task, issue.number, &step, user, now),
        None => Ok(()),
    }
}

/// Say on the issue who approved which step (once per step).
fn say_approved(
    tx: &Tx<'_>,
    rig: &Rig,
    task: &Bead,
    number: u64,
    step: &str,
    user: &str,
    now: Millis,
) -> Result<(), StoreError> {
    tracing::info!(bead = %task.id, %step, %user, "step approved");
    let on = CommentOn {
        rig_id: &rig.id,
        bead_id: Some(&task.id),
        number,
        close_issue: false,
    };
    let key = format!("{}:approved:{step}", task.id);
    let body = |marker: &str| comments::step_approved(step, user, marker);
    queue_comment(tx, &on, "approved", &key, body, now)
}

/// Whether a new comment on an issue says `/gt approve` on a line of its own, outside
/// code blocks and quotes.
pub fn comment_wanted(comment: &CommentEvent) -> bool {
    comment.action == CommentAction::Created
        && matches!(comment.target, CommentTarget::Issue { .. })
        && says_approve(&comment.body)
}

/// A line that is `/gt approve` (with nothing but spaces after), not inside a fenced
/// code block, an indented code block or a quote.
pub fn says_approve(body: &str) -> bool {
    crate::decisions::markdown::prose_lines(body)
        .iter()
        .any(|line| {
            let mut words = line.split_whitespace();
            words.next() == Some("/gt") && words.next() == Some("approve") && words.next().is_none()
        })
}

/// Act on a `/gt approve` comment: approve the waiting step if its author may, and
/// say so on the issue. Someone without write access is not answered here (the
/// commands issue's parser replies to every refused command).
pub fn by_comment(
    tx: &Tx<'_>,
    rig: &Rig,
    comment: &CommentEvent,
    number: u64,
    task: Option<&Bead>,
    permission: Option<Permission>,
    now: Millis,
) -> Result<(), StoreError> {
    let Some(task) = task else {
        return Ok(());
    };
    let user = &comment.actor.login;
    if !permission.is_some_and(Permission::can_command) {
        tracing::info!(bead = %task.id, %user, "/gt approve ignored: no write access");
        return Ok(());
    }
    let Some(step) = molecule::approve(tx, task, user, now)? else {
        tracing::info!(bead = %task.id, %user, "/gt approve: no step waits for an approval");
        return Ok(());
    };
    say_approved(tx, rig, task, number, &step, user, now)
}

#[cfg(test)]
mod tests {
    use super::says_approve;

    #[test]
    fn only_a_line_of_its_own_outside_code_and_quotes_approves() {
        assert!(says_approve("Looks good.\n/gt approve\n"));
        assert!(says_approve("  /gt approve  "));
        assert!(!says_approve("/gt approve please"));
        assert!(!says_approve("I will /gt approve later"));
        assert!(!says_approve("> /gt approve"));
        assert!(!says_approve("```\n/gt approve\n```"));
        assert!(!says_approve("    /gt approve"));
        assert!(says_approve("```\ncode\n```\n/gt approve"));
    }
}
