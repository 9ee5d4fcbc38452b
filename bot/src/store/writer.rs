//! The only write connection, and the group commit around it.
//!
//! Writes queue for the writer thread, which commits every write that queued while the
//! previous commit was on its way to disk in one transaction, each in its own
//! savepoint. Under load that turns one fsync per write into one per group. Alone, a
//! write pays two thread hand-offs around its fsync (to the writer thread and back),
//! which on a virtual machine each cost as much as a third of the fsync: so a light
//! write whose caller is, by the recent groups, the only one writing commits on the
//! caller's own thread instead ([`Writer::try_alone`]).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::tx::{self, Tx, Wakes};
use super::{Result, StoreError};

/// How many queued writes at most share one transaction. Bounded so one commit's fsync
/// does not grow without limit under a flood, and replies keep flowing.
const MAX_GROUP: usize = 512;

/// Groups of one write in a row after which a light write commits on its caller's
/// thread. More than one, so that a burst's stray single-write group does not send
/// the next writes to block the async runtime's threads behind an fsync.
pub(super) const LONE_RUN: u32 = 4;

/// How often committed WAL pages are copied into the database file. A pass that
/// catches up ends with a flush of the database file, and the commits that come
/// meanwhile wait behind it: small, frequent passes keep that wait short. Driven by
/// `wrk` at 16 connections, passes every 200 ms made the p99 four times longer (20-25
/// ms rather than 5); at 100 ms the writer's own pass did most of the copying.
///
/// Under steady writes a pass rarely catches up, so the pages it copies stay dirty in
/// the page cache until the writer's own pass flushes them all at once, holding up its
/// group. So after each pass the checkpointer starts their writeback without waiting
/// for it ([`start_writeback`]): by the writer's flush, most are already on disk.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(10);

type Reply = Box<dyn FnOnce(Option<&StoreError>) + Send>;
pub(super) type Job = Box<dyn Write>;

/// A lock that a panic elsewhere does not make unusable: what it guards is consistent
/// between any two statements of its holders.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the writer thread and a lone light write share.
pub(super) struct Writer {
    conn: Mutex<Connection>,
    queue: Queue,
    /// Set after every commit, taken by the checkpointer; the checkpointer stops once
    /// it holds the last reference.
    dirty: Arc<AtomicBool>,
    wakes: Arc<Wakes>,
    /// Groups of one write in a row, the last commit included.
    lone_run: AtomicU32,
}

