//! The inbox: a work queue as a table. Ingest inserts; the worker takes the oldest
//! pending delivery of each repository whose retry time has come.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use webhooks::ForgeKind;

use super::text::{parse_column, string_enum};
use super::{Result, StoreError};
use crate::clock::Millis;

string_enum!(InboxStatus("inbox status") {
    Pending => "pending",
    Processed => "processed",
    Failed => "failed",
    Ignored => "ignored",
});

/// A delivery body as stored. Webhook JSON compresses 3-5x, and the bytes written
/// (to the WAL, then again by the checkpoint) are what bounds ingest, so bodies are
/// compressed on the request's thread before they reach the single writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBody {
    codec: &'static str,
    bytes: Vec<u8>,
}

/// Bodies smaller than this are stored as they are: compressing them saves nothing.
const COMPRESS_FROM: usize = 512;

impl StoredBody {
    pub fn compress(raw: &[u8]) -> Self {
        if raw.len() >= COMPRESS_FROM {
            let packed = lz4_flex::compress_prepend_size(raw);
            if packed.len() < raw.len() {
                return Self {
                    codec: "lz4",
                    bytes: packed,
                };
            }
        }
        Self {
            codec: "identity",
            bytes: raw.to_vec(),
        }
    }

    /// The bytes as the forge sent them.
    pub fn decompress(codec: &str, bytes: Vec<u8>) -> Result<Vec<u8>> {
        match codec {
            "identity" => Ok(bytes),
            "lz4" => lz4_flex::decompress_size_prepended(&bytes)
                .map_err(|e| StoreError::Invalid(format!("stored body does not decompress: {e}"))),
            other => Err(StoreError::Invalid(format!("unknown body codec {other:?}"))),
        }
    }

    pub fn stored_len(&self) -> usize {
        self.bytes.len()
    }
}

/// A verified delivery as ingest hands it to the store.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub forge: ForgeKind,
    pub forge_host: String,
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub repo: Option<String>,
    /// `None` for a delivery settled at ingest as needing nothing: not kept.
    pub body: Option<StoredBody>,
    pub received_at: Millis,
    /// Set when ingest's look settled the delivery: stored as it is, never worked.
    pub settled: Option<Settled>,
}

/// How ingest settled a delivery without the worker, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The body could not even be routed: kept for a person to inspect.
    Failed(String),
    /// Nothing in the town can act on it (a comment that addresses nobody).
    Ignored(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    Inserted(i64),
    Duplicate(i64),
}

/// Insert unless the (forge, host, delivery id) is already there.
pub fn insert_delivery(conn: &Connection, d: &NewDelivery) -> Result<InsertOutcome> {
    let (status, error, processed_at) = match &d.settled {
        Some(Settled::Failed(e)) => ("failed", Some(e.as_str()), None),
        Some(Settled::Ignored(why)) => ("ignored", Some(why.as_str()), Some(d.received_at)),
        None => ("pending", None, None),
    };
    let mut insert = conn.prepare_cached(
        "INSERT INTO inbox (forge, forge_host, delivery_id, event, action, repo,
                            received_at, status, next_attempt_at, last_error, processed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7, ?9, ?10)
         ON CONFLICT (forge, forge_host, delivery_id) DO NOTHING",
    )?;
    let changed = insert.execute(params![
        d.forge.as_str(),
        d.forge_host,
        d.delivery_id,
        d.event,
        d.action,
        d.repo,
        d.received_at,
        status,
        error,
        processed_at,
    ])?;
    if changed == 1 {
        let id = conn.last_insert_rowid();
        if let Some(body) = &d.body {
            conn.prepare_cached(
                "INSERT INTO inbox_bodies (inbox_id, codec, body) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![id, body.codec, body.bytes])?;
        }
        return Ok(InsertOutcome::Inserted(id));
    }
    let mut find = conn.prepare_cached(
        "SELECT id FROM inbox WHERE forge = ?1 AND forge_host = ?2 AND delivery_id = ?3",
    )?;
    let id = find.query_row(
        params![d.forge.as_str(), d.forge_host, d.delivery_id],
        |r| r.get(0),
    )?;
    Ok(InsertOutcome::Duplicate(id))
}

