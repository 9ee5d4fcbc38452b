//! The outbox's writing side: the forge updates a transaction queues beside the change
//! that calls for them (a bead's status comment and label, one-off comments). The
//! action runner ([`crate::loops::outbox`]) performs them after the COMMIT.

use sha2::{Digest, Sha256};

use crate::clock::Millis;
use crate::decisions::comments::{self, StatusLabel};
use crate::store::{self, Bead, ForgeAction, StoreError};

/// The issue number of a bead made from an issue (`rig#12`).
pub fn issue_number(bead: &Bead) -> Option<u64> {
    store::ForgeRef::issue_number(bead.forge_ref.as_deref()?)
}

/// Show the bead's new state on its issue: the status comment edited in place and
/// the one status label that matches. Queued in the transaction that moved the bead.
pub fn queue_bead_update(
    conn: &crate::store::Tx<'_>,
    bead: &Bead,
    now: Millis,
) -> Result<(), StoreError> {
    let (Some(number), Some(rig)) = (issue_number(bead), bead.rig_id.as_deref()) else {
        return Ok(());
    };
    queue_status_comment(conn, bead, number, now)?;
    let add: Vec<&str> = StatusLabel::of(bead.status)
        .map(StatusLabel::name)
        .into_iter()
        .collect();
    let remove: Vec<&str> = StatusLabel::ALL
        .map(StatusLabel::name)
        .into_iter()
        .filter(|l| !add.contains(l))
        .collect();
    let key = format!("labels:{}:{}:{}", bead.id, bead.status, bead.attempts);
    let labels = ForgeAction::StatusLabels {
        number,
        add: add.iter().map(|l| l.to_string()).collect(),
        remove: remove.iter().map(|l| l.to_string()).collect(),
    };
    store::enqueue_action(conn, &key, rig, Some(&bead.id), &labels, now)?;
    Ok(())
}

/// Once a task's work merged, its branch on the forge has done its job: queue its
/// deletion (the outbox asks the repository's `.gastown.yaml` first). Only the town's
/// own `gt/` branches are ever deleted.
pub fn queue_branch_cleanup(
    conn: &crate::store::Tx<'_>,
    bead: &Bead,
    now: Millis,
) -> Result<(), StoreError> {
    let (Some(rig), Some(branch)) = (bead.rig_id.as_deref(), bead.branch.as_deref()) else {
        return Ok(());
    };
    if !branch.starts_with("gt/") {
        return Ok(());
    }
    let key = format!("delete-branch:{rig}:{branch}");
    let action = ForgeAction::DeleteBranch {
        branch: branch.to_string(),
    };
    store::enqueue_action(conn, &key, rig, Some(&bead.id), &action, now)?;
    Ok(())
}

/// Queue (or re-queue) posting the bead's status comment. Re-queuing after the bead
/// moves is how the comment is kept current: one key per bead status.
pub fn queue_status_comment(
    conn: &crate::store::Tx<'_>,
    bead: &Bead,
    number: u64,
    now: Millis,
) -> Result<(), StoreError> {
    let Some(rig) = bead.rig_id.as_deref() else {
        return Ok(());
    };
    // One action per change and text: two changes in one millisecond still both show,
    // the same text queued twice (a redelivery) is one action.
    let body = crate::lifecycle::molecule::status_comment(conn, bead)?;
    let text = hex::encode(Sha256::digest(body.as_bytes()));
    let key = format!("status:{}:{}:{}", bead.id, bead.updated_at, &text[..16]);
    let comment = ForgeAction::StatusComment { number };
    store::enqueue_action(conn, &key, rig, Some(&bead.id), &comment, now)?;
    Ok(())
}

/// Where a one-off comment goes, and whether posting it closes the issue.
#[derive(Debug, Clone, Copy)]
pub struct CommentOn<'a> {
    pub rig_id: &'a str,
    pub bead_id: Option<&'a str>,
    pub number: u64,
    pub close_issue: bool,
}

/// Queue a comment that is posted once: `key` names it in the outbox, and the body
/// (built around its marker, `<!-- gastown:<kind> <key> -->`) lets a repeat after a
/// crash find the first instead of posting again.
pub fn queue_comment(
    conn: &crate::store::Tx<'_>,
    on: &CommentOn<'_>,
    kind: &str,
    key: &str,
    body: impl FnOnce(&str) -> String,
    now: Millis,
) -> Result<(), StoreError> {
    let marker = comments::marker(kind, key);
    let body = body(&marker);
    let comment = ForgeAction::Comment {
        number: on.number,
        body,
        marker,
        close_issue: on.close_issue,
    };
    store::enqueue_action(conn, key, on.rig_id, on.bead_id, &comment, now)?;
    Ok(())
}

/// Queue the one reply a person gets when their sling label is refused.
pub fn queue_refusal(
    conn: &crate::store::Tx<'_>,
    rig_id: &str,
    number: u64,
    user: &str,
    label: &str,
    now: Millis,
) -> Result<(), StoreError> {
    let key = format!(
        "{}:refused:{}",
        store::ForgeRef::issue(rig_id, number),
        user.to_ascii_lowercase()
    );
    let on = CommentOn {
        rig_id,
        bead_id: None,
        number,
        close_issue: false,
    };
    queue_comment(
        conn,
        &on,
        "refused",
        &key,
        |marker| comments::sling_refused_comment(user, label, marker),
        now,
    )
}

/// Say once on the issue that its formula cannot be used (the same problems are one
/// comment however often the label is added again).
pub fn queue_formula_refusal(
    conn: &crate::store::Tx<'_>,
    rig_id: &str,
    number: u64,
    formula: &str,
    problems: &str,
    now: Millis,
) -> Result<(), StoreError> {
    let digest = hex::encode(Sha256::digest(problems.as_bytes()));
    let key = format!(
        "{}:formula:{}",
        store::ForgeRef::issue(rig_id, number),
        &digest[..16]
    );
    let on = CommentOn {
        rig_id,
        bead_id: None,
        number,
        close_issue: false,
    };
    queue_comment(
        conn,
        &on,
        "formula-refused",
        &key,
        |marker| comments::formula_refused(formula, problems, marker),
        now,
    )
}
