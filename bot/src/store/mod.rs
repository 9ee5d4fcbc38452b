//! The one SQLite database that holds all orchestration state (DESIGN.md §4).
//!
//! One writer thread commits on the only write connection in groups: every write
//! queued while the previous commit was on its way to disk joins the next transaction,
//! each in its own savepoint so one failing job does not undo the others (`writer`,
//! which also says when a lone light write commits on its caller's thread). A caller
//! hears back only after the COMMIT that contains its write returned, and with
//! `synchronous=FULL` that means the write is on disk. Reads use a small pool of
//! separate connections; WAL lets them run while the writer works.

mod actions;
mod agents;
mod beads;
mod commands;
mod escalations;
mod forge_ref;
mod inbox;
mod migrations;
mod patrol;
mod rigs;
mod text;
mod tx;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use writer::{Queued, Writer};

pub use actions::{
    Action, ForgeAction, StatusCommentRow, answer_key_prefix, answered, due_actions,
    enqueue_action, fail_action, finish_action, list_actions, next_action_due, retry_action,
    save_status_comment, status_comment,
};
pub use agents::{
    Agent, AgentStatus, Grant, Hooking, Role, Session, SessionState, agent_id, end_session,
    get_agent, get_session, grant_for_token, hook_bead, list_agents, live_sessions, note,
    polecat_id, sessions_of_bead, set_session_state,
};
pub use beads::{
    Bead, BeadEvent, BeadStatus, BeadType, CloseReason, DepType, NewBead, add_dep,
    add_planned_deps, annotate, bead_events, branch_owner, children, clear_metadata_in_town,
    create_bead, dependents_of, deps_of, events_since, find_by_forge_ref, find_task_for_forge_ref,
    get_bead, landed, list_beads, merge_requests_tested_at, ready_beads, refinery_queue,
    remove_dep, set_forge_ref, set_metadata, transition,
};
pub use commands::{
    MayorSpend, SeenComment, Thread, Turn, TurnEnd, due_turns, finish_turn, history, mayor_spend,
    next_turn_due, queue_turn, record_comment, retry_turn, seen_comment, turns_of,
};
pub use escalations::{
    Escalation, due_escalations, escalation, insert_escalation, list_escalations, set_acked,
    set_renotified, unacked_about,
};
pub use forge_ref::{ForgeRef, NotAForgeRef, RefKind};
pub use inbox::{
    InboxRow, InboxStatus, InsertOutcome, NewDelivery, Settled, StoredBody, delivery_body,
    get_delivery, insert_delivery, list_inbox, mark_failed, mark_ignored, mark_processed, next_due,
    prune_settled, retry_delivery, schedule_retry, take_due,
};
pub use patrol::{
    Ladder, RigPause, Watched, asking_began, asking_ended, climb, free_agent, idle_workers,
    nudge_of, orphaned_beads, pause_rig, progress_of_session, prune_failures, record_failure,
    reset_attempts, resume_rig, retry_at, rig_pause, rig_pauses, set_retry_at, touch, watched,
};
pub use rigs::{Rig, ensure_rig, ensure_town, find_rig, get_rig, list_rigs, rig_at, rig_id};
pub use text::UnknownValue;
pub use tx::{Tx, Wake, Wakes};

/// Why the store could not do what it was asked. Clone, because one failed COMMIT is
/// the answer to every write of its group: causes are shared behind an `Arc`.
#[derive(Debug, thiserror::Error, Clone)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    #[error("migration {version} failed: {source}")]
    Migration {
        version: usize,
        #[source]
        source: Arc<rusqlite::Error>,
    },
    #[error(
        "migration {version} failed: the database is at schema version {version} but this gt \
         knows only {known}; upgrade gt"
    )]
    NewerSchema { version: usize, known: usize },
    #[error(transparent)]
    Sqlite(Arc<rusqlite::Error>),
    #[error("commit failed, nothing in this batch was saved: {0}")]
    Commit(#[source] Arc<rusqlite::Error>),
    #[error("read task failed: {0}")]
    ReadTask(#[source] Arc<tokio::task::JoinError>),
    #[error("{0}")]
    NotFound(String),
    /// A write the store refuses: a move the lifecycle does not allow, a malformed
    /// value, a dependency cycle.
    #[error("{0}")]
    Invalid(String),
    /// The agent already holds a bead: whoever wanted it waits for it to be free.
    #[error("agent {agent_id} is already working")]
    Busy { agent_id: String },
    #[error("the write was aborted: the store's writer stopped or the write panicked")]
    WriterGone,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(Arc::new(e))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Arc<Writer>,
    readers: Mutex<Vec<Connection>>,
    /// Reads at once: each holds a connection with its own page cache, so a burst of
    /// agents' tool calls queues here instead of growing the bot's memory with it.
    reading: tokio::sync::Semaphore,
    wakes: Arc<Wakes>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: the writer thread commits what is left and ends.
        self.writer.close();
    }
}

/// How much WAL the writer lets build up before it checkpoints it itself, in bytes
/// (SQLite counts pages: this divided by the database's page size). Each such pass
/// holds up its group's acknowledgements, so the budget sets how often that happens.
/// Driven by `wrk` at 16 connections: 1000 4 KiB pages (SQLite's default) gave an
/// 82 ms p99 in one of six five-second runs, 4000 in none. Once new databases moved to
/// 1 KiB pages, a count of 4000 made those passes four times as frequent (8 a second
/// rather than 2); going back to 16 MiB, with the writeback the checkpointer starts
/// after each of its own passes, took the median p99 of six alternating ten-second
/// runs from 1.75 to 1.45 ms. The WAL is rewritten from its start after each
/// checkpoint, so the file stays this size; until it first gets there (a new or
/// restarted server), every commit also records the file's growth, which costs one
/// connection's median acknowledgement ~15 us.
const WAL_BYTES: i64 = 16 << 20;