/// A stored delivery. `body` is loaded only where it is needed.
#[derive(Debug, Clone, Serialize)]
pub struct InboxRow {
    pub id: i64,
    pub forge: ForgeKind,
    pub forge_host: String,
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub repo: Option<String>,
    pub received_at: Millis,
    pub status: InboxStatus,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub last_error: Option<String>,
    pub processed_at: Option<Millis>,
    #[serde(skip)]
    pub body: Vec<u8>,
    #[serde(skip)]
    pub body_error: Option<String>,
}

const COLUMNS: &str = "id, forge, forge_host, delivery_id, event, action, repo, received_at,
                       status, attempts, next_attempt_at, last_error, processed_at";

fn row_without_body(r: &Row<'_>) -> rusqlite::Result<InboxRow> {
    Ok(InboxRow {
        id: r.get(0)?,
        forge: parse_column(r, 1)?,
        forge_host: r.get(2)?,
        delivery_id: r.get(3)?,
        event: r.get(4)?,
        action: r.get(5)?,
        repo: r.get(6)?,
        received_at: r.get(7)?,
        status: parse_column(r, 8)?,
        attempts: r.get(9)?,
        next_attempt_at: r.get(10)?,
        last_error: r.get(11)?,
        processed_at: r.get(12)?,
        body: Vec::new(),
        body_error: None,
    })
}

/// The deliveries to work now, oldest first, at most `limit`. A delivery is due when
/// its retry time has come and no earlier delivery of its repository is still waiting
/// out a retry: deliveries of one repository are worked in order.
pub fn take_due(conn: &Connection, now: Millis, limit: usize) -> Result<Vec<InboxRow>> {
    // A repository's queue stops at its first delivery still waiting out a backoff.
    // Computing that stop once per repository keeps a deep backlog linear: a per-row
    // "no earlier waiting row" subquery rescans the repository's backlog for every row.
    // Only a delivery tried before can be waiting (`inbox_retrying` holds just those).
    let sql = format!(
        "WITH waiting AS (SELECT repo AS waiting_repo, min(id) AS first FROM inbox
                          WHERE status = 'pending' AND attempts > 0 AND next_attempt_at > ?1
                          GROUP BY repo)
         SELECT {COLUMNS}, b.codec, b.body FROM inbox AS i
         JOIN inbox_bodies AS b ON b.inbox_id = i.id
         LEFT JOIN waiting AS w ON w.waiting_repo IS i.repo
         WHERE i.status = 'pending' AND i.next_attempt_at <= ?1
           AND (w.first IS NULL OR i.id < w.first)
         ORDER BY i.id LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![now, limit as i64], |r| {
            let row = row_without_body(r)?;
            Ok((row, r.get::<_, String>(13)?, r.get::<_, Vec<u8>>(14)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .map(|(mut row, codec, bytes)| {
            // A body that cannot be read back fails its own delivery, not the worker.
            match StoredBody::decompress(&codec, bytes) {
                Ok(body) => row.body = body,
                Err(e) => row.body_error = Some(e.to_string()),
            }
            row
        })
        .collect())
}

/// When the next retry comes up, so the worker can sleep until then. Deliveries already
/// due but queued behind a retry of their repository do not count: the retry comes
/// first, and sleeping until it is what lets them go.
pub fn next_due(conn: &Connection, now: Millis) -> Result<Option<Millis>> {
    Ok(conn.query_row(
        "SELECT min(next_attempt_at) FROM inbox
         WHERE status = 'pending' AND attempts > 0 AND next_attempt_at > ?1",
        [now],
        |r| r.get(0),
    )?)
}

pub fn mark_processed(conn: &Connection, id: i64, now: Millis) -> Result<()> {
    conn.prepare_cached(
        "UPDATE inbox SET status = 'processed', processed_at = ?2, attempts = attempts + 1,
                          last_error = NULL
         WHERE id = ?1",
    )?
    .execute(params![id, now])?;
    Ok(())
}

pub fn mark_ignored(conn: &Connection, id: i64, now: Millis, why: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE inbox SET status = 'ignored', processed_at = ?2, last_error = ?3,
                          attempts = attempts + 1
         WHERE id = ?1",
    )?
    .execute(params![id, now, why])?;
    Ok(())
}

/// Give up on a delivery: later deliveries of its repository go on without it.
pub fn mark_failed(conn: &Connection, id: i64, now: Millis, error: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE inbox SET status = 'failed', processed_at = ?2, last_error = ?3,
                          attempts = attempts + 1
         WHERE id = ?1",
    )?
    .execute(params![id, now, error])?;
    Ok(())
}

