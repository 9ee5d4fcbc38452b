//! A write's view of the database: the connection of the writer's open transaction,
//! and the loops the write wants woken once it is durable.
//!
//! Nothing outside the store wakes a loop by hand: a write says which loops have new
//! work ([`Tx::wake`]) and the writer notifies them after the COMMIT that holds the
//! write. A loop woken earlier could read the database before the change is there, and
//! one that is never woken waits for its next tick.

use std::cell::Cell;
use std::ops::Deref;

use rusqlite::Connection;
use tokio::sync::Notify;

/// The town's loops that sleep until there is work for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// New deliveries to work.
    Inbox = 0,
    /// Forge writes queued in the outbox.
    Actions = 1,
    /// Beads that may have become ready, or a free polecat.
    Dispatcher = 2,
    /// Merge requests or their pull requests that may have moved.
    Refinery = 3,
    /// Sessions ended or stopped from outside the patrol (their processes to reap).
    Patrol = 4,
    /// Requests queued for the Mayor.
    Mayor = 5,
}

impl Wake {
    const ALL: [Wake; 6] = [
        Wake::Inbox,
        Wake::Actions,
        Wake::Dispatcher,
        Wake::Refinery,
        Wake::Patrol,
        Wake::Mayor,
    ];

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// One notify per loop, held by the store so every writer reaches the same ones.
#[derive(Default)]
pub struct Wakes([Notify; 6]);

impl Wakes {
    /// What the loop waits on between rounds.
    pub fn of(&self, wake: Wake) -> &Notify {
        &self.0[wake as usize]
    }

    /// Wake every loop named in `set`: called by the writer after a COMMIT.
    pub(super) fn notify(&self, set: WakeSet) {
        for w in Wake::ALL {
            if set.0 & w.bit() != 0 {
                self.of(w).notify_one();
            }
        }
    }
}

/// The loops some committed writes asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WakeSet(u8);

impl WakeSet {
    pub(super) fn with(self, other: WakeSet) -> WakeSet {
        WakeSet(self.0 | other.0)
    }
}

/// The connection of the writer's transaction, and what the write wants woken.
pub struct Tx<'a> {
    conn: &'a Connection,
    wakes: Cell<WakeSet>,
}

impl<'a> Tx<'a> {
    pub(super) fn new(conn: &'a Connection) -> Self {
        Self {
            conn,
            wakes: Cell::default(),
        }
    }

    /// Wake `loop_` once this write is committed (never if it fails).
    pub fn wake(&self, wake: Wake) {
        self.wakes.set(self.wakes.get().with(WakeSet(wake.bit())));
    }

    pub(super) fn wakes(&self) -> WakeSet {
        self.wakes.get()
    }
}

impl Deref for Tx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}
