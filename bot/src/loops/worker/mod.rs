//! The inbox worker: turns stored deliveries into bead changes.
//!
//! Deliveries of one repository are worked in order; a delivery that keeps failing is
//! retried with exponential backoff and after `worker.max_attempts` marked failed, so
//! it never blocks its repository for good. A batch of due deliveries is worked in one
//! transaction, each delivery in its own savepoint: the changes a delivery causes and
//! the mark that it was processed commit together, so a crash anywhere repeats a
//! delivery whole or not at all, and a backlog costs one fsync per batch, not per
//! delivery.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use webhooks::{CommentEvent, ForgeEvent, ForgeKind, IssueEvent};

use crate::clock::{Millis, SharedClock};
use crate::config::Config;
use crate::decisions::sling::{self, IssueDecision};
use crate::forge::formulas::Planned;
use crate::forge::registry::Forges;
use crate::forge::{Permission, RepoPath};
use crate::store::{self, BeadStatus, BeadType, InboxRow, NewBead, Rig, Store, StoreError};

mod commands;
mod slings;
pub use commands::thread_ref;
pub use slings::{Slings, apply_slings};

/// Deliveries worked per transaction at most.
const BATCH: usize = 128;

/// How long the worker lets new deliveries gather after a partial batch. Far below
/// anything a person notices on an issue, long enough to batch a burst.
const LINGER: Duration = Duration::from_millis(25);

/// What one step of the worker did. Tests drain the inbox by stepping until `Idle`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Deliveries were worked; each ended as one of these.
    Worked(Vec<Worked>),
    /// Nothing is due; `next_due` is when the earliest pending retry comes up.
    Idle { next_due: Option<Millis> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Worked {
    Processed { id: i64 },
    Ignored { id: i64 },
    Failed { id: i64 },
    Retrying { id: i64, at: Millis },
}

#[derive(Clone)]
pub struct Worker {
    store: Store,
    config: Arc<Config>,
    clock: SharedClock,
    forges: Forges,
    /// Where deliveries are parsed, below the priority of answering webhooks.
    idle: crate::loops::idle::Idle,
    /// Rigs' `.gastown.yaml`: their own sling label; pushes to the base branch
    /// invalidate it.
    settings: crate::forge::settings::RepoSettings,
    /// Where a sling's formula is found.
    formulas: crate::forge::formulas::Formulas,
}

/// Why events could not be applied to the town.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A look-up on the forge (a labeller's permission) failed: the events are tried
    /// again later, like any failed delivery.
    #[error("asking the forge failed: {0}")]
    Lookup(String),
}

/// What the worker asked the forge before a batch's transaction: forge calls never run
/// inside it.
#[derive(Default)]
struct Lookups {
    /// (forge, host, repo, user), lowercased → permission.
    permissions: HashMap<(ForgeKind, String, String, String), Permission>,
    /// Deliveries whose look-ups failed: retried like any failed delivery.
    failed: HashMap<i64, String>,
    /// Forges with a client: only their rigs get comments.
    reachable: HashSet<(ForgeKind, String)>,
    /// The label that slings work in each repository an issue event came from.
    sling_labels: HashMap<(ForgeKind, String, String), String>,
    /// The molecule plan of each issue about to be slung, or what is wrong with its
    /// formula (the formula's name, the problems).
    plans: HashMap<IssueKey, PlanFor>,
    /// The issues a writer's `/gt sling` slings, as the sling label's event would.
    slings: HashMap<IssueKey, IssueEvent>,
}

impl Lookups {
    /// The label that slings work in this repository. Every issue event's repository
    /// is looked up before its batch is applied; one that was not slings nothing.
    fn sling_label(&self, repo: &webhooks::RepoRef) -> &str {
        self.sling_labels
            .get(&repo_key(repo))
            .map_or("", String::as_str)
    }
}

/// An issue, by forge, host, repository and number (lowercased).
type IssueKey = (ForgeKind, String, String, u64);

/// A sling's molecule plan, or the formula's name and what is wrong with it.
type PlanFor = Result<Planned, (String, String)>;

fn issue_key(issue: &IssueEvent) -> IssueKey {
    let (forge, host, path) = repo_key(&issue.repo);
    (forge, host, path, issue.number)
}