/// Record a failed attempt and when to try again.
pub fn schedule_retry(conn: &Connection, id: i64, at: Millis, error: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE inbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3
         WHERE id = ?1",
    )?
    .execute(params![id, at, error])?;
    Ok(())
}

/// Put a failed or ignored delivery back in the queue (`gt inbox retry`).
pub fn retry_delivery(conn: &Connection, id: i64, now: Millis) -> Result<InboxRow> {
    let row = get_delivery(conn, id)?;
    if row.status == InboxStatus::Pending {
        return Err(StoreError::Invalid(format!(
            "delivery {id} is already pending (attempt {} so far)",
            row.attempts
        )));
    }
    let kept: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM inbox_bodies WHERE inbox_id = ?1)")?
        .query_row([id], |r| r.get(0))?;
    if !kept {
        return Err(StoreError::Invalid(format!(
            "delivery {id} was settled when it arrived ({}) and its body was not kept; \
             ask the forge to redeliver it",
            row.last_error.as_deref().unwrap_or("nothing to do")
        )));
    }
    conn.execute(
        "UPDATE inbox SET status = 'pending', attempts = 0, next_attempt_at = ?2,
                          processed_at = NULL
         WHERE id = ?1",
        params![id, now],
    )?;
    get_delivery(conn, id)
}

/// The payload of a delivery, decompressed; `None` when it was not kept (the delivery
/// was settled when it arrived).
pub fn delivery_body(conn: &Connection, id: i64) -> Result<Option<Vec<u8>>> {
    let stored: Option<(String, Vec<u8>)> = conn
        .query_row(
            "SELECT codec, body FROM inbox_bodies WHERE inbox_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match stored {
        Some((codec, bytes)) => StoredBody::decompress(&codec, bytes).map(Some),
        // Say which: a wrong id, or a body not kept.
        None => get_delivery(conn, id).map(|_| None),
    }
}

pub fn get_delivery(conn: &Connection, id: i64) -> Result<InboxRow> {
    let sql = format!("SELECT {COLUMNS} FROM inbox WHERE id = ?1");
    conn.query_row(&sql, [id], row_without_body)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no delivery with id {id} in the inbox")))
}

/// Newest first.
pub fn list_inbox(
    conn: &Connection,
    status: Option<InboxStatus>,
    limit: usize,
) -> Result<Vec<InboxRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM inbox WHERE (?1 IS NULL OR status = ?1)
         ORDER BY id DESC LIMIT ?2"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(
            params![status.map(InboxStatus::as_str), limit as i64],
            row_without_body,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Deletes up to `limit` settled deliveries (processed or ignored) received before
/// `received_before`, with their bodies; returns how many went.
///
/// Failed and pending deliveries stay whatever their age: a person may still retry
/// them. The inbox has no index on time (every index costs each ingest), but ids grow
/// with arrival, so the scan walks ids from the oldest and stops at the first delivery
/// young enough to keep: it reads what it deletes plus the few kept old rows.
pub fn prune_settled(conn: &Connection, received_before: Millis, limit: usize) -> Result<usize> {
    let mut doomed = Vec::new();
    {
        let mut scan =
            conn.prepare_cached("SELECT id, received_at, status FROM inbox ORDER BY id")?;
        let mut rows = scan.query([])?;
        while doomed.len() < limit {
            let Some(row) = rows.next()? else { break };
            if row.get::<_, Millis>(1)? >= received_before {
                break;
            }
            if matches!(row.get_ref(2)?.as_str(), Ok("processed" | "ignored")) {
                doomed.push(row.get::<_, i64>(0)?);
            }
        }
    }
    let mut body = conn.prepare_cached("DELETE FROM inbox_bodies WHERE inbox_id = ?1")?;
    let mut row = conn.prepare_cached("DELETE FROM inbox WHERE id = ?1")?;
    for id in &doomed {
        body.execute([id])?;
        row.execute([id])?;
    }
    Ok(doomed.len())
}