/// [`WAL_BYTES`] in pages of `page_size` bytes, the unit SQLite's `wal_autocheckpoint`
/// takes: a database keeps the page size it was created with.
fn wal_budget_pages(page_size: i64) -> i64 {
    WAL_BYTES / page_size.max(512)
}

/// Bytes per page of a new database. Every COMMIT writes each page it changed whole
/// to the WAL and waits for the device: storing one delivery changes two or three
/// pages (the table's last leaf, the delivery-id index's leaf), so smaller pages mean
/// fewer bytes between a delivery and its acknowledgement. At one connection, 1024
/// rather than SQLite's 4096 took ~25 us off the median acknowledgement on a 2-core
/// VM (three alternating rounds), with no change at 16 connections.
const PAGE_SIZE: u32 = 1024;

/// Connections kept for reads, and reads run at once (a 2-core host gains nothing from
/// more; WAL lets them all run beside the writer).
const READERS: usize = 8;

impl Store {
    /// Open (creating if needed) the database at `path`, run pending migrations, and
    /// start the writer thread.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut conn = open_connection(&path, false)?;
        migrations::run(&mut conn)?;
        // Checkpoints (copying WAL pages into the database) mostly run on their own
        // thread so they do not sit between a delivery and its acknowledgement. Under
        // steady writes that pass never catches up with the last frames, and only a
        // checkpoint that does lets the WAL restart from its beginning instead of growing
        // without end: the writer makes one itself past WAL_BYTES. Every acknowledgement
        // of its group waits for that pass; it is usually short, since the background
        // has copied nearly all of it a few milliseconds before, but now and then it is
        // not, and the fewer there are, the fewer such stalls.
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        conn.pragma_update(None, "wal_autocheckpoint", wal_budget_pages(page_size))?;
        let checkpointer = open_connection(&path, false)?;
        let io_err = |e: std::io::Error| StoreError::Open {
            path: path.display().to_string(),
            source: Arc::new(e),
        };
        // Read-only is enough to start the writeback of pages others wrote.
        let db_file = std::fs::File::open(&path).map_err(io_err)?;
        let wakes = Arc::new(Wakes::default());
        let writer = Writer::start(conn, checkpointer, db_file, wakes.clone()).map_err(io_err)?;
        Ok(Store {
            inner: Arc::new(Inner {
                path,
                writer,
                readers: Mutex::new(Vec::new()),
                reading: tokio::sync::Semaphore::new(READERS),
                wakes,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// What each loop waits on; writes wake them through [`Tx::wake`].
    pub fn wakes(&self) -> &Wakes {
        &self.inner.wakes
    }

    /// Run `f` inside the next group transaction. Resolves after the COMMIT that holds
    /// the write is durable. If `f` fails, its own changes are rolled back and the
    /// error returned; other writes in the group are unaffected.
    pub async fn write<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<R> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        self.inner.writer.push(Box::new(Queued { f, reply }));
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// [`Store::write`] for a small write whose caller waits on it, such as storing a
    /// delivery before acknowledging it. When nobody else has been writing, it commits
    /// on the calling thread, blocking it for one fsync, instead of paying two thread
    /// hand-offs around that fsync; otherwise it joins the next group like any write.
    pub async fn write_light<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<R> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        if let Some(job) = self.inner.writer.try_alone(Box::new(Queued { f, reply })) {
            self.inner.writer.push(job);
        }
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Run a read on a pooled read-only connection, off the async runtime.
    pub async fn read<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        let _permit = self
            .inner
            .reading
            .acquire()
            .await
            .expect("the readers' semaphore is never closed");
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.read_blocking(f))
            .await
            .map_err(|e| StoreError::ReadTask(Arc::new(e)))?
    }

    /// The same as [`Store::read`] for code that is already on a blocking thread.
    pub fn read_blocking<R>(&self, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
        let pooled = self.inner.readers.lock().expect("reader pool").pop();
        let conn = match pooled {
            Some(c) => c,
            None => open_connection(&self.inner.path, true)?,
        };
        let result = f(&conn);
        let mut pool = self.inner.readers.lock().expect("reader pool");
        // Past the pool's size (reads from blocking threads are not queued), the
        // connection closes and its cache goes with it.
        if pool.len() < READERS {
            pool.push(conn);
        }
        result
    }
}

fn open_connection(path: &Path, read_only: bool) -> Result<Connection> {
    let open_err = |e: rusqlite::Error| StoreError::Open {
        path: path.display().to_string(),
        source: Arc::new(e),
    };
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    // Another process (`gt inbox retry` while `gt serve` runs) may hold the write lock
    // briefly; wait for it instead of failing.
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(open_err)?;
    if !read_only {
        // The page size applies only while the file is still empty, so it comes before
        // WAL mode (which writes the header); an existing database keeps its own.
        // `synchronous=FULL` makes every COMMIT fsync the WAL: an acknowledged delivery
        // survives power loss, not only a process crash.
        conn.execute_batch(&format!(
            "PRAGMA page_size={PAGE_SIZE}; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
             PRAGMA foreign_keys=ON;"
        ))
        .map_err(open_err)?;
    }
    Ok(conn)
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::Store;

    /// A fresh database file per test, removed with the returned guard.
    pub fn fresh_store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("gastown.db")).expect("open store");
        (store, dir)
    }
}

#[cfg(test)]
mod tests;
