//! The inbox worker: turns stored deliveries into bead changes.
//!
//! Deliveries of one repository are worked in order; a delivery that keeps failing is
//! retried with exponential backoff and after `worker.max_attempts` marked failed, so
//! it never blocks its repository for good. The changes a delivery causes and the mark
//! that it was processed commit in one transaction: a crash anywhere repeats the whole
//! delivery or none of it.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::Notify;
use tracing::Instrument;
use webhooks::{ForgeEvent, ForgeKind, IssueEvent};

use crate::clock::{Millis, SharedClock};
use crate::config::Config;
use crate::ids::random_bead_id;
use crate::store::{self, BeadType, InboxRow, NewBead, Rig, Store, StoreError};
use crate::town::{self, IssueDecision};

/// What one step of the worker did. Tests drain the inbox by stepping until `Idle`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Processed {
        id: i64,
    },
    Ignored {
        id: i64,
    },
    Failed {
        id: i64,
    },
    Retrying {
        id: i64,
        at: Millis,
    },
    /// Nothing is due; `next_due` is when the earliest pending retry comes up.
    Idle {
        next_due: Option<Millis>,
    },
}

#[derive(Clone)]
pub struct Worker {
    store: Store,
    config: Arc<Config>,
    clock: SharedClock,
    notify: Arc<Notify>,
}

/// How a delivery's processing ended inside its transaction.
enum Applied {
    Done,
    NotARig(String),
}

impl Worker {
    pub fn new(store: Store, config: Arc<Config>, clock: SharedClock, notify: Arc<Notify>) -> Self {
        Self {
            store,
            config,
            clock,
            notify,
        }
    }

    /// Work the next due delivery, if any.
    pub async fn step(&self) -> Result<Outcome, StoreError> {
        let now = self.clock.now_ms();
        let next = self.store.read(move |c| store::take_next(c, now)).await?;
        let Some(row) = next else {
            let next_due = self.store.read(store::next_due).await?;
            return Ok(Outcome::Idle { next_due });
        };
        let span = tracing::info_span!(
            "delivery",
            inbox_id = row.id,
            delivery = %row.delivery_id,
            event = %row.event,
            repo = row.repo.as_deref().unwrap_or("-"),
            attempt = row.attempts + 1,
        );
        self.work(row).instrument(span).await
    }

    /// Step until nothing is due. Returns how many deliveries were worked.
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let mut n = 0;
        loop {
            match self.step().await? {
                Outcome::Idle { .. } => return Ok(n),
                _ => n += 1,
            }
        }
    }

    /// Work deliveries until `shutdown` resolves. Sleeps until the next retry is due or
    /// ingest announces a new delivery.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let wait = match self.step().await {
                Ok(Outcome::Idle { next_due }) => {
                    let until_due = next_due
                        .map(|t| (t - self.clock.now_ms()).max(0) as u64)
                        .unwrap_or(u64::MAX);
                    Duration::from_millis(until_due.min(1_000))
                }
                Ok(_) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "inbox worker could not read the store; retrying");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.notify.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn work(&self, row: InboxRow) -> Result<Outcome, StoreError> {
        let id = row.id;
        let forge = match row.forge.as_str() {
            "gitlab" => ForgeKind::GitLab,
            _ => ForgeKind::GitHub,
        };
        let events = match webhooks::parse(forge, &row.forge_host, &row.event, &row.body) {
            Ok(events) => events,
            Err(e) => {
                // A payload that does not parse will not parse next time either.
                tracing::warn!(error = %e, "delivery does not parse; marked failed");
                let now = self.clock.now_ms();
                let msg = e.to_string();
                self.store
                    .write(move |c| store::mark_failed(c, id, now, &msg))
                    .await?;
                return Ok(Outcome::Failed { id });
            }
        };
        let config = self.config.clone();
        let now = self.clock.now_ms();
        let applied = self
            .store
            .write(move |c| {
                let applied = apply(c, &config, &events, now)?;
                match &applied {
                    Applied::Done => store::mark_processed(c, id, now)?,
                    Applied::NotARig(why) => store::mark_ignored(c, id, now, why)?,
                }
                Ok(applied)
            })
            .await;
        match applied {
            Ok(Applied::Done) => {
                tracing::debug!("delivery processed");
                Ok(Outcome::Processed { id })
            }
            Ok(Applied::NotARig(why)) => {
                tracing::info!(%why, "delivery ignored");
                Ok(Outcome::Ignored { id })
            }
            Err(e) => self.retry_or_fail(&row, e).await,
        }
    }

    async fn retry_or_fail(
        &self,
        row: &InboxRow,
        error: StoreError,
    ) -> Result<Outcome, StoreError> {
        let id = row.id;
        let attempts = row.attempts as u32 + 1;
        let now = self.clock.now_ms();
        let msg = error.to_string();
        if attempts >= self.config.worker.max_attempts {
            tracing::error!(error = %msg, attempts, "delivery failed for good; its repository goes on");
            self.store
                .write(move |c| store::mark_failed(c, id, now, &msg))
                .await?;
            return Ok(Outcome::Failed { id });
        }
        let at = now + backoff_ms(&self.config, attempts) as Millis;
        tracing::warn!(error = %msg, attempts, retry_in_ms = at - now, "delivery failed; will retry");
        self.store
            .write(move |c| store::schedule_retry(c, id, at, &msg))
            .await?;
        Ok(Outcome::Retrying { id, at })
    }
}

