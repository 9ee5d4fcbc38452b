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
