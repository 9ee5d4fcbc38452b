//! The refinery: what happens to a polecat's finished work (DESIGN.md §3 "Refine").
//!
//! Each merge_request bead moves through one loop, per rig and target branch:
//!
//! 1. **open** — read `.gastown.yaml` from the target branch (a broken file is said
//!    once on the issue and nothing lands until it is fixed), then hook the merge
//!    request to the rig's refinery for that target and start a run in the town
//!    ([`in_town`]): rebase onto the latest target, push the rebased branch, run the
//!    quality gates. One run per target at a time: merges are serialized there.
//! 2. **in progress, reported** — [`gates::judge`] the report. A conflict or a failing
//!    gate sends the work back ([`rework`]); passing work lands: `pr` opens (or
//!    updates) one PR/MR that closes the issue, with the gates table and a
//!    `gastown/refinery` status on the tested commit; `direct` fast-forwards the target
//!    and closes the issue, or runs again if the target moved meanwhile.
//! 3. **review** — the PR is followed through the forge's events ([`follow`]).
//!
//! Idempotent across restarts: every step is decided from the bead's stored state;
//! the PR carries a marker with the bead id and is looked up by its head branch before
//! one is opened, so a crash between "opened" and "recorded" never makes a second one.

pub mod ai_review;
mod land;
pub mod review;
mod step_gates;

use crate::decisions::{gates, landing};
use crate::lifecycle::{follow, rework};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::Mutex;
use tracing::Instrument;

use crate::clock::{Millis, SharedClock};
use crate::config::Config;
use crate::config::repo::{MergeStrategy, RepoConfig};
use crate::decisions::comments;
use crate::decisions::meta::{self, MergeRequestMeta, TaskMeta};
use crate::forge::registry::Forges;
use crate::forge::{CheckState, CommitStatus, Forge, ForgeError, RepoPath};
use crate::gitgate::GitGateway;
use crate::lifecycle::{self, Cause};
use crate::loops::sessions::{Ended, SessionError, SessionPlan, Sessions};
use crate::store::{self, AgentStatus, Bead, BeadStatus, Rig, Role, Store, StoreError};
use gates::{Assignment, GateSpec, Report, Verdict};