/// `retry_base_ms × 2^(attempts-1)`, capped at `retry_max_ms`.
pub fn backoff_ms(config: &Config, attempts: u32) -> u64 {
    let factor = 1u64 << attempts.saturating_sub(1).min(30);
    config
        .worker
        .retry_base_ms
        .saturating_mul(factor)
        .min(config.worker.retry_max_ms)
}

/// Apply a delivery's events to the town. Runs inside the delivery's transaction.
fn apply(
    conn: &Connection,
    config: &Config,
    events: &[ForgeEvent],
    now: Millis,
) -> Result<Applied, StoreError> {
    for event in events {
        let Some(repo) = event.repo() else {
            continue;
        };
        let rig = match join_rig(conn, config, repo, now)? {
            Ok(rig) => rig,
            Err(why) => return Ok(Applied::NotARig(why)),
        };
        if let ForgeEvent::Issue(issue) = event {
            apply_issue(conn, config, &rig, issue, now)?;
        }
    }
    Ok(Applied::Done)
}

/// The rig a repository is, joining it to the default town when rigs are not listed in
/// the config. `Err(reason)` when the config lists rigs and this is not one of them.
fn join_rig(
    conn: &Connection,
    config: &Config,
    repo: &webhooks::RepoRef,
    now: Millis,
) -> Result<Result<Rig, String>, StoreError> {
    let forge = repo.forge.as_str();
    let default_host = match repo.forge {
        ForgeKind::GitHub => &config.github.host,
        ForgeKind::GitLab => &config.gitlab.host,
    };
    let town = match &config.rigs {
        None => config.town.clone(),
        Some(rigs) => {
            let listed = rigs.iter().find(|r| {
                r.forge == forge
                    && r.repo.eq_ignore_ascii_case(&repo.path)
                    && r.host
                        .as_deref()
                        .unwrap_or(default_host)
                        .eq_ignore_ascii_case(&repo.host)
            });
            match listed {
                Some(r) => r.town.clone().unwrap_or_else(|| config.town.clone()),
                None => {
                    return Ok(Err(format!(
                        "{forge}:{}/{} is not a rig in the configuration",
                        repo.host, repo.path
                    )));
                }
            }
        }
    };
    let town_id = store::ensure_town(conn, &town, now)?;
    let (rig, created) = store::ensure_rig(conn, &town_id, forge, &repo.host, &repo.path, now)?;
    if created {
        tracing::info!(rig = %rig.id, town = %town_id, "a repository joined the town as a rig");
    }
    Ok(Ok(rig))
}

fn apply_issue(
    conn: &Connection,
    config: &Config,
    rig: &Rig,
    issue: &IssueEvent,
    now: Millis,
) -> Result<(), StoreError> {
    let forge_ref = town::issue_ref(&rig.id, issue.number);
    let existing = store::find_task_for_forge_ref(conn, &forge_ref)?;
    match town::decide_issue(issue, &config.labels.sling, existing.as_ref()) {
        IssueDecision::Sling(req) => {
            let bead = store::create_bead(
                conn,
                &NewBead {
                    bead_type: BeadType::Task,
                    title: req.title,
                    body: req.body,
                    priority: 2,
                    town_id: Some(rig.town_id.clone()),
                    rig_id: Some(rig.id.clone()),
                    parent_id: None,
                    forge_ref: Some(forge_ref.clone()),
                    created_by: req.slung_by,
                    metadata: req.metadata,
                },
                now,
                random_bead_id,
            )?;
            tracing::info!(bead = %bead.id, %forge_ref, "issue slung: bead created");
        }
        IssueDecision::AlreadySlung { bead_id } => {
            tracing::debug!(bead = %bead_id, %forge_ref, "issue already slung");
        }
        IssueDecision::Nothing => {}
    }
    Ok(())
}
