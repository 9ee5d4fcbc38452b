//! Catch-up: webhooks are hints, and deliveries get lost (GitHub does not redeliver on
//! its own). At start and on an interval the bot asks each rig's forge for what it
//! should already know — issues carrying the sling label that have no bead — and
//! handles them as if the delivery had arrived, permission check included.

use std::time::Duration;

use tracing::Instrument as _;
use webhooks::{Actor, ForgeEvent, ForgeKind, IssueAction, IssueEvent, IssueState, RepoRef};

use crate::forge::{Forge, Issue, RepoPath, State};
use crate::store::{self, StoreError};

/// What one pass found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CatchUpReport {
    pub rigs: usize,
    /// Slung issues that had no bead and were handed to the town.
    pub recovered: Vec<String>,
    /// Rigs the pass could not read, with the reason.
    pub errors: Vec<String>,
}

/// Catch-up, built once with the bot: it hands what it finds to the inbox worker.
#[derive(Clone)]
pub struct CatchUp {
    store: crate::store::Store,
    config: std::sync::Arc<crate::config::Config>,
    clock: crate::clock::SharedClock,
    forges: crate::forge::registry::Forges,
    settings: crate::forge::settings::RepoSettings,
    worker: crate::loops::worker::Worker,
}

impl CatchUp {
    pub fn new(
        store: crate::store::Store,
        config: std::sync::Arc<crate::config::Config>,
        clock: crate::clock::SharedClock,
        forges: crate::forge::registry::Forges,
        settings: crate::forge::settings::RepoSettings,
        worker: crate::loops::worker::Worker,
    ) -> Self {
        Self {
            store,
            config,
            clock,
            forges,
            settings,
            worker,
        }
    }

    /// One pass over every rig that has a forge client.
    pub async fn pass(&self) -> Result<CatchUpReport, StoreError> {
        let mut report = CatchUpReport::default();
        self.attach_configured_rigs().await?;
        let rigs = self.store.read(store::list_rigs).await?;
        for rig in rigs {
            let Some(forge) = self.forges.for_rig(&rig) else {
                let why =
                    crate::forge::registry::no_client_reason(&self.config, rig.forge, &rig.host);
                tracing::warn!(rig = %rig.id, host = %rig.host,
                "{why}: nothing slings in this rig and catch-up cannot read it");
                report.errors.push(format!("{}: {why}", rig.id));
                continue;
            };
            report.rigs += 1;
            let repo = RepoPath::new(rig.path.clone());
            let span = tracing::info_span!("catch_up", rig = %rig.id);
            let label = self
                .settings
                .sling_label(&self.config, &rig.id, Some(forge.as_ref()), &repo)
                .instrument(span.clone())
                .await;
            self.recover_slung(&rig, forge.as_ref(), &repo, &label, &mut report)
                .instrument(span)
                .await?;
        }
        Ok(report)
    }

    /// Hand the rig's slung issues that have no bead to the town, as if their deliveries
    /// had arrived.
    async fn recover_slung(
        &self,
        rig: &store::Rig,
        forge: &dyn Forge,
        repo: &RepoPath,
        label: &str,
        report: &mut CatchUpReport,
    ) -> Result<(), StoreError> {
        let issues = match forge.issues_with_label(repo, label).await {
            Ok(issues) => issues,
            Err(e) => {
                tracing::warn!(error = %e, "catch-up could not list slung issues");
                report.errors.push(format!("{}: {e}", rig.id));
                return Ok(());
            }
        };
        for issue in issues {
            let forge_ref = store::ForgeRef::issue(&rig.id, issue.number).to_string();
            let lookup = forge_ref.clone();
            let known = self
                .store
                .read(move |c| store::find_task_for_forge_ref(c, &lookup))
                .await?;
            if known.is_some() {
                continue;
            }
            let labeller = match forge.label_added_by(repo, issue.number, label).await {
                Ok(Some(user)) => user,
                Ok(None) => {
                    tracing::warn!(%forge_ref, "slung issue without a bead, but the forge does not say who labelled it; left alone");
                    continue;
                }
                Err(e) => {
                    report.errors.push(format!("{forge_ref}: {e}"));
                    continue;
                }
            };
            let event = labeled_event(rig.forge, &rig.host, &rig.path, &issue, label, &labeller);
            match self.worker.apply_events(vec![event]).await {
                Ok(()) => {
                    tracing::info!(%forge_ref, %labeller, "catch-up handled a missed sling");
                    report.recovered.push(forge_ref);
                }
                Err(e) => report.errors.push(format!("{forge_ref}: {e}")),
            }
        }
        Ok(())
    }

    /// Rigs listed in the configuration exist before any delivery arrives, so the first
    /// pass already covers them.
    async fn attach_configured_rigs(&self) -> Result<(), StoreError> {
        let Some(rigs) = self.config.rigs.clone() else {
            return Ok(());
        };
        let config = self.config.clone();
        let now = self.clock.now_ms();
        self.store
            .write(move |c| {
                for rig in &rigs {
                    let host = rig
                        .host
                        .clone()
                        .unwrap_or_else(|| config.forge_host(rig.forge).to_string());
                    let town = rig.town.clone().unwrap_or_else(|| config.town.clone());
                    let town_id = store::ensure_town(c, &town, now)?;
                    store::ensure_rig(c, &town_id, rig.forge, &host, &rig.repo, now)?;
                }
                Ok(())
            })
            .await
    }

    /// Run catch-up now and then every `interval` (never when it is zero).
    pub async fn run(self, interval: Duration, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            match self.pass().await {
                Ok(r) if !r.recovered.is_empty() || !r.errors.is_empty() => {
                    tracing::info!(rigs = r.rigs, recovered = r.recovered.len(), errors = ?r.errors, "catch-up pass done")
                }
                Ok(r) => tracing::debug!(rigs = r.rigs, "catch-up pass found nothing missed"),
                Err(e) => tracing::error!(error = %e, "catch-up pass failed"),
            }
            if interval.is_zero() {
                return;
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// The event the lost delivery would have carried.
fn labeled_event(
    kind: ForgeKind,
    host: &str,
    path: &str,
    issue: &Issue,
    label: &str,
    labeller: &str,
) -> ForgeEvent {
    ForgeEvent::Issue(IssueEvent {
        repo: RepoRef {
            forge: kind,
            host: host.to_string(),
            path: path.to_string(),
            id: None,
            default_branch: None,
        },
        actor: Actor::person(labeller),
        number: issue.number,
        title: issue.title.clone(),
        body: Some(issue.body.clone()),
        url: Some(issue.url.clone()),
        author: Some(issue.author.clone()),
        labels: issue.labels.clone(),
        state: match issue.state {
            State::Open => IssueState::Open,
            State::Closed => IssueState::Closed,
        },
        action: IssueAction::Labeled {
            label: label.to_string(),
        },
    })
}
