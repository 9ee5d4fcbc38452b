//! What the patrol reads and writes: a live session's signs of life and its rung on
//! the stuck ladder, a rig's failed attempts and pauses. Each read is over an index of
//! what may be due (live sessions, hooked beads, working agents, pauses), so a tick
//! costs what is alive, not the size of the database.

use rusqlite::{Connection, OptionalExtension, params};

use super::Result;
use crate::clock::Millis;

/// A live session, as the witness watches it.
#[derive(Debug, Clone, PartialEq)]
pub struct Watched {
    pub session: String,
    pub bead: String,
    pub started_at: Millis,
    /// Its last heartbeat (any tool call is one).
    pub heartbeat_at: Option<Millis>,
    /// Its last progress: a tool call other than a heartbeat, a push, new output.
    pub progress_at: Option<Millis>,
    /// How far up the stuck ladder it has been taken since its last progress.
    pub ladder: Ladder,
    /// While its agent waits on the model through the bot: until when the bot itself
    /// would wait (the model's timeout), the longest it is alive without a heartbeat.
    pub asking_until: Option<Millis>,
}

/// The rungs of the stuck ladder, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ladder {
    Working,
    Nudged,
    Escalated,
}

impl Ladder {
    pub fn as_i64(self) -> i64 {
        self as i64
    }

    pub fn from_i64(n: i64) -> Self {
        match n {
            ..=0 => Ladder::Working,
            1 => Ladder::Nudged,
            _ => Ladder::Escalated,
        }
    }
}

/// A sign of life from the agent of `agent_id`'s live session. `progress` (a tool call
/// that does something, a push, new output) also resets the stuck ladder and clears
/// a nudge the agent has now seen.
pub fn touch(conn: &Connection, agent_id: &str, progress: bool, now: Millis) -> Result<()> {
    conn.prepare_cached("UPDATE agents SET last_heartbeat_at = ?2 WHERE id = ?1")?
        .execute(params![agent_id, now])?;
    let sql = if progress {
        "UPDATE agent_sessions SET heartbeat_at = ?2, progress_at = ?2, ladder = 0, nudge = NULL
         WHERE agent_id = ?1 AND ended_at IS NULL"
    } else {
        "UPDATE agent_sessions SET heartbeat_at = ?2 WHERE agent_id = ?1 AND ended_at IS NULL"
    };
    conn.prepare_cached(sql)?.execute(params![agent_id, now])?;
    Ok(())
}

/// The agent's request to the model began (a heartbeat too), which the bot waits on
/// until `until` at the most.
pub fn asking_began(conn: &Connection, agent_id: &str, now: Millis, until: Millis) -> Result<()> {
    touch(conn, agent_id, false, now)?;
    conn.prepare_cached(
        "UPDATE agent_sessions SET asking = asking + 1, asking_until = max(coalesce(asking_until, 0), ?2)
         WHERE agent_id = ?1 AND ended_at IS NULL",
    )?
    .execute(params![agent_id, until])?;
    Ok(())
}

/// The agent's request to the model ended, answered or not (a heartbeat too).
pub fn asking_ended(conn: &Connection, agent_id: &str, now: Millis) -> Result<()> {
    touch(conn, agent_id, false, now)?;
    conn.prepare_cached(
        "UPDATE agent_sessions SET asking = max(asking - 1, 0)
         WHERE agent_id = ?1 AND ended_at IS NULL",
    )?
    .execute(params![agent_id])?;
    Ok(())
}

/// Progress of a live session seen from outside it (its output grew).
pub fn progress_of_session(conn: &Connection, session: &str, now: Millis) -> Result<()> {
    conn.prepare_cached(
        "UPDATE agent_sessions SET heartbeat_at = ?2, progress_at = ?2, ladder = 0, nudge = NULL
         WHERE id = ?1 AND ended_at IS NULL",
    )?
    .execute(params![session, now])?;
    Ok(())
}

/// Every live session with its signs of life.
pub fn watched(conn: &Connection) -> Result<Vec<Watched>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, bead_id, started_at, heartbeat_at, progress_at, ladder,
                CASE WHEN asking > 0 THEN asking_until END
         FROM agent_sessions WHERE ended_at IS NULL ORDER BY started_at, id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Watched {
                session: r.get(0)?,
                bead: r.get(1)?,
                started_at: r.get(2)?,
                heartbeat_at: r.get(3)?,
                progress_at: r.get(4)?,
                ladder: Ladder::from_i64(r.get(5)?),
                asking_until: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Take a live session up the ladder, with the message its agent sees next.
pub fn climb(conn: &Connection, session: &str, ladder: Ladder, nudge: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "UPDATE agent_sessions SET ladder = ?2, nudge = ?3 WHERE id = ?1 AND ended_at IS NULL",
        )?
        .execute(params![session, ladder.as_i64(), nudge])?
        == 1)
}

