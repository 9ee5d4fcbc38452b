//! An escalation bead's own columns: what it is about, how severe, who raised it, and
//! when it is said again until a person acknowledges it.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::Result;
use crate::clock::Millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Escalation {
    pub bead_id: String,
    /// The task (or other bead) it is about.
    pub about: Option<String>,
    pub severity: String,
    /// `patrol`, `refinery`, or the agent that raised it.
    pub source: String,
    pub notified_at: Millis,
    pub renotified: u32,
    pub next_notice_at: Option<Millis>,
    pub acked_at: Option<Millis>,
    pub acked_by: Option<String>,
}

const COLUMNS: &str = "bead_id, about, severity, source, notified_at, renotified, \
     next_notice_at, acked_at, acked_by";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Escalation> {
    Ok(Escalation {
        bead_id: r.get(0)?,
        about: r.get(1)?,
        severity: r.get(2)?,
        source: r.get(3)?,
        notified_at: r.get(4)?,
        renotified: r.get(5)?,
        next_notice_at: r.get(6)?,
        acked_at: r.get(7)?,
        acked_by: r.get(8)?,
    })
}

pub fn insert_escalation(conn: &Connection, e: &Escalation) -> Result<()> {
    conn.execute(
        &format!("INSERT INTO escalations ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![
            e.bead_id,
            e.about,
            e.severity,
            e.source,
            e.notified_at,
            e.renotified,
            e.next_notice_at,
            e.acked_at,
            e.acked_by
        ],
    )?;
    Ok(())
}

pub fn escalation(conn: &Connection, bead_id: &str) -> Result<Option<Escalation>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM escalations WHERE bead_id = ?1"
        ))?
        .query_row([bead_id], from_row)
        .optional()?)
}

/// Escalations about `about` nobody has acknowledged.
pub fn unacked_about(conn: &Connection, about: &str) -> Result<Vec<Escalation>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM escalations WHERE about = ?1 AND acked_at IS NULL ORDER BY notified_at"
    ))?;
    let rows = stmt
        .query_map([about], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Escalations due to be said again by `now` (the patrol's index).
pub fn due_escalations(conn: &Connection, now: Millis) -> Result<Vec<Escalation>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM escalations WHERE next_notice_at <= ?1 ORDER BY next_notice_at"
    ))?;
    let rows = stmt
        .query_map([now], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Every escalation, newest first; acknowledged ones only with `all`.
pub fn list_escalations(conn: &Connection, all: bool) -> Result<Vec<Escalation>> {
    let filter = if all { "" } else { "WHERE acked_at IS NULL" };
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM escalations {filter} ORDER BY notified_at DESC, bead_id"
    ))?;
    let rows = stmt
        .query_map([], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// It was said again: the `renotified`th time, at `now`; next due at `next`.
pub fn set_renotified(
    conn: &Connection,
    bead_id: &str,
    renotified: u32,
    next: Option<Millis>,
    now: Millis,
) -> Result<()> {
    conn.execute(
        "UPDATE escalations SET renotified = ?2, notified_at = ?3, next_notice_at = ?4
         WHERE bead_id = ?1 AND acked_at IS NULL",
        params![bead_id, renotified, now, next],
    )?;
    Ok(())
}

/// A person acknowledged it. Returns false when it already was.
pub fn set_acked(conn: &Connection, bead_id: &str, by: &str, now: Millis) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE escalations SET acked_at = ?3, acked_by = ?2, next_notice_at = NULL
         WHERE bead_id = ?1 AND acked_at IS NULL",
        params![bead_id, by, now],
    )? == 1)
}
