//! Comments addressed to the bot and the Mayor's turns: what each comment already ran
//! (so an edit runs only what it added and a redelivery nothing), and the Mayor's work
//! queue, which is also each thread's conversation history.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{Result, Tx, Wake};
use crate::clock::Millis;

/// What the town already did with one comment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeenComment {
    /// The command lines that ran, as [`crate::decisions::command::Line::text`].
    pub lines: Vec<String>,
    /// Its author was told they may not command the town.
    pub refused: bool,
}

pub fn seen_comment(c: &Connection, rig: &str, comment_id: u64) -> Result<Option<SeenComment>> {
    Ok(c.prepare_cached(
        "SELECT lines, refused FROM comment_commands WHERE rig_id = ?1 AND comment_id = ?2",
    )?
    .query_row(params![rig, comment_id as i64], |r| {
        let lines: String = r.get(0)?;
        Ok(SeenComment {
            lines: serde_json::from_str(&lines).unwrap_or_default(),
            refused: r.get(1)?,
        })
    })
    .optional()?)
}

pub fn record_comment(
    tx: &Tx<'_>,
    rig: &str,
    comment_id: u64,
    author: &str,
    seen: &SeenComment,
    now: Millis,
) -> Result<()> {
    let lines = serde_json::to_string(&seen.lines).expect("strings serialize");
    tx.prepare_cached(
        "INSERT INTO comment_commands (rig_id, comment_id, author, lines, refused, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
         ON CONFLICT (rig_id, comment_id) DO UPDATE
           SET lines = excluded.lines, refused = excluded.refused, updated_at = excluded.updated_at",
    )?
    .execute(params![rig, comment_id as i64, author, lines, seen.refused, now])?;
    Ok(())
}

/// Where a turn's request was written, and so where its answer goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Thread {
    pub rig_id: String,
    /// The or PR/MR's forge ref: the conversation's key.
    pub forge_ref: String,
    pub number: u64,
    pub on_pull_request: bool,
    pub on_diff: bool,
    pub comment_id: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Turn {
    pub id: i64,
    pub conversation_id: i64,
    pub thread: Thread,
    pub author: String,
    pub request: String,
    pub answer: Option<String>,
    /// JSON list of what the turn's tools did.
    pub actions: serde_json::Value,
    pub status: String,
    pub attempts: u32,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub error: Option<String>,
    pub created_at: Millis,
}

const TURN: &str = "t.id, t.conversation_id, t.rig_id, v.forge_ref, t.number, t.on_pull_request, \
     t.on_diff, t.comment_id, t.author, t.request, t.answer, t.actions, t.status, t.attempts, \
     t.tokens_in, t.tokens_out, t.error, t.created_at";

fn turn(r: &Row<'_>) -> rusqlite::Result<Turn> {
    let actions: String = r.get(11)?;
    Ok(Turn {
        id: r.get(0)?,
        conversation_id: r.get(1)?,
        thread: Thread {
            rig_id: r.get(2)?,
            forge_ref: r.get(3)?,
            number: r.get::<_, i64>(4)? as u64,
            on_pull_request: r.get(5)?,
            on_diff: r.get(6)?,
            comment_id: r.get::<_, i64>(7)? as u64,
        },
        author: r.get(8)?,
        request: r.get(9)?,
        answer: r.get(10)?,
        actions: serde_json::from_str(&actions).unwrap_or_default(),
        status: r.get(12)?,
        attempts: r.get(13)?,
        tokens_in: r.get(14)?,
        tokens_out: r.get(15)?,
        error: r.get(16)?,
        created_at: r.get(17)?,
    })
}

/// Queue a request for the Mayor in the thread's conversation (started if new). One
/// turn per comment: `None` when this comment already has one.
pub fn queue_turn(
    tx: &Tx<'_>,
    town_id: &str,
    thread: &Thread,
    author: &str,
    request: &str,
    now: Millis,
) -> Result<Option<i64>> {
    tx.prepare_cached(
        "INSERT INTO conversations (town_id, forge_ref, rig_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (forge_ref) DO UPDATE SET updated_at = excluded.updated_at",
    )?
    .execute(params![town_id, thread.forge_ref, thread.rig_id, now])?;
    let conversation: i64 = tx
        .prepare_cached("SELECT id FROM conversations WHERE forge_ref = ?1")?
        .query_row([&thread.forge_ref], |r| r.get(0))?;
    let n = tx
        .prepare_cached(
            "INSERT INTO conversation_turns (conversation_id, rig_id, comment_id, number,
               on_pull_request, on_diff, author, request, next_attempt_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
             ON CONFLICT (rig_id, comment_id) DO NOTHING",
        )?
        .execute(params![
            conversation,
            thread.rig_id,
            thread.comment_id as i64,
            thread.number as i64,
            thread.on_pull_request,
            thread.on_diff,
            author,
            request,
            now
        ])?;
    if n == 0 {
        return Ok(None);
    }
    tx.wake(Wake::Mayor);
    Ok(Some(tx.last_insert_rowid()))
}

