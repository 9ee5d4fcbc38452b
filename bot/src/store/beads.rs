//! Beads: the one universal work record, its dependency graph, and its append-only
//! history. Every status change goes through [`transition`], which checks the move is
//! allowed and writes the event in the same transaction.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::text::{parse_column, parse_optional_column, string_enum};
use super::{Result, StoreError};
use crate::clock::Millis;

string_enum!(BeadType("bead type") {
    Task => "task",
    Molecule => "molecule",
    Step => "step",
    Convoy => "convoy",
    Escalation => "escalation",
    MergeRequest => "merge_request",
    Message => "message",
    Agent => "agent",
});

string_enum!(
    /// DESIGN.md §4. `failed` means it gave up after its retries and was escalated.
    BeadStatus("bead status") {
        Open => "open",
        Hooked => "hooked",
        InProgress => "in_progress",
        Blocked => "blocked",
        Review => "review",
        Closed => "closed",
        Failed => "failed",
        Tombstone => "tombstone",
    }
);

string_enum!(CloseReason("close reason") {
    Merged => "merged",
    Done => "done",
    Rejected => "rejected",
    Duplicate => "duplicate",
    Wontfix => "wontfix",
});

string_enum!(
    /// `blocks` and `waits-for` gate readiness; `parent-child` is structure only;
    /// `tracks` follows a bead without waiting for it (a convoy and its issues).
    DepType("dependency type") {
        Blocks => "blocks",
        ParentChild => "parent-child",
        WaitsFor => "waits-for",
        Tracks => "tracks",
    }
);

impl BeadStatus {
    /// The moves the lifecycle allows. Anything else is a bug in the caller, refused
    /// before it can corrupt the history.
    pub fn can_become(self, to: BeadStatus) -> bool {
        use BeadStatus::*;
        match (self, to) {
            (Tombstone, _) => false,
            (_, Tombstone) => true,
            (a, b) if a == b => false,
            (Open, Hooked | Blocked | Closed | Failed) => true,
            (Hooked, Open | InProgress | Blocked | Closed | Failed) => true,
            (InProgress, Open | Hooked | Review | Blocked | Closed | Failed) => true,
            (Blocked, Open | Closed | Failed) => true,
            (Review, Open | Hooked | InProgress | Closed | Failed) => true,
            (Closed, Open) => true,
            (Failed, Open | Closed) => true,
            _ => false,
        }
    }
}

/// Whether a bead in `status`, closed for `reason`, counts as its work landed: closed as
/// merged or done (a failure, a rejection or a won't-fix does not). `ready_beads` says
/// the same in SQL.
pub fn landed(status: BeadStatus, reason: Option<CloseReason>) -> bool {
    status == BeadStatus::Closed
        && matches!(reason, None | Some(CloseReason::Merged | CloseReason::Done))
}

#[derive(Debug, Clone, Serialize)]
pub struct Bead {
    pub id: String,
    #[serde(rename = "type")]
    pub bead_type: BeadType,
    pub status: BeadStatus,
    pub close_reason: Option<CloseReason>,
    pub title: String,
    pub body: String,
    pub priority: u8,
    pub town_id: Option<String>,
    pub rig_id: Option<String>,
    pub parent_id: Option<String>,
    pub hook: Option<String>,
    pub forge_ref: Option<String>,
    pub created_by: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub closed_at: Option<Millis>,
    pub metadata: serde_json::Value,
    /// `gt/<id>-<slug>` once a polecat was hooked to it.
    pub branch: Option<String>,
    /// Times an agent was started on it.
    pub attempts: u32,
}

const COLUMNS: &str = "id, type, status, close_reason, title, body, priority, town_id, rig_id,
                       parent_id, hook, forge_ref, created_by, created_at, updated_at,
                       closed_at, metadata, branch, attempts";