#[derive(Debug, thiserror::Error)]
pub enum RefineryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Forge(#[from] ForgeError),
    #[error(transparent)]
    Town(#[from] SessionError),
    #[error(transparent)]
    Git(#[from] crate::gitgate::GateError),
}

/// How long a merge request that could not go on (broken config, forge error) waits
/// before the refinery looks at it again.
const RECHECK: Duration = Duration::from_secs(60);

/// How often a PR in review is looked at when no event said anything happened.
const FOLLOW_EVERY: Duration = Duration::from_secs(300);

/// What one look at a merge request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Moved,
    /// Nothing to do until something else happens (a run ends, a review arrives).
    Waiting,
    /// Blocked on something outside (a broken config, the forge): look again later.
    Parked,
}

#[derive(Clone)]
pub struct Refinery {
    store: Store,
    config: Arc<Config>,
    clock: SharedClock,
    forges: Forges,
    /// Starts runs in the town; `None` when the bot has no runner (then passing work
    /// lands without gates only where none are configured).
    sessions: Option<Sessions>,
    gateway: Arc<GitGateway>,
    settings: crate::forge::settings::RepoSettings,
    /// The AI review's model; `None` when `review.api_url` is unset.
    review: Option<ai_review::ReviewModel>,
    /// Merge requests that could not go on: until when (on the bot's clock) not to
    /// look again, unless something happens in their rig first (their nudge count, as
    /// it was when parked, moves on).
    parked: Arc<Mutex<HashMap<String, (Millis, i64)>>>,
    /// When each PR in review was last looked at, on the bot's clock.
    looked: Arc<Mutex<HashMap<String, Millis>>>,
}

/// How many times something happened that may move this merge request.
fn nudges(mr: &Bead) -> i64 {
    meta::merge_request(mr).nudge
}

/// What the mirror says of a run's report.
enum Checked {
    /// It matches: the report with its commits as the mirror has them.
    Trusted(Report),
    /// It matches, but the target moved on since: test again.
    TargetMoved(String),
    /// It does not match (why): nothing of it is used.
    Untrusted(String),
}

/// Everything one look at a merge request needs, read once.
struct Context {
    mr: Bead,
    task: Bead,
    /// What the merge request and its task keep, read once.
    mr_meta: MergeRequestMeta,
    task_meta: TaskMeta,
    rig: Rig,
    forge: Arc<dyn Forge>,
    repo: RepoPath,
    issue: Option<u64>,
    config: RepoConfig,
    target: String,
}

impl Context {
    /// The rig as the git gateway knows it.
    fn rig_target(&self) -> crate::gitgate::RigTarget {
        crate::gitgate::RigTarget {
            rig_id: self.rig.id.clone(),
            forge: self.forge.clone(),
            repo: self.repo.clone(),
        }
    }
}

impl Refinery {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        clock: SharedClock,
        forges: Forges,
        sessions: Option<Sessions>,
        gateway: Arc<GitGateway>,
        settings: crate::forge::settings::RepoSettings,
    ) -> Self {
        Self {
            review: ai_review::ReviewModel::from_config(&config),
            store,
            config,
            clock,
            forges,
            sessions,
            gateway,
            settings,
            parked: Arc::default(),
            looked: Arc::default(),
        }
    }

    /// Look at every merge request in the queue once, after settling the runs that
    /// ended. Returns how many moved.
    pub async fn step(&self) -> Result<usize, RefineryError> {
        let mut moved = 0;
        if let Some(sessions) = &self.sessions {
            for ended in sessions.ended(Role::Refinery).await? {
                sessions.settle(ended, refinery_ended).await?;
                moved += 1;
            }
        }
        moved += self.run_step_gates().await?;
        let queue = self.store.read(store::refinery_queue).await?;
        for mr in queue {
            let (now, nudge) = (self.clock.now_ms(), nudges(&mr));
            if self
                .parked
                .lock()
                .await
                .get(&mr.id)
                .is_some_and(|&(until, at)| now < until && nudge == at)
            {
                continue;
            }
            let span = tracing::info_span!("refinery", bead = %mr.id,
                rig = mr.rig_id.as_deref().unwrap_or("-"));
            match self.refine(mr.clone()).instrument(span).await {
                Ok(Step::Moved) => moved += 1,
                Ok(Step::Waiting) => {}
                Ok(Step::Parked) => self.park(&mr).await,
                Err(e) => {
                    tracing::warn!(bead = %mr.id, error = %e, "refinery could not go on; will look again");
                    self.park(&mr).await;
                }
            }
        }
        Ok(moved)
    }

    /// Whether this refinery looked at the PR of `id` within [`FOLLOW_EVERY`]; a PR is
    /// looked at without a nudge once per interval and after every start, because an
    /// event sent while the bot was down is never sent again.
    async fn looked_lately(&self, id: &str) -> bool {
        let now = self.clock.now_ms();
        let mut looked = self.looked.lock().await;
        if looked
            .get(id)
            .is_some_and(|at| now - at < FOLLOW_EVERY.as_millis() as Millis)
        {
            return true;
        }
        looked.insert(id.to_string(), now);
        false
    }

    async fn park(&self, mr: &Bead) {
        let until = self.clock.now_ms() + RECHECK.as_millis() as Millis;
        self.parked
            .lock()
            .await
            .insert(mr.id.clone(), (until, nudges(mr)));
    }

    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let every = Duration::from_secs(2);
        let wake = self.store.wakes().of(store::Wake::Refinery);
        crate::loops::rounds::run("refinery", every, wake, shutdown, || self.step()).await
    }

    async fn refine(&self, mr: Bead) -> Result<Step, RefineryError> {
        let (task_id, rig_id, mr_id) = (
            mr.parent_id.clone().unwrap_or_default(),
            mr.rig_id.clone().unwrap_or_default(),
            mr.id.clone(),
        );
        let (task, rig, running) = self
            .store
            .read(move |c| {
                let task = store::get_bead(c, &task_id)?;
                let rig = store::get_rig(c, &rig_id)?;
                // A run that reported still runs the gates: judged once it ended.
                let running = store::sessions_of_bead(c, &mr_id)?
                    .iter()
                    .any(|s| s.ended_at.is_none());
                Ok((task, rig, running))
            })
            .await?;
        let mr_meta = meta::merge_request(&mr);
        let quiet = mr_meta.nudge == mr_meta.nudged;
        if running || (mr.status == BeadStatus::Review && quiet && self.looked_lately(&mr.id).await)
        {
            // A run in the town, or a PR nothing happened on since the last look.
            return Ok(Step::Waiting);
        }
        let Some(forge) = self.forges.for_rig(&rig) else {
            tracing::warn!(rig = %rig.id, "no forge client for this rig: the refinery cannot land its work");
            return Ok(Step::Parked);
        };
        let repo = RepoPath::new(rig.path.clone());
        let issue = crate::lifecycle::outbox::issue_number(&task);
        let base = self.config.polecats.base_branch.clone();
        let config = match self
            .repo_config(&rig.id, forge.as_ref(), &repo, &base)
            .await?
        {
            Ok(c) => c,
            Err(problems) => {
                self.say_config_invalid(&mr, &rig.id, issue, &problems)
                    .await?;
                return Ok(Step::Parked);
            }
        };
        let target = config.target_branch.clone().unwrap_or(base);
        let cx = Context {
            task_meta: meta::task(&task),
            mr_meta,
            mr,
            task,
            rig,
            forge,
            repo,
            issue,
            config,
            target,
        };
        match cx.mr.status {
            BeadStatus::Open => self.start_run(&cx).await,
            BeadStatus::Review => self.follow(&cx).await,
            BeadStatus::Hooked | BeadStatus::InProgress => {
                match cx.mr_meta.report.clone() {
                    Some(mut report) => {
                        // The gates as the town's wrapper recorded them; whatever the
                        // run itself said of gates does not count.
                        report.gates = cx.mr_meta.checks.clone().unwrap_or_default();
                        self.judge(&cx, &report).await
                    }
                    // The run ended without a report: its settling retries it.
                    None => Ok(Step::Waiting),
                }
            }
            _ => Ok(Step::Waiting),
        }
    }

    /// Hook the merge request to the refinery of its target and start a run.
    async fn start_run(&self, cx: &Context) -> Result<Step, RefineryError> {
        let Some(sessions) = &self.sessions else {
            if cx.config.quality_gates.is_empty()
                && cx.config.merge_strategy.unwrap_or_default() == MergeStrategy::Pr
            {
                // Nothing to run: the forge shows whether the branch still merges.
                return self
                    .land_pr(cx, None, &ai_review::ReviewNote::Off, "")
                    .await;
            }
            tracing::warn!(
                "this bot has no runner (runner.kind: none), so it cannot rebase or run \
                 quality gates; the merge request waits"
            );
            return Ok(Step::Parked);
        };
        let agent = store::agent_id(&cx.rig.id, Role::Refinery, &cx.target);
        let busy = self
            .store
            .read(move |c| {
                Ok(store::get_agent(c, &agent).is_ok_and(|a| a.status == AgentStatus::Working))
            })
            .await?;
        if busy {
            return Ok(Step::Waiting);
        }
        let branch = cx.mr_meta.branch.clone().unwrap_or_default();
        let assignment = Assignment {
            merge_request: cx.mr.id.clone(),
            branch: branch.clone(),
            target: cx.target.clone(),
            gates: cx.config.quality_gates.iter().map(GateSpec::from).collect(),
        };
        let (id, now) = (cx.mr.id.clone(), self.clock.now_ms());
        let mr = self
            .store
            .write(move |c| {
                meta::update_merge_request(c, &id, now, |m| {
                    m.report = None;
                    m.checks = None;
                    m.assignment = Some(assignment);
                })
            })
            .await?;
        let plan = SessionPlan {
            role: Role::Refinery,
            name: cx.target.clone(),
            branch,
            base_branch: cx.target.clone(),
            command: Some(vec!["gt".into(), "agent".into(), "refinery".into()]),
            checks: cx
                .config
                .quality_gates
                .iter()
                .map(|g| runner::Check {
                    name: g.name.clone(),
                    run: g.run.clone(),
                    timeout_secs: g.timeout_secs,
                })
                .collect(),
        };
        match sessions.start(&mr, &plan).await {
            Ok(()) => Ok(Step::Moved),
            // Another merge request took the target's refinery first, or the town is
            // full: the merge request waits its turn.
            Err(SessionError::Busy { .. } | SessionError::TownFull { .. }) => Ok(Step::Waiting),
            Err(e) => Err(e.into()),
        }
    }

    /// Act on a run's report: check it against the mirror, then send the work back
    /// or land it.
    async fn judge(&self, cx: &Context, report: &Report) -> Result<Step, RefineryError> {
        // The report comes from inside the town: its commits are used only once the
        // bot's own mirror confirms them, and from then on as the mirror has them.
        let report = &match self.verify(cx, report).await? {
            Checked::Trusted(tested) => tested,
            Checked::TargetMoved(why) => return self.test_again(cx, why).await,
            Checked::Untrusted(why) => return self.untrusted(cx, report, &why).await,
        };
        let asked: Vec<GateSpec> = cx
            .mr_meta
            .assignment
            .as_ref()
            .map(|a| a.gates.clone())
            .unwrap_or_default();
        match gates::judge(report, &asked) {
            Verdict::Rework { reason, details } => {
                // A PR open from an earlier round shows why its branch went back.
                if cx.task_meta.pull_request.is_some() {
                    let status = CommitStatus {
                        context: comments::REFINERY_STATUS_CONTEXT.into(),
                        state: CheckState::Failure,
                        description: comments::refinery_rework_status(&reason),
                        target_url: None,
                    };
                    cx.forge
                        .set_status(&cx.repo, &report.head_sha, &status)
                        .await?;
                }
                self.send_back(cx, &reason, &details, "refinery").await
            }
            Verdict::Passed if report.head_sha == report.base_sha => {
                self.nothing_to_land(cx, report).await
            }
            Verdict::Passed => {
                let reviewed = match &self.review {
                    None => None,
                    Some(model) => Some(self.ai_review(cx, report, model).await?),
                };
                let review = match &reviewed {
                    None => ai_review::ReviewNote::Off,
                    Some(reviewed) => match reviewed {
                        ai_review::Reviewed::Approved(v) => ai_review::ReviewNote::Approved(v),
                        ai_review::Reviewed::Rejected(v) => {
                            let reason = comments::ai_review_rejected(&v.summary);
                            return self
                                .send_back(cx, &reason, &v.findings(), "ai-review")
                                .await;
                        }
                        ai_review::Reviewed::Failed => return Ok(Step::Parked),
                        ai_review::Reviewed::TooBig { bytes, max } => {
                            ai_review::ReviewNote::TooBig {
                                bytes: *bytes,
                                max: *max,
                            }
                        }
                    },
                };
                let protected = self
                    .gateway
                    .protected_changes(&cx.rig_target(), &cx.target, &report.head_sha)
                    .await?;
                match landing::decide(&cx.config, &protected) {
                    // A change the model could not review waits for a person on a PR,
                    // and a task that has a PR for that reason keeps landing through it.
                    landing::Landing::Direct
                        if review.needs_a_person() || cx.task_meta.pull_request.is_some() =>
                    {
                        self.land_pr(cx, Some(report), &review, "").await
                    }
                    landing::Landing::Direct => self.land_direct(cx, report).await,
                    landing::Landing::PullRequest {
                        protected,
                        direct_refused,
                        ..
                    } => {
                        if direct_refused {
                            tracing::info!(files = ?protected,
                                "protected files changed: a pull request instead of a direct landing");
                        }
                        let note = (!protected.is_empty())
                            .then(|| comments::protected_files_note(&protected, direct_refused));
                        self.land_pr(cx, Some(report), &review, note.as_deref().unwrap_or(""))
                            .await
                    }
                }
            }
        }
    }

    /// Check a run's report against the bot's mirror of the forge: `head_sha` must be
    /// where the task's branch is (the run pushed it through the git gateway), and
    /// `base_sha` the target's head, which the head must be built on. A `base_sha`
    /// that is only behind the target is a target that moved during the run.
    async fn verify(&self, cx: &Context, report: &Report) -> Result<Checked, RefineryError> {
        let branch = cx.mr_meta.branch.as_deref().unwrap_or_default();
        let rig = cx.rig_target();
        let heads = self
            .gateway
            .branch_heads(&rig, &[branch, cx.target.as_str()])
            .await?;
        let (Some(head), Some(target_head)) = (heads[0].clone(), heads[1].clone()) else {
            return Ok(Checked::Untrusted(format!(
                "the mirror has no {} branch",
                if heads[0].is_none() {
                    branch
                } else {
                    cx.target.as_str()
                }
            )));
        };
        if report.head_sha != head {
            return Ok(Checked::Untrusted(format!(
                "it says the branch {branch} is at {:?}, but the bot's mirror has it at {head}",
                report.head_sha
            )));
        }
        let trusted = Report {
            base_sha: target_head.clone(),
            head_sha: head.clone(),
            ..report.clone()
        };
        if report.conflict.is_some() {
            // It goes back for rework; there is no tested commit to check further.
            return Ok(Checked::Trusted(trusted));
        }
        if report.base_sha != target_head {
            if self
                .gateway
                .is_ancestor(&rig, &report.base_sha, &target_head)
                .await?
            {
                return Ok(Checked::TargetMoved(format!(
                    "{} moved from {} to {target_head} during the run; rebasing and testing again",
                    cx.target, report.base_sha
                )));
            }
            return Ok(Checked::Untrusted(format!(
                "it says it rebased onto {:?}, which is not on {} (at {target_head} in the bot's mirror)",
                report.base_sha, cx.target
            )));
        }
        if !self.gateway.is_ancestor(&rig, &target_head, &head).await? {
            return Ok(Checked::Untrusted(format!(
                "the branch {branch} at {head} is not built on {} at {target_head}",
                cx.target
            )));
        }
        Ok(Checked::Trusted(trusted))
    }

    /// A report the mirror contradicts: nothing of it is used. It is logged with both
    /// values and noted on the merge request; the first such report runs the merge
    /// request again (a branch can move under a run), a second one gives up and
    /// escalates to people: the task fails, and its issue says why.
    async fn untrusted(
        &self,
        cx: &Context,
        report: &Report,
        why: &str,
    ) -> Result<Step, RefineryError> {
        let count = cx.mr_meta.untrusted_reports + 1;
        tracing::warn!(
            reported_head = %report.head_sha,
            reported_base = %report.base_sha,
            count,
            "the refinery's report does not match the bot's mirror, so it is not trusted: {why}"
        );
        let (id, now) = (cx.mr.id.clone(), self.clock.now_ms());
        let payload = json!({
            "why": why,
            "reported": { "head_sha": report.head_sha, "base_sha": report.base_sha },
            "count": count,
        });
        self.store
            .write(move |c| {
                store::note(c, &id, "report_untrusted", "refinery", &payload, now)?;
                meta::update_merge_request(c, &id, now, |m| m.untrusted_reports = count).map(|_| ())
            })
            .await?;
        if count < 2 {
            return self
                .test_again(
                    cx,
                    format!("the refinery's report was not trusted ({why}); running it again"),
                )
                .await;
        }
        let (id, now, why) = (cx.mr.id.clone(), self.clock.now_ms(), why.to_string());
        let d = crate::decisions::patrol::Durations::from(&self.config.patrol);
        self.store
            .write(move |c| {
                let problem = rework::Problem {
                    reason: comments::REPORT_UNTRUSTED,
                    details: &why,
                    actor: "refinery",
                };
                // No rework: the run, not the polecat's work, is what went wrong.
                rework::give_up(c, &id, &problem, comments::REPORT_UNTRUSTED_ACTION, &d, now)
            })
            .await?;
        Ok(Step::Moved)
    }

    /// The target moved since the gates ran: back to open, to rebase and test again
    /// (a PR stays; its head moves to the new rebase).
    async fn test_again(&self, cx: &Context, why: String) -> Result<Step, RefineryError> {
        tracing::info!(target = %cx.target, "{why}");
        let (id, now) = (cx.mr.id.clone(), self.clock.now_ms());
        self.store
            .write(move |c| {
                meta::update_merge_request(c, &id, now, |m| m.report = None)?;
                let payload = json!({ "reason": why });
                let cause = Cause::new("refinery", &payload);
                lifecycle::move_to(c, &id, BeadStatus::Open, None, cause, now).map(|_| ())
            })
            .await?;
        Ok(Step::Moved)
    }

    async fn send_back(
        &self,
        cx: &Context,
        reason: &str,
        details: &str,
        actor: &str,
    ) -> Result<Step, RefineryError> {
        let (id, now, max) = (
            cx.mr.id.clone(),
            self.clock.now_ms(),
            cx.config.max_rework_attempts,
        );
        let (reason, details, actor) = (reason.to_string(), details.to_string(), actor.to_string());
        let d = crate::decisions::patrol::Durations::from(&self.config.patrol);
        self.store
            .write(move |c| {
                let problem = rework::Problem {
                    reason: &reason,
                    details: &details,
                    actor: &actor,
                };
                rework::send_back(c, &id, &problem, max, &d, now)
            })
            .await?;
        Ok(Step::Moved)
    }

    /// `.gastown.yaml` at the base branch: defaults when absent, `Err(problems)`
    /// when it does not read.
    async fn repo_config(
        &self,
        rig_id: &str,
        forge: &dyn Forge,
        repo: &RepoPath,
        branch: &str,
    ) -> Result<Result<RepoConfig, String>, RefineryError> {
        let read = self.settings.read(rig_id, forge, repo, branch).await?;
        Ok(read.map(|c| (*c).clone()))
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
        let digest = crate::ids::token_digest(problems);
        let key = format!("{}:config-invalid:{}", mr.id, &digest[..16]);
        let (rig, mr_id, now) = (rig_id.to_string(), mr.id.clone(), self.clock.now_ms());
        let problems = problems.to_string();
        self.store
            .write(move |c| {
                let on = crate::lifecycle::outbox::CommentOn {
                    rig_id: &rig,
                    bead_id: Some(&mr_id),
                    number,
                    close_issue: false,
                };
                let body = |m: &str| comments::repo_config_invalid(&problems, m);
                crate::lifecycle::outbox::queue_comment(c, &on, "config-invalid", &key, body, now)?;
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
        Ok(())
    }
}

/// A refinery session ended unfinished: a molecule step's gate run is judged; a run
/// on a merge request is tried again ([`run_ended`]).
pub(crate) fn refinery_ended(
    tx: &store::Tx<'_>,
    bead: &Bead,
    ended: &Ended,
    config: &Config,
    now: crate::clock::Millis,
) -> Result<(), StoreError> {
    match bead.bead_type {
        store::BeadType::Step => step_gates::gate_ended(tx, bead, ended, config, now),
        _ => run_ended(tx, bead, ended, config, now),
    }
}

/// A refinery run ended without a report: run it again, until `patrol.max_attempts`;
/// then it is the run that keeps failing (the town, git, the forge), not the polecat's
/// work, so the work goes back with people asked.
fn run_ended(
    tx: &store::Tx<'_>,
    mr: &Bead,
    ended: &Ended,
    config: &Config,
    now: crate::clock::Millis,
) -> Result<(), StoreError> {
    let why = ended.why();
    if mr.attempts < config.patrol.max_attempts {
        let payload = json!({ "reason": why, "attempts": mr.attempts,
            "session": ended.session.id, "output_tail": ended.tail });
        let cause = Cause::new("gastown", &payload);
        lifecycle::move_to(tx, &mr.id, BeadStatus::Open, None, cause, now)?;
        return Ok(());
    }
    let problem = rework::Problem {
        reason: &comments::refinery_run_failed(mr.attempts, &why),
        details: &ended.tail,
        actor: "gastown",
    };
    let d = crate::decisions::patrol::Durations::from(&config.patrol);
    rework::send_back(tx, &mr.id, &problem, 0, &d, now)?;
    Ok(())
}
