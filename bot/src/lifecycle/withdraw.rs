//! The forge changed under the work: the issue was closed or its sling label taken
//! off. The polecats working it are stopped (their sessions end here, in the
//! delivery's transaction, so their tokens die at once; the patrol reaps the
//! processes), and the task closes as `wontfix` with the reason on its status comment.
//! Slinging it again reopens the same bead.

use serde_json::json;

use crate::clock::Millis;
use crate::decisions::comments;
use crate::lifecycle::{self, Cause};
use crate::store::{
    self, Bead, BeadStatus, BeadType, CloseReason, SessionState, StoreError, Tx, Wake,
};

/// Stop and close the work slung from an issue, for `why`, as `by` did. False when
/// there was nothing to stop (already in review, landed or closed).
pub fn withdraw(
    tx: &Tx<'_>,
    task: &Bead,
    why: &str,
    by: &str,
    now: Millis,
) -> Result<bool, StoreError> {
    if !matches!(
        task.status,
        BeadStatus::Open | BeadStatus::Hooked | BeadStatus::InProgress | BeadStatus::Blocked
    ) {
        return Ok(false);
    }
    let mut worked = vec![task.id.clone()];
    if let Some(molecule) = crate::decisions::meta::task(task).molecule {
        worked.extend(store::children(tx, &molecule)?.into_iter().map(|s| s.id));
    }
    let mut stopped = Vec::new();
    for id in &worked {
        for s in store::sessions_of_bead(tx, id)? {
            if s.ended_at.is_none()
                && store::end_session(tx, &s.id, SessionState::Stopped, None, now)?
            {
                stopped.push(s.id);
            }
        }
        tx.execute(
            "UPDATE beads SET hook = NULL WHERE id = ?1 AND status IN ('hooked', 'in_progress')",
            [id],
        )?;
    }
    if !stopped.is_empty() {
        tx.wake(Wake::Patrol);
        tx.wake(Wake::Dispatcher);
    }
    let note = comments::closed_on_forge(why, by);
    crate::decisions::meta::update_task(tx, &task.id, now, |t| t.notice = Some(note))?;
    store::set_retry_at(tx, &task.id, None)?;
    let payload = json!({ "reason": why, "stopped": stopped });
    lifecycle::move_to(
        tx,
        &task.id,
        BeadStatus::Closed,
        Some(CloseReason::Wontfix),
        Cause::new(by, &payload),
        now,
    )?;
    tracing::info!(bead = %task.id, why, by, sessions = stopped.len(), "work withdrawn on the forge");
    Ok(true)
}

/// A writer slung a stopped or failed task again: it opens with a fresh count of
/// attempts.
pub fn reopen(tx: &Tx<'_>, task: &Bead, by: &str, now: Millis) -> Result<Bead, StoreError> {
    store::reset_attempts(tx, &task.id)?;
    crate::decisions::meta::update_task(tx, &task.id, now, |t| {
        t.notice = None;
        t.resumes = 0;
    })?;
    let payload = json!({ "reslung_by": by });
    lifecycle::move_to(
        tx,
        &task.id,
        BeadStatus::Open,
        None,
        Cause::new(by, &payload),
        now,
    )
}

/// A person stops a task (`gt beads stop`, `/gt stop`, the Mayor's `gt_stop`): what
/// to tell them, or why there was nothing to stop.
pub fn stop(
    tx: &Tx<'_>,
    bead: &Bead,
    why: &str,
    by: &str,
    now: Millis,
) -> Result<Result<String, String>, StoreError> {
    let id = &bead.id;
    if bead.bead_type != BeadType::Task {
        return Ok(Err(format!("{id} is a {}; stop its task", bead.bead_type)));
    }
    Ok(match withdraw(tx, bead, why, by, now)? {
        true => Ok(format!("{id} stopped and closed as won't-fix")),
        false => Err(format!("{id} is {}: nothing to stop", bead.status)),
    })
}

/// A person asks for a task again (`gt beads retry`, `/gt retry`, `gt_retry`): a
/// failed or stopped one opens with its attempts counted afresh; one waiting out its
/// backoff starts now.
pub fn retry(
    tx: &Tx<'_>,
    bead: &Bead,
    by: &str,
    now: Millis,
) -> Result<Result<String, String>, StoreError> {
    let id = &bead.id;
    Ok(match bead.status {
        BeadStatus::Failed | BeadStatus::Closed
            if bead.bead_type == BeadType::Task
                && bead.close_reason != Some(CloseReason::Merged) =>
        {
            reopen(tx, bead, by, now)?;
            Ok(format!(
                "{id} is open again, its attempts counted from zero"
            ))
        }
        BeadStatus::Open if bead.bead_type == BeadType::Task => {
            store::set_retry_at(tx, id, None)?;
            tx.wake(Wake::Dispatcher);
            Ok(format!("{id} is ready now"))
        }
        s => Err(format!(
            "{id} is {s}: only a failed or stopped task, or one waiting to retry, can be retried"
        )),
    })
}