fn bead_from_row(r: &Row<'_>) -> rusqlite::Result<Bead> {
    let metadata: String = r.get(16)?;
    Ok(Bead {
        id: r.get(0)?,
        bead_type: parse_column(r, 1)?,
        status: parse_column(r, 2)?,
        close_reason: parse_optional_column(r, 3)?,
        title: r.get(4)?,
        body: r.get(5)?,
        priority: r.get(6)?,
        town_id: r.get(7)?,
        rig_id: r.get(8)?,
        parent_id: r.get(9)?,
        hook: r.get(10)?,
        forge_ref: r.get(11)?,
        created_by: r.get(12)?,
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
        closed_at: r.get(15)?,
        metadata: serde_json::from_str(&metadata).unwrap_or(serde_json::Value::Null),
        branch: r.get(17)?,
        attempts: r.get(18)?,
    })
}

/// What a caller decides; the store picks the id and timestamps.
#[derive(Debug, Clone)]
pub struct NewBead {
    pub bead_type: BeadType,
    pub title: String,
    pub body: String,
    pub priority: u8,
    pub town_id: Option<String>,
    pub rig_id: Option<String>,
    pub parent_id: Option<String>,
    pub forge_ref: Option<String>,
    pub created_by: String,
    pub metadata: serde_json::Value,
}

impl NewBead {
    /// A task on no rig, with nothing but a title: what benches and tests start from.
    pub fn task(title: &str, created_by: &str) -> NewBead {
        NewBead {
            bead_type: BeadType::Task,
            title: title.into(),
            body: String::new(),
            priority: 2,
            town_id: None,
            rig_id: None,
            parent_id: None,
            forge_ref: None,
            created_by: created_by.into(),
            metadata: serde_json::json!({}),
        }
    }
}

/// Create an open bead and its `created` event. `candidate_id` proposes ids (random in
/// production, scripted in tests); each is checked against the table, so a collision
/// costs a retry, never a duplicate.
pub fn create_bead(
    conn: &Connection,
    new: &NewBead,
    now: Millis,
    mut candidate_id: impl FnMut(usize) -> String,
) -> Result<Bead> {
    if new.priority > 4 {
        return Err(StoreError::Invalid(format!(
            "priority must be 0 to 4, got {}",
            new.priority
        )));
    }
    let id = unused_id(conn, &mut candidate_id)?;
    conn.prepare_cached(
        "INSERT INTO beads (id, type, status, title, body, priority, town_id, rig_id,
                            parent_id, forge_ref, created_by, created_at, updated_at, metadata)
         VALUES (?1, ?2, 'open', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12)",
    )?
    .execute(params![
        id,
        new.bead_type.as_str(),
        new.title,
        new.body,
        new.priority,
        new.town_id,
        new.rig_id,
        new.parent_id,
        new.forge_ref,
        new.created_by,
        now,
        new.metadata.to_string(),
    ])?;
    append_event(
        conn,
        &id,
        "created",
        &new.created_by,
        None,
        Some(BeadStatus::Open),
        &serde_json::json!({ "forge_ref": new.forge_ref }),
        now,
    )?;
    get_bead(conn, &id)
}

/// Ids start at 4 base36 characters and grow by one after repeated collisions, up to 8.
fn unused_id(conn: &Connection, candidate: &mut impl FnMut(usize) -> String) -> Result<String> {
    let mut exists = conn.prepare_cached("SELECT 1 FROM beads WHERE id = ?1")?;
    for len in 4..=8 {
        for _ in 0..8 {
            let id = candidate(len);
            if !crate::ids::is_bead_id(&id) {
                return Err(StoreError::Invalid(format!("malformed bead id {id:?}")));
            }
            if !exists.exists([&id])? {
                return Ok(id);
            }
        }
    }
    Err(StoreError::Invalid(
        "could not find an unused bead id in 40 tries".into(),
    ))
}

pub fn get_bead(conn: &Connection, id: &str) -> Result<Bead> {
    let sql = format!("SELECT {COLUMNS} FROM beads WHERE id = ?1");
    conn.query_row(&sql, [id], bead_from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no bead {id}")))
}

/// The live task bead for a forge issue, if one exists.
pub fn find_task_for_forge_ref(conn: &Connection, forge_ref: &str) -> Result<Option<Bead>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM beads
         WHERE forge_ref = ?1 AND type = 'task' AND status <> 'tombstone'"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([forge_ref], bead_from_row)
        .optional()?)
}

/// The beads whose parent is `parent_id` (a molecule's steps), oldest first.
pub fn children(conn: &Connection, parent_id: &str) -> Result<Vec<Bead>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM beads WHERE parent_id = ?1 AND status <> 'tombstone'
         ORDER BY created_at, rowid"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map([parent_id], bead_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// What `bead_id` depends on, with how.
