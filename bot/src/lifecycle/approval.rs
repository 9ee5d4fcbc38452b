//! A person approves the `human` step a molecule waits for: the `gt:approved` label
//! (here), or the `/gt approve` command (with the other commands). Only people with write access approve; an
//! approval is of the step waiting at that moment, and the bot takes the label off
//! again either way, so it never approves a later step by being left on.

use webhooks::{IssueAction, IssueEvent, IssueState};

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
