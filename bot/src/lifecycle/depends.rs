//! Dependencies between slung issues. A task's body names the issues it depends on
//! ([`crate::decisions::deps`]); each that is slung becomes a `blocks` dependency (the
//! task is ready only once that work merged), each that is not yet slung holds the task
//! blocked until it is. Editing the body updates them; a dependency that would close a
//! cycle is refused with a comment naming it. A blocker that fails or closes unmerged
//! keeps its dependents waiting and asks a person.

use serde_json::json;

use crate::clock::Millis;
use crate::decisions::deps::IssueRef;
use crate::decisions::patrol::{Durations, Severity};
use crate::lifecycle::escalation::{self, Raise};
use crate::lifecycle::{self, Cause};
use crate::store::{self, Bead, BeadStatus, BeadType, DepType, ForgeRef, Rig, StoreError, Tx};

/// Make `task`'s dependencies on other tasks what `refs` (its body's) says, as `actor`
/// wrote it.
pub fn follow_body(
    tx: &Tx<'_>,
    task: &Bead,
    rig: &Rig,
    refs: &[IssueRef],
    actor: &str,
    now: Millis,
) -> Result<(), StoreError> {
    let wanted: Vec<String> = refs
        .iter()
        .map(|r| {
            let rig_id = match &r.repo {
                Some(path) => store::rig_id(rig.forge, &rig.host, path),
                None => rig.id.clone(),
            };
            ForgeRef::issue(&rig_id, r.number).to_string()
        })
        .filter(|f| Some(f.as_str()) != task.forge_ref.as_deref())
        .collect();
    let meta = crate::decisions::meta::task(task);
    if meta.depends_on == wanted && meta.unslung.is_empty() {
        return Ok(());
    }
    // What it no longer names is no longer waited for.
    for (blocker, dep) in store::deps_of(tx, &task.id)? {
        if dep != DepType::Blocks {
            continue;
        }
        let b = store::get_bead(tx, &blocker)?;
        if b.bead_type == BeadType::Task
            && b.forge_ref.as_ref().is_some_and(|f| !wanted.contains(f))
        {
            store::remove_dep(tx, &task.id, &blocker, DepType::Blocks, actor, now)?;
        }
    }
    let mut unslung = Vec::new();
    let mut refused = Vec::new();
    for forge_ref in &wanted {
        match store::find_task_for_forge_ref(tx, forge_ref)? {
            Some(blocker) => {
                match store::add_dep(tx, &task.id, &blocker.id, DepType::Blocks, actor, now) {
                    Ok(()) => {}
                    Err(StoreError::Invalid(_)) => refused.push(forge_ref.clone()),
                    Err(e) => return Err(e),
                }
            }
            None => unslung.push(forge_ref.clone()),
        }
    }
    let was_waiting = !meta.unslung.is_empty();
    let task = crate::decisions::meta::update_task(tx, &task.id, now, |t| {
        t.depends_on = wanted.clone();
        t.unslung = unslung.clone();
    })?;
    for cycle in &refused {
        refuse_cycle(tx, &task, cycle, now)?;
    }
    hold_or_release(tx, &task, was_waiting, now)
}

