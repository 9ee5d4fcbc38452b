//! The bead lifecycle: the one way a bead is made or moved.
//!
//! Every move checks that the lifecycle allows it and appends its event
//! ([`store::transition`]), queues what the bead's issue shows (its status comment and
//! label, [`crate::lifecycle::outbox::queue_bead_update`]) and names the loops that have new work
//! because of it ([`wakes`]); the store wakes them once the move is committed. A
//! feature that moves beads (formulas, the patrol, convoys, the Mayor) calls these
//! functions and adds its rule here, not its own copy of the pattern.

pub mod approval;
pub mod attempts;
pub mod convoy;
pub mod depends;
pub mod escalation;
pub(crate) mod follow;
pub mod mail;
pub mod molecule;
pub(crate) mod outbox;
pub mod rework;
pub mod withdraw;

use crate::clock::Millis;
use crate::store::{self, Bead, BeadStatus, BeadType, CloseReason, NewBead, StoreError, Tx, Wake};

/// Who moves a bead and why, as its history keeps it.
#[derive(Debug, Clone, Copy)]
pub struct Cause<'a> {
    pub actor: &'a str,
    pub payload: &'a serde_json::Value,
}

impl<'a> Cause<'a> {
    pub fn new(actor: &'a str, payload: &'a serde_json::Value) -> Self {
        Self { actor, payload }
    }
}

/// Make a bead (open). The dispatcher or the refinery hears of it once it is committed.
pub fn create(tx: &Tx<'_>, new: &NewBead, now: Millis) -> Result<Bead, StoreError> {
    let bead = store::create_bead(tx, new, now, crate::ids::random_bead_id)?;
    for w in wakes(bead.bead_type, None, bead.status) {
        tx.wake(w);
    }
    Ok(bead)
}

/// Move a bead to `to` and show it on its issue.
pub fn move_to(
    tx: &Tx<'_>,
    id: &str,
    to: BeadStatus,
    reason: Option<CloseReason>,
    cause: Cause<'_>,
    now: Millis,
) -> Result<Bead, StoreError> {
    let bead = step(tx, id, to, reason, cause, now)?;
    if bead.bead_type == BeadType::Task {
        molecule::follow_task(tx, &bead, cause, now)?;
        if to == BeadStatus::Closed && reason == Some(CloseReason::Merged) {
            crate::lifecycle::outbox::queue_branch_cleanup(tx, &bead, now)?;
        }
        convoy::follow(tx, &bead, now)?;
    }
    crate::lifecycle::outbox::queue_bead_update(tx, &bead, now)?;
    Ok(bead)
}

/// Hook an open bead to an agent (`hooking` names it, its branch and its session) and
/// show it on its issue: the agent's and the session's records, and the bead's move.
pub fn hook(tx: &Tx<'_>, hooking: &store::Hooking<'_>, now: Millis) -> Result<Bead, StoreError> {
    let agent = store::hook_bead(tx, hooking, now)?;
    // Hooked again: what the patrol held it for is over.
    let bead = store::get_bead(tx, hooking.bead_id)?;
    if bead.bead_type == BeadType::Task && crate::decisions::meta::task(&bead).notice.is_some() {
        crate::decisions::meta::update_task(tx, &bead.id, now, |t| t.notice = None)?;
    }
    let payload = serde_json::json!({ "agent": agent.id, "branch": hooking.branch });
    move_to(
        tx,
        hooking.bead_id,
        BeadStatus::Hooked,
        None,
        Cause::new("gastown", &payload),
        now,
    )
}

/// The statuses a bead passes through on its way to review, in order.
const PATH: [BeadStatus; 4] = [
    BeadStatus::Open,
    BeadStatus::Hooked,
    BeadStatus::InProgress,
    BeadStatus::Review,
];

/// Move a bead forward along open → hooked → in progress → review up to `to`, each
/// step recorded, the issue updated once for where it ends. A bead already at or past
/// `to` (or off that path) stays where it is.
pub fn advance(
    tx: &Tx<'_>,
    id: &str,
    to: BeadStatus,
    cause: Cause<'_>,
    now: Millis,
) -> Result<Bead, StoreError> {
    let mut bead = store::get_bead(tx, id)?;
    let (Some(from), Some(until)) = (
        PATH.iter().position(|s| *s == bead.status),
        PATH.iter().position(|s| *s == to),
    ) else {
        return Ok(bead);
    };
    if until <= from {
        return Ok(bead);
    }
    for status in PATH.iter().take(until + 1).skip(from + 1) {
        bead = step(tx, id, *status, None, cause, now)?;
    }
    crate::lifecycle::outbox::queue_bead_update(tx, &bead, now)?;
    Ok(bead)
}

fn step(
    tx: &Tx<'_>,
    id: &str,
    to: BeadStatus,
    reason: Option<CloseReason>,
    cause: Cause<'_>,
    now: Millis,
) -> Result<Bead, StoreError> {
    let from = store::get_bead(tx, id)?.status;
    let bead = store::transition(tx, id, to, reason, cause.actor, cause.payload, now)?;
    tracing::debug!(bead = %bead.id, %from, to = %bead.status, actor = cause.actor, "bead moved");
    for w in wakes(bead.bead_type, Some(from), bead.status) {
        tx.wake(w);
    }
    Ok(bead)
}

/// The loops with new work once a bead of `kind` went from `from` (none: just made) to
/// `to`. The action runner is not among them: queuing a forge write wakes it.
pub fn wakes(kind: BeadType, from: Option<BeadStatus>, to: BeadStatus) -> Vec<Wake> {
    use BeadStatus::*;
    let mut wakes = Vec::new();
    let freed_an_agent =
        matches!(from, Some(Hooked | InProgress)) && !matches!(to, Hooked | InProgress);
    let may_unblock = matches!(to, Closed | Failed | Tombstone);
    let worked_by_agents = matches!(
        kind,
        BeadType::Task | BeadType::MergeRequest | BeadType::Step
    );
    if (to == Open && worked_by_agents) || freed_an_agent || may_unblock {
        wakes.push(Wake::Dispatcher);
    }
    let refinery_work = kind == BeadType::MergeRequest
        || (kind == BeadType::Task && matches!(to, Review | Closed | Open))
        || (kind == BeadType::Step && to == Review);
    if refinery_work {
        wakes.push(Wake::Refinery);
    }
    wakes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_work_wakes_the_dispatcher_and_finished_work_the_refinery() {
        use BeadStatus::*;
        assert_eq!(
            wakes(BeadType::Task, None, Open),
            [Wake::Dispatcher, Wake::Refinery]
        );
        assert_eq!(wakes(BeadType::Task, Some(Open), Hooked), []);
        assert_eq!(wakes(BeadType::Task, Some(Hooked), InProgress), []);
        assert_eq!(
            wakes(BeadType::Task, Some(InProgress), Review),
            [Wake::Dispatcher, Wake::Refinery]
        );
        assert_eq!(
            wakes(BeadType::MergeRequest, None, Open),
            [Wake::Dispatcher, Wake::Refinery]
        );
        assert_eq!(
            wakes(BeadType::MergeRequest, Some(Open), Hooked),
            [Wake::Refinery]
        );
        assert_eq!(wakes(BeadType::Escalation, None, Open), []);
    }
}
