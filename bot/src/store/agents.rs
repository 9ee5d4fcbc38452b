//! Agents and their sessions. An agent row is a named polecat of a rig (its name
//! comes back when it is free again); a session is one start of that agent on one
//! bead, and the tool token it was given grants exactly that session.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::beads::append_event;
use super::text::{parse_column, string_enum};
use super::{BeadStatus, Result, StoreError, get_bead};
use crate::clock::Millis;

string_enum!(
    /// What an agent is for (DESIGN.md §2). The witness and deacon are patrol code in
    /// the bot, not agents, so they have no role.
    Role("agent role") {
        Polecat => "polecat",
        Refinery => "refinery",
        Mayor => "mayor",
    }
);

string_enum!(
    /// Whether an agent holds a bead: a working agent has a live session.
    AgentStatus("agent status") {
        Idle => "idle",
        Working => "working",
    }
);

string_enum!(
    /// Where one start of an agent is: `starting` until the runner has it, `running`
    /// once it runs (or first calls a tool); the rest are how it ended.
    SessionState("session state") {
        Starting => "starting",
        Running => "running",
        /// It called `gt_done`.
        Done => "done",
        /// It exited without `gt_done`.
        Exited => "exited",
        /// The runner lost it (it never started, or is gone).
        Lost => "lost",
        Stopped => "stopped",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agent {
    pub id: String,
    pub town_id: String,
    pub rig_id: Option<String>,
    pub role: Role,
    pub name: String,
    pub status: AgentStatus,
    pub hooked_bead: Option<String>,
    pub last_heartbeat_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    pub id: String,
    pub agent_id: String,
    pub bead_id: String,
    pub state: SessionState,
    pub exit_code: Option<i32>,
    pub started_at: Millis,
    pub ended_at: Option<Millis>,
}

/// What a live tool token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub session_id: String,
    pub agent_id: String,
    pub agent_name: String,
    pub role: Role,
    pub town_id: String,
    pub rig_id: String,
    pub bead_id: String,
    /// What the patrol wants the agent to read at this call (it seems stuck).
    pub nudge: Option<String>,
}

/// The id of a rig's polecat called `name`.
pub fn polecat_id(rig_id: &str, name: &str) -> String {
    agent_id(rig_id, Role::Polecat, name)
}

/// The id of a rig's agent: `<rig>/<role>/<name>`. A refinery is named after the
/// target branch it serializes merges into.
pub fn agent_id(rig_id: &str, role: Role, name: &str) -> String {
    format!("{rig_id}/{role}/{name}")
}

const AGENT_COLUMNS: &str =
    "id, town_id, rig_id, role, name, status, hooked_bead, last_heartbeat_at";

fn agent_from_row(r: &Row<'_>) -> rusqlite::Result<Agent> {
    Ok(Agent {
        id: r.get(0)?,
        town_id: r.get(1)?,
        rig_id: r.get(2)?,
        role: parse_column(r, 3)?,
        name: r.get(4)?,
        status: parse_column(r, 5)?,
        hooked_bead: r.get(6)?,
        last_heartbeat_at: r.get(7)?,
    })
}

pub fn list_agents(conn: &Connection) -> Result<Vec<Agent>> {
    let sql = format!("SELECT {AGENT_COLUMNS} FROM agents ORDER BY rig_id, role, name");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map([], agent_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub fn get_agent(conn: &Connection, id: &str) -> Result<Agent> {
    let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = ?1");
    conn.query_row(&sql, [id], agent_from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no agent {id}")))
}

/// Everything the dispatcher needs to start one polecat on one bead.
#[derive(Debug, Clone)]
pub struct Hooking<'a> {
    pub role: Role,
    pub bead_id: &'a str,
    pub rig_id: &'a str,
    pub town_id: &'a str,
    pub name: &'a str,
    pub branch: &'a str,
    pub session_id: &'a str,
    pub token_sha256: &'a str,
}

/// Hook a ready bead to an agent: the agent is marked working, the bead's hook, branch
/// and attempt recorded, and a session opened for the token. The bead's move to hooked
/// is the caller's, through the lifecycle ([`crate::lifecycle::hook`]). Refused if the
/// bead is no longer open or the agent is busy.
pub fn hook_bead(conn: &Connection, h: &Hooking<'_>, now: Millis) -> Result<Agent> {
    let agent_id = agent_id(h.rig_id, h.role, h.name);
    conn.prepare_cached(
        "INSERT INTO agents (id, town_id, rig_id, role, name, status, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
    )?
    .execute(params![
        agent_id,
        h.town_id,
        h.rig_id,
        h.role,
        h.name,
        AgentStatus::Idle,
        now
    ])?;
    let busy = conn.execute(
        "UPDATE agents SET status = ?3, hooked_bead = ?2, last_heartbeat_at = NULL
         WHERE id = ?1 AND status = ?4",
        params![agent_id, h.bead_id, AgentStatus::Working, AgentStatus::Idle],
    )? == 0;
    if busy {
        return Err(StoreError::Busy { agent_id });
    }
    let bead = get_bead(conn, h.bead_id)?;
    // A molecule step in review waits for its gate run, which is hooked to it.
    let gate_run = bead.bead_type == super::BeadType::Step && bead.status == BeadStatus::Review;
    if bead.status != BeadStatus::Open && !gate_run {
        return Err(StoreError::Invalid(format!(
            "bead {} is {}, not open",
            h.bead_id, bead.status
        )));
    }
    conn.execute(
        "UPDATE beads SET hook = ?2, branch = ?3, attempts = attempts + 1 WHERE id = ?1",
        params![h.bead_id, agent_id, h.branch],
    )?;
    conn.prepare_cached(
        "INSERT INTO agent_sessions (id, agent_id, bead_id, token_sha256, state, started_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        h.session_id,
        agent_id,
        h.bead_id,
        h.token_sha256,
        SessionState::Starting,
        now
    ])?;
    get_agent(conn, &agent_id)
}

const SESSION_COLUMNS: &str = "id, agent_id, bead_id, state, exit_code, started_at, ended_at";

fn session_from_row(r: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: r.get(0)?,
        agent_id: r.get(1)?,
        bead_id: r.get(2)?,
        state: parse_column(r, 3)?,
        exit_code: r.get(4)?,
        started_at: r.get(5)?,
        ended_at: r.get(6)?,
    })
}

