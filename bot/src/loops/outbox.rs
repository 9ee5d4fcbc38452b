//! The action runner: performs the forge calls that transactions queued in the
//! outbox ([`crate::lifecycle::outbox`]), with retries, and idempotently — every
//! comment carries a marker, so an action repeated after a crash finds its earlier
//! effect instead of doubling it.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tracing::Instrument as _;

use crate::clock::{Millis, SharedClock};
use crate::config::Config;
use crate::decisions::comments::{self, StatusLabel};
use crate::forge::registry::Forges;
use crate::forge::{CommentRef, Forge, ForgeError, LabelSpec, RepoPath};
use crate::store::{self, Action, ForgeAction, Rig, StatusCommentRow, Store, StoreError};

#[derive(Clone)]
pub struct ActionRunner {
    store: Store,
    config: Arc<Config>,
    clock: SharedClock,
    forges: Forges,
}

impl ActionRunner {
    pub fn new(store: Store, config: Arc<Config>, clock: SharedClock, forges: Forges) -> Self {
        Self {
            store,
            config,
            clock,
            forges,
        }
    }

    /// Perform every due action once. Returns how many were attempted.
    pub async fn step(&self) -> Result<usize, StoreError> {
        let now = self.clock.now_ms();
        let due = self
            .store
            .read(move |c| store::due_actions(c, now, 32))
            .await?;
        for action in &due {
            let span = tracing::info_span!(
                "action",
                action = action.id,
                kind = %action.kind,
                rig = %action.rig_id,
                bead = action.bead_id.as_deref().unwrap_or("-"),
            );
            self.settle(action).instrument(span).await?;
        }
        Ok(due.len())
    }

    /// Perform one action and record how it went: done, failed for good, or retried
    /// later with backoff.
    async fn settle(&self, action: &Action) -> Result<(), StoreError> {
        let result = self.perform(action).await;
        let (id, attempts) = (action.id, action.attempts as u32 + 1);
        let now = self.clock.now_ms();
        match result {
            Ok(()) => {
                self.store
                    .write(move |c| store::finish_action(c, id, now))
                    .await
            }
            Err(e)
                if attempts >= self.config.worker.max_attempts
                    || matches!(e, ActionError::Permanent(_)) =>
            {
                tracing::error!(error = %e, attempts, "forge action failed for good");
                let msg = e.to_string();
                self.store
                    .write(move |c| store::fail_action(c, id, now, &msg))
                    .await
            }
            Err(e) => {
                let at =
                    now + crate::decisions::retry::backoff_ms(&self.config, attempts) as Millis;
                tracing::warn!(error = %e, attempts, "forge action failed; will retry");
                let msg = e.to_string();
                self.store
                    .write(move |c| store::retry_action(c, id, at, &msg))
                    .await
            }
        }
    }

    /// Step until nothing is due: the sync point tests use.
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            match self.step().await? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }

    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let wait = match self.step().await {
                Ok(0) => {
                    let next = self.store.read(store::next_action_due).await.ok().flatten();
                    let ms = next
                        .map(|t| (t - self.clock.now_ms()).clamp(0, 1_000))
                        .unwrap_or(1_000);
                    Duration::from_millis(ms as u64)
                }
                Ok(_) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "action runner could not reach the store");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.store.wakes().of(store::Wake::Actions).notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn perform(&self, action: &Action) -> Result<(), ActionError> {
        let rig_id = action.rig_id.clone();
        let rig = self
            .store
            .read(move |c| store::find_rig(c, &rig_id))
            .await?
            .ok_or_else(|| ActionError::Permanent(format!("rig {} is gone", action.rig_id)))?;
        let forge = self.forges.for_rig(&rig).ok_or_else(|| {
            ActionError::Permanent(format!("no forge client for {}:{}", rig.forge, rig.host))
        })?;
        let repo = RepoPath::new(rig.path.clone());
        match action.forge_action().map_err(ActionError::Permanent)? {
            ForgeAction::StatusComment { number } => {
                let bead_id = action.bead_id.clone().ok_or_else(|| {
                    ActionError::Permanent("status comment without a bead".into())
                })?;
                self.post_status(forge.as_ref(), &rig, &bead_id, number)
                    .await
            }
            ForgeAction::StatusLabels {
                number,
                add,
                remove,
            } => {
                let add: Vec<LabelSpec> = add
                    .into_iter()
                    .map(|name| LabelSpec {
                        description: Some(
                            StatusLabel::named(&name)
                                .map_or("Gastown", StatusLabel::description)
                                .into(),
                        ),
                        color: "5319e7".into(),
                        name,
                    })
                    .collect();
                if !add.is_empty() {
                    forge.add_labels(&repo, number, &add).await?;
                }
                for label in remove {
                    forge.remove_label(&repo, number, &label).await?;
                }
                Ok(())
            }
            ForgeAction::Comment {
                number,
                body,
                marker,
                close_issue,
            } => {
                let existing = forge.comments(&repo, number, false).await?;
                if marker.is_empty() || !existing.iter().any(|c| c.body.contains(&marker)) {
                    forge.create_comment(&repo, number, false, &body).await?;
                }
                if close_issue {
                    forge
                        .set_issue_state(&repo, number, crate::forge::State::Closed)
                        .await?;
                }
                Ok(())
            }
        }
    }

    /// Create the bead's status comment or edit it in place; never a second one.
    async fn post_status(
        &self,
        forge: &dyn Forge,
        rig: &Rig,
        bead_id: &str,
        number: u64,
    ) -> Result<(), ActionError> {
        let id = bead_id.to_string();
        let (bead, body, known) = self
            .store
            .read(move |c| {
                let bead = store::get_bead(c, &id)?;
                let body = crate::lifecycle::molecule::status_comment(c, &bead)?;
                Ok((bead, body, store::status_comment(c, &id)?))
            })
            .await?;
        let digest = hex::encode(Sha256::digest(body.as_bytes()));
        let repo = RepoPath::new(rig.path.clone());
        let at = match known {
            Some(row) if row.body_sha256 == digest => return Ok(()),
            Some(row) => Some(CommentRef {
                number: row.number,
                on_pull_request: row.on_pull_request,
                id: row.comment_id,
            }),
            // Posted before a crash but not recorded? Find it by its marker.
            None => forge
                .comments(&repo, number, false)
                .await?
                .into_iter()
                .find(|c| c.body.contains(&comments::status_marker(&bead.id)))
                .map(|c| c.at),
        };
        let posted = match at {
            Some(at) => forge.edit_comment(&repo, &at, &body).await?,
            None => forge.create_comment(&repo, number, false, &body).await?,
        };
        let row = StatusCommentRow {
            comment_id: posted.at.id,
            number,
            on_pull_request: posted.at.on_pull_request,
            body_sha256: digest,
        };
        let bead_id = bead.id.clone();
        let now = self.clock.now_ms();
        self.store
            .write(move |c| store::save_status_comment(c, &bead_id, &row, now))
            .await?;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
enum ActionError {
    #[error(transparent)]
    Forge(#[from] ForgeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Permanent(String),
}
