//! Convoys: batches of issues that land together. A convoy is a bead with a `tracks`
//! dependency on each tracked task (which never blocks them) and a tracking issue on
//! the forge whose status comment is a checklist of the tracked issues, edited in place
//! as their beads move. It lands when every tracked issue's work has landed and no
//! merge request of them is open ([`crate::decisions::convoy::landing`]): one comment,
//! and the tracking issue closes. Adding an issue reopens a landed convoy.

use serde_json::json;

use crate::clock::Millis;
use crate::decisions::convoy::{Landing, Tracked, landing};
use crate::lifecycle::{self, Cause};
use crate::store::{
    self, Bead, BeadStatus, BeadType, CloseReason, DepType, ForgeAction, NewBead, StoreError, Tx,
};

/// Make a convoy tracking `tasks` (at least one); its tracking issue is opened in the
/// first task's repository.
pub fn create(
    tx: &Tx<'_>,
    title: &str,
    tasks: &[Bead],
    by: &str,
    now: Millis,
) -> Result<Bead, StoreError> {
    let Some(first) = tasks.first() else {
        return Err(StoreError::Invalid(
            "a convoy tracks at least one issue".into(),
        ));
    };
    let convoy = lifecycle::create(
        tx,
        &NewBead {
            bead_type: BeadType::Convoy,
            title: title.chars().take(200).collect(),
            body: String::new(),
            priority: first.priority,
            town_id: first.town_id.clone(),
            rig_id: first.rig_id.clone(),
            parent_id: None,
            forge_ref: None,
            created_by: by.to_string(),
            metadata: json!({}),
        },
        now,
    )?;
    for t in tasks {
        track(tx, &convoy, t, by, now)?;
    }
    queue_tracking_issue(tx, &convoy, now)?;
    check(tx, &convoy.id, now)?;
    store::get_bead(tx, &convoy.id)
}

/// Track one more task; a landed convoy opens again.
pub fn add(
    tx: &Tx<'_>,
    convoy: &str,
    task: &Bead,
    by: &str,
    now: Millis,
) -> Result<Bead, StoreError> {
    let convoy = store::get_bead(tx, convoy)?;
    if convoy.bead_type != BeadType::Convoy {
        return Err(StoreError::Invalid(format!(
            "{} is not a convoy",
            convoy.id
        )));
    }
    track(tx, &convoy, task, by, now)?;
    if convoy.status == BeadStatus::Closed {
        let payload = json!({ "added": task.id });
        lifecycle::move_to(
            tx,
            &convoy.id,
            BeadStatus::Open,
            None,
            Cause::new(by, &payload),
            now,
        )?;
    }
    let convoy = store::get_bead(tx, &convoy.id)?;
    queue_tracking_issue(tx, &convoy, now)?;
    check(tx, &convoy.id, now)?;
    store::get_bead(tx, &convoy.id)
}

fn track(tx: &Tx<'_>, convoy: &Bead, task: &Bead, by: &str, now: Millis) -> Result<(), StoreError> {
    if task.bead_type != BeadType::Task {
        return Err(StoreError::Invalid(format!(
            "{} is a {}, not a slung issue's task",
            task.id, task.bead_type
        )));
    }
    store::add_dep(tx, &convoy.id, &task.id, DepType::Tracks, by, now)
}

/// The tracking issue is made (or found again by its marker), its state kept as the
/// convoy's, by the outbox.
fn queue_tracking_issue(tx: &Tx<'_>, convoy: &Bead, now: Millis) -> Result<(), StoreError> {
    let Some(rig) = convoy.rig_id.as_deref() else {
        return Ok(());
    };
    let key = format!(
        "tracking-issue:{}:{}:{}",
        convoy.id, convoy.status, convoy.updated_at
    );
    let action = ForgeAction::TrackingIssue {
        convoy: convoy.id.clone(),
    };
    store::enqueue_action(tx, &key, rig, Some(&convoy.id), &action, now)?;
    Ok(())
}