fn repo_key(repo: &webhooks::RepoRef) -> (ForgeKind, String, String) {
    (
        repo.forge,
        repo.host.to_ascii_lowercase(),
        repo.path.to_ascii_lowercase(),
    )
}

fn permission_key(repo: &webhooks::RepoRef, user: &str) -> (ForgeKind, String, String, String) {
    (
        repo.forge,
        repo.host.to_ascii_lowercase(),
        repo.path.to_ascii_lowercase(),
        user.to_ascii_lowercase(),
    )
}

/// How a delivery's processing ended inside its savepoint.
enum Applied {
    Done,
    NotARig(String),
    /// A sling nobody could check (no forge client for the host): nothing slung.
    Unchecked(String),
}

impl Worker {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        clock: SharedClock,
        forges: Forges,
        settings: crate::forge::settings::RepoSettings,
        formulas: crate::forge::formulas::Formulas,
    ) -> std::io::Result<Self> {
        Ok(Self {
            store,
            config,
            clock,
            forges,
            idle: crate::loops::idle::Idle::start()?,
            settings,
            formulas,
        })
    }

    /// Ask the forge what the batch's decisions need: the permission of everyone who
    /// put the sling label on an issue.
    async fn look_up(&self, parsed: &[(InboxRow, Result<Vec<ForgeEvent>, String>)]) -> Lookups {
        let mut lookups = Lookups::default();
        // A push to a branch may change `.gastown.yaml` there (the base branch's is the
        // one the town acts by): read that branch's file again.
        for (_, events) in parsed {
            for event in events.iter().flatten() {
                if let ForgeEvent::Push(p) = event
                    && let Some(branch) = p.git_ref.strip_prefix("refs/heads/")
                {
                    let rig = store::rig_id(p.repo.forge, &p.repo.host, &p.repo.path);
                    self.settings.forget(&rig, branch);
                }
            }
        }
        for (row, events) in parsed {
            let Ok(events) = events else { continue };
            for event in events {
                if let ForgeEvent::Comment(comment) | ForgeEvent::ReviewComment(comment) = event {
                    self.look_up_commenter(row.id, comment, &mut lookups).await;
                }
                let ForgeEvent::Issue(issue) = event else {
                    continue;
                };
                let forge = self.forges.get(issue.repo.forge, &issue.repo.host);
                if let std::collections::hash_map::Entry::Vacant(slot) =
                    lookups.sling_labels.entry(repo_key(&issue.repo))
                {
                    let rig = store::rig_id(issue.repo.forge, &issue.repo.host, &issue.repo.path);
                    let repo = RepoPath::new(issue.repo.path.clone());
                    let label = self
                        .settings
                        .sling_label(&self.config, &rig, forge.as_deref(), &repo)
                        .await;
                    slot.insert(label);
                }
                let Some(forge) = forge else {
                    continue;
                };
                let slings = sling::wants_sling(issue, lookups.sling_label(&issue.repo));
                if !slings && !crate::lifecycle::approval::wanted(issue) {
                    continue;
                }
                lookups
                    .reachable
                    .insert((issue.repo.forge, issue.repo.host.to_ascii_lowercase()));
                let Some(p) = self
                    .look_up_permission(
                        row.id,
                        forge.as_ref(),
                        &issue.repo,
                        &issue.actor.login,
                        &mut lookups,
                    )
                    .await
                else {
                    continue;
                };
                if slings && p.can_command() {
                    match self.plan(forge.as_ref(), issue, None).await {
                        Ok(plan) => {
                            lookups.plans.insert(issue_key(issue), plan);
                        }
                        Err(e) => {
                            lookups.failed.insert(row.id, e.to_string());
                        }
                    }
                }
            }
        }
        lookups
    }

    /// For a comment addressed to the bot: its author's permission, and for a writer's
    /// `/gt sling` the issue and its molecule plan.
    async fn look_up_commenter(&self, row: i64, comment: &CommentEvent, lookups: &mut Lookups) {
        let Some(addressed) = commands::asked(&self.config, comment) else {
            return;
        };
        if comment.action == webhooks::CommentAction::Deleted {
            return;
        }
        let Some(forge) = self.forges.get(comment.repo.forge, &comment.repo.host) else {
            return;
        };
        let user = &comment.actor.login;
        let Some(p) = self
            .look_up_permission(row, forge.as_ref(), &comment.repo, user, lookups)
            .await
        else {
            return;
        };
        let Some(line) = commands::wants_sling(&addressed, comment) else {
            return;
        };
        let (webhooks::CommentTarget::Issue { number }, true) = (&comment.target, p.can_command())
        else {
            return;
        };
        let Ok(crate::decisions::command::Command::Sling(args)) = &line.command else {
            return;
        };
        let rig = store::rig_id(comment.repo.forge, &comment.repo.host, &comment.repo.path);
        let repo = RepoPath::new(comment.repo.path.clone());
        let label = self
            .settings
            .sling_label(&self.config, &rig, Some(forge.as_ref()), &repo)
            .await;
        lookups
            .sling_labels
            .insert(repo_key(&comment.repo), label.clone());
        lookups
            .reachable
            .insert((comment.repo.forge, comment.repo.host.to_ascii_lowercase()));
        let issue = match forge.issue(&repo, *number).await {
            Ok(issue) => issue,
            Err(e) => {
                lookups.failed.insert(row, e.to_string());
                return;
            }
        };
        let event = commands::sling_event(comment, &issue, &label, args.formula.as_deref());
        match self.plan(forge.as_ref(), &event, Some(&args.vars)).await {
            Ok(plan) => {
                lookups.plans.insert(issue_key(&event), plan);
            }
            Err(e) => {
                lookups.failed.insert(row, e.to_string());
                return;
            }
        }
        lookups.slings.insert(issue_key(&event), event);
    }

    /// Ask the forge what `user` may do in `repo` and keep it for the batch; a forge
    /// that cannot answer fails the delivery `row` (it is tried again).
    async fn look_up_permission(
        &self,
        row: i64,
        forge: &dyn crate::forge::Forge,
        repo: &webhooks::RepoRef,
        user: &str,
        lookups: &mut Lookups,
    ) -> Option<Permission> {
        let path = RepoPath::new(repo.path.clone());
        let config = &self.config.permissions;
        match self
            .forges
            .permission(forge, &path, user, &self.clock, config)
            .await
        {
            Ok(p) => {
                lookups.permissions.insert(permission_key(repo, user), p);
                Some(p)
            }
            Err(e) => {
                lookups.failed.insert(row, e.to_string());
                None
            }
        }
    }

    /// The molecule plan for slinging `issue`: its formula picked (the issue's label or
    /// block, the repository's default), found (the repository's own first) and
    /// expanded. `Err` only when the forge could not be asked.
    async fn plan(
        &self,
        forge: &dyn crate::forge::Forge,
        issue: &IssueEvent,
        vars: Option<&std::collections::BTreeMap<String, String>>,
    ) -> Result<PlanFor, crate::forge::ForgeError> {
        let rig = store::rig_id(issue.repo.forge, &issue.repo.host, &issue.repo.path);
        let repo = RepoPath::new(issue.repo.path.clone());
        let base = &self.config.polecats.base_branch;
        let settings = self.settings.or_defaults(&rig, forge, &repo, base).await;
        let mut pick =
            match crate::decisions::pick::pick(issue, settings.default_formula.as_deref()) {
                Ok(pick) => pick,
                Err(problem) => return Ok(Err(("(the issue's block)".into(), problem))),
            };
        // `/gt sling key=value`: a writer's vars win over the issue's block.
        for (k, v) in vars.into_iter().flatten() {
            pick.vars
                .insert(k.clone(), crate::decisions::pick::var_value(v));
        }
        let branch = settings.target_branch.as_deref().unwrap_or(base);
        let planned = self
            .formulas
            .plan(forge, &repo, branch, &pick, &issue.title)
            .await?;
        Ok(planned.map_err(|problem| (pick.reference.clone(), problem)))
    }

    /// Work the due deliveries, up to a batch.
    pub async fn step(&self) -> Result<Outcome, StoreError> {
        let now = self.clock.now_ms();
        // The read stays on a normal thread: it holds a WAL snapshot, and a snapshot
        // held by a starved thread keeps checkpoints from finishing. Parsing holds
        // nothing and the answer to a webhook never waits for it, so it runs at idle
        // priority, after answering the webhooks still arriving, and before taking a
        // place in the writer's queue.
        let rows = self
            .store
            .read(move |c| store::take_due(c, now, BATCH))
            .await?;
        if rows.is_empty() {
            let next_due = self.store.read(move |c| store::next_due(c, now)).await?;
            return Ok(Outcome::Idle { next_due });
        }
        let parsed: Vec<(InboxRow, Result<Vec<ForgeEvent>, String>)> = self
            .idle
            .run(move || {
                rows.into_iter()
                    .map(|row| {
                        let events = parse_row(&row);
                        (row, events)
                    })
                    .collect()
            })
            .await
            .ok_or_else(|| StoreError::Invalid("parsing a batch of deliveries panicked".into()))?;
        let lookups = self.look_up(&parsed).await;
        let config = self.config.clone();
        let worked = self
            .store
            .write(move |c| Ok(work_batch(c, &config, &parsed, &lookups, now)))
            .await?;
        Ok(Outcome::Worked(worked))
    }

    /// Apply events that did not come as a delivery (catch-up found them by asking the
    /// forge), through the same decisions and permission checks as deliveries.
    pub async fn apply_events(&self, events: Vec<ForgeEvent>) -> Result<(), ApplyError> {
        let now = self.clock.now_ms();
        let forge = events.iter().find_map(|e| e.repo()).map(|r| r.forge);
        let parsed = vec![(
            synthetic_row(forge.unwrap_or(ForgeKind::GitHub)),
            Ok(events),
        )];
        let lookups = self.look_up(&parsed).await;
        if let Some(e) = lookups.failed.values().next() {
            return Err(ApplyError::Lookup(e.clone()));
        }
        let config = self.config.clone();
        self.store
            .write(move |c| {
                let (_, Ok(events)) = &parsed[0] else {
                    return Ok(());
                };
                apply(c, &config, events, &lookups, now).map(|_| ())
            })
            .await?;
        Ok(())
    }

    /// Step until nothing is due. Returns how many deliveries were worked (a retry
    /// scheduled counts as worked).
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let mut n = 0;
        loop {
            match self.step().await? {
                Outcome::Idle { .. } => return Ok(n),
                Outcome::Worked(w) => n += w.len(),
            }
        }
    }

    /// Work deliveries until `shutdown` resolves. Sleeps until the next retry is due or
    /// ingest announces a new delivery.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            // (how long to wait, whether a new delivery may cut the wait short)
            let (wait, wake_on_delivery) = match self.step().await {
                Ok(Outcome::Idle { next_due }) => {
                    let until_due = next_due
                        .map(|t| (t - self.clock.now_ms()).max(0) as u64)
                        .unwrap_or(u64::MAX);
                    (Duration::from_millis(until_due.min(1_000)), true)
                }
                // A full batch means a backlog: go straight on. A partial one means
                // the worker is keeping up; letting deliveries gather for a moment
                // makes the next batch bigger and leaves the CPU to ingest.
                Ok(Outcome::Worked(w)) if w.len() >= BATCH => continue,
                Ok(Outcome::Worked(_)) => (LINGER, false),
                Err(e) => {
                    tracing::error!(error = %e, "inbox worker could not reach the store; retrying");
                    (Duration::from_secs(1), false)
                }
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.store.wakes().of(store::Wake::Inbox).notified(), if wake_on_delivery => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// Stands in for an inbox row when events come from catch-up rather than a delivery.
fn synthetic_row(forge: ForgeKind) -> InboxRow {
    InboxRow {
        id: -1,
        forge,
        forge_host: String::new(),
        delivery_id: "catch-up".into(),
        event: "catch-up".into(),
        action: None,
        repo: None,
        received_at: 0,
        status: store::InboxStatus::Pending,
        attempts: 0,
        next_attempt_at: 0,
        last_error: None,
        processed_at: None,
        body: Vec::new(),
        body_error: None,
    }
}

fn parse_row(row: &InboxRow) -> Result<Vec<ForgeEvent>, String> {
    if let Some(e) = &row.body_error {
        return Err(e.clone());
    }
    webhooks::parse(row.forge, &row.forge_host, &row.event, &row.body).map_err(|e| e.to_string())
}

/// Work a batch in id order inside the writer's transaction. A delivery that fails and
/// will be retried holds back the rest of its repository's deliveries in the batch.
fn work_batch(
    conn: &store::Tx<'_>,
    config: &Config,
    batch: &[(InboxRow, Result<Vec<ForgeEvent>, String>)],
    lookups: &Lookups,
    now: Millis,
) -> Vec<Worked> {
    let mut held_back: HashSet<Option<&str>> = HashSet::new();
    let mut worked = Vec::with_capacity(batch.len());
    for (row, events) in batch {
        if held_back.contains(&row.repo.as_deref()) {
            continue;
        }
        let span = tracing::info_span!(
            "delivery",
            inbox_id = row.id,
            delivery = %row.delivery_id,
            event = %row.event,
            repo = row.repo.as_deref().unwrap_or("-"),
            attempt = row.attempts + 1,
        );
        let _enter = span.enter();
        let outcome = work_one(conn, config, row, events, lookups, now).unwrap_or_else(|e| {
            // Recording the outcome itself failed: leave the row pending as it was.
            tracing::error!(error = %e, "could not record a delivery's outcome");
            Worked::Retrying {
                id: row.id,
                at: row.next_attempt_at,
            }
        });
        if matches!(outcome, Worked::Retrying { .. }) {
            held_back.insert(row.repo.as_deref());
        }
        worked.push(outcome);
    }
    worked
}

fn work_one(
    conn: &store::Tx<'_>,
    config: &Config,
    row: &InboxRow,
    events: &Result<Vec<ForgeEvent>, String>,
    lookups: &Lookups,
    now: Millis,
) -> Result<Worked, StoreError> {
    let id = row.id;
    let events = match events {
        Ok(events) => events,
        Err(e) => {
            // A payload that does not parse will not parse next time either.
            tracing::warn!(error = %e, "delivery does not parse; marked failed");
            store::mark_failed(conn, id, now, e)?;
            return Ok(Worked::Failed { id });
        }
    };
    conn.execute_batch("SAVEPOINT delivery")?;
    let applied = match lookups.failed.get(&id) {
        Some(e) => Err(ApplyError::Lookup(e.clone())),
        None => apply(conn, config, events, lookups, now).map_err(ApplyError::from),
    };
    if applied.is_err() {
        conn.execute_batch("ROLLBACK TO delivery")?;
    }
    conn.execute_batch("RELEASE delivery")?;
    match applied {
        Ok(Applied::Done) => {
            store::mark_processed(conn, id, now)?;
            tracing::debug!("delivery processed");
            Ok(Worked::Processed { id })
        }
        Ok(Applied::NotARig(why)) => {
            store::mark_ignored(conn, id, now, &why)?;
            tracing::info!(%why, "delivery ignored");
            Ok(Worked::Ignored { id })
        }
        Ok(Applied::Unchecked(why)) => {
            store::mark_ignored(conn, id, now, &why)?;
            Ok(Worked::Ignored { id })
        }
        Err(e) => {
            let msg = e.to_string();
            let attempts = row.attempts as u32 + 1;
            if attempts >= config.worker.max_attempts {
                tracing::error!(error = %msg, attempts, "delivery failed for good; its repository goes on");
                store::mark_failed(conn, id, now, &msg)?;
                return Ok(Worked::Failed { id });
            }
            let at = now + crate::decisions::retry::backoff_ms(config, attempts) as Millis;
            tracing::warn!(error = %msg, attempts, retry_in_ms = at - now, "delivery failed; will retry");
            store::schedule_retry(conn, id, at, &msg)?;
            Ok(Worked::Retrying { id, at })
        }
    }
}

/// Apply a delivery's events to the town. Runs inside the delivery's transaction.
fn apply(
    conn: &store::Tx<'_>,
    config: &Config,
    events: &[ForgeEvent],
    lookups: &Lookups,
    now: Millis,
) -> Result<Applied, StoreError> {
    let mut unchecked = None;
    for event in events {
        let Some(repo) = event.repo() else {
            continue;
        };
        let rig = match join_rig(conn, config, repo, now)? {
            Ok(rig) => rig,
            Err(why) => return Ok(Applied::NotARig(why)),
        };
        match event {
            ForgeEvent::Issue(issue) => {
                if let Some(why) = apply_issue(conn, config, &rig, issue, lookups, now, None)? {
                    unchecked = Some(why);
                }
            }
            ForgeEvent::Comment(comment) => {
                commands::on_comment(conn, config, &rig, comment, false, lookups, now)?;
            }
            ForgeEvent::PullRequest(pr)
                if matches!(
                    pr.action,
                    webhooks::PullRequestAction::Merged | webhooks::PullRequestAction::Closed
                ) =>
            {
                let merged = pr.action == webhooks::PullRequestAction::Merged;
                crate::lifecycle::follow::apply_pull_request_closed(
                    conn,
                    &rig.id,
                    pr.number,
                    merged,
                    &pr.actor.login,
                    now,
                )?;
            }
            ForgeEvent::Review(r) => {
                match r.state {
                    webhooks::ReviewState::Approved => crate::lifecycle::follow::record_approval(
                        conn,
                        &rig.id,
                        r.number,
                        &r.actor.login,
                        r.commit_sha.as_deref(),
                        now,
                    )?,
                    webhooks::ReviewState::Dismissed => crate::lifecycle::follow::record_approval(
                        conn,
                        &rig.id,
                        r.number,
                        &r.actor.login,
                        None,
                        now,
                    )?,
                    _ => {}
                }
                crate::lifecycle::follow::nudge(conn, &rig.id, Some(r.number), None, now)?
            }
            ForgeEvent::ReviewComment(c) => {
                commands::on_comment(conn, config, &rig, c, true, lookups, now)?;
                let number = match &c.target {
                    webhooks::CommentTarget::PullRequest { number, .. } => Some(*number),
                    _ => None,
                };
                crate::lifecycle::follow::nudge(conn, &rig.id, number, None, now)?
            }
            ForgeEvent::Push(_) => crate::lifecycle::follow::rig_moved(conn, &rig.id, now)?,
            ForgeEvent::Ci(ci) => {
                for n in &ci.pull_requests {
                    crate::lifecycle::follow::nudge(conn, &rig.id, Some(*n), None, now)?;
                }
                crate::lifecycle::follow::nudge(conn, &rig.id, None, Some(&ci.sha), now)?;
            }
            _ => {}
        }
    }
    Ok(unchecked.map_or(Applied::Done, Applied::Unchecked))
}

/// The rig a repository is, joining it to the default town when rigs are not listed in
/// the config. `Err(reason)` when the config lists rigs and this is not one of them.
fn join_rig(
    conn: &store::Tx<'_>,
    config: &Config,
    repo: &webhooks::RepoRef,
    now: Millis,
) -> Result<Result<Rig, String>, StoreError> {
    let forge = repo.forge;
    let default_host = config.forge_host(repo.forge);
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

/// Apply an issue event. `Some(reason)` when it asked to sling and nobody could check
/// that the labeller may (no forge client for the host): nothing slung.
fn apply_issue(
    conn: &store::Tx<'_>,
    config: &Config,
    rig: &Rig,
    issue: &IssueEvent,
    lookups: &Lookups,
    now: Millis,
    priority: Option<u8>,
) -> Result<Option<String>, StoreError> {
    let forge_ref = store::ForgeRef::issue(&rig.id, issue.number).to_string();
    let existing = store::find_task_for_forge_ref(conn, &forge_ref)?;
    let permission = lookups
        .permissions
        .get(&permission_key(&issue.repo, &issue.actor.login))
        .copied();
    let reachable = lookups
        .reachable
        .contains(&(issue.repo.forge, issue.repo.host.to_ascii_lowercase()));
    let label = lookups.sling_label(&issue.repo);
    if crate::lifecycle::approval::wanted(issue) {
        crate::lifecycle::approval::by_label(conn, rig, issue, existing.as_ref(), permission, now)?;
    }
    if let Some(task) = &existing {
        if let Some(why) = sling::withdrawal(issue, label) {
            crate::lifecycle::withdraw::withdraw(conn, task, why, &issue.actor.login, now)?;
            return Ok(None);
        }
        // An edited body may name other dependencies.
        if issue.action == webhooks::IssueAction::Edited
            && matches!(task.status, BeadStatus::Open | BeadStatus::Blocked)
        {
            let refs = crate::decisions::deps::parse(issue.body.as_deref().unwrap_or_default());
            crate::lifecycle::depends::follow_body(
                conn,
                task,
                rig,
                &refs,
                &issue.actor.login,
                now,
            )?;
        }
        // Taking the escalation's label off acknowledges it.
        if matches!(&issue.action, webhooks::IssueAction::Unlabeled { label }
            if label == crate::decisions::comments::ESCALATED_LABEL)
        {
            crate::lifecycle::escalation::ack_about(conn, &task.id, &issue.actor.login, now)?;
        }
    }
    match sling::decide_issue(issue, label, existing.as_ref(), permission) {
        IssueDecision::Sling(req) => {
            let planned = match lookups.plans.get(&issue_key(issue)) {
                Some(Ok(planned)) => Some(planned),
                Some(Err((name, problems))) => {
                    tracing::info!(%forge_ref, formula = %name, "sling refused: the formula does not expand");
                    crate::lifecycle::outbox::queue_formula_refusal(
                        conn,
                        &rig.id,
                        issue.number,
                        name,
                        problems,
                        now,
                    )?;
                    return Ok(None);
                }
                None => None,
            };
            let bead = crate::lifecycle::create(
                conn,
                &NewBead {
                    bead_type: BeadType::Task,
                    title: req.title,
                    body: req.body,
                    priority: priority.unwrap_or(2),
                    town_id: Some(rig.town_id.clone()),
                    rig_id: Some(rig.id.clone()),
                    parent_id: None,
                    forge_ref: Some(forge_ref.clone()),
                    created_by: req.slung_by,
                    metadata: serde_json::to_value(&req.metadata).unwrap_or_default(),
                },
                now,
            )?;
            if let Some(p) = planned {
                let molecule = crate::lifecycle::molecule::pour(
                    conn,
                    &bead,
                    &p.plan,
                    &p.source.to_string(),
                    now,
                )?;
                tracing::info!(bead = %bead.id, molecule = %molecule.id, formula = %p.plan.formula,
                    steps = p.plan.steps.len(), "molecule poured");
            }
            // The issues its body depends on, and the tasks that waited for this one.
            let refs = crate::decisions::deps::parse(&bead.body);
            crate::lifecycle::depends::follow_body(conn, &bead, rig, &refs, &bead.created_by, now)?;
            crate::lifecycle::depends::link_waiting(conn, &bead, now)?;
            let bead = store::get_bead(conn, &bead.id)?;
            tracing::info!(bead = %bead.id, %forge_ref, "issue slung: bead created");
            if reachable {
                crate::lifecycle::outbox::queue_status_comment(conn, &bead, issue.number, now)?;
            }
        }
        IssueDecision::Refuse { user } => {
            tracing::info!(%forge_ref, %user, "sling refused: no write access");
            crate::lifecycle::outbox::queue_refusal(
                conn,
                &rig.id,
                issue.number,
                &user,
                label,
                now,
            )?;
        }
        IssueDecision::Unchecked { user } => {
            let why = format!(
                "{}; {user}'s sling of {forge_ref} was not acted on, because nobody can \
                 check that they may write to {}",
                crate::forge::registry::no_client_reason(
                    config,
                    issue.repo.forge,
                    &issue.repo.host
                ),
                rig.path,
            );
            tracing::warn!(rig = %rig.id, host = %issue.repo.host, %user, "{why}");
            return Ok(Some(why));
        }
        IssueDecision::Reopen { bead_id } => {
            let task = store::get_bead(conn, &bead_id)?;
            let task = crate::lifecycle::withdraw::reopen(conn, &task, &issue.actor.login, now)?;
            let refs = crate::decisions::deps::parse(issue.body.as_deref().unwrap_or_default());
            crate::lifecycle::depends::follow_body(
                conn,
                &task,
                rig,
                &refs,
                &issue.actor.login,
                now,
            )?;
            tracing::info!(bead = %bead_id, %forge_ref, "issue slung again: bead reopened");
        }
        IssueDecision::AlreadySlung { bead_id } => {
            tracing::debug!(bead = %bead_id, %forge_ref, "issue already slung");
        }
        IssueDecision::Nothing => {}
    }
    Ok(None)
}
