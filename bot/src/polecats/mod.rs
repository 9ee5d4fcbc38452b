//! Polecats: worker agents hooked to ready beads, started in the town, watched until
//! they finish. [`schedule`] decides who works what; this module does it: one round
//! first settles agents that exited, then hooks and starts new ones.
//!
//! Crash safety: the hooking (agent busy, bead hooked, session and token) commits
//! before the runner is asked to start anything, and the runner keeps its own record
//! of what runs. After a restart, a session the runner still runs is left alone (no
//! second polecat), and one it does not know was interrupted and is retried.

pub mod schedule;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use runner::{AgentId, AgentSpec, AgentStatus, Limits, Runner, TownId, TownSpec, Workspace};
use serde_json::json;
use tokio::sync::{Mutex, Notify};
use tracing::Instrument;

use crate::agent_api::{git_url, mint_token};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::store::{
    self, BeadStatus, BeadType, Hooking, Role, Session, SessionState, Store, StoreError,
};
use schedule::{Busy, ReadyBead, branch_name, schedule};

#[derive(Debug, thiserror::Error)]
pub enum PolecatError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Runner(#[from] runner::RunnerError),
    /// The town's directory on the host could not be made.
    #[error("cannot create {}: {source}", path.display())]
    TownDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Every place in the town is taken; the start waits for the next round.
    #[error("town {town} is full: {working} agents already working (polecats.town_cap is {cap})")]
    TownFull {
        town: String,
        working: usize,
        cap: usize,
    },
    #[error("the polecat runtime is not configured")]
    NoRuntime,
    #[error("runtime command argument {arg:?}: {source}")]
    RuntimeArgument {
        arg: String,
        #[source]
        source: minijinja::Error,
    },
}

#[derive(Clone)]
pub struct Polecats {
    store: Store,
    config: Arc<Config>,
    clock: SharedClock,
    runner: Arc<dyn Runner>,
    actions_notify: Arc<Notify>,
    /// Woken when beads may have become ready.
    pub notify: Arc<Notify>,
    towns: Arc<Mutex<HashSet<String>>>,
    /// Towns that could not be set up (no image, Docker down): until when not to try
    /// again (one clear error per interval instead of one per round), and why, in the
    /// words the queued beads' issues show.
    town_failures: Arc<Mutex<HashMap<String, (std::time::Instant, String)>>>,
    /// Each rig's `.gastown.yaml` (its `polecat_cap`), when the forges are known.
    settings: Option<(crate::repo_settings::RepoSettings, crate::forges::Forges)>,
}

/// One agent session to start: who, on which branch, running what.
#[derive(Debug, Clone)]
pub struct SessionPlan {
    pub role: Role,
    pub name: String,
    pub branch: String,
    /// What a branch the forge does not have yet starts from.
    pub base_branch: String,
    /// argv; `None` runs the configured polecat runtime.
    pub command: Option<Vec<String>>,
    /// Quality gates the town runs after the command succeeds, each without the
    /// session's token (and under a uid of its own where the runner isolates); their
    /// outcome is recorded by the town's wrapper and kept on the bead as `checks`.
    pub checks: Vec<runner::Check>,
}

/// How long a session may go without a record in the town while its start is under way.
const START_GRACE: Duration = Duration::from_secs(60);

/// How long a town that could not be set up is left alone before the next try.
const TOWN_RETRY: Duration = Duration::from_secs(15);