/// A task was just slung: the tasks that named it before it was are linked to it.
pub fn link_waiting(tx: &Tx<'_>, slung: &Bead, now: Millis) -> Result<(), StoreError> {
    let Some(forge_ref) = slung.forge_ref.as_deref() else {
        return Ok(());
    };
    let needle = serde_json::to_string(forge_ref).unwrap_or_default();
    let waiting: Vec<String> = {
        let mut stmt = tx.prepare_cached(
            "SELECT id FROM beads WHERE type = 'task' AND status = 'blocked'
               AND instr(metadata, '\"unslung\"') > 0 AND instr(metadata, ?1) > 0",
        )?;
        stmt.query_map([&needle], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?
    };
    for id in waiting {
        let task = store::get_bead(tx, &id)?;
        if !crate::decisions::meta::task(&task)
            .unslung
            .iter()
            .any(|u| u == forge_ref)
        {
            continue;
        }
        match store::add_dep(tx, &id, &slung.id, DepType::Blocks, "gastown", now) {
            Ok(()) => {}
            Err(StoreError::Invalid(_)) => refuse_cycle(tx, &task, forge_ref, now)?,
            Err(e) => return Err(e),
        }
        let task = crate::decisions::meta::update_task(tx, &id, now, |t| {
            t.unslung.retain(|u| u != forge_ref)
        })?;
        hold_or_release(tx, &task, true, now)?;
    }
    Ok(())
}

/// A task that waits for unslung issues is blocked; one that waited and no longer does
/// is open again (a `blocks` dependency still keeps it from being ready).
fn hold_or_release(
    tx: &Tx<'_>,
    task: &Bead,
    was_waiting: bool,
    now: Millis,
) -> Result<(), StoreError> {
    let meta = crate::decisions::meta::task(task);
    let payload = json!({ "waiting_for": meta.unslung });
    let cause = Cause::new("gastown", &payload);
    if !meta.unslung.is_empty() && task.status == BeadStatus::Open {
        lifecycle::move_to(tx, &task.id, BeadStatus::Blocked, None, cause, now)?;
    } else if meta.unslung.is_empty() && was_waiting && task.status == BeadStatus::Blocked {
        lifecycle::move_to(tx, &task.id, BeadStatus::Open, None, cause, now)?;
    } else {
        crate::lifecycle::outbox::queue_bead_update(tx, task, now)?;
    }
    Ok(())
}

/// A dependency that would close a cycle: said once on the issue, not added.
fn refuse_cycle(tx: &Tx<'_>, task: &Bead, on: &str, now: Millis) -> Result<(), StoreError> {
    let (Some(rig), Some(number)) = (
        task.rig_id.as_deref(),
        crate::lifecycle::outbox::issue_number(task),
    ) else {
        return Ok(());
    };
    let this = task.forge_ref.clone().unwrap_or_default();
    let on_short = short(on, rig);
    let this_short = short(&this, rig);
    let body =
        |marker: &str| crate::decisions::comments::dependency_cycle(&this_short, &on_short, marker);
    crate::lifecycle::outbox::queue_comment(
        tx,
        &crate::lifecycle::outbox::CommentOn {
            rig_id: rig,
            bead_id: Some(&task.id),
            number,
            close_issue: false,
        },
        "dependency-cycle",
        &format!("{}:cycle:{on}", task.id),
        body,
        now,
    )
}

/// A forge ref as a person writes it on the forge: `#12` in its own repository,
/// `owner/repo#12` in another.
pub fn short(forge_ref: &str, rig_id: &str) -> String {
    let Ok(r) = forge_ref.parse::<ForgeRef>() else {
        return forge_ref.to_string();
    };
    if r.rig_id == rig_id {
        return format!("#{}", r.number);
    }
    let path = r
        .rig_id
        .split_once(':')
        .map_or(r.rig_id.as_str(), |(_, p)| p);
    // A rig id names a self-hosted forge's host first: a comment names the path.
    let path = match path.split_once('/') {
        Some((first, rest)) if first.contains('.') || first.contains(':') => rest,
        _ => path,
    };
    format!("{path}#{}", r.number)
}

/// The blockers `task` still waits for, as a person writes them (`#12`), with their
/// titles: what its status comment says it waits on.
pub fn waiting_on(
    conn: &rusqlite::Connection,
    task: &Bead,
) -> Result<Vec<(String, String)>, StoreError> {
    let rig = task.rig_id.clone().unwrap_or_default();
    let mut out = Vec::new();
    for (blocker, dep) in store::deps_of(conn, &task.id)? {
        if dep != DepType::Blocks {
            continue;
        }
        let b = store::get_bead(conn, &blocker)?;
        let landed = b.status == BeadStatus::Tombstone || store::landed(b.status, b.close_reason);
        if b.bead_type == BeadType::Task && !landed {
            let name = b
                .forge_ref
                .as_deref()
                .map_or(b.id.clone(), |f| short(f, &rig));
            out.push((name, b.title.clone()));
        }
    }
    Ok(out)
}

/// Tasks waiting on a blocker that failed or closed unmerged, and that blocker, for
/// each pair nobody was asked about yet: the patrol asks.
pub fn held_by_failures(conn: &rusqlite::Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT b.id, x.id FROM beads AS b
           JOIN bead_deps AS d ON d.bead_id = b.id AND d.type = 'blocks'
           JOIN beads AS x ON x.id = d.depends_on_id
         WHERE b.type = 'task' AND b.status IN ('open', 'blocked') AND x.type = 'task'
           AND (x.status = 'failed'
                OR (x.status = 'closed' AND coalesce(x.close_reason, 'done')
                    NOT IN ('merged', 'done')))
         ORDER BY b.id, x.id",
    )?;
    let pairs = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut out = Vec::new();
    for (dependent, blocker) in pairs {
        let b = store::get_bead(conn, &dependent)?;
        if !crate::decisions::meta::task(&b)
            .blockers_escalated
            .contains(&blocker)
        {
            out.push((dependent, blocker));
        }
    }
    Ok(out)
}

/// A blocker failed or closed unmerged: its dependent stays blocked, and a person is
/// asked, once for that blocker.
pub fn blocker_gave_up(
    tx: &Tx<'_>,
    dependent: &str,
    blocker: &str,
    d: &Durations,
    now: Millis,
) -> Result<(), StoreError> {
    let dependent = crate::decisions::meta::update_task(tx, dependent, now, |t| {
        if !t.blockers_escalated.iter().any(|b| b == blocker) {
            t.blockers_escalated.push(blocker.to_string());
        }
    })?;
    let blocker = store::get_bead(tx, blocker)?;
    let rig = dependent.rig_id.clone().unwrap_or_default();
    let name = blocker
        .forge_ref
        .as_deref()
        .map_or(blocker.id.clone(), |f| short(f, &rig));
    let reason = crate::decisions::comments::blocker_gave_up(&name, blocker.status);
    escalation::raise(
        tx,
        &Raise {
            about: &dependent,
            severity: Severity::Medium,
            source: "patrol",
            reason: &reason,
            action: crate::decisions::comments::BLOCKER_GAVE_UP_ACTION,
            details: "",
        },
        d,
        now,
    )?;
    crate::lifecycle::outbox::queue_bead_update(tx, &dependent, now)
}
