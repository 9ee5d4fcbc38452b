//! Towns and the rigs (repositories) attached to them.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use webhooks::ForgeKind;

use super::Result;
use super::text::parse_column;
use crate::clock::Millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rig {
    pub id: String,
    pub town_id: String,
    pub forge: ForgeKind,
    pub host: String,
    pub path: String,
    pub created_at: Millis,
}

/// The town's id is its name: towns are few and named in the config.
pub fn ensure_town(conn: &Connection, name: &str, now: Millis) -> Result<String> {
    conn.prepare_cached(
        "INSERT INTO towns (id, name, created_at) VALUES (?1, ?1, ?2) ON CONFLICT DO NOTHING",
    )?
    .execute(params![name, now])?;
    Ok(name.to_string())
}

/// Attach a repository to a town if it is not attached yet; returns the rig as stored
/// (a rig stays in the town it first joined).
pub fn ensure_rig(
    conn: &Connection,
    town_id: &str,
    forge: ForgeKind,
    host: &str,
    path: &str,
    now: Millis,
) -> Result<(Rig, bool)> {
    let mut find = conn.prepare_cached(
        "SELECT id, town_id, forge, host, path, created_at FROM rigs
         WHERE forge = ?1 AND host = ?2 AND path = ?3",
    )?;
    if let Some(rig) = find
        .query_row(params![forge.as_str(), host, path], rig_from_row)
        .optional()?
    {
        return Ok((rig, false));
    }
    let id = rig_id(forge, host, path);
    conn.prepare_cached(
        "INSERT INTO rigs (id, town_id, forge, host, path, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![id, town_id, forge.as_str(), host, path, now])?;
    let rig = find.query_row(params![forge.as_str(), host, path], rig_from_row)?;
    Ok((rig, true))
}

/// `github:owner/repo` on github.com, otherwise the host is kept:
/// `gitlab:gitlab.example.com/group/project`. The same prefix starts every forge ref.
pub fn rig_id(forge: ForgeKind, host: &str, path: &str) -> String {
    if forge == ForgeKind::GitHub && host == forge.public_host() {
        format!("{forge}:{path}")
    } else {
        format!("{forge}:{host}/{path}")
    }
}

pub fn list_rigs(conn: &Connection) -> Result<Vec<Rig>> {
    let mut stmt = conn.prepare(
        "SELECT id, town_id, forge, host, path, created_at FROM rigs ORDER BY created_at, id",
    )?;
    let rows = stmt
        .query_map([], rig_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The rig with this id, if it exists.
pub fn find_rig(conn: &Connection, id: &str) -> Result<Option<Rig>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, town_id, forge, host, path, created_at FROM rigs WHERE id = ?1",
        )?
        .query_row([id], rig_from_row)
        .optional()?)
}

/// The rig with this id; a missing one is an error naming it.
pub fn get_rig(conn: &Connection, id: &str) -> Result<Rig> {
    find_rig(conn, id)?.ok_or_else(|| super::StoreError::NotFound(format!("no rig {id}")))
}

/// The rig of repository `path` on `forge` at `host`, if it exists.
pub fn rig_at(conn: &Connection, forge: ForgeKind, host: &str, path: &str) -> Result<Option<Rig>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, town_id, forge, host, path, created_at FROM rigs
             WHERE forge = ?1 AND host = ?2 AND path = ?3",
        )?
        .query_row(params![forge.as_str(), host, path], rig_from_row)
        .optional()?)
}

fn rig_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Rig> {
    Ok(Rig {
        id: r.get(0)?,
        town_id: r.get(1)?,
        forge: parse_column(r, 2)?,
        host: r.get(3)?,
        path: r.get(4)?,
        created_at: r.get(5)?,
    })
}
