//! Agent sessions: hooking an agent to a bead and starting it in its town, seeing that
//! it ended, and settling it. The dispatcher (polecats) and the refinery start and
//! settle their agents here; what an unfinished session's end means for its bead is
//! the owner's rule ([`Ending`]), run inside the settling transaction.
//!
//! Crash safety: the hooking (agent busy, bead hooked, session and token) commits
//! before the runner is asked to start anything, and the runner keeps its own record
//! of what runs. After a restart, a session the runner still runs is left alone (no
//! second agent), and one it does not know was interrupted and is settled as lost.

mod spec;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use runner::{AgentId, Runner, TownId, TownSpec};
use serde_json::json;
use tokio::sync::Mutex;

use crate::clock::{Millis, SharedClock};
use crate::config::Config;
use crate::decisions::gates::GateResult;
use crate::lifecycle::{self, Cause};
use crate::store::{
    self, Bead, BeadStatus, Grant, Hooking, Role, Session, SessionState, Store, StoreError, Tx,
    Wake,
};
pub use spec::{SessionPlan, sanitize};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Runner(#[from] runner::RunnerError),
    /// The agent is on another bead: try again once it is free.
    #[error("agent {agent} is already working")]
    Busy { agent: String },
    #[error("town {town} is full: {working} agents already working (polecats.town_cap is {cap})")]
    TownFull {
        town: String,
        working: usize,
        cap: usize,
    },
    /// The town's directory cannot be made: said on the queued issues.
    #[error("cannot create the town's directory {path}: {source}")]
    TownDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The configured runtime cannot make this agent's command line.
    #[error("{0}")]
    Runtime(String),
}

/// How long a session may go without a record in the town while its start is under way.
const START_GRACE: Duration = Duration::from_secs(60);

/// How long a town that could not be set up is left alone before the next try.
pub const TOWN_RETRY: Duration = Duration::from_secs(15);

/// The sessions of one bot: built once, shared by the dispatcher and the refinery.
#[derive(Clone)]
pub struct Sessions {
    store: Store,
    config: Arc<Config>,
    clock: SharedClock,
    runner: Arc<dyn Runner>,
    /// Towns known to be up in this process.
    towns: Arc<Mutex<HashSet<String>>>,
    /// Towns that could not be set up (no image, Docker down): until when not to try
    /// again (one clear error per interval instead of one per round), and why, in the
    /// words the queued beads' issues show.
    town_failures: Arc<Mutex<HashMap<String, (Millis, String)>>>,
}

/// A session whose agent is no longer running, with what the town recorded of it.
#[derive(Debug, Clone)]
pub struct Ended {
    pub town: String,
    pub session: Session,
    /// The exit code; `None` when the agent was lost.
    pub code: Option<i32>,
    /// The end of its output, redacted: published when the work is escalated.
    pub tail: String,
    /// Its quality gates as the town recorded them (see [`crate::decisions::gates`]).
    pub checks: Option<Vec<GateResult>>,
    /// Why the bot stopped it (the patrol, a person, the forge), when it did.
    pub stopped: Option<String>,
}

impl Ended {
    /// Why the agent's work did not finish, in the words its bead's history keeps.
    pub fn why(&self) -> String {
        if let Some(why) = &self.stopped {
            return why.clone();
        }
        crate::decisions::comments::agent_ended_unfinished(self.code)
    }
}

