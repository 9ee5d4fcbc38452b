//! The outbox: forge calls queued by the transaction that decided them.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::Result;
use crate::clock::Millis;

/// A forge write waiting in the outbox: its `kind` column and its payload, as one type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ForgeAction {
    /// Post or edit in place the bead's status comment on issue `number`.
    StatusComment { number: u64 },
    /// Make the issue's status labels these.
    StatusLabels {
        number: u64,
        add: Vec<String>,
        remove: Vec<String>,
    },
    /// Post `body` once (found again by its `marker` after a crash), and maybe close
    /// the issue.
    Comment {
        number: u64,
        body: String,
        marker: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        close_issue: bool,
    },
    /// Open the convoy's tracking issue (or find it again by its marker) and keep its
    /// state the convoy's.
    TrackingIssue { convoy: String },
    /// Delete the town's branch of work that merged, if the repository's
    /// `.gastown.yaml` lets it (`delete_merged_branches`, on by default).
    DeleteBranch { branch: String },
    /// Say escalation `escalation` (its `notice`th time, 0 when raised) on issue
    /// `number` with the `gt:escalated` label; a critical one also opens an issue.
    /// Composed when sent, so it names the owners `.gastown.yaml` names then.
    Escalation {
        escalation: String,
        number: Option<u64>,
        notice: u32,
    },
    /// Put the bot's `reaction` on the comment that asked it something (the 👀 that
    /// says a command was seen). Skipped once the comment's answer is out.
    React {
        asker: crate::forge::CommentRef,
        reaction: crate::forge::Reaction,
    },
    /// Answer a comment in its thread (once, found again by `marker`), then swap the
    /// 👀 for `outcome` (none for a refusal, which never got one).
    Answer {
        asker: crate::forge::CommentRef,
        body: String,
        marker: String,
        outcome: Option<crate::forge::Reaction>,
    },
}

