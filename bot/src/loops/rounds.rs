//! The shape every background loop of the town shares: do a round, then wait until
//! something wakes the loop or `every` passes, until shutdown. A failed round is
//! logged and tried again; the loop never dies of it.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::sync::Notify;

pub async fn run<R, E, Fut>(
    what: &'static str,
    every: Duration,
    notify: &Notify,
    shutdown: impl Future<Output = ()>,
    mut round: impl FnMut() -> Fut,
) where
    E: Display,
    Fut: Future<Output = Result<R, E>>,
{
    tokio::pin!(shutdown);
    loop {
        if let Err(e) = round().await {
            tracing::error!(error = %e, loop = what, "round failed; retrying");
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = notify.notified() => {}
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// The shape of a loop over a work queue (a table of due rows): work while rounds find
/// work; when one finds none, wait until the next row is due (`next_due` says in how
/// long; at most a second), something wakes the loop, or shutdown.
pub async fn queue<E, Fut, Due>(
    what: &'static str,
    notify: &Notify,
    shutdown: impl Future<Output = ()>,
    mut round: impl FnMut() -> Fut,
    mut next_due: impl FnMut() -> Due,
) where
    E: Display,
    Fut: Future<Output = Result<usize, E>>,
    Due: Future<Output = Option<Duration>>,
{
    tokio::pin!(shutdown);
    loop {
        let wait = match round().await {
            Ok(0) => next_due()
                .await
                .unwrap_or(Duration::from_secs(1))
                .min(Duration::from_secs(1)),
            Ok(_) => continue,
            Err(e) => {
                tracing::error!(error = %e, loop = what, "round failed; retrying");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = &mut shutdown => return,
            _ = notify.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Rounds until one finds nothing to do: the sync point tests use. Returns how much
/// was done.
pub async fn until_idle<E, Fut>(mut round: impl FnMut() -> Fut) -> Result<usize, E>
where
    Fut: Future<Output = Result<usize, E>>,
{
    let mut total = 0;
    loop {
        match round().await? {
            0 => return Ok(total),
            n => total += n,
        }
    }
}