impl Polecats {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        clock: SharedClock,
        runner: Arc<dyn Runner>,
        actions_notify: Arc<Notify>,
        notify: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            config,
            clock,
            runner,
            actions_notify,
            notify,
            towns: Arc::default(),
            town_failures: Arc::default(),
            settings: None,
        }
    }

    /// Cap each rig by its `.gastown.yaml` `polecat_cap` (else `polecats.cap`).
    pub fn with_settings(
        mut self,
        settings: crate::repo_settings::RepoSettings,
        forges: crate::forges::Forges,
    ) -> Self {
        self.settings = Some((settings, forges));
        self
    }

    /// Each rig's cap: its `.gastown.yaml` may lower or raise the town's.
    async fn caps(&self, rigs: &HashSet<String>) -> Result<HashMap<String, usize>, PolecatError> {
        let town_cap = self.config.polecats.cap;
        let mut caps = HashMap::new();
        let Some((settings, forges)) = &self.settings else {
            return Ok(caps);
        };
        for rig_id in rigs {
            let id = rig_id.clone();
            let Some(rig) = self.store.read(move |c| store::find_rig(c, &id)).await? else {
                continue;
            };
            let Some(forge) = forges.for_rig(&rig) else {
                continue;
            };
            let repo = crate::forge::RepoPath::new(rig.path.clone());
            let base = &self.config.polecats.base_branch;
            let cfg = settings
                .or_defaults(&rig.id, forge.as_ref(), &repo, base)
                .await;
            caps.insert(rig.id.clone(), cfg.polecat_cap.unwrap_or(town_cap));
        }
        Ok(caps)
    }

    pub fn runner(&self) -> &Arc<dyn Runner> {
        &self.runner
    }

    /// The town's directory, container and limits as the runner needs them.
    pub fn town_spec(&self, town_id: &str) -> TownSpec {
        let r = &self.config.runner;
        TownSpec {
            id: TownId(town_id.to_string()),
            root: absolute(self.config.data_dir.join("towns").join(sanitize(town_id))),
            image: r.image.clone(),
            gt_binary: r
                .gt_binary
                .clone()
                .or_else(|| std::env::current_exe().ok())
                .unwrap_or_else(|| PathBuf::from("gt")),
            limits: Limits {
                memory_bytes: r.memory_mb.map(|mb| mb * 1024 * 1024),
                nano_cpus: r.cpus.map(|c| (c * 1e9) as i64),
                pids: r.pids,
            },
        }
    }

    /// Make sure the town exists (re-attaching to a running one) once per process.
    async fn ensure_town(&self, town_id: &str) -> Result<(), PolecatError> {
        let mut towns = self.towns.lock().await;
        if towns.contains(town_id) {
            return Ok(());
        }
        let spec = self.town_spec(town_id);
        if let Err(source) = std::fs::create_dir_all(&spec.root) {
            let e = PolecatError::TownDir {
                path: spec.root.clone(),
                source,
            };
            tracing::error!(town = town_id, error = %e,
                retry_in_secs = TOWN_RETRY.as_secs(), "the town cannot be set up");
            self.town_failed(town_id, crate::comments::TOWN_DIR_TROUBLE.into())
                .await;
            return Err(e);
        }
        let status = match self.runner.ensure_town(&spec).await {
            Ok(status) => status,
            Err(e) => {
                tracing::error!(town = town_id, error = %e,
                    retry_in_secs = TOWN_RETRY.as_secs(), "the town cannot be set up");
                self.town_failed(town_id, crate::comments::town_trouble(&e))
                    .await;
                return Err(e.into());
            }
        };
        self.town_failures.lock().await.remove(town_id);
        self.clear_town_trouble(town_id).await?;
        tracing::info!(
            town = town_id,
            runner = self.runner.kind(),
            reused = status.reused,
            container = status.container_id.as_deref().unwrap_or("-"),
            "town ready"
        );
        towns.insert(town_id.to_string());
        Ok(())
    }

    async fn town_failed(&self, town_id: &str, why: String) {
        self.town_failures.lock().await.insert(
            town_id.to_string(),
            (std::time::Instant::now() + TOWN_RETRY, why),
        );
    }

    async fn town_backing_off(&self, town: &str) -> bool {
        self.town_failures
            .lock()
            .await
            .get(town)
            .is_some_and(|(until, _)| std::time::Instant::now() < *until)
    }

    /// Why `town` could not start, while it has not started since.
    async fn town_trouble(&self, town: &str) -> Option<String> {
        let failures = self.town_failures.lock().await;
        failures.get(town).map(|(_, why)| why.clone())
    }

    /// Show on a queued bead's issue that its town cannot start, and why (once per
    /// reason), instead of "waiting for a free polecat".
    async fn show_town_trouble(&self, bead: &store::Bead, why: String) -> Result<(), PolecatError> {
        let value = serde_json::json!(why);
        if bead.metadata.get("town_error") == Some(&value) {
            return Ok(());
        }
        let (id, now) = (bead.id.clone(), self.clock.now_ms());
        self.store
            .write(move |c| {
                let bead = store::annotate(c, &id, "town_error", &value, None, now)?;
                crate::actions::queue_bead_update(c, &bead, now)
            })
            .await?;
        self.actions_notify.notify_one();
        Ok(())
    }

    /// The town has started: its beads' issues stop saying it could not.
    async fn clear_town_trouble(&self, town: &str) -> Result<(), PolecatError> {
        let (town, now) = (town.to_string(), self.clock.now_ms());
        let default_town = self.config.town.clone();
        let cleared = self
            .store
            .write(move |c| {
                let beads =
                    store::clear_metadata_in_town(c, &town, &default_town, "town_error", now)?;
                for bead in &beads {
                    crate::actions::queue_bead_update(c, bead, now)?;
                }
                Ok(beads.len())
            })
            .await?;
        if cleared > 0 {
            self.actions_notify.notify_one();
        }
        Ok(())
    }

    /// One round: settle exits, then hook and start what the caps allow. Returns how
    /// many agents were started or settled.
    pub async fn step(&self) -> Result<usize, PolecatError> {
        let settled = self.reap().await?;
        let started = self.dispatch().await?;
        Ok(settled + started)
    }

    /// Step until nothing changes: the sync point tests use.
    pub async fn drain(&self) -> Result<usize, PolecatError> {
        let mut total = 0;
        loop {
            match self.step().await? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }

    /// Rounds until shutdown; exits are noticed by polling the runner's records.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let every = Duration::from_millis(250);
        crate::rounds::run("polecats", every, &self.notify, shutdown, || self.step()).await
    }

    async fn dispatch(&self) -> Result<usize, PolecatError> {
        let (ready, busy) = self
            .store
            .read(|c| {
                let ready = store::ready_beads(c)?;
                let busy = store::list_agents(c)?;
                Ok((ready, busy))
            })
            .await?;
        // A merge request waiting for its refinery keeps a place in its town (one per
        // rig), so finishing work is never starved by new work.
        let mut refinery_waits: HashMap<String, HashSet<String>> = HashMap::new();
        for b in ready
            .iter()
            .filter(|b| b.bead_type == BeadType::MergeRequest)
        {
            let town = b
                .town_id
                .clone()
                .unwrap_or_else(|| self.config.town.clone());
            let rig = b.rig_id.clone().unwrap_or_default();
            refinery_waits.entry(town).or_default().insert(rig);
        }
        let ready: Vec<_> = ready
            .into_iter()
            .filter(|b| b.bead_type == BeadType::Task)
            .filter_map(|b| {
                Some((
                    ReadyBead {
                        rig_id: b.rig_id.clone()?,
                        id: b.id.clone(),
                        town_id: b
                            .town_id
                            .clone()
                            .unwrap_or_else(|| self.config.town.clone()),
                    },
                    b,
                ))
            })
            .collect();
        if ready.is_empty() {
            return Ok(0);
        }
        // Every agent working in a town counts against its cap: polecats of every rig
        // and refinery runs alike (`start_session` checks it again for every start).
        let mut in_town: HashMap<String, usize> = HashMap::new();
        for a in busy
            .iter()
            .filter(|a| a.status == store::AgentStatus::Working)
        {
            *in_town.entry(a.town_id.clone()).or_default() += 1;
        }
        let town_room = |town: &str| {
            let working = in_town.get(town).copied().unwrap_or(0);
            let kept = refinery_waits.get(town).map_or(0, HashSet::len);
            self.config.polecats.town_cap.saturating_sub(working + kept)
        };
        let busy: Vec<Busy> = busy
            .into_iter()
            .filter(|a| a.role == Role::Polecat && a.status == store::AgentStatus::Working)
            .filter_map(|a| {
                Some(Busy {
                    rig_id: a.rig_id?,
                    name: a.name,
                })
            })
            .collect();
        let beads: HashMap<String, store::Bead> = ready
            .iter()
            .map(|(r, b)| (r.id.clone(), b.clone()))
            .collect();
        let plain: Vec<ReadyBead> = ready.into_iter().map(|(r, _)| r).collect();
        let rigs: HashSet<String> = plain.iter().map(|r| r.rig_id.clone()).collect();
        let caps = self.caps(&rigs).await?;
        let town_cap = self.config.polecats.cap;
        let mut started = 0;
        for a in schedule(
            &plain,
            &busy,
            |rig| caps.get(rig).copied().unwrap_or(town_cap),
            town_room,
        ) {
            let bead = &beads[&a.bead_id];
            let town = bead.town_id.as_deref().unwrap_or(&self.config.town);
            if self.town_backing_off(town).await {
                if let Some(why) = self.town_trouble(town).await {
                    self.show_town_trouble(bead, why).await?;
                }
                continue;
            }
            let span = tracing::info_span!("polecat", bead = %bead.id, rig = %a.rig_id,
                agent = a.name);
            match self.start(bead, a.name).instrument(span).await {
                Ok(()) => started += 1,
                // The town's own failure was logged once, in `ensure_town`; the issue
                // says it too.
                Err(e) if !self.towns.lock().await.contains(town) => {
                    match self.town_trouble(town).await {
                        Some(why) => self.show_town_trouble(bead, why).await?,
                        None => tracing::error!(bead = %bead.id, error = %e,
                            "could not start a polecat"),
                    }
                }
                Err(e) => tracing::error!(bead = %bead.id, error = %e, "could not start a polecat"),
            }
        }
        Ok(started)
    }

    async fn start(&self, bead: &store::Bead, name: &'static str) -> Result<(), PolecatError> {
        // A retry keeps its branch; a rework continues its task's.
        let branch = bead
            .metadata
            .get("branch")
            .and_then(|b| b.as_str())
            .map(String::from)
            .or_else(|| bead.branch.clone())
            .unwrap_or_else(|| branch_name(&bead.id, &bead.title));
        let plan = SessionPlan {
            role: Role::Polecat,
            name: name.to_string(),
            branch,
            base_branch: self.config.polecats.base_branch.clone(),
            command: None,
            checks: Vec::new(),
        };
        self.start_session(bead, &plan).await
    }

    /// Hook `bead` to the agent `plan` names and start it in the bead's town. The
    /// hooking commits first; if the runner then fails, the next round settles the
    /// session as an exit. Refused (as a store error) while that agent is busy.
    pub async fn start_session(
        &self,
        bead: &store::Bead,
        plan: &SessionPlan,
    ) -> Result<(), PolecatError> {
        let town = bead
            .town_id
            .clone()
            .unwrap_or_else(|| self.config.town.clone());
        let rig_id = bead.rig_id.clone().unwrap_or_default();
        self.ensure_town(&town).await?;
        let session = format!(
            "{}-{}-{}-a{}",
            plan.role,
            sanitize(&plan.name),
            bead.id,
            bead.attempts + 1
        );
        let (token, digest) = mint_token();
        let now = self.clock.now_ms();
        let (b, t, r, s, d) = (
            bead.id.clone(),
            town.clone(),
            rig_id.clone(),
            session.clone(),
            digest,
        );
        let (br, role, name) = (plan.branch.clone(), plan.role, plan.name.clone());
        let town_cap = self.config.polecats.town_cap;
        let rig = self
            .store
            .write(move |c| {
                // The town's cap holds for every start (the refinery's too), checked in
                // the same transaction as the hooking so two starts cannot both pass.
                let working: i64 = c.query_row(
                    "SELECT count(*) FROM agents WHERE town_id = ?1 AND status = ?2",
                    rusqlite::params![t, store::AgentStatus::Working],
                    |r| r.get(0),
                )?;
                let working = usize::try_from(working).unwrap_or(usize::MAX);
                if working >= town_cap {
                    return Ok(Err(PolecatError::TownFull {
                        town: t,
                        working,
                        cap: town_cap,
                    }));
                }
                store::hook_bead(
                    c,
                    &Hooking {
                        role,
                        bead_id: &b,
                        rig_id: &r,
                        town_id: &t,
                        name: &name,
                        branch: &br,
                        session_id: &s,
                        token_sha256: &d,
                    },
                    now,
                )?;
                let bead = store::get_bead(c, &b)?;
                crate::actions::queue_bead_update(c, &bead, now)?;
                store::get_rig(c, &r).map(Ok)
            })
            .await??;
        self.actions_notify.notify_one();
        let spec = self.agent_spec(&town, &rig, plan, &session, &bead.id, &token)?;
        match self.runner.start_agent(&spec).await {
            Ok(()) => {
                tracing::info!(session = %session, branch = %plan.branch, role = plan.role.as_str(),
                    "agent started");
                let s = session.clone();
                self.store
                    .write(move |c| store::set_session_state(c, &s, SessionState::Running))
                    .await?;
                Ok(())
            }
            Err(e) => {
                // Settled as an exit on the next round: retried or failed by the rules.
                tracing::error!(session = %session, error = %e, "the runner could not start the agent");
                let s = session.clone();
                self.store
                    .write(move |c| store::set_session_state(c, &s, SessionState::Lost))
                    .await?;
                Err(e.into())
            }
        }
    }

    fn agent_spec(
        &self,
        town: &str,
        rig: &store::Rig,
        plan: &SessionPlan,
        session: &str,
        bead_id: &str,
        token: &str,
    ) -> Result<AgentSpec, PolecatError> {
        let public = self.config.public_url();
        let mcp_url = format!("{public}/mcp");
        let (name, branch, role) = (plan.name.as_str(), plan.branch.as_str(), plan.role);
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        let command = match &plan.command {
            Some(argv) => argv.clone(),
            None => {
                let runtime = self
                    .config
                    .runtime(&self.config.polecats.runtime)
                    .ok_or(PolecatError::NoRuntime)?;
                env = runtime.env.clone();
                let vars = json!({ "bead_id": bead_id, "branch": branch, "role": role,
                    "agent": name, "api_url": public, "mcp_url": mcp_url });
                runtime
                    .command
                    .iter()
                    .map(|arg| render_arg(arg, &vars))
                    .collect::<Result<Vec<_>, _>>()?
            }
        };
        env.extend([
            ("GT_URL".to_string(), public.clone()),
            ("GT_TOKEN".to_string(), token.to_string()),
            ("GT_ROLE".to_string(), role.to_string()),
            ("GT_AGENT".to_string(), name.to_string()),
            ("GT_BEAD".to_string(), bead_id.to_string()),
            ("GT_BRANCH".to_string(), branch.to_string()),
            ("GT_MCP_URL".to_string(), mcp_url.clone()),
            (
                "GT_MCP_CONFIG".to_string(),
                json!({ "mcpServers": { "gastown": { "type": "http", "url": mcp_url,
                    "headers": { "Authorization": format!("Bearer {token}") } } } })
                .to_string(),
            ),
        ]);
        let rig_key = sanitize(&rig.id);
        let home = match role {
            Role::Polecat => "polecats",
            other => other.as_str(),
        };
        Ok(AgentSpec {
            town: TownId(town.to_string()),
            agent: AgentId(session.to_string()),
            command,
            env,
            workspace: Some(Workspace {
                remote_url: git_url(&public, rig.forge, &rig.host, &rig.path),
                rig_dir: format!("rigs/{rig_key}"),
                worktree_dir: format!("{home}/{rig_key}/{}-{bead_id}", sanitize(name)),
                base_branch: plan.base_branch.clone(),
                branch: branch.to_string(),
            }),
            env_files: vec!["GT_MCP_CONFIG".to_string()],
            checks: plan.checks.clone(),
        })
    }

    /// Settle sessions whose agent is no longer running.
    async fn reap(&self) -> Result<usize, PolecatError> {
        let live = self.store.read(store::live_sessions).await?;
        if live.is_empty() {
            return Ok(0);
        }
        let mut by_town: HashMap<String, Vec<Session>> = HashMap::new();
        for s in live {
            let town = self
                .store
                .read({
                    let a = s.agent_id.clone();
                    move |c| store::get_agent(c, &a)
                })
                .await?
                .town_id;
            by_town.entry(town).or_default().push(s);
        }
        let mut settled = 0;
        for (town, sessions) in by_town {
            if self.town_backing_off(&town).await || self.ensure_town(&town).await.is_err() {
                continue;
            }
            let states: HashMap<String, AgentStatus> = self
                .runner
                .agents(&TownId(town.clone()))
                .await?
                .into_iter()
                .map(|s| (s.agent.0, s.status))
                .collect();
            let now = self.clock.now_ms();
            for s in sessions {
                let status = states.get(&s.id).copied();
                // Its start is still under way (the town writes the record as it starts,
                // and another loop may be starting it right now): not lost yet.
                if status.is_none()
                    && s.state == SessionState::Starting
                    && now - s.started_at < START_GRACE.as_millis() as i64
                {
                    continue;
                }
                let code = match status {
                    Some(AgentStatus::Running) => continue,
                    Some(AgentStatus::Exited { code }) => Some(code),
                    Some(AgentStatus::Lost) | None => None,
                };
                self.settle(&town, &s, code).await?;
                settled += 1;
            }
        }
        Ok(settled)
    }

    /// An agent ended: free its name and token; if it never said done, the bead is
    /// retried until `polecats.max_attempts`, then marked failed.
    async fn settle(&self, town: &str, s: &Session, code: Option<i32>) -> Result<(), PolecatError> {
        // The runner's record (and log) goes once the exit is handled; the end of the
        // agent's output stays in the bead's history, where a person looks for why.
        let tail = self.output_tail(town, &s.id).await;
        let checks = self.recorded_checks(town, &s.id).await;
        let now = self.clock.now_ms();
        let max = self.config.polecats.max_attempts;
        let session = s.clone();
        let outcome = self
            .store
            .write(move |c| {
                // The round's snapshot may predate the agent's last tool call (gt_done,
                // a refinery report just before it exited): read the session again here.
                let said_done = store::sessions_of_bead(c, &session.bead_id)?
                    .iter()
                    .any(|x| x.id == session.id && x.state == SessionState::Done);
                let state = if said_done {
                    SessionState::Done
                } else if code.is_some() {
                    SessionState::Exited
                } else {
                    SessionState::Lost
                };
                if !store::end_session(c, &session.id, state, code, now)? {
                    return Ok(None);
                }
                if let Some(checks) = &checks {
                    store::annotate(c, &session.bead_id, "checks", checks, None, now)?;
                    store::note(
                        c,
                        &session.bead_id,
                        "gated",
                        "town",
                        &json!({ "session": session.id, "gates": checks }),
                        now,
                    )?;
                }
                let bead = store::get_bead(c, &session.bead_id)?;
                if said_done || !matches!(bead.status, BeadStatus::Hooked | BeadStatus::InProgress)
                {
                    return Ok(Some(bead.status));
                }
                let why = match code {
                    Some(code) => format!("the agent exited with code {code} without gt_done"),
                    None => "the agent was lost (its process or container went away)".into(),
                };
                if bead.attempts >= max && bead.bead_type == BeadType::MergeRequest {
                    // The refinery's own run keeps failing (the town, git, the forge):
                    // not the polecat's work to redo, so people are asked.
                    let problem = crate::refinery::rework::Problem {
                        reason: &format!(
                            "the refinery's run failed {} times: {why}",
                            bead.attempts
                        ),
                        details: &tail,
                        actor: "gastown",
                    };
                    crate::refinery::rework::send_back(c, &bead.id, &problem, 0, now)?;
                    c.execute("UPDATE beads SET hook = NULL WHERE id = ?1", [&bead.id])?;
                    return Ok(Some(store::get_bead(c, &bead.id)?.status));
                }
                let to = if bead.attempts < max {
                    BeadStatus::Open
                } else {
                    BeadStatus::Failed
                };
                let bead = store::transition(
                    c,
                    &bead.id,
                    to,
                    None,
                    "gastown",
                    &json!({ "reason": why, "attempts": bead.attempts, "session": session.id,
                             "output_tail": tail }),
                    now,
                )?;
                c.execute("UPDATE beads SET hook = NULL WHERE id = ?1", [&bead.id])?;
                let bead = store::get_bead(c, &bead.id)?;
                crate::actions::queue_bead_update(c, &bead, now)?;
                Ok(Some(bead.status))
            })
            .await?;
        tracing::info!(town, session = %s.id, bead = %s.bead_id, code = ?code,
            outcome = ?outcome, "polecat ended");
        self.actions_notify.notify_one();
        if let Err(e) = self
            .runner
            .forget_agent(&TownId(town.to_string()), &AgentId(s.id.clone()))
            .await
        {
            tracing::warn!(session = %s.id, error = %e, "could not forget the agent's record");
        }
        Ok(())
    }
}