/// The nudge waiting for a live session's agent, if any.
pub fn nudge_of(conn: &Connection, session: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT nudge FROM agent_sessions WHERE id = ?1 AND ended_at IS NULL")?
        .query_row([session], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

/// Beads an agent is hooked to (hooked or in progress) with no live session, whose
/// last session did not finish its work: zombie hooks. A task whose agent said done
/// and that is in progress again (its rework is worked as a bead of its own) is not
/// one.
pub fn orphaned_beads(conn: &Connection) -> Result<Vec<String>> {
    ids(
        conn,
        "SELECT b.id FROM beads AS b
         WHERE b.status IN ('hooked', 'in_progress') AND b.hook IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM agent_sessions AS s
                           WHERE s.bead_id = b.id AND s.ended_at IS NULL)
           AND coalesce((SELECT s.state FROM agent_sessions AS s WHERE s.bead_id = b.id
                         ORDER BY s.started_at DESC, s.rowid DESC LIMIT 1), 'lost') <> 'done'
         ORDER BY b.id",
    )
}

/// Agents marked working without a live session.
pub fn idle_workers(conn: &Connection) -> Result<Vec<String>> {
    ids(
        conn,
        "SELECT a.id FROM agents AS a
         WHERE a.status = 'working'
           AND NOT EXISTS (SELECT 1 FROM agent_sessions AS s
                           WHERE s.agent_id = a.id AND s.ended_at IS NULL)
         ORDER BY a.id",
    )
}

/// The first column of every row `sql` selects.
fn ids(conn: &Connection, sql: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Free an agent (nothing on its hook).
pub fn free_agent(conn: &Connection, agent_id: &str) -> Result<()> {
    conn.execute(
        "UPDATE agents SET status = 'idle', hooked_bead = NULL WHERE id = ?1",
        [agent_id],
    )?;
    Ok(())
}

/// When an open bead may be hooked again (`None`: now).
pub fn set_retry_at(conn: &Connection, bead_id: &str, at: Option<Millis>) -> Result<()> {
    conn.prepare_cached("UPDATE beads SET retry_at = ?2 WHERE id = ?1")?
        .execute(params![bead_id, at])?;
    Ok(())
}

pub fn retry_at(conn: &Connection, bead_id: &str) -> Result<Option<Millis>> {
    Ok(conn
        .prepare_cached("SELECT retry_at FROM beads WHERE id = ?1")?
        .query_row([bead_id], |r| r.get(0))
        .optional()?
        .flatten())
}

/// A person gives a failed bead a fresh start: its attempts count from zero again.
pub fn reset_attempts(conn: &Connection, bead_id: &str) -> Result<()> {
    conn.execute(
        "UPDATE beads SET attempts = 0, retry_at = NULL WHERE id = ?1",
        [bead_id],
    )?;
    Ok(())
}

/// A failed attempt on `rig_id`, and how many the rig has had since `since`.
pub fn record_failure(
    conn: &Connection,
    rig_id: &str,
    bead_id: &str,
    since: Millis,
    now: Millis,
) -> Result<u32> {
    conn.prepare_cached("INSERT INTO attempt_failures (rig_id, bead_id, at) VALUES (?1, ?2, ?3)")?
        .execute(params![rig_id, bead_id, now])?;
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM attempt_failures WHERE rig_id = ?1 AND at >= ?2")?
        .query_row(params![rig_id, since], |r| r.get(0))?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Forget failures that have left every window.
pub fn prune_failures(conn: &Connection, before: Millis) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM attempt_failures WHERE at < ?1")?
        .execute([before])?)
}

/// A rig's pause as `gt status` and the issues show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RigPause {
    pub rig_id: String,
    pub reason: String,
    pub paused_by: String,
    pub paused_at: Millis,
    pub until: Option<Millis>,
}

/// Pause dispatch to a rig (a second pause keeps the first's start, takes the new
/// reason and end). Returns whether it was running until now.
pub fn pause_rig(conn: &Connection, p: &RigPause) -> Result<bool> {
    let was = rig_pause(conn, &p.rig_id)?.is_none();
    conn.execute(
        "INSERT INTO rig_pauses (rig_id, reason, paused_by, paused_at, until)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (rig_id) DO UPDATE SET reason = ?2, paused_by = ?3, until = ?5",
        params![p.rig_id, p.reason, p.paused_by, p.paused_at, p.until],
    )?;
    Ok(was)
}

/// Dispatch to the rig again. Returns whether it was paused.
pub fn resume_rig(conn: &Connection, rig_id: &str) -> Result<bool> {
    Ok(conn.execute("DELETE FROM rig_pauses WHERE rig_id = ?1", [rig_id])? == 1)
}

pub fn rig_pause(conn: &Connection, rig_id: &str) -> Result<Option<RigPause>> {
    Ok(conn
        .prepare_cached(
            "SELECT rig_id, reason, paused_by, paused_at, until FROM rig_pauses WHERE rig_id = ?1",
        )?
        .query_row([rig_id], pause_from_row)
        .optional()?)
}

pub fn rig_pauses(conn: &Connection) -> Result<Vec<RigPause>> {
    let mut stmt = conn.prepare_cached(
        "SELECT rig_id, reason, paused_by, paused_at, until FROM rig_pauses ORDER BY rig_id",
    )?;
    let rows = stmt
        .query_map([], pause_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn pause_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RigPause> {
    Ok(RigPause {
        rig_id: r.get(0)?,
        reason: r.get(1)?,
        paused_by: r.get(2)?,
        paused_at: r.get(3)?,
        until: r.get(4)?,
    })
}
