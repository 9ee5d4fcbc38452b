//! Sending work back: a merge request that failed its gates, did not rebase, or was
//! rejected by a review becomes a rework bead on the same branch, for a polecat, with
//! what went wrong in its prompt. After the rig's `max_rework_attempts` the refinery
//! stops trying and escalates to people instead (an escalation: a comment naming the
//! rig's owners and the `gt:escalated` label).
//!
//! Everything here runs inside one store transaction: the merge request is closed,
//! the rework (or the escalation) is created and the issue comment queued together,
//! so a crash never leaves work that is neither in review nor being reworked.

use serde_json::json;

use crate::clock::Millis;
use crate::decisions::comments;
use crate::decisions::meta::{self, TaskMeta};
use crate::decisions::patrol::{Durations, Severity};
use crate::lifecycle::outbox::{CommentOn, queue_comment};
use crate::lifecycle::{self, Cause};
use crate::store::{self, Bead, BeadStatus, BeadType, CloseReason, NewBead, StoreError};

/// What became of the work.
#[derive(Debug, Clone)]
pub enum SentBack {
    /// A rework bead, ready for a polecat.
    Rework(Box<Bead>),
    /// Out of attempts: the task failed and people were asked.
    Escalated,
    /// The merge request was already settled (a redelivery, a second look).
    AlreadySettled,
}

/// Why work goes back, as the rework's prompt and the issue show it.
#[derive(Debug, Clone)]
pub struct Problem<'a> {
    pub reason: &'a str,
    pub details: &'a str,
    /// Who decided: `refinery`, a reviewer's login, the review model.
    pub actor: &'a str,
}

/// Close `mr` as rejected and send its task back for rework, or escalate.
pub fn send_back(
    conn: &store::Tx<'_>,
    mr_id: &str,
    problem: &Problem<'_>,
    max_reworks: u32,
    d: &Durations,
    now: Millis,
) -> Result<SentBack, StoreError> {
    let Some((mr, task)) = reject(conn, mr_id, problem, now)? else {
        return Ok(SentBack::AlreadySettled);
    };
    let done = meta::task(&task).reworks;
    let number = crate::lifecycle::outbox::issue_number(&task);
    let rig = task.rig_id.clone().unwrap_or_default();
    if done >= max_reworks {
        let task = move_task(conn, &task, BeadStatus::Failed, problem, now)?;
        let reason = comments::refinery_gave_up(done, problem.reason);
        escalate(
            conn,
            &task,
            &reason,
            comments::REFINERY_GAVE_UP_ACTION,
            problem,
            d,
            now,
        )?;
        tracing::warn!(bead = %task.id, reworks = done, reason = problem.reason,
            "out of rework attempts: escalated to people");
        return Ok(SentBack::Escalated);
    }
    let attempt = done + 1;
    let rework = lifecycle::create(
        conn,
        &NewBead {
            bead_type: BeadType::Task,
            title: format!("Rework {attempt}: {}", task.title),
            body: task.body.clone(),
            priority: task.priority,
            town_id: task.town_id.clone(),
            rig_id: task.rig_id.clone(),
            parent_id: Some(task.id.clone()),
            forge_ref: None,
            created_by: problem.actor.to_string(),
            metadata: serde_json::to_value(TaskMeta {
                branch: task.branch.clone(),
                pull_request: meta::merge_request(&mr).pull_request,
                rework_of: Some(meta::ReworkOf {
                    rework_of: task.id.clone(),
                    attempt,
                    max: max_reworks,
                    reason: problem.reason.to_string(),
                    details: problem.details.to_string(),
                }),
                ..TaskMeta::default()
            })
            .unwrap_or_default(),
        },
        now,
    )?;
    let task = meta::update_task(conn, &task.id, now, |t| {
        t.reworks = attempt;
        t.rework = Some(meta::ReworkNote {
            attempt,
            max: max_reworks,
            reason: problem.reason.to_string(),
            bead: rework.id.clone(),
        });
    })?;
    move_task(conn, &task, BeadStatus::InProgress, problem, now)?;
    if let Some(number) = number {
        let key = format!("{}:rework:{attempt}", task.id);
        let body = |marker: &str| {
            comments::rework_comment(
                attempt,
                max_reworks,
                problem.reason,
                problem.details,
                marker,
            )
        };
        queue_comment(conn, &on(&rig, &task.id, number), "rework", &key, body, now)?;
    }
    tracing::info!(bead = %task.id, rework = %rework.id, attempt, reason = problem.reason,
        "work sent back for rework");
    Ok(SentBack::Rework(Box::new(rework)))
}