impl Polecats {
    /// The last few KB of an agent's output, best effort: the runner reads it as
    /// hostile input (no links, no FIFOs, capped), and the bot's secrets and token
    /// shapes are redacted (it is published when the run is escalated).
    async fn output_tail(&self, town: &str, session: &str) -> String {
        const TAIL: usize = 4096;
        let (town, agent) = (TownId(town.to_string()), AgentId(session.to_string()));
        match self.runner.output_tail(&town, &agent, TAIL).await {
            Ok(bytes) => self
                .config
                .redactor
                .redact_cut(&String::from_utf8_lossy(&bytes)),
            Err(e) => {
                tracing::warn!(session = %agent, error = %e, "cannot read the agent's output");
                String::new()
            }
        }
    }

    /// What the town recorded of the session's quality gates, as the refinery judges
    /// them; `None` when the session had none.
    async fn recorded_checks(&self, town: &str, session: &str) -> Option<serde_json::Value> {
        let (town, agent) = (TownId(town.to_string()), AgentId(session.to_string()));
        match self.runner.checks(&town, &agent).await {
            Ok(results) if results.is_empty() => None,
            Ok(results) => {
                let gates: Vec<crate::refinery::gates::GateResult> = results
                    .iter()
                    .map(crate::refinery::gates::GateResult::from)
                    .map(|mut g| {
                        g.output_tail = self.config.redactor.redact_cut(&g.output_tail);
                        g
                    })
                    .collect();
                Some(serde_json::to_value(gates).unwrap_or_default())
            }
            Err(e) => {
                tracing::warn!(session = %agent, error = %e, "cannot read the gates' records");
                None
            }
        }
    }
}

fn render_arg(arg: &str, vars: &serde_json::Value) -> Result<String, PolecatError> {
    let env = minijinja::Environment::new();
    env.render_str(arg, minijinja::value::Serde(vars))
        .map_err(|source| PolecatError::RuntimeArgument {
            arg: arg.to_string(),
            source,
        })
}

/// `github:octo/hello` → `github-octo-hello`: a rig or town id as one path segment.
pub fn sanitize(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn absolute(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
    }
}
