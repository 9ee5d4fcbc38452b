//! The refinery: what happens to a polecat's finished work (DESIGN.md §3 "Refine").
//!
//! This first part lands work through pull/merge requests: for each open
//! merge_request bead it reads the rig's `.gastown.yaml` from the target branch (a
//! broken file is said once on the issue, and nothing lands until it is fixed), opens
//! one PR/MR from the bead's branch that closes the issue, and follows it: merged by a
//! person → the beads close as merged; closed unmerged → rejected. Rebasing, quality
//! gates, AI review, rework and the `direct` strategy build on this loop.
//!
//! Idempotent across restarts: the PR carries a marker with the bead id and is looked
//! up by its head branch before one is opened, so a crash between "opened" and
//! "recorded" never makes a second one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::{Mutex, Notify};
use tracing::Instrument;

use crate::clock::SharedClock;
use crate::comments;
use crate::config::Config;
use crate::forge::{CheckState, CommitStatus, Forge, ForgeError, NewPullRequest, RepoPath};
use crate::forges::Forges;
use crate::repo_config::{self, MergeStrategy, RepoConfig};
use crate::store::{self, Bead, BeadStatus, BeadType, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RefineryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Forge(#[from] ForgeError),
}

/// How long a merge request that could not go on (broken config, forge error) waits
/// before the refinery looks at it again.
const RECHECK: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Refinery {
    store: Store,
    config: Arc<Config>,
    clock: SharedClock,
    forges: Forges,
    actions_notify: Arc<Notify>,
    pub notify: Arc<Notify>,
    parked: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Refinery {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        clock: SharedClock,
        forges: Forges,
        actions_notify: Arc<Notify>,
        notify: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            config,
            clock,
            forges,
            actions_notify,
            notify,
            parked: Arc::default(),
        }
    }

    /// Work every open merge request once. Returns how many moved.
    pub async fn step(&self) -> Result<usize, RefineryError> {
        let queue = self.store.read(store::open_merge_requests).await?;
        let mut moved = 0;
        for mr in queue {
            if self
                .parked
                .lock()
                .await
                .get(&mr.id)
                .is_some_and(|until| Instant::now() < *until)
            {
                continue;
            }
            let span = tracing::info_span!("refinery", bead = %mr.id,
                rig = mr.rig_id.as_deref().unwrap_or("-"));
            match self.refine(&mr).instrument(span).await {
                Ok(true) => moved += 1,
                Ok(false) => {
                    self.park(&mr.id).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "refinery could not go on; will look again");
                    self.park(&mr.id).await;
                }
            }
        }
        Ok(moved)
    }

    async fn park(&self, id: &str) {
        self.parked
            .lock()
            .await
            .insert(id.to_string(), Instant::now() + RECHECK);
    }

    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let every = Duration::from_secs(2);
        crate::rounds::run("refinery", every, &self.notify, shutdown, || self.step()).await
    }

    /// Take one merge request as far as it can go now. `Ok(false)`: it waits.
    async fn refine(&self, mr: &Bead) -> Result<bool, RefineryError> {
        let task_id = mr.parent_id.clone().unwrap_or_default();
        let rig_id = mr.rig_id.clone().unwrap_or_default();
        let (task, rig) = self
            .store
            .read(move |c| {
                let task = store::get_bead(c, &task_id)?;
                let rig = store::get_rig(c, &rig_id)?;
                Ok((task, rig))
            })
            .await?;
        let Some(forge) = self.forges.for_rig(&rig) else {
            tracing::warn!(rig = %rig.id, "no forge client for this rig: the refinery cannot open a pull request");
            return Ok(false);
        };
        let repo = RepoPath::new(rig.path.clone());
        let issue = crate::actions::issue_number(&task);
        let base = self.config.polecats.base_branch.clone();
        let config = match self.repo_config(forge.as_ref(), &repo, &base).await? {
            Ok(c) => c,
            Err(problems) => {
                self.say_config_invalid(mr, &rig.id, issue, &problems)
                    .await?;
                return Ok(false);
            }
        };
        if config.merge_strategy.unwrap_or_default() == MergeStrategy::Direct {
            tracing::info!("merge_strategy: direct waits for the refinery's gates and rebase");
            return Ok(false);
        }
        let target = config.target_branch.clone().unwrap_or(base);
        let branch = mr.metadata["branch"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let pr = self
            .open_pull_request(forge.as_ref(), &repo, &task, mr, issue, &branch, &target)
            .await?;
        // The refinery's verdict on the head it checked, where the forge shows checks.
        // Gates that are configured but not run yet are never reported as passed.
        let status = CommitStatus {
            context: "gastown/refinery".into(),
            state: if config.quality_gates.is_empty() {
                CheckState::Success
            } else {
                CheckState::Pending
            },
            description: refinery_verdict(&config),
            target_url: None,
        };
        forge.set_status(&repo, &pr.head_sha, &status).await?;
        let (mr_id, task_id, rig_id, now) = (
            mr.id.clone(),
            task.id.clone(),
            rig.id.clone(),
            self.clock.now_ms(),
        );
        let url = pr.url.clone();
        self.store
            .write(move |c| {
                let forge_ref = format!("{rig_id}!{}", pr.number);
                store::annotate(
                    c,
                    &mr_id,
                    "pull_request",
                    &json!(pr.number),
                    Some(&forge_ref),
                    now,
                )?;
                for to in [
                    BeadStatus::Hooked,
                    BeadStatus::InProgress,
                    BeadStatus::Review,
                ] {
                    store::transition(
                        c,
                        &mr_id,
                        to,
                        None,
                        "refinery",
                        &json!({ "pull_request": pr.number, "url": url }),
                        now,
                    )?;
                }
                let task =
                    store::annotate(c, &task_id, "pull_request", &json!(pr.number), None, now)?;
                crate::actions::queue_bead_update(c, &task, now)?;
                Ok(())
            })
            .await?;
        self.actions_notify.notify_one();
        Ok(true)
    }

    /// `.gastown.yaml` at the target branch: defaults when absent, `Err(problems)`
    /// when it does not read.
    async fn repo_config(
        &self,
        forge: &dyn Forge,
        repo: &RepoPath,
        branch: &str,
    ) -> Result<Result<RepoConfig, String>, RefineryError> {
        let Some(bytes) = forge.file(repo, repo_config::FILE, branch).await? else {
            return Ok(Ok(RepoConfig::default()));
        };
        let at = format!("{}@{branch}", repo_config::FILE);
        Ok(repo_config::parse(&String::from_utf8_lossy(&bytes), &at).map_err(|e| e.to_string()))
    }

    async fn say_config_invalid(
        &self,
        mr: &Bead,
        rig_id: &str,
        issue: Option<u64>,
        problems: &str,
    ) -> Result<(), RefineryError> {
        tracing::warn!(
            problems,
            "the rig's .gastown.yaml is invalid; nothing lands"
        );
        let Some(number) = issue else { return Ok(()) };
        let digest = crate::agent_api::token_digest(problems);
        let key = format!("{}:config-invalid:{}", mr.id, &digest[..16]);
        let marker = format!("<!-- gastown:config-invalid {key} -->");
        let body = comments::repo_config_invalid(problems, &marker);
        let (rig, mr_id, now) = (rig_id.to_string(), mr.id.clone(), self.clock.now_ms());
        let problems = problems.to_string();
        self.store
            .write(move |c| {
                store::enqueue_action(
                    c,
                    &key,
                    "comment",
                    &rig,
                    Some(&mr_id),
                    &json!({ "number": number, "body": body, "marker": marker }),
                    now,
                )?;
                store::note(
                    c,
                    &mr_id,
                    "config_invalid",
                    "refinery",
                    &json!({ "problems": problems }),
                    now,
                )
            })
            .await?;
        self.actions_notify.notify_one();
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn open_pull_request(
        &self,
        forge: &dyn Forge,
        repo: &RepoPath,
        task: &Bead,
        mr: &Bead,
        issue: Option<u64>,
        branch: &str,
        target: &str,
    ) -> Result<crate::forge::PullRequest, RefineryError> {
        let marker = comments::pull_request_marker(&task.id);
        if let Some(existing) = forge
            .open_pull_requests(repo)
            .await?
            .into_iter()
            .find(|p| p.head == branch || p.body.contains(&marker))
        {
            return Ok(existing);
        }
        let new = NewPullRequest {
            title: task.title.clone(),
            body: comments::pull_request_body(task, mr, issue, &[]),
            head: branch.to_string(),
            base: target.to_string(),
            draft: false,
        };
        let pr = forge.create_pull_request(repo, &new).await?;
        tracing::info!(number = pr.number, url = %pr.url, "pull request opened");
        Ok(pr)
    }
}

/// What the `gastown/refinery` status says (forges cap descriptions at 140 characters).
fn refinery_verdict(config: &RepoConfig) -> String {
    if config.quality_gates.is_empty() {
        "No quality gates in .gastown.yaml; ready for review".into()
    } else {
        format!(
            "{} quality gates configured; the refinery cannot run gates yet",
            config.quality_gates.len()
        )
    }
}

/// A refinery PR/MR closed on the forge: close its beads as merged or rejected. Runs
/// in the delivery's transaction.
pub fn apply_pull_request_closed(
    conn: &rusqlite::Connection,
    rig_id: &str,
    number: u64,
    merged: bool,
    actor: &str,
    now: crate::clock::Millis,
) -> Result<Option<Bead>, StoreError> {
    let forge_ref = format!("{rig_id}!{number}");
    let Some(mr) = store::find_by_forge_ref(conn, &forge_ref, BeadType::MergeRequest)? else {
        return Ok(None);
    };
    let reason = if merged {
        store::CloseReason::Merged
    } else {
        store::CloseReason::Rejected
    };
    let payload = json!({ "pull_request": number, "by": actor });
    if mr.status != BeadStatus::Closed {
        store::transition(
            conn,
            &mr.id,
            BeadStatus::Closed,
            Some(reason),
            actor,
            &payload,
            now,
        )?;
    }
    let Some(task_id) = mr.parent_id else {
        return Ok(None);
    };
    let task = store::get_bead(conn, &task_id)?;
    if task.status == BeadStatus::Closed {
        return Ok(Some(task));
    }
    let task = store::transition(
        conn,
        &task_id,
        BeadStatus::Closed,
        Some(reason),
        actor,
        &payload,
        now,
    )?;
    crate::actions::queue_bead_update(conn, &task, now)?;
    Ok(Some(task))
}
