//! Following a refinery PR/MR through the forge's events, inside the delivery's
//! transaction: merged by a person → the beads close as merged; closed unmerged →
//! rejected.

use serde_json::json;

use crate::store::{self, Bead, BeadStatus, BeadType, StoreError};

/// A refinery PR/MR closed on the forge: close its beads as merged or rejected. Runs
/// in the delivery's transaction.
pub fn apply_pull_request_closed(
    conn: &rusqlite::Connection,
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
        store::transition(
            conn,
            &bead.id,
            BeadStatus::Closed,
            Some(reason),
            actor,
            &payload,
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
    let task = close(task)?;
    crate::actions::queue_bead_update(conn, &task, now)?;
    Ok(Some(task))
}

/// Something happened on a refinery PR/MR that may move it (a review, a diff comment,
/// a check): mark its merge request so the refinery's next round asks the forge. The
/// forge, not the event, is then the truth: a redelivered or reordered event changes
/// nothing, and what happened while the bot was down is seen all the same.
pub fn nudge(
    conn: &rusqlite::Connection,
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

/// An approval given (or withdrawn) on a refinery PR/MR, as its webhook told it:
/// remember on the task which commit `login` approved (the MR's head when the event
/// was sent), or forget it. GitLab's approvals API says who approved, not on which
/// commit, so this record is what ties an approval to a commit there. Runs in the
/// delivery's transaction.
pub fn record_approval(
    conn: &rusqlite::Connection,
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
    let task = store::get_bead(conn, &task_id)?;
    let mut approvals = task.metadata["approvals"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    match commit.filter(|c| crate::gitgate::is_sha(c)) {
        Some(sha) => approvals.insert(login.to_string(), json!(sha)),
        None => approvals.remove(login),
    };
    store::annotate(conn, &task_id, "approvals", &json!(approvals), None, now)?;
    Ok(())
}

/// A counter, not a time: two nudges in one clock tick are still two.
pub fn bump_nudge(
    conn: &rusqlite::Connection,
    mr: &Bead,
    now: crate::clock::Millis,
) -> Result<(), StoreError> {
    let next = mr.metadata["nudge"].as_i64().unwrap_or(0) + 1;
    store::annotate(conn, &mr.id, "nudge", &json!(next), None, now)?;
    Ok(())
}