/// Close the merge request as rejected with `problem`, returning it and its task;
/// `None` when it was settled already (a second look at the same failure).
fn reject(
    conn: &store::Tx<'_>,
    mr_id: &str,
    problem: &Problem<'_>,
    now: Millis,
) -> Result<Option<(store::Bead, store::Bead)>, StoreError> {
    let mr = store::get_bead(conn, mr_id)?;
    if matches!(mr.status, BeadStatus::Closed | BeadStatus::Failed) {
        return Ok(None);
    }
    let task = store::get_bead(conn, mr.parent_id.as_deref().unwrap_or_default())?;
    let payload = json!({ "reason": problem.reason, "details": problem.details });
    lifecycle::move_to(
        conn,
        &mr.id,
        BeadStatus::Closed,
        Some(CloseReason::Rejected),
        Cause::new(problem.actor, &payload),
        now,
    )?;
    Ok(Some((mr, task)))
}

/// Give up on a merge request without a rework, because what went wrong is not the
/// polecat's work (the refinery's run could not be trusted): the merge request closes
/// as rejected, the task fails, and people are asked (an escalation). One
/// transaction, like [`send_back`].
pub fn give_up(
    conn: &store::Tx<'_>,
    mr_id: &str,
    problem: &Problem<'_>,
    action: &str,
    d: &Durations,
    now: Millis,
) -> Result<SentBack, StoreError> {
    let Some((mr, task)) = reject(conn, mr_id, problem, now)? else {
        return Ok(SentBack::AlreadySettled);
    };
    let task = move_task(conn, &task, BeadStatus::Failed, problem, now)?;
    escalate(conn, &task, problem.reason, action, problem, d, now)?;
    tracing::warn!(bead = %task.id, merge_request = %mr.id, reason = problem.reason,
        "the refinery gave up on this work: escalated to people");
    Ok(SentBack::Escalated)
}

/// The refinery asks people: a high escalation about the task.
fn escalate(
    conn: &store::Tx<'_>,
    task: &Bead,
    reason: &str,
    action: &str,
    problem: &Problem<'_>,
    d: &Durations,
    now: Millis,
) -> Result<(), StoreError> {
    crate::lifecycle::escalation::raise(
        conn,
        &crate::lifecycle::escalation::Raise {
            about: task,
            severity: Severity::High,
            source: "refinery",
            reason,
            action,
            details: problem.details,
        },
        d,
        now,
    )?;
    Ok(())
}

fn move_task(
    conn: &store::Tx<'_>,
    task: &Bead,
    to: BeadStatus,
    problem: &Problem<'_>,
    now: Millis,
) -> Result<Bead, StoreError> {
    if !task.status.can_become(to) {
        // Where it is already (failed twice over): its issue shows it all the same.
        crate::lifecycle::outbox::queue_bead_update(conn, task, now)?;
        return Ok(task.clone());
    }
    let payload = json!({ "reason": problem.reason });
    lifecycle::move_to(
        conn,
        &task.id,
        to,
        None,
        Cause::new(problem.actor, &payload),
        now,
    )
}

fn on<'a>(rig_id: &'a str, task_id: &'a str, number: u64) -> CommentOn<'a> {
    CommentOn {
        rig_id,
        bead_id: Some(task_id),
        number,
        close_issue: false,
    }
}

/// A rework's polecat said done: the rework closes (its work is in the new merge
/// request) and the task is back in review.
pub fn rework_done(
    conn: &store::Tx<'_>,
    rework: &Bead,
    actor: &str,
    now: Millis,
) -> Result<(), StoreError> {
    lifecycle::move_to(
        conn,
        &rework.id,
        BeadStatus::Closed,
        Some(CloseReason::Done),
        Cause::new(actor, &json!({ "via": "gt_done" })),
        now,
    )?;
    let task = store::get_bead(conn, rework.parent_id.as_deref().unwrap_or_default())?;
    if task.status.can_become(BeadStatus::Review) {
        let payload = json!({ "via": "rework", "rework": rework.id });
        lifecycle::move_to(
            conn,
            &task.id,
            BeadStatus::Review,
            None,
            Cause::new(actor, &payload),
            now,
        )?;
    }
    Ok(())
}

/// Is this bead a rework of another?
pub fn rework_of(bead: &Bead) -> Option<meta::ReworkOf> {
    meta::task(bead).rework_of
}
