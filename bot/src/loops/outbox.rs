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
use crate::forge::{CommentRef, Forge, ForgeError, LabelSpec, Reaction, RepoPath};
use crate::store::{self, Action, ForgeAction, Rig, StatusCommentRow, Store, StoreError};

#[derive(Clone)]
pub struct ActionRunner {
    store: Store,
    config: Arc<Config>,
    clock: SharedClock,
    forges: Forges,
    /// Each rig's `.gastown.yaml` (the owners an escalation names).
    settings: crate::forge::settings::RepoSettings,
}

impl ActionRunner {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        clock: SharedClock,
        forges: Forges,
        settings: crate::forge::settings::RepoSettings,
    ) -> Self {
        Self {
            store,
            config,
            clock,
            forges,
            settings,
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
                if action.kind == "answer" {
                    self.answer_failed(action).await;
                }
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
        crate::loops::rounds::until_idle(|| self.step()).await
    }

    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let notify = self.store.wakes().of(store::Wake::Actions);
        let next_due = || async {
            let next = self
                .store
                .read(store::next_action_due)
                .await
                .ok()
                .flatten()?;
            Some(Duration::from_millis(
                (next - self.clock.now_ms()).max(0) as u64
            ))
        };
        crate::loops::rounds::queue("outbox", notify, shutdown, || self.step(), next_due).await
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
            ForgeAction::TrackingIssue { convoy } => {
                self.tracking_issue(forge.as_ref(), &rig, &convoy).await
            }
            ForgeAction::DeleteBranch { branch } => {
                let base = &self.config.polecats.base_branch;
                let cfg = self
                    .settings
                    .or_defaults(&rig.id, forge.as_ref(), &repo, base)
                    .await;
                if !cfg.delete_merged_branches || !branch.starts_with("gt/") {
                    return Ok(());
                }
                forge.delete_branch(&repo, &branch).await?;
                tracing::info!(rig = %rig.id, %branch, "merged work's branch deleted");
                Ok(())
            }
            ForgeAction::Escalation {
                escalation,
                number,
                notice,
            } => {
                self.escalate(forge.as_ref(), &rig, &escalation, number, notice)
                    .await
            }
            ForgeAction::React { asker, reaction } => {
                let (rig_id, id) = (rig.id.clone(), asker.id);
                if self
                    .store
                    .read(move |c| store::answered(c, &rig_id, id))
                    .await?
                {
                    return Ok(());
                }
                forge.add_reaction(&repo, &asker, reaction).await?;
                Ok(())
            }
            ForgeAction::Answer {
                asker,
                body,
                marker,
                outcome,
            } => {
                let thread = forge
                    .comments(&repo, asker.number, asker.on_pull_request)
                    .await?;
                if !thread.iter().any(|c| c.body.contains(&marker)) {
                    forge
                        .create_comment(&repo, asker.number, asker.on_pull_request, &body)
                        .await?;
                }
                if let Some(outcome) = outcome {
                    acknowledge(forge.as_ref(), &repo, &asker, outcome).await?;
                }
                Ok(())
            }
        }
    }

    /// An answer that could not be posted, for good: the comment must not keep its 👀
    /// as if the bot were still at it. Its ❌ says it failed (the log says why).
    async fn answer_failed(&self, action: &Action) {
        let Ok(ForgeAction::Answer { asker, .. }) = action.forge_action() else {
            return;
        };
        let rig_id = action.rig_id.clone();
        let Ok(Some(rig)) = self.store.read(move |c| store::find_rig(c, &rig_id)).await else {
            return;
        };
        let Some(forge) = self.forges.for_rig(&rig) else {
            return;
        };
        let repo = RepoPath::new(rig.path.clone());
        if let Err(e) = acknowledge(forge.as_ref(), &repo, &asker, Reaction::Failed).await {
            tracing::warn!(error = %e, "could not mark the unanswered comment as failed");
        }
    }

    /// A convoy's tracking issue: opened once (found again by its marker after a
    /// crash), recorded on the convoy, reopened when the convoy is.
    async fn tracking_issue(
        &self,
        forge: &dyn Forge,
        rig: &Rig,
        convoy: &str,
    ) -> Result<(), ActionError> {
        let id = convoy.to_string();
        let bead = self.store.read(move |c| store::get_bead(c, &id)).await?;
        let repo = RepoPath::new(rig.path.clone());
        let number = match crate::lifecycle::outbox::issue_number(&bead) {
            Some(n) => n,
            None => {
                let marker = comments::marker("convoy", &bead.id);
                let found = forge
                    .issues_with_label(&repo, comments::CONVOY_LABEL)
                    .await?
                    .into_iter()
                    .find(|i| i.body.contains(&marker));
                let issue = match found {
                    Some(i) => i,
                    None => {
                        let new = crate::forge::NewIssue {
                            title: comments::tracking_issue_title(&bead.title),
                            body: comments::tracking_issue_body(&marker),
                            labels: vec![comments::CONVOY_LABEL.to_string()],
                        };
                        forge.create_issue(&repo, &new).await?
                    }
                };
                let (id, rig_id, n, now) = (
                    bead.id.clone(),
                    rig.id.clone(),
                    issue.number,
                    self.clock.now_ms(),
                );
                self.store
                    .write(move |c| {
                        let forge_ref = store::ForgeRef::issue(&rig_id, n).to_string();
                        let bead = store::set_forge_ref(c, &id, &forge_ref)?;
                        crate::lifecycle::outbox::queue_bead_update(c, &bead, now)
                    })
                    .await?;
                issue.number
            }
        };
        if bead.status != store::BeadStatus::Closed {
            let issue = forge.issue(&repo, number).await?;
            if issue.state == crate::forge::State::Closed {
                forge
                    .set_issue_state(&repo, number, crate::forge::State::Open)
                    .await?;
            }
        }
        Ok(())
    }

    /// Say an escalation: once per notice (found again by its marker after a crash),
    /// with the label that a person removes to acknowledge it.
    async fn escalate(
        &self,
        forge: &dyn Forge,
        rig: &Rig,
        escalation: &str,
        number: Option<u64>,
        notice: u32,
    ) -> Result<(), ActionError> {
        use crate::decisions::patrol::Severity;
        let id = escalation.to_string();
        let (bead, row, task) = self
            .store
            .read(move |c| {
                let bead = store::get_bead(c, &id)?;
                let row = store::escalation(c, &id)?;
                let task = match row.as_ref().and_then(|r| r.about.clone()) {
                    Some(t) => Some(store::get_bead(c, &t)?),
                    None => None,
                };
                Ok((bead, row, task))
            })
            .await?;
        let Some(row) = row else {
            return Err(ActionError::Permanent(format!(
                "{escalation} is not an escalation"
            )));
        };
        if row.acked_at.is_some() && notice > 0 {
            return Ok(());
        }
        let severity = Severity::parse(&row.severity).unwrap_or(Severity::High);
        let repo = RepoPath::new(rig.path.clone());
        let mentions = if severity.mentions() {
            let base = &self.config.polecats.base_branch;
            let owners = self
                .settings
                .or_defaults(&rig.id, forge, &repo, base)
                .await
                .owners
                .clone();
            if owners.is_empty() {
                task.as_ref()
                    .and_then(|t| crate::decisions::meta::task(t).slung_by)
                    .into_iter()
                    .collect()
            } else {
                owners
            }
        } else {
            Vec::new()
        };
        let action = bead
            .metadata
            .get("action")
            .and_then(|a| a.as_str())
            .unwrap_or_default()
            .to_string();
        let marker = comments::marker("escalation", &format!("{escalation}:{notice}"));
        let body = comments::escalation_notice(
            severity,
            &bead.title,
            &action,
            &bead.body,
            &mentions,
            notice,
            &marker,
        );
        let label = LabelSpec {
            name: comments::ESCALATED_LABEL.into(),
            description: Some("Gastown: a person is needed; remove to acknowledge".into()),
            color: "b60205".into(),
        };
        if let Some(number) = number {
            let existing = forge.comments(&repo, number, false).await?;
            if !existing.iter().any(|c| c.body.contains(&marker)) {
                forge.create_comment(&repo, number, false, &body).await?;
            }
            if notice == 0 {
                forge
                    .add_labels(&repo, number, std::slice::from_ref(&label))
                    .await?;
            }
        }
        if severity == Severity::Critical && notice == 0 {
            let open = forge
                .issues_with_label(&repo, comments::ESCALATED_LABEL)
                .await?;
            if !open.iter().any(|i| i.body.contains(&marker)) {
                let title = comments::escalation_issue_title(
                    task.as_ref()
                        .map_or(bead.title.as_str(), |t| t.title.as_str()),
                );
                let about = task.as_ref().and_then(|t| t.forge_ref.clone());
                let new = crate::forge::NewIssue {
                    title,
                    body: comments::escalation_issue_body(&body, about.as_deref()),
                    labels: vec![label.name.clone()],
                };
                forge.create_issue(&repo, &new).await?;
            }
        }
        Ok(())
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
                on_diff: false,
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

/// Swap the bot's 👀 on a comment for `outcome` (and take off the other outcome, left
/// by an earlier answer to the same comment before an edit).
async fn acknowledge(
    forge: &dyn Forge,
    repo: &RepoPath,
    asker: &CommentRef,
    outcome: Reaction,
) -> Result<(), ForgeError> {
    forge.add_reaction(repo, asker, outcome).await?;
    for stale in [Reaction::Seen, Reaction::Done, Reaction::Failed] {
        if stale != outcome {
            forge.remove_reaction(repo, asker, stale).await?;
        }
    }
    Ok(())
}
