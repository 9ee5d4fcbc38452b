//! Escalations: the town asks a person. An escalation is a bead (type `escalation`,
//! open until acknowledged) with its own row in `escalations`; raising one queues its
//! notice on the issue of the work it is about (a comment and the `gt:escalated`
//! label; high and critical name the rig's owners, critical also opens an issue of its
//! own). Until acknowledged it is said again at (n+1) × `patrol.renotify_secs`, at
//! most `patrol.renotify_max` times. The patrol, the refinery and agents
//! (`gt_escalate`) raise them here; a person acknowledges by removing the label, with
//! `gt escalations ack`, or (later) `/gt ack`.

use serde_json::json;

use crate::clock::Millis;
use crate::decisions::patrol::{Durations, Severity, next_notice_at};
use crate::lifecycle::{self, Cause};
use crate::store::{
    self, Bead, BeadStatus, BeadType, CloseReason, ForgeAction, NewBead, StoreError, Tx,
};

/// What a raiser says.
#[derive(Debug, Clone)]
pub struct Raise<'a> {
    /// The bead it is about; its task's issue is where it is said.
    pub about: &'a Bead,
    pub severity: Severity,
    /// `patrol`, `refinery`, or the agent that raised it.
    pub source: &'a str,
    /// One line: what went wrong.
    pub reason: &'a str,
    /// What a person should do, if the raiser knows.
    pub action: &'a str,
    /// Output or details, shown folded.
    pub details: &'a str,
}

/// Raise an escalation, or return the one already open about the same work for the
/// same reason (a patrol that sees the same thing twice asks once).
pub fn raise(tx: &Tx<'_>, r: &Raise<'_>, d: &Durations, now: Millis) -> Result<Bead, StoreError> {
    let task = issue_bead(tx, r.about)?;
    for open in store::unacked_about(tx, &task.id)? {
        let bead = store::get_bead(tx, &open.bead_id)?;
        if bead.title == r.reason {
            return Ok(bead);
        }
    }
    let bead = lifecycle::create(
        tx,
        &NewBead {
            bead_type: BeadType::Escalation,
            title: r.reason.chars().take(500).collect(),
            body: r.details.to_string(),
            priority: match r.severity {
                Severity::Critical => 0,
                Severity::High => 1,
                Severity::Medium => 2,
                Severity::Low => 3,
            },
            town_id: task.town_id.clone(),
            rig_id: task.rig_id.clone(),
            parent_id: Some(task.id.clone()),
            forge_ref: None,
            created_by: r.source.to_string(),
            metadata: json!({ "severity": r.severity, "action": r.action, "about": r.about.id }),
        },
        now,
    )?;
    store::insert_escalation(
        tx,
        &store::Escalation {
            bead_id: bead.id.clone(),
            about: Some(task.id.clone()),
            severity: r.severity.as_str().into(),
            source: r.source.into(),
            notified_at: now,
            renotified: 0,
            next_notice_at: next_notice_at(now, 0, d),
            acked_at: None,
            acked_by: None,
        },
    )?;
    store::note(
        tx,
        &task.id,
        "escalated",
        r.source,
        &json!({ "escalation": bead.id, "severity": r.severity, "reason": r.reason }),
        now,
    )?;
    queue_notice(tx, &bead, &task, 0, now)?;
    tracing::warn!(bead = %task.id, escalation = %bead.id, severity = %r.severity,
        source = r.source, reason = r.reason, "escalated to people");
    Ok(bead)
}

/// Say it again: its `n`th re-notification.
pub fn renotify(
    tx: &Tx<'_>,
    escalation: &str,
    n: u32,
    d: &Durations,
    now: Millis,
) -> Result<(), StoreError> {
    let Some(row) = store::escalation(tx, escalation)? else {
        return Ok(());
    };
    if row.acked_at.is_some() || row.renotified >= n {
        return Ok(());
    }
    store::set_renotified(tx, escalation, n, next_notice_at(now, n, d), now)?;
    let bead = store::get_bead(tx, escalation)?;
    let task = match &row.about {
        Some(id) => store::get_bead(tx, id)?,
        None => bead.clone(),
    };
    queue_notice(tx, &bead, &task, n, now)
}

/// A person acknowledged it: it closes and is not said again. False if it already was.
pub fn ack(tx: &Tx<'_>, escalation: &str, by: &str, now: Millis) -> Result<bool, StoreError> {
    if !store::set_acked(tx, escalation, by, now)? {
        return Ok(false);
    }
    let bead = store::get_bead(tx, escalation)?;
    if bead.status != BeadStatus::Closed {
        let payload = json!({ "acknowledged_by": by });
        lifecycle::move_to(
            tx,
            escalation,
            BeadStatus::Closed,
            Some(CloseReason::Done),
            Cause::new(by, &payload),
            now,
        )?;
    }
    Ok(true)
}

/// Acknowledge every open escalation about `task` (its label was removed).
pub fn ack_about(tx: &Tx<'_>, task: &str, by: &str, now: Millis) -> Result<usize, StoreError> {
    let mut n = 0;
    for e in store::unacked_about(tx, task)? {
        n += usize::from(ack(tx, &e.bead_id, by, now)?);
    }
    Ok(n)
}

/// The notice is composed when the outbox sends it, so it names the rig's owners as
/// `.gastown.yaml` says them then.
fn queue_notice(
    tx: &Tx<'_>,
    escalation: &Bead,
    task: &Bead,
    notice: u32,
    now: Millis,
) -> Result<(), StoreError> {
    let Some(rig) = escalation.rig_id.as_deref() else {
        return Ok(());
    };
    let action = ForgeAction::Escalation {
        escalation: escalation.id.clone(),
        number: crate::lifecycle::outbox::issue_number(task),
        notice,
    };
    let key = format!("escalation:{}:{notice}", escalation.id);
    store::enqueue_action(tx, &key, rig, Some(&escalation.id), &action, now)?;
    Ok(())
}

/// The bead whose issue an escalation about `about` is said on: itself if it came from
/// an issue, else its task (a step's, a merge request's, a rework's).
pub fn issue_bead(tx: &Tx<'_>, about: &Bead) -> Result<Bead, StoreError> {
    let mut bead = about.clone();
    for _ in 0..4 {
        if crate::lifecycle::outbox::issue_number(&bead).is_some() {
            return Ok(bead);
        }
        let next = match bead.bead_type {
            BeadType::Step => Some(crate::decisions::meta::step(&bead).task),
            BeadType::MergeRequest => crate::decisions::meta::merge_request(&bead).source_bead,
            _ => bead.parent_id.clone(),
        };
        match next.filter(|n| !n.is_empty()) {
            Some(id) => bead = store::get_bead(tx, &id)?,
            None => break,
        }
    }
    Ok(bead)
}
