//! Following a refinery PR/MR through the forge's events, inside the delivery's
//! transaction: merged by a person → the beads close as merged; closed unmerged →
//! rejected.

use serde_json::json;

use crate::lifecycle::{self, Cause};
use crate::store::{self, Bead, BeadStatus, BeadType, StoreError};

/// A refinery PR/MR closed on the forge: close its beads as merged or rejected. Runs
/// in the delivery's transaction.
pub fn apply_pull_request_closed(
    conn: &store::Tx<'_>,
    rig_id: &str,
    number: u64,
    merged: bool,
    actor: &str,
    now: crate::clock::Millis,
) -> Result<Option<Bead>, StoreError> {
    let forge_ref = store::ForgeRef::merge_request(rig_id, number).to_string();
    let Some(mr) = store::find_by_forge_ref(conn, &forge_ref, BeadType::MergeRequest)? else {
        return Ok(None);
    };
    let reason = if merged {
        store::CloseReason::Merged
    } else {
        store::CloseReason::Rejected
    };
    let payload = json!({ "pull_request": number, "by": actor });
    let close = |bead: Bead| -> Result<Bead, StoreError> {
        if bead.status == BeadStatus::Closed {
            return Ok(bead);
        }
        lifecycle::move_to(
            conn,
            &bead.id,
            BeadStatus::Closed,
            Some(reason),
            Cause::new(actor, &payload),
            now,
        )
    };
    let task_id = mr.parent_id.clone();
    close(mr)?;
    let Some(task_id) = task_id else {
        return Ok(None);
    };
    let task = store::get_bead(conn, &task_id)?;
    if task.status == BeadStatus::Closed {
        return Ok(Some(task));
    }
    if !merged {
        // Closed unmerged by a person: say so on the issue, and stop a rework of it
        // that a polecat may be working right now.
        let why = "the pull request was closed";
        let note = crate::decisions::comments::closed_on_forge(why, actor);
        crate::decisions::meta::update_task(conn, &task_id, now, |t| t.notice = Some(note))?;
        for child in store::children(conn, &task_id)? {
            if child.bead_type == BeadType::Task {
                crate::lifecycle::withdraw::withdraw(conn, &child, why, actor, now)?;
            }
        }
    }
    let task = store::get_bead(conn, &task_id)?;
    close(task).map(Some)
}

/// Something happened on a refinery PR/MR that may move it (a review, a diff comment,
/// a check): mark its merge request so the refinery's next round asks the forge. The
/// forge, not the event, is then the truth: a redelivered or reordered event changes
/// nothing, and what happened while the bot was down is seen all the same.
pub fn nudge(
    conn: &store::Tx<'_>,
    rig_id: &str,
    number: Option<u64>,
    head_sha: Option<&str>,
    now: crate::clock::Millis,
) -> Result<(), StoreError> {
    let by_number = number
        .map(|n| {
            let forge_ref = store::ForgeRef::merge_request(rig_id, n).to_string();
            store::find_by_forge_ref(conn, &forge_ref, BeadType::MergeRequest)
        })
        .transpose()?
        .flatten();
    let mut mrs: Vec<Bead> = by_number.into_iter().collect();
    if let Some(sha) = head_sha {
        mrs.extend(store::merge_requests_tested_at(conn, rig_id, sha)?);
    }
    for mr in mrs.iter().filter(|m| m.status == BeadStatus::Review) {
        bump_nudge(conn, mr, now)?;
    }
    Ok(())
}

/// A branch of the rig moved (a push): merge requests waiting on it (a broken
/// `.gastown.yaml` fixed, a target that moved) are looked at again at once rather
/// than when their wait ends.
pub fn rig_moved(
    conn: &store::Tx<'_>,
    rig_id: &str,
    now: crate::clock::Millis,
) -> Result<(), StoreError> {
    for mr in store::refinery_queue(conn)? {
        if mr.rig_id.as_deref() == Some(rig_id) && mr.status == BeadStatus::Open {
            bump_nudge(conn, &mr, now)?;
        }
    }
    Ok(())
}

/// An approval given (or withdrawn) on a refinery PR/MR, as its webhook told it:
/// remember on the task which commit `login` approved (the MR's head when the event
/// was sent), or forget it. GitLab's approvals API says who approved, not on which
/// commit, so this record is what ties an approval to a commit there. Runs in the
/// delivery's transaction.
pub fn record_approval(
    conn: &store::Tx<'_>,
    rig_id: &str,
    number: u64,
    login: &str,
    commit: Option<&str>,
    now: crate::clock::Millis,
) -> Result<(), StoreError> {
    let forge_ref = store::ForgeRef::merge_request(rig_id, number).to_string();
    let Some(mr) = store::find_by_forge_ref(conn, &forge_ref, BeadType::MergeRequest)? else {
        return Ok(());
    };
    let Some(task_id) = mr.parent_id else {
        return Ok(());
    };
    crate::decisions::meta::update_task(conn, &task_id, now, |t| {
        match commit.filter(|c| crate::gitgate::is_sha(c)) {
            Some(sha) => t.approvals.insert(login.to_string(), sha.to_string()),
            None => t.approvals.remove(login),
        };
    })?;
    Ok(())
}

/// A counter, not a time: two nudges in one clock tick are still two. The refinery
/// wakes once the nudge is committed.
pub fn bump_nudge(
    conn: &store::Tx<'_>,
    mr: &Bead,
    now: crate::clock::Millis,
) -> Result<(), StoreError> {
    crate::decisions::meta::update_merge_request(conn, &mr.id, now, |m| m.nudge += 1)?;
    conn.wake(store::Wake::Refinery);
    Ok(())
}