/// The tracked tasks with what the landing rule needs of each.
pub fn tracked(
    conn: &rusqlite::Connection,
    convoy: &Bead,
) -> Result<Vec<(Bead, Tracked)>, StoreError> {
    let rig = convoy.rig_id.clone().unwrap_or_default();
    let mut out = Vec::new();
    for (id, dep) in store::deps_of(conn, &convoy.id)? {
        if dep != DepType::Tracks {
            continue;
        }
        let task = store::get_bead(conn, &id)?;
        let merge_request_open = store::children(conn, &task.id)?.iter().any(|c| {
            c.bead_type == BeadType::MergeRequest
                && !matches!(
                    c.status,
                    BeadStatus::Closed | BeadStatus::Failed | BeadStatus::Tombstone
                )
        });
        let name = task.forge_ref.as_deref().map_or(task.id.clone(), |f| {
            crate::lifecycle::depends::short(f, &rig)
        });
        let t = Tracked {
            name,
            status: task.status,
            close_reason: task.close_reason,
            merge_request_open,
        };
        out.push((task, t));
    }
    Ok(out)
}

/// Land the convoy if its tracked work all landed, once; else show where it is.
pub fn check(tx: &Tx<'_>, convoy: &str, now: Millis) -> Result<(), StoreError> {
    let convoy = store::get_bead(tx, convoy)?;
    let tracked: Vec<Tracked> = tracked(tx, &convoy)?.into_iter().map(|(_, t)| t).collect();
    if landing(&tracked) == Landing::Lands && convoy.status != BeadStatus::Closed {
        let payload = json!({ "landed": tracked.len() });
        let convoy = lifecycle::move_to(
            tx,
            &convoy.id,
            BeadStatus::Closed,
            Some(CloseReason::Done),
            Cause::new("gastown", &payload),
            now,
        )?;
        tracing::info!(convoy = %convoy.id, issues = tracked.len(), "convoy landed");
        if let (Some(rig), Some(number)) = (
            convoy.rig_id.as_deref(),
            crate::lifecycle::outbox::issue_number(&convoy),
        ) {
            let names: Vec<String> = tracked.iter().map(|t| t.name.clone()).collect();
            crate::lifecycle::outbox::queue_comment(
                tx,
                &crate::lifecycle::outbox::CommentOn {
                    rig_id: rig,
                    bead_id: Some(&convoy.id),
                    number,
                    close_issue: true,
                },
                "convoy-landed",
                &format!("{}:landed:{}", convoy.id, convoy.updated_at),
                |marker: &str| crate::decisions::comments::convoy_landed(&names, marker),
                now,
            )?;
        }
        return Ok(());
    }
    crate::lifecycle::outbox::queue_bead_update(tx, &convoy, now)
}

/// A task moved: the convoys tracking it look again.
pub fn follow(tx: &Tx<'_>, task: &Bead, now: Millis) -> Result<(), StoreError> {
    for convoy in store::dependents_of(tx, &task.id, DepType::Tracks)? {
        check(tx, &convoy, now)?;
    }
    Ok(())
}

/// The convoy's status comment: where it is, and its tracked issues as a checklist.
pub fn status_comment(conn: &rusqlite::Connection, convoy: &Bead) -> Result<String, StoreError> {
    let tracked = tracked(conn, convoy)?;
    let items: Vec<crate::decisions::comments::ConvoyItem> = tracked
        .iter()
        .map(|(task, t)| crate::decisions::comments::ConvoyItem {
            name: t.name.clone(),
            title: task.title.clone(),
            status: task.status,
            close_reason: task.close_reason,
            pull_request: crate::decisions::meta::task(task).pull_request,
        })
        .collect();
    let plain: Vec<Tracked> = tracked.into_iter().map(|(_, t)| t).collect();
    Ok(crate::decisions::comments::convoy_status(
        convoy,
        &landing(&plain),
        &items,
    ))
}