impl Writer {
    /// Start the writer thread on `conn` and the checkpointer on `checkpointer`.
    pub(super) fn start(
        conn: Connection,
        checkpointer: Connection,
        db_file: std::fs::File,
        wakes: Arc<Wakes>,
    ) -> std::io::Result<Arc<Writer>> {
        let dirty = Arc::new(AtomicBool::new(false));
        let writer = Arc::new(Writer {
            conn: Mutex::new(conn),
            queue: Queue::default(),
            dirty: dirty.clone(),
            wakes,
            lone_run: AtomicU32::new(0),
        });
        let thread_writer = writer.clone();
        std::thread::Builder::new()
            .name("gt-store-writer".into())
            .spawn(move || thread_writer.run())?;
        std::thread::Builder::new()
            .name("gt-store-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, db_file, dirty))?;
        Ok(writer)
    }

    /// Queue a write for the writer thread.
    pub(super) fn push(&self, job: Job) {
        self.queue.push(job)
    }

    /// Every handle to the store is gone: the thread commits what is left and ends.
    pub(super) fn close(&self) {
        self.queue.close()
    }

    /// Commit `job` alone, here and now, if the recent groups were each a single write,
    /// the connection is free and nothing is queued ahead of it; otherwise hand it back
    /// to be queued. Blocks the calling thread for one commit (an fsync), which is why
    /// only light writes come here, and only when nobody else is writing.
    pub(super) fn try_alone(&self, job: Job) -> Option<Job> {
        if self.lone_run.load(Ordering::Relaxed) < LONE_RUN {
            return Some(job);
        }
        let conn = match self.conn.try_lock() {
            Ok(conn) => conn,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Some(job),
        };
        {
            let waiting = lock(&self.queue.state);
            // Writes queued before this one commit before it; a stopped writer takes
            // nothing more.
            if !waiting.jobs.is_empty() || waiting.gone {
                return Some(job);
            }
        }
        let mut batch = vec![job];
        let mut replies = Vec::with_capacity(1);
        let outcome = self.commit(&conn, &mut batch, &mut replies);
        drop(conn);
        self.answer(outcome, &mut replies);
        None
    }

    /// The writer thread: commit groups until the store is dropped and its queue is
    /// empty.
    fn run(&self) {
        let _ending = Ending(&self.queue);
        let mut batch: Vec<Job> = Vec::with_capacity(MAX_GROUP);
        let mut replies: Vec<Reply> = Vec::with_capacity(MAX_GROUP);
        while self.queue.next_group(&mut batch) {
            let outcome = self.commit(&lock(&self.conn), &mut batch, &mut replies);
            self.answer(outcome, &mut replies);
        }
        tracing::debug!("store writer stopped");
    }

    fn commit(
        &self,
        conn: &Connection,
        batch: &mut Vec<Job>,
        replies: &mut Vec<Reply>,
    ) -> Result<tx::WakeSet> {
        let group = batch.len();
        let outcome = run_group(conn, batch, replies);
        self.dirty.store(true, Ordering::Release);
        if group == 1 {
            let _ = self
                .lone_run
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_add(1))
                });
        } else {
            self.lone_run.store(0, Ordering::Relaxed);
        }
        if let Err(e) = &outcome {
            tracing::error!(error = %e, group, "store commit failed");
        }
        outcome
    }

    /// Wake the loops the group's writes asked for, then tell each caller.
    fn answer(&self, outcome: Result<tx::WakeSet>, replies: &mut Vec<Reply>) {
        if let Ok(woken) = &outcome {
            self.wakes.notify(*woken);
        }
        for reply in replies.drain(..) {
            reply(outcome.as_ref().err());
        }
    }
}

/// Writes waiting for the writer thread, and whether it is asleep waiting for them.
///
/// A plain mutex and condvar rather than a channel: a write wakes the thread only when
/// it sleeps, so a burst that arrives while a group commits costs no wake-ups at all.
#[derive(Default)]
struct Queue {
    state: Mutex<Waiting>,
    arrived: Condvar,
}

#[derive(Default)]
struct Waiting {
    jobs: Vec<Job>,
    /// The thread waits on `arrived`: only then is a notify (a syscall) needed.
    sleeping: bool,
    /// Every handle to the store is gone: commit what is left and stop.
    closed: bool,
    /// The writer thread has ended: a write queued now would never be answered.
    gone: bool,
}

impl Queue {
    /// Queue a write. A write the writer thread can no longer take is dropped, which
    /// tells its caller (its reply goes unanswered: [`StoreError::WriterGone`]).
    fn push(&self, job: Job) {
        let mut waiting = lock(&self.state);
        if waiting.gone {
            return;
        }
        waiting.jobs.push(job);
        if waiting.sleeping {
            self.arrived.notify_one();
        }
    }

    fn close(&self) {
        lock(&self.state).closed = true;
        self.arrived.notify_one();
    }

    /// The next group: every write queued (up to [`MAX_GROUP`]), waiting for one if
    /// there is none. `false` once the store is closed and nothing is left.
    fn next_group(&self, batch: &mut Vec<Job>) -> bool {
        let mut waiting = lock(&self.state);
        while waiting.jobs.is_empty() {
            if waiting.closed {
                return false;
            }
            waiting.sleeping = true;
            waiting = self
                .arrived
                .wait(waiting)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            waiting.sleeping = false;
        }
        let n = waiting.jobs.len().min(MAX_GROUP);
        batch.extend(waiting.jobs.drain(..n));
        true
    }
}

/// Marks the queue gone when the writer thread ends, however it ends, and drops what
/// is still queued so that nobody waits for an answer that cannot come.
struct Ending<'a>(&'a Queue);