/// Sessions that have not ended: the agents the runner should still have.
pub fn live_sessions(conn: &Connection) -> Result<Vec<Session>> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM agent_sessions WHERE ended_at IS NULL ORDER BY started_at"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map([], session_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub fn get_session(conn: &Connection, id: &str) -> Result<Option<Session>> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM agent_sessions WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], session_from_row)
        .optional()?)
}

pub fn sessions_of_bead(conn: &Connection, bead_id: &str) -> Result<Vec<Session>> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM agent_sessions WHERE bead_id = ?1 ORDER BY started_at"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map([bead_id], session_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub fn set_session_state(conn: &Connection, id: &str, state: SessionState) -> Result<()> {
    conn.prepare_cached("UPDATE agent_sessions SET state = ?2 WHERE id = ?1 AND ended_at IS NULL")?
        .execute(params![id, state])?;
    Ok(())
}

/// The live session a token (by its SHA-256) belongs to.
pub fn grant_for_token(conn: &Connection, token_sha256: &str) -> Result<Option<Grant>> {
    Ok(conn
        .prepare_cached(
            "SELECT s.id, a.id, a.name, a.role, a.town_id, a.rig_id, s.bead_id, s.nudge
             FROM agent_sessions AS s JOIN agents AS a ON a.id = s.agent_id
             WHERE s.token_sha256 = ?1 AND s.ended_at IS NULL",
        )?
        .query_row([token_sha256], |r| {
            Ok(Grant {
                session_id: r.get(0)?,
                agent_id: r.get(1)?,
                agent_name: r.get(2)?,
                role: parse_column(r, 3)?,
                town_id: r.get(4)?,
                rig_id: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
                bead_id: r.get(6)?,
                nudge: r.get(7)?,
            })
        })
        .optional()?)
}

/// End a session (its token dies with it) and free the polecat's name. Returns false
/// when it had already ended, so exits are handled once.
pub fn end_session(
    conn: &Connection,
    id: &str,
    state: SessionState,
    exit_code: Option<i32>,
    now: Millis,
) -> Result<bool> {
    let ended = conn.execute(
        "UPDATE agent_sessions SET state = ?2, exit_code = ?3, ended_at = ?4
         WHERE id = ?1 AND ended_at IS NULL",
        params![id, state, exit_code, now],
    )? == 1;
    if ended {
        conn.execute(
            "UPDATE agents SET status = ?2, hooked_bead = NULL
             WHERE id = (SELECT agent_id FROM agent_sessions WHERE id = ?1)",
            params![id, AgentStatus::Idle],
        )?;
    }
    Ok(ended)
}

/// Record something that happened to a bead without moving it (a status note, a push).
pub fn note(
    conn: &Connection,
    bead_id: &str,
    kind: &str,
    actor: &str,
    payload: &serde_json::Value,
    now: Millis,
) -> Result<()> {
    append_event(conn, bead_id, kind, actor, None, None, payload, now)
}