/// What an agent's end without finishing means for its bead (hooked or in progress,
/// its hook already cleared): the role's own rule, inside the settling transaction.
pub type Ending = fn(&Tx<'_>, &Bead, &Ended, &Config, Millis) -> Result<(), StoreError>;

impl Sessions {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        clock: SharedClock,
        runner: Arc<dyn Runner>,
    ) -> Self {
        Self {
            store,
            config,
            clock,
            runner,
            towns: Arc::default(),
            town_failures: Arc::default(),
        }
    }

    pub fn runner(&self) -> &Arc<dyn Runner> {
        &self.runner
    }

    /// The town's directory, container and limits as the runner needs them.
    pub fn town_spec(&self, town_id: &str) -> TownSpec {
        spec::town_spec(&self.config, town_id)
    }

    /// Make sure the town exists (re-attaching to a running one) once per process.
    pub async fn ensure_town(&self, town_id: &str) -> Result<(), SessionError> {
        let mut towns = self.towns.lock().await;
        if towns.contains(town_id) {
            return Ok(());
        }
        let spec = self.town_spec(town_id);
        if let Err(source) = std::fs::create_dir_all(&spec.root) {
            let e = SessionError::TownDir {
                path: spec.root.display().to_string(),
                source,
            };
            tracing::error!(town = town_id, error = %e,
                retry_in_secs = TOWN_RETRY.as_secs(), "the town cannot be set up");
            self.town_failed(town_id, crate::decisions::comments::TOWN_DIR_TROUBLE.into())
                .await;
            return Err(e);
        }
        let status = match self.runner.ensure_town(&spec).await {
            Ok(status) => status,
            Err(e) => {
                tracing::error!(town = town_id, error = %e,
                    retry_in_secs = TOWN_RETRY.as_secs(), "the town cannot be set up");
                self.town_failed(town_id, crate::decisions::comments::town_trouble(&e))
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

    /// Whether the town is known to be up in this process.
    pub async fn town_is_up(&self, town: &str) -> bool {
        self.towns.lock().await.contains(town)
    }

    async fn town_failed(&self, town_id: &str, why: String) {
        let until = self.clock.now_ms() + TOWN_RETRY.as_millis() as Millis;
        self.town_failures
            .lock()
            .await
            .insert(town_id.to_string(), (until, why));
    }

    /// Whether the town failed to start a moment ago and is left alone for now.
    pub async fn town_backing_off(&self, town: &str) -> bool {
        let now = self.clock.now_ms();
        self.town_failures
            .lock()
            .await
            .get(town)
            .is_some_and(|(until, _)| now < *until)
    }

    /// Why `town` could not start, while it has not started since.
    pub async fn town_trouble(&self, town: &str) -> Option<String> {
        let failures = self.town_failures.lock().await;
        failures.get(town).map(|(_, why)| why.clone())
    }

    /// The town has started: its beads' issues stop saying it could not.
    async fn clear_town_trouble(&self, town: &str) -> Result<(), SessionError> {
        let (town, now) = (town.to_string(), self.clock.now_ms());
        let default_town = self.config.town.clone();
        self.store
            .write(move |c| {
                let beads =
                    store::clear_metadata_in_town(c, &town, &default_town, "town_error", now)?;
                for bead in &beads {
                    crate::lifecycle::outbox::queue_bead_update(c, bead, now)?;
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Hook `bead` to the agent `plan` names and start it in the bead's town. The
    /// hooking commits first; if the runner then fails, the session is marked lost and
    /// settled by its owner's next round. [`SessionError::Busy`] while that agent works
    /// on something else.
    pub async fn start(&self, bead: &Bead, plan: &SessionPlan) -> Result<(), SessionError> {
        let town = bead
            .town_id
            .clone()
            .unwrap_or_else(|| self.config.town.clone());
        let rig_id = bead.rig_id.clone().unwrap_or_default();
        self.ensure_town(&town).await?;
        // Numbered by the bead's sessions so far, not its attempts: a person's retry
        // counts attempts afresh, and a session id is never used twice.
        let b = bead.id.clone();
        let earlier = self
            .store
            .read(move |c| Ok(store::sessions_of_bead(c, &b)?.len()))
            .await?;
        let session = format!(
            "{}-{}-{}-a{}",
            plan.role,
            sanitize(&plan.name),
            bead.id,
            earlier + 1
        );
        let (token, digest) = crate::ids::mint_token();
        let now = self.clock.now_ms();
        let (b, t, r, s) = (bead.id.clone(), town.clone(), rig_id, session.clone());
        let (br, role, name) = (plan.branch.clone(), plan.role, plan.name.clone());
        let town_cap = self.config.polecats.town_cap;
        let rig = self
            .store
            .write(move |c| {
                // The town's cap holds for every start (the refinery's too), checked in
                // the same transaction as the hooking so two starts cannot both pass.
                let working: i64 = c.query_row(
                    "SELECT count(*) FROM agents WHERE town_id = ?1 AND status = 'working'",
                    [&t],
                    |r| r.get(0),
                )?;
                let working = usize::try_from(working).unwrap_or(usize::MAX);
                if working >= town_cap {
                    return Ok(Err(SessionError::TownFull {
                        town: t,
                        working,
                        cap: town_cap,
                    }));
                }
                lifecycle::hook(
                    c,
                    &Hooking {
                        role,
                        bead_id: &b,
                        rig_id: &r,
                        town_id: &t,
                        name: &name,
                        branch: &br,
                        session_id: &s,
                        token_sha256: &digest,
                    },
                    now,
                )?;
                Ok(Ok(store::get_rig(c, &r)?))
            })
            .await
            .map_err(|e| match e {
                // The store's own check, in the hooking transaction, says who is busy.
                StoreError::Busy { agent_id } => SessionError::Busy { agent: agent_id },
                e => e.into(),
            })??;
        let spec = spec::agent_spec(&self.config, &town, &rig, plan, &session, &bead.id, &token)?;
        let (state, started) = match self.runner.start_agent(&spec).await {
            Ok(()) => {
                tracing::info!(session = %session, branch = %plan.branch, role = plan.role.as_str(),
                    "agent started");
                (SessionState::Running, Ok(()))
            }
            Err(e) => {
                tracing::error!(session = %session, error = %e,
                    "the runner could not start the agent");
                // The town may be gone (its container killed or removed): look again
                // before the next start, which recreates it if it is.
                self.towns.lock().await.remove(&town);
                (SessionState::Lost, Err(e.into()))
            }
        };
        self.store
            .write(move |c| store::set_session_state(c, &session, state))
            .await?;
        started
    }

    /// Sessions of `role` whose agents are no longer running, with what their towns
    /// recorded. A town that cannot be reached is skipped this time.
    pub async fn ended(&self, role: Role) -> Result<Vec<Ended>, SessionError> {
        let live = self.store.read(store::live_sessions).await?;
        let mut by_town: HashMap<String, Vec<Session>> = HashMap::new();
        for s in live {
            let a = s.agent_id.clone();
            let agent = self.store.read(move |c| store::get_agent(c, &a)).await?;
            if agent.role == role {
                by_town.entry(agent.town_id).or_default().push(s);
            }
        }
        let mut ended = Vec::new();
        for (town, sessions) in by_town {
            if self.town_backing_off(&town).await || self.ensure_town(&town).await.is_err() {
                continue;
            }
            let states: HashMap<String, runner::AgentStatus> = self
                .runner
                .agents(&TownId(town.clone()))
                .await?
                .into_iter()
                .map(|s| (s.agent.0, s.status))
                .collect();
            let now = self.clock.now_ms();
            let mut lost_town = false;
            for session in sessions {
                let status = states.get(&session.id).copied();
                // Its start is still under way (the town writes the record as it starts,
                // and another loop may be starting it right now): not lost yet.
                if status.is_none()
                    && session.state == SessionState::Starting
                    && now - session.started_at < START_GRACE.as_millis() as i64
                {
                    continue;
                }
                let code = match status {
                    Some(runner::AgentStatus::Running) => continue,
                    Some(runner::AgentStatus::Exited { code }) => Some(code),
                    Some(runner::AgentStatus::Lost) | None => {
                        // Its wrapper died without a word: maybe with its container.
                        // The town is looked at again (and recreated if it is gone)
                        // before the next start in it.
                        lost_town = true;
                        None
                    }
                };
                let tail = self.output_tail(&town, &session.id).await;
                let checks = self.recorded_checks(&town, &session.id).await;
                ended.push(Ended {
                    town: town.clone(),
                    session,
                    code,
                    tail,
                    checks,
                    stopped: None,
                });
            }
            if lost_town {
                self.towns.lock().await.remove(&town);
            }
        }
        Ok(ended)
    }

    /// Settle an ended session: end it in the store (its token dies, its agent is free)
    /// with its gates' records kept on the bead; if its agent never said done, its hook
    /// goes and `ending` decides what becomes of the bead. Then the town forgets it.
    /// Returns where the bead is, or `None` if another round settled it first.
    pub async fn settle(
        &self,
        ended: Ended,
        ending: Ending,
    ) -> Result<Option<BeadStatus>, SessionError> {
        let now = self.clock.now_ms();
        let config = self.config.clone();
        let e = ended.clone();
        let outcome = self
            .store
            .write(move |c| {
                let s = &e.session;
                // The round's snapshot may predate the agent's last tool call (gt_done,
                // a refinery report just before it exited): read the session again here.
                let said_done = store::sessions_of_bead(c, &s.bead_id)?
                    .iter()
                    .any(|x| x.id == s.id && x.state == SessionState::Done);
                let state = match (said_done, e.code) {
                    (true, _) => SessionState::Done,
                    (false, _) if e.stopped.is_some() => SessionState::Stopped,
                    (false, Some(_)) => SessionState::Exited,
                    (false, None) => SessionState::Lost,
                };
                if !store::end_session(c, &s.id, state, e.code, now)? {
                    return Ok(None);
                }
                c.wake(Wake::Dispatcher);
                if let Some(checks) = &e.checks {
                    let gates = checks.clone();
                    crate::decisions::meta::update_merge_request(c, &s.bead_id, now, |m| {
                        m.checks = Some(gates)
                    })?;
                    store::note(
                        c,
                        &s.bead_id,
                        "gated",
                        "town",
                        &json!({ "session": s.id, "gates": checks }),
                        now,
                    )?;
                }
                let bead = store::get_bead(c, &s.bead_id)?;
                if said_done || !matches!(bead.status, BeadStatus::Hooked | BeadStatus::InProgress)
                {
                    return Ok(Some(bead.status));
                }
                c.execute("UPDATE beads SET hook = NULL WHERE id = ?1", [&bead.id])?;
                let bead = store::get_bead(c, &bead.id)?;
                ending(c, &bead, &e, &config, now)?;
                Ok(Some(store::get_bead(c, &bead.id)?.status))
            })
            .await?;
        tracing::info!(town = %ended.town, session = %ended.session.id,
            bead = %ended.session.bead_id, code = ?ended.code, outcome = ?outcome, "agent ended");
        let (town, agent) = (TownId(ended.town), AgentId(ended.session.id));
        if let Err(e) = self.runner.forget_agent(&town, &agent).await {
            tracing::warn!(session = %agent, error = %e, "could not forget the agent's record");
        }
        Ok(outcome)
    }

    /// Stop a live session's agent for `why` and settle it: the runner kills its
    /// process group, then `ending` decides what becomes of its bead. `None` if the
    /// session had already ended.
    pub async fn stop(
        &self,
        session_id: &str,
        why: String,
        ending: Ending,
    ) -> Result<Option<BeadStatus>, SessionError> {
        let id = session_id.to_string();
        let found = self
            .store
            .read(move |c| {
                let Some(s) = store::get_session(c, &id)? else {
                    return Ok(None);
                };
                let agent = store::get_agent(c, &s.agent_id)?;
                Ok(Some((s, agent)))
            })
            .await?;
        let Some((session, agent)) = found.filter(|(s, _)| s.ended_at.is_none()) else {
            return Ok(None);
        };
        let town = agent.town_id.clone();
        if self.ensure_town(&town).await.is_ok() {
            let (t, a) = (TownId(town.clone()), AgentId(session.id.clone()));
            if let Err(e) = self.runner.stop_agent(&t, &a).await {
                tracing::warn!(session = %session.id, error = %e, "could not stop the agent");
            }
        }
        let tail = self.output_tail(&town, &session.id).await;
        tracing::info!(session = %session.id, bead = %session.bead_id, why = %why, "agent stopped");
        let ended = Ended {
            town,
            session,
            code: None,
            tail,
            checks: None,
            stopped: Some(why),
        };
        self.settle(ended, ending).await
    }

    /// What each town up in this process runs and has recorded, as its runner says.
    pub async fn survey(&self) -> Result<Vec<(String, Vec<runner::AgentState>)>, SessionError> {
        let towns: Vec<String> = self.towns.lock().await.iter().cloned().collect();
        let mut out = Vec::new();
        for town in towns {
            let agents = self.runner.agents(&TownId(town.clone())).await?;
            out.push((town, agents));
        }
        Ok(out)
    }

    /// Kill what the towns still run for sessions that have ended (stopped by the
    /// forge or a person, in a transaction that could not reach the runner), and forget
    /// their records. `survey` is the runners' list, read before the store: a session a
    /// town runs was committed before it started, so the store cannot miss a new one.
    /// Returns how many were reaped.
    pub async fn reap(
        &self,
        survey: &[(String, Vec<runner::AgentState>)],
    ) -> Result<usize, SessionError> {
        let mut reaped = 0;
        for (town, agents) in survey {
            let running: Vec<String> = agents
                .iter()
                .filter(|a| a.status == runner::AgentStatus::Running)
                .map(|a| a.agent.0.clone())
                .collect();
            if running.is_empty() {
                continue;
            }
            let ended: Vec<String> = self
                .store
                .read(move |c| {
                    let mut out = Vec::new();
                    for id in running {
                        if store::get_session(c, &id)?.is_some_and(|s| s.ended_at.is_some()) {
                            out.push(id);
                        }
                    }
                    Ok(out)
                })
                .await?;
            for id in ended {
                let (t, a) = (TownId(town.clone()), AgentId(id.clone()));
                tracing::info!(town = %town, session = %id, "stopping an agent whose session ended");
                if let Err(e) = self.runner.stop_agent(&t, &a).await {
                    tracing::warn!(session = %id, error = %e, "could not stop the agent");
                    continue;
                }
                if let Err(e) = self.runner.forget_agent(&t, &a).await {
                    tracing::warn!(session = %id, error = %e, "could not forget the agent's record");
                }
                reaped += 1;
            }
        }
        Ok(reaped)
    }

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
    async fn recorded_checks(&self, town: &str, session: &str) -> Option<Vec<GateResult>> {
        let (town, agent) = (TownId(town.to_string()), AgentId(session.to_string()));
        match self.runner.checks(&town, &agent).await {
            Ok(results) if results.is_empty() => None,
            Ok(results) => {
                let gates: Vec<GateResult> = results
                    .iter()
                    .map(GateResult::from)
                    .map(|mut g| {
                        g.output_tail = self.config.redactor.redact_cut(&g.output_tail);
                        g
                    })
                    .collect();
                Some(gates)
            }
            Err(e) => {
                tracing::warn!(session = %agent, error = %e, "cannot read the gates' records");
                None
            }
        }
    }
}

/// An agent's first call for its work: hooked becomes in progress (once), its session
/// is running, and it is alive. Runs in the tool call's transaction.
pub fn first_call(tx: &Tx<'_>, grant: &Grant, via: &str, now: Millis) -> Result<Bead, StoreError> {
    let mut bead = store::get_bead(tx, &grant.bead_id)?;
    if bead.status == BeadStatus::Hooked {
        let payload = json!({ "via": via });
        bead = lifecycle::move_to(
            tx,
            &bead.id,
            BeadStatus::InProgress,
            None,
            Cause::new(&grant.agent_id, &payload),
            now,
        )?;
        store::set_session_state(tx, &grant.session_id, SessionState::Running)?;
    }
    store::touch(tx, &grant.agent_id, true, now)?;
    Ok(bead)
}

/// The agent said its work is finished (`gt_done`, a refinery report): when its
/// process ends, the session is settled as done rather than as a failure.
pub fn said_done(tx: &Tx<'_>, grant: &Grant) -> Result<(), StoreError> {
    store::set_session_state(tx, &grant.session_id, SessionState::Done)
}