pub fn deps_of(conn: &Connection, bead_id: &str) -> Result<Vec<(String, DepType)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT depends_on_id, type FROM bead_deps WHERE bead_id = ?1 ORDER BY rowid",
    )?;
    let rows = stmt
        .query_map([bead_id], |r| Ok((r.get(0)?, parse_column(r, 1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The beads that depend on `bead_id` by `dep`.
pub fn dependents_of(conn: &Connection, bead_id: &str, dep: DepType) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT bead_id FROM bead_deps WHERE depends_on_id = ?1 AND type = ?2 ORDER BY rowid",
    )?;
    let rows = stmt
        .query_map(params![bead_id, dep.as_str()], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Remove a dependency edge, recording it in the bead's history. False if there was
/// none.
pub fn remove_dep(
    conn: &Connection,
    bead_id: &str,
    depends_on: &str,
    dep: DepType,
    actor: &str,
    now: Millis,
) -> Result<bool> {
    let removed = conn.execute(
        "DELETE FROM bead_deps WHERE bead_id = ?1 AND depends_on_id = ?2 AND type = ?3",
        params![bead_id, depends_on, dep.as_str()],
    )? == 1;
    if removed {
        append_event(
            conn,
            bead_id,
            "dep_removed",
            actor,
            None,
            None,
            &serde_json::json!({ "depends_on": depends_on, "type": dep.as_str() }),
            now,
        )?;
    }
    Ok(removed)
}

/// Beads by priority then age, tombstones hidden.
pub fn list_beads(conn: &Connection, status: Option<BeadStatus>) -> Result<Vec<Bead>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM beads
         WHERE status <> 'tombstone' AND (?1 IS NULL OR status = ?1)
         ORDER BY priority, created_at, id"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map([status.map(BeadStatus::as_str)], bead_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Ready = open, and every `blocks`/`waits-for` blocker closed as merged or done (a
/// molecule is never worked itself: its task and steps are). A failed blocker, or one
/// closed as rejected or won't-fix, keeps its dependents blocked rather than letting
/// them build on a failure; a tombstoned blocker no longer exists and blocks nothing. A bead waiting out its
/// retry's backoff is ready from its `retry_at`.
pub fn ready_beads(conn: &Connection, now: Millis) -> Result<Vec<Bead>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM beads AS b
         WHERE b.status = 'open' AND b.type NOT IN ('molecule', 'message')
           AND (b.retry_at IS NULL OR b.retry_at <= ?1)
           AND NOT EXISTS (
               SELECT 1 FROM bead_deps AS d JOIN beads AS x ON x.id = d.depends_on_id
               WHERE d.bead_id = b.id AND d.type IN ('blocks', 'waits-for')
                 AND x.status <> 'tombstone'
                 AND NOT (x.status = 'closed'
                          AND coalesce(x.close_reason, 'done') IN ('merged', 'done')))
         ORDER BY b.priority, b.created_at, b.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map([now], bead_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Move a bead to `to`, recording who did it and why.
pub fn transition(
    conn: &Connection,
    id: &str,
    to: BeadStatus,
    reason: Option<CloseReason>,
    actor: &str,
    payload: &serde_json::Value,
    now: Millis,
) -> Result<Bead> {
    let bead = get_bead(conn, id)?;
    if !bead.status.can_become(to) {
        return Err(StoreError::Invalid(format!(
            "bead {id} cannot go from {} to {to}",
            bead.status
        )));
    }
    if (to == BeadStatus::Closed) != reason.is_some() {
        return Err(StoreError::Invalid(format!(
            "bead {id}: a close reason is required exactly when closing"
        )));
    }
    conn.execute(
        "UPDATE beads SET status = ?2, close_reason = ?3, updated_at = ?4,
                          closed_at = CASE WHEN ?2 = 'closed' THEN ?4 ELSE NULL END
         WHERE id = ?1",
        params![id, to.as_str(), reason.map(CloseReason::as_str), now],
    )?;
    let mut payload = payload.clone();
    if let (Some(reason), Some(obj)) = (reason, payload.as_object_mut()) {
        obj.insert("reason".into(), reason.as_str().into());
    }
    append_event(
        conn,
        id,
        "status",
        actor,
        Some(bead.status),
        Some(to),
        &payload,
        now,
    )?;
    get_bead(conn, id)
}

/// Add a dependency edge, refusing one that would close a cycle of blocking edges
/// (a cycle would leave every bead on it blocked forever).
pub fn add_dep(
    conn: &Connection,
    bead_id: &str,
    depends_on: &str,
    dep: DepType,
    actor: &str,
    now: Millis,
) -> Result<()> {
    get_bead(conn, bead_id)?;
    get_bead(conn, depends_on)?;
    let cycle: bool = conn.query_row(
        "WITH RECURSIVE up(id) AS (
             SELECT ?2
             UNION SELECT d.depends_on_id FROM bead_deps d JOIN up ON d.bead_id = up.id
         )
         SELECT EXISTS (SELECT 1 FROM up WHERE id = ?1)",
        params![bead_id, depends_on],
        |r| r.get(0),
    )?;
    if cycle {
        return Err(StoreError::Invalid(format!(
            "{bead_id} -> {depends_on} would make a dependency cycle"
        )));
    }
    insert_dep(conn, bead_id, depends_on, dep, actor, now)
}

/// One dependency edge and its event in the bead's history.
fn insert_dep(
    conn: &Connection,
    bead_id: &str,
    depends_on: &str,
    dep: DepType,
    actor: &str,
    now: Millis,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO bead_deps (bead_id, depends_on_id, type, created_at)
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![bead_id, depends_on, dep.as_str(), now])?;
    append_event(
        conn,
        bead_id,
        "dep_added",
        actor,
        None,
        None,
        &serde_json::json!({ "depends_on": depends_on, "type": dep.as_str() }),
        now,
    )
}

/// Add the dependency edges of beads just made from a plan whose graph was checked
/// acyclic (a molecule's steps): no cycle search, since edges to new beads cannot
/// close one. Each edge is recorded in its bead's history as [`add_dep`] does.
pub fn add_planned_deps(
    conn: &Connection,
    edges: &[(String, String, DepType)],
    actor: &str,
    now: Millis,
) -> Result<()> {
    for (bead_id, depends_on, dep) in edges {
        insert_dep(conn, bead_id, depends_on, *dep, actor, now)?;
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct BeadEvent {
    pub id: i64,
    pub bead_id: String,
    pub kind: String,
    pub actor: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub payload: serde_json::Value,
    pub at: Millis,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn append_event(
    conn: &Connection,
    bead_id: &str,
    kind: &str,
    actor: &str,
    from: Option<BeadStatus>,
    to: Option<BeadStatus>,
    payload: &serde_json::Value,
    now: Millis,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO bead_events (bead_id, kind, actor, from_status, to_status, payload, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        bead_id,
        kind,
        actor,
        from.map(BeadStatus::as_str),
        to.map(BeadStatus::as_str),
        payload.to_string(),
        now
    ])?;
    Ok(())
}

/// Every bead's events after event `after`, oldest first: a timeline to follow.
pub fn events_since(conn: &Connection, after: i64) -> Result<Vec<BeadEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, bead_id, kind, actor, from_status, to_status, payload, at
         FROM bead_events WHERE id > ?1 ORDER BY id",
    )?;
    let rows = stmt
        .query_map([after], event_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn event_from_row(r: &Row<'_>) -> rusqlite::Result<BeadEvent> {
    let payload: String = r.get(6)?;
    Ok(BeadEvent {
        id: r.get(0)?,
        bead_id: r.get(1)?,
        kind: r.get(2)?,
        actor: r.get(3)?,
        from_status: r.get(4)?,
        to_status: r.get(5)?,
        payload: serde_json::from_str(&payload).unwrap_or_default(),
        at: r.get(7)?,
    })
}

pub fn bead_events(conn: &Connection, bead_id: &str) -> Result<Vec<BeadEvent>> {
    let mut stmt = conn.prepare(
        "SELECT id, bead_id, kind, actor, from_status, to_status, payload, at
         FROM bead_events WHERE bead_id = ?1 ORDER BY id",
    )?;
    let rows = stmt
        .query_map([bead_id], event_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Merge requests the refinery still has to move, oldest first: its queue. Those in
/// `review` wait on their pull request; open, hooked and in-progress ones on the
/// refinery itself.
pub fn refinery_queue(conn: &Connection) -> Result<Vec<Bead>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM beads WHERE type = 'merge_request'
           AND status IN ('open', 'hooked', 'in_progress', 'review')
         ORDER BY created_at, id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map([], bead_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Merge requests in review of a rig whose tested commit is `sha` (a status or check
/// reported on it).
pub fn merge_requests_tested_at(conn: &Connection, rig_id: &str, sha: &str) -> Result<Vec<Bead>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM beads
         WHERE type = 'merge_request' AND status = 'review' AND rig_id = ?1
           AND json_extract(metadata, '$.report.head_sha') = ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![rig_id, sha], bead_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The bead a forge ref names, of one type (a merge request's `rig!12`): the live one
/// when a rework left earlier, settled ones behind on the same PR.
pub fn find_by_forge_ref(
    conn: &Connection,
    forge_ref: &str,
    bead_type: BeadType,
) -> Result<Option<Bead>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM beads
         WHERE forge_ref = ?1 AND type = ?2 AND status <> 'tombstone'
         ORDER BY status IN ('closed', 'failed'), created_at DESC, rowid DESC LIMIT 1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![forge_ref, bead_type.as_str()], bead_from_row)
        .optional()?)
}

/// The bead whose branches an agent hooked to `bead` may push. Reworks and merge
/// requests work on their task's branch, so their agents push in the task's name.
pub fn branch_owner(bead: &Bead) -> &str {
    // A convoy leg works under its task's branches.
    if bead.bead_type == BeadType::Step
        && let Some(task) = bead.metadata.get("task").and_then(|t| t.as_str())
    {
        return task;
    }
    let on_parent = bead.bead_type == BeadType::MergeRequest
        || bead
            .metadata
            .get("rework_of")
            .is_some_and(|v| v.is_string());
    match (&bead.parent_id, on_parent) {
        (Some(parent), true) => parent,
        _ => &bead.id,
    }
}

/// Remove one key of the metadata of every bead in `town_id` that has it (a bead
/// without a town is in `default_town`); returns those beads as they are now.
pub fn clear_metadata_in_town(
    conn: &Connection,
    town_id: &str,
    default_town: &str,
    key: &str,
    now: Millis,
) -> Result<Vec<Bead>> {
    let ids: Vec<String> = conn
        .prepare(
            "UPDATE beads SET metadata = json_remove(metadata, '$.' || ?2), updated_at = ?3
             WHERE coalesce(town_id, ?4) = ?1 AND json_extract(metadata, '$.' || ?2) IS NOT NULL
             RETURNING id",
        )?
        .query_map(params![town_id, key, now, default_town], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.iter().map(|id| get_bead(conn, id)).collect()
}

/// Name the forge object a bead is (`rig!12`: the refinery's PR/MR).
pub fn set_forge_ref(conn: &Connection, id: &str, forge_ref: &str) -> Result<Bead> {
    conn.execute(
        "UPDATE beads SET forge_ref = ?2 WHERE id = ?1",
        params![id, forge_ref],
    )?;
    get_bead(conn, id)
}

/// Replace a bead's metadata (see [`crate::decisions::meta`] for what it holds).
pub fn set_metadata(
    conn: &Connection,
    id: &str,
    metadata: &serde_json::Value,
    now: Millis,
) -> Result<Bead> {
    conn.execute(
        "UPDATE beads SET metadata = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, metadata.to_string(), now],
    )?;
    get_bead(conn, id)
}

/// Set one key of a bead's metadata, and its forge ref when given.
pub fn annotate(
    conn: &Connection,
    id: &str,
    key: &str,
    value: &serde_json::Value,
    forge_ref: Option<&str>,
    now: Millis,
) -> Result<Bead> {
    conn.execute(
        "UPDATE beads SET metadata = json_set(metadata, '$.' || ?2, json(?3)),
                          forge_ref = coalesce(?4, forge_ref), updated_at = ?5
         WHERE id = ?1",
        params![id, key, value.to_string(), forge_ref, now],
    )?;
    get_bead(conn, id)
}
