//! A failed attempt: an agent ended (or was stopped, or vanished) without finishing
//! the bead on its hook. The bead waits out its backoff and is tried again, until
//! `patrol.max_attempts` hookings (counted across all of them) have been spent; then
//! it fails and a person is asked. Every failed attempt counts against its rig's
//! breaker, which pauses dispatch to a rig whose agents keep failing.

use serde_json::json;

use crate::clock::Millis;
use crate::config::Config;
use crate::decisions::comments;
use crate::decisions::patrol::{self, Durations, Retry, Severity};
use crate::lifecycle::escalation::{self, Raise};
use crate::lifecycle::{self, Cause};
use crate::store::{self, Bead, BeadStatus, BeadType, RigPause, StoreError, Tx};

/// The bead (already unhooked) had an attempt fail for `why`; `tail` is the end of the
/// agent's output, redacted, kept in the history and shown if it escalates.
pub fn failed(
    tx: &Tx<'_>,
    bead: &Bead,
    why: &str,
    tail: &str,
    config: &Config,
    now: Millis,
) -> Result<BeadStatus, StoreError> {
    let d = Durations::from(&config.patrol);
    // A polecat that stopped at a step a person approves did not fail.
    let tried = bead
        .attempts
        .saturating_sub(crate::decisions::meta::task(bead).resumes);
    if let Some(rig) = bead.rig_id.as_deref() {
        trip_breaker(tx, rig, &bead.id, &d, now)?;
    }
    let payload = json!({ "reason": why, "attempts": bead.attempts, "output_tail": tail });
    let cause = Cause::new("gastown", &payload);
    match patrol::after_failure(tried, now, &d) {
        Retry::At(at) => {
            store::set_retry_at(tx, &bead.id, Some(at))?;
            if bead.bead_type == BeadType::Task {
                let note = comments::retry_note(why, tried, d.max_attempts, at);
                crate::decisions::meta::update_task(tx, &bead.id, now, |t| t.notice = Some(note))?;
            }
            lifecycle::move_to(tx, &bead.id, BeadStatus::Open, None, cause, now)?;
            Ok(BeadStatus::Open)
        }
        Retry::GiveUp => {
            if bead.bead_type == BeadType::Task {
                crate::decisions::meta::update_task(tx, &bead.id, now, |t| t.notice = None)?;
            }
            let bead = lifecycle::move_to(tx, &bead.id, BeadStatus::Failed, None, cause, now)?;
            let reason = comments::gave_up_escalation(tried);
            escalation::raise(
                tx,
                &Raise {
                    about: &bead,
                    severity: Severity::High,
                    source: "patrol",
                    reason: &reason,
                    action: comments::GAVE_UP_ACTION,
                    details: tail,
                },
                &d,
                now,
            )?;
            Ok(BeadStatus::Failed)
        }
    }
}

/// Count the failure against the rig; at the threshold the breaker pauses it until
/// its cool-down ends (a person's pause is left as it is).
fn trip_breaker(
    tx: &Tx<'_>,
    rig: &str,
    bead: &str,
    d: &Durations,
    now: Millis,
) -> Result<(), StoreError> {
    let failures = store::record_failure(tx, rig, bead, now - d.breaker_window, now)?;
    let Some(until) = patrol::breaker(failures, now, d) else {
        return Ok(());
    };
    if let Some(p) = store::rig_pause(tx, rig)?
        && p.until.is_none()
    {
        return Ok(());
    }
    let reason = comments::breaker_reason(failures, d.breaker_window);
    let newly = store::pause_rig(
        tx,
        &RigPause {
            rig_id: rig.into(),
            reason: reason.clone(),
            paused_by: "breaker".into(),
            paused_at: now,
            until: Some(until),
        },
    )?;
    if newly {
        tracing::warn!(
            rig,
            failures,
            until,
            "the rig's breaker tripped: dispatch paused"
        );
        show_pause(tx, rig, now)?;
    }
    Ok(())
}

/// Show on each queued task of the rig that dispatch is paused, or runs again: their
/// status comments are written anew (the pause is read when they are).
pub fn show_pause(tx: &Tx<'_>, rig: &str, now: Millis) -> Result<usize, StoreError> {
    let queued: Vec<String> = {
        let mut stmt = tx.prepare_cached(
            "SELECT id FROM beads WHERE rig_id = ?1 AND status = 'open' AND type = 'task'",
        )?;
        stmt.query_map([rig], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?
    };
    for id in &queued {
        let bead = store::get_bead(tx, id)?;
        crate::lifecycle::outbox::queue_bead_update(tx, &bead, now)?;
    }
    Ok(queued.len())
}
