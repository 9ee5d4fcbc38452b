//! The forge changed under the work: the issue was closed or its sling label taken
//! off. The polecats working it are stopped (their sessions end here, in the
//! delivery's transaction, so their tokens die at once; the patrol reaps the
//! processes), and the task closes as `wontfix` with the reason on its status comment.
//! Slinging it again reopens the same bead.

use serde_json::json;

use crate::clock::Millis;
use crate::decisions::comments;
use crate::lifecycle::{self, Cause};
use crate::store::{self, Bead, BeadStatus, CloseReason, SessionState, StoreError, Tx, Wake};

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