impl Drop for Ending<'_> {
    fn drop(&mut self) {
        let mut waiting = lock(&self.0.state);
        waiting.gone = true;
        waiting.jobs.clear();
    }
}

/// One queued write. The writer either runs it inside the group's transaction or, when
/// that transaction cannot begin, refuses it: a write never runs outside a transaction.
pub(super) trait Write: Send {
    /// Run the write. Returns whether it failed (its savepoint is then rolled back) and
    /// what to tell its caller once the group's COMMIT is known.
    fn run(self: Box<Self>, conn: &Tx<'_>) -> (bool, Reply);
    /// Tell the caller the write was not run, and why.
    fn refuse(self: Box<Self>, why: StoreError);
}

pub(super) struct Queued<F, R> {
    pub(super) f: F,
    pub(super) reply: oneshot::Sender<Result<R>>,
}

impl<F, R> Write for Queued<F, R>
where
    R: Send + 'static,
    F: FnOnce(&Tx<'_>) -> Result<R> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Tx<'_>) -> (bool, Reply) {
        let Queued { f, reply } = *self;
        let result = f(conn);
        let failed = result.is_err();
        let reply: Reply = Box::new(move |commit_error| {
            let _ = reply.send(match commit_error {
                Some(e) => Err(e.clone()),
                None => result,
            });
        });
        (failed, reply)
    }

    fn refuse(self: Box<Self>, why: StoreError) {
        let _ = self.reply.send(Err(why));
    }
}

/// PASSIVE checkpoints run beside the writer without blocking it. The loop ends once
/// the writer, the only other holder of `dirty`, has stopped.
fn checkpoint_loop(conn: Connection, db_file: std::fs::File, dirty: Arc<AtomicBool>) {
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        let writer_gone = Arc::strong_count(&dirty) == 1;
        if dirty.swap(false, Ordering::AcqRel) || writer_gone {
            match conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                Ok(()) => start_writeback(&db_file),
                Err(e) => {
                    tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
                    dirty.store(true, Ordering::Release);
                }
            }
        }
        if writer_gone {
            return;
        }
    }
}

/// Start writing the database file's dirty pages to disk, without waiting for them or
/// flushing the device: only a head start for whichever flush comes next, so a
/// failure is no more than a missed head start. Durability never rests on it.
#[cfg(target_os = "linux")]
fn start_writeback(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: `file` is open for as long as the call runs; the call reads no memory
    // of ours.
    let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "could not start the database file's writeback");
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &std::fs::File) {}

/// The transaction's and each write's savepoint statements: kept prepared, not parsed
/// again for every group.
fn exec_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Run a group of jobs in one transaction; on COMMIT, the loops its jobs want woken.
fn run_group(
    conn: &Connection,
    batch: &mut Vec<Job>,
    replies: &mut Vec<Reply>,
) -> Result<tx::WakeSet> {
    if let Err(e) = exec_cached(conn, "BEGIN IMMEDIATE") {
        // Outside a transaction a job's writes would each commit on their own, with no
        // savepoint to undo a failing one: run none, and tell every caller why.
        let err = StoreError::Commit(Arc::new(e));
        for job in batch.drain(..) {
            job.refuse(err.clone());
        }
        return Err(err);
    }
    let mut woken = tx::WakeSet::default();
    for job in batch.drain(..) {
        let sp = exec_cached(conn, "SAVEPOINT job");
        let tx = Tx::new(conn);
        // A panicking job must not take the only writer down with it: its changes are
        // rolled back and its caller sees the write aborted.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&tx)));
        let (failed, reply) = match ran {
            Ok((failed, reply)) => (failed, Some(reply)),
            Err(_) => (true, None),
        };
        if sp.is_ok() {
            if failed {
                let _ = exec_cached(conn, "ROLLBACK TO job");
            }
            let _ = exec_cached(conn, "RELEASE job");
        }
        if !failed {
            woken = woken.with(tx.wakes());
        }
        replies.extend(reply);
    }
    match exec_cached(conn, "COMMIT") {
        Ok(()) => Ok(woken),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(StoreError::Commit(Arc::new(e)))
        }
    }
}