impl ForgeAction {
    /// The `kind` column and the payload stored beside it.
    fn to_columns(&self) -> (String, serde_json::Value) {
        let mut value = serde_json::to_value(self).expect("a forge action serializes");
        let kind = value
            .as_object_mut()
            .and_then(|o| o.remove("kind"))
            .and_then(|k| k.as_str().map(String::from))
            .unwrap_or_default();
        (kind, value)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub id: i64,
    pub key: String,
    pub kind: String,
    pub rig_id: String,
    pub bead_id: Option<String>,
    pub payload: serde_json::Value,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub last_error: Option<String>,
}

fn action_from_row(r: &Row<'_>) -> rusqlite::Result<Action> {
    let payload: String = r.get(5)?;
    Ok(Action {
        id: r.get(0)?,
        key: r.get(1)?,
        kind: r.get(2)?,
        rig_id: r.get(3)?,
        bead_id: r.get(4)?,
        payload: serde_json::from_str(&payload).unwrap_or_default(),
        status: r.get(6)?,
        attempts: r.get(7)?,
        next_attempt_at: r.get(8)?,
        last_error: r.get(9)?,
    })
}

impl Action {
    /// What to do, read from the row; `Err` names what the row holds that is not an
    /// action this bot knows (written by another version, or by hand).
    pub fn forge_action(&self) -> std::result::Result<ForgeAction, String> {
        let mut value = self.payload.clone();
        let Some(obj) = value.as_object_mut() else {
            return Err(format!("action {}: its payload is not an object", self.id));
        };
        obj.insert("kind".into(), self.kind.clone().into());
        serde_json::from_value(value)
            .map_err(|e| format!("action {} ({}): {e}", self.id, self.kind))
    }
}

const COLUMNS: &str =
    "id, key, kind, rig_id, bead_id, payload, status, attempts, next_attempt_at, last_error";

/// Queue an action unless one with the same key exists, waking the action runner once
/// it is committed. Returns whether it was new.
pub fn enqueue_action(
    conn: &super::Tx<'_>,
    key: &str,
    rig_id: &str,
    bead_id: Option<&str>,
    action: &ForgeAction,
    now: Millis,
) -> Result<bool> {
    let (kind, payload) = action.to_columns();
    let n = conn
        .prepare_cached(
            "INSERT INTO actions (key, kind, rig_id, bead_id, payload, next_attempt_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (key) DO NOTHING",
        )?
        .execute(params![
            key,
            kind,
            rig_id,
            bead_id,
            payload.to_string(),
            now
        ])?;
    if n == 1 {
        conn.wake(super::Wake::Actions);
    }
    Ok(n == 1)
}

/// Due actions, oldest first.
pub fn due_actions(conn: &Connection, now: Millis, limit: usize) -> Result<Vec<Action>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM actions WHERE status = 'pending' AND next_attempt_at <= ?1
         ORDER BY next_attempt_at, id LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![now, limit as i64], action_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub fn next_action_due(conn: &Connection) -> Result<Option<Millis>> {
    Ok(conn.query_row(
        "SELECT min(next_attempt_at) FROM actions WHERE status = 'pending'",
        [],
        |r| r.get(0),
    )?)
}

pub fn finish_action(conn: &Connection, id: i64, now: Millis) -> Result<()> {
    conn.execute(
        "UPDATE actions SET status = 'done', done_at = ?2, attempts = attempts + 1,
                            last_error = NULL WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

pub fn retry_action(conn: &Connection, id: i64, at: Millis, error: &str) -> Result<()> {
    conn.execute(
        "UPDATE actions SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3
         WHERE id = ?1",
        params![id, at, error],
    )?;
    Ok(())
}

pub fn fail_action(conn: &Connection, id: i64, now: Millis, error: &str) -> Result<()> {
    conn.execute(
        "UPDATE actions SET status = 'failed', attempts = attempts + 1, done_at = ?2,
                            last_error = ?3 WHERE id = ?1",
        params![id, now, error],
    )?;
    Ok(())
}

pub fn list_actions(conn: &Connection) -> Result<Vec<Action>> {
    let sql = format!("SELECT {COLUMNS} FROM actions ORDER BY id");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map([], action_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Where a bead's status comment lives, once it has been posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCommentRow {
    pub comment_id: u64,
    pub number: u64,
    pub on_pull_request: bool,
    pub body_sha256: String,
}

pub fn status_comment(conn: &Connection, bead_id: &str) -> Result<Option<StatusCommentRow>> {
    Ok(conn
        .query_row(
            "SELECT comment_id, number, on_pull_request, body_sha256 FROM status_comments
             WHERE bead_id = ?1",
            [bead_id],
            |r| {
                Ok(StatusCommentRow {
                    comment_id: r.get::<_, i64>(0)? as u64,
                    number: r.get::<_, i64>(1)? as u64,
                    on_pull_request: r.get(2)?,
                    body_sha256: r.get(3)?,
                })
            },
        )
        .optional()?)
}

pub fn save_status_comment(
    conn: &Connection,
    bead_id: &str,
    row: &StatusCommentRow,
    now: Millis,
) -> Result<()> {
    conn.execute(
        "INSERT INTO status_comments (bead_id, comment_id, number, on_pull_request,
                                      body_sha256, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (bead_id) DO UPDATE SET comment_id = ?2, number = ?3,
             on_pull_request = ?4, body_sha256 = ?5, updated_at = ?6",
        params![
            bead_id,
            row.comment_id as i64,
            row.number as i64,
            row.on_pull_request,
            row.body_sha256,
            now
        ],
    )?;
    Ok(())
}

/// Whether an answer to comment `comment_id` of the rig is already on the forge: a 👀
/// that failed and is retried after it would say the bot is still looking.
pub fn answered(conn: &Connection, rig_id: &str, comment_id: u64) -> Result<bool> {
    // Keys between `answer:…:` and `answer:…;` are the ones with the prefix (`;`
    // follows `:`), a range the key's index answers.
    let from = answer_key_prefix(rig_id, comment_id);
    let to = format!("{};", from.trim_end_matches(':'));
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM actions WHERE key > ?1 AND key < ?2 AND status = 'done' LIMIT 1",
        )?
        .exists([from, to])?)
}

/// The keys of the answers to one comment start with this.
pub fn answer_key_prefix(rig_id: &str, comment_id: u64) -> String {
    format!("answer:{rig_id}:{comment_id}:")
}
