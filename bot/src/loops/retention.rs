//! Inbox retention: every accepted delivery is kept with its raw body, which is what
//! makes redeliveries no-ops and failures inspectable, but a busy forge sends tens of
//! thousands a day. Settled deliveries older than `inbox.keep_days` are deleted, in
//! small batches so ingest's group commits interleave with the pruning.
//!
//! The window also bounds deduplication: a delivery id pruned away would be accepted
//! again. GitHub lets a person redeliver for 3 days and GitLab retries within minutes,
//! so the default of 30 days leaves a wide margin.

use std::time::Duration;

use crate::clock::Millis;
use crate::store::{self, Store, StoreError};

/// Deliveries deleted per write: about a millisecond added to one group commit.
const BATCH: usize = 64;

/// Rest between batches, so a large backlog (the first start with a long history, a
/// shorter `keep_days`) drains at ~10,000 deliveries/s instead of taking the writer
/// from ingest.
const PAUSE: Duration = Duration::from_millis(5);

/// How often the server prunes; the first pass comes at start.
pub const INTERVAL: Duration = Duration::from_secs(60 * 60);

const DAY_MS: Millis = 24 * 60 * 60 * 1000;

/// The received-before time for a window of `keep_days` ending at `now`.
pub fn cutoff(now: Millis, keep_days: u32) -> Millis {
    now - Millis::from(keep_days) * DAY_MS
}

/// Deletes every settled delivery received before `received_before`; returns how many.
pub async fn prune(store: &Store, received_before: Millis) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let n = store
            .write(move |c| store::prune_settled(c, received_before, BATCH))
            .await?;
        total += n;
        if n < BATCH {
            return Ok(total);
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// The server's loop: prune at start and every [`INTERVAL`]; `keep_days: 0` keeps all.
pub async fn run(
    store: Store,
    clock: crate::clock::SharedClock,
    keep_days: u32,
    shutdown: impl std::future::Future<Output = ()>,
) {
    if keep_days == 0 {
        tracing::info!("inbox.keep_days is 0: the inbox keeps every delivery");
        return;
    }
    // Nothing wakes this loop early: age is the only reason to prune.
    let never = tokio::sync::Notify::new();
    crate::loops::rounds::run("retention", INTERVAL, &never, shutdown, || async {
        let pruned = prune(&store, cutoff(clock.now_ms(), keep_days)).await?;
        match pruned {
            0 => tracing::debug!(keep_days, "inbox: nothing old enough to prune"),
            n => tracing::info!(pruned = n, keep_days, "inbox: pruned settled deliveries"),
        }
        Ok::<_, StoreError>(())
    })
    .await
}