/// Queued turns due by `now`, oldest first.
pub fn due_turns(c: &Connection, now: Millis, limit: usize) -> Result<Vec<Turn>> {
    let sql = format!(
        "SELECT {TURN} FROM conversation_turns t JOIN conversations v ON v.id = t.conversation_id
         WHERE t.status = 'queued' AND t.next_attempt_at <= ?1 ORDER BY t.id LIMIT ?2"
    );
    let rows = c
        .prepare_cached(&sql)?
        .query_map(params![now, limit as i64], turn)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// When the next queued turn is due, if any.
pub fn next_turn_due(c: &Connection) -> Result<Option<Millis>> {
    Ok(c.prepare_cached(
        "SELECT MIN(next_attempt_at) FROM conversation_turns WHERE status = 'queued'",
    )?
    .query_row([], |r| r.get(0))?)
}

/// The conversation's answered turns before `turn`, oldest first, at most `limit` (the
/// latest ones).
pub fn history(c: &Connection, conversation: i64, before: i64, limit: usize) -> Result<Vec<Turn>> {
    let sql = format!(
        "SELECT * FROM (SELECT {TURN} FROM conversation_turns t
           JOIN conversations v ON v.id = t.conversation_id
           WHERE t.conversation_id = ?1 AND t.id < ?2 AND t.status = 'answered'
           ORDER BY t.id DESC LIMIT ?3) ORDER BY id"
    );
    let rows = c
        .prepare_cached(&sql)?
        .query_map(params![conversation, before, limit as i64], turn)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Every turn of a thread, oldest first.
pub fn turns_of(c: &Connection, forge_ref: &str) -> Result<Vec<Turn>> {
    let sql = format!(
        "SELECT {TURN} FROM conversation_turns t JOIN conversations v ON v.id = t.conversation_id
         WHERE v.forge_ref = ?1 ORDER BY t.id"
    );
    let rows = c
        .prepare_cached(&sql)?
        .query_map([forge_ref], turn)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// How a turn ended: answered, or failed for good (its answer says why).
pub struct TurnEnd<'a> {
    pub answered: bool,
    pub answer: &'a str,
    pub actions: &'a serde_json::Value,
    pub tokens_in: i64,
    pub tokens_out: i64,
    /// What the tokens cost, in millionths of the price's currency.
    pub cost_micros: i64,
    pub error: Option<&'a str>,
}

pub fn finish_turn(tx: &Tx<'_>, id: i64, end: &TurnEnd<'_>, now: Millis) -> Result<()> {
    tx.prepare_cached(
        "UPDATE conversation_turns SET status = ?2, answer = ?3, actions = ?4,
           tokens_in = tokens_in + ?5, tokens_out = tokens_out + ?6, error = ?7,
           attempts = attempts + 1, finished_at = ?8, cost_micros = cost_micros + ?9
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        if end.answered { "answered" } else { "failed" },
        end.answer,
        end.actions.to_string(),
        end.tokens_in,
        end.tokens_out,
        end.error,
        now,
        end.cost_micros
    ])?;
    tx.prepare_cached(
        "UPDATE conversations SET tokens_in = tokens_in + ?2, tokens_out = tokens_out + ?3,
           cost_micros = cost_micros + ?5, updated_at = ?4
         WHERE id = (SELECT conversation_id FROM conversation_turns WHERE id = ?1)",
    )?
    .execute(params![
        id,
        end.tokens_in,
        end.tokens_out,
        now,
        end.cost_micros
    ])?;
    Ok(())
}

/// Try the turn again at `at` (the model or the forge could not be reached).
pub fn retry_turn(tx: &Tx<'_>, id: i64, at: Millis, error: &str) -> Result<()> {
    tx.prepare_cached(
        "UPDATE conversation_turns SET attempts = attempts + 1, next_attempt_at = ?2, error = ?3
         WHERE id = ?1",
    )?
    .execute(params![id, at, error])?;
    Ok(())
}

/// What the Mayor spent, for one thread or (with `None`) the whole town.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MayorSpend {
    pub turns: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cost_micros: i64,
}

pub fn mayor_spend(c: &Connection, forge_ref: Option<&str>) -> Result<MayorSpend> {
    Ok(c.prepare_cached(
        "SELECT COUNT(t.id), COALESCE(SUM(t.tokens_in), 0), COALESCE(SUM(t.tokens_out), 0),
                COALESCE(SUM(t.cost_micros), 0)
         FROM conversation_turns t JOIN conversations v ON v.id = t.conversation_id
         WHERE ?1 IS NULL OR v.forge_ref = ?1",
    )?
    .query_row([forge_ref], |r| {
        Ok(MayorSpend {
            turns: r.get(0)?,
            tokens_in: r.get(1)?,
            tokens_out: r.get(2)?,
            cost_micros: r.get(3)?,
        })
    })?)
}
