//! The patrol (witness and deacon): every `patrol.tick_secs`, and when woken, it reads
//! what may be due, asks [`crate::decisions::patrol::tick`] what to do and does it
//! through the lifecycle: dead and stuck agents stopped and their beads retried, the
//! stuck nudged and escalated, zombie hooks released, breakers closed after their
//! cool-down, unacknowledged escalations said again, and processes of ended sessions
//! reaped. An idle tick reads the store and the towns' records and calls no forge.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tracing::Instrument;

use crate::clock::{Millis, SharedClock};
use crate::config::Config;
use crate::decisions::comments;
use crate::decisions::patrol::{self, Decision, Durations, Ladder, Severity, Snapshot, Unacked};
use crate::lifecycle::escalation::{self, Raise};
use crate::loops::sessions::{Ended, Ending, SessionError, Sessions};
use crate::store::{self, BeadType, Role, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum PatrolError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Session(#[from] SessionError),
}

#[derive(Clone)]
pub struct Patrol {
    store: Store,
    config: Arc<Config>,
    clock: SharedClock,
    /// `None` when the bot runs no agents: the deacon's work still runs.
    sessions: Option<Sessions>,
    durations: Durations,
    /// Each running agent's output time when last looked at.
    outputs: Arc<tokio::sync::Mutex<std::collections::HashMap<String, i64>>>,
    /// Broken invariants this process repaired (zombie hooks, idle workers), for the
    /// log: a number that grows says something upstream is wrong.
    repairs: Arc<std::sync::atomic::AtomicU64>,
}

impl Patrol {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        clock: SharedClock,
        sessions: Option<Sessions>,
    ) -> Self {
        let durations = Durations::from(&config.patrol);
        Self {
            store,
            config,
            clock,
            sessions,
            durations,
            outputs: Arc::default(),
            repairs: Arc::default(),
        }
    }

    /// Rounds until shutdown.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let every = Duration::from_secs(self.config.patrol.tick_secs.max(1));
        let wake = self.store.wakes().of(store::Wake::Patrol);
        crate::loops::rounds::run("patrol", every, wake, shutdown, || self.tick()).await
    }

    /// One tick: what is due, done. Returns how many things it did.
    pub async fn tick(&self) -> Result<usize, PatrolError> {
        let now = self.clock.now_ms();
        let snapshot = self.store.read(move |c| snapshot(c, now)).await?;
        let decisions = patrol::tick(&snapshot, now, &self.durations);
        let mut done = decisions.len();
        // Decisions that only write run together, so the store's writer commits them
        // in one group (each in its own savepoint); stopping agents waits on runners.
        let (stops, writes): (Vec<_>, Vec<_>) = decisions
            .into_iter()
            .partition(|d| matches!(d, Decision::Dead { .. } | Decision::Stop { .. }));
        let mut group = tokio::task::JoinSet::new();
        for d in writes {
            let me = self.clone();
            group.spawn(async move { me.apply_logged(d, now).await });
        }
        while group.join_next().await.is_some() {}
        for d in stops {
            self.apply_logged(d, now).await;
        }
        if let Some(sessions) = &self.sessions {
            let survey = sessions.survey().await?;
            done += sessions.reap(&survey).await?;
            self.output_grew(&survey, now).await?;
        }
        Ok(done)
    }

    /// New output is progress: a running agent whose log changed since the last tick
    /// moves its session's clock on (compared with what this process saw last, never
    /// with the bot's clock: the log's time is the host's).
    async fn output_grew(
        &self,
        survey: &[(String, Vec<runner::AgentState>)],
        now: Millis,
    ) -> Result<usize, PatrolError> {
        let mut grew = Vec::new();
        {
            let mut seen = self.outputs.lock().await;
            let mut live = std::collections::HashSet::new();
            for a in survey.iter().flat_map(|(_, agents)| agents) {
                if a.status != runner::AgentStatus::Running {
                    continue;
                }
                live.insert(a.agent.0.clone());
                if let Some(at) = a.output_at_ms
                    && seen
                        .insert(a.agent.0.clone(), at)
                        .is_some_and(|before| before != at)
                {
                    grew.push(a.agent.0.clone());
                }
            }
            seen.retain(|id, _| live.contains(id));
        }
        if grew.is_empty() {
            return Ok(0);
        }
        let n = grew.len();
        self.store
            .write(move |c| {
                for s in &grew {
                    store::progress_of_session(c, s, now)?;
                }
                Ok(())
            })
            .await?;
        Ok(n)
    }

    async fn apply_logged(&self, d: Decision, now: Millis) {
        let span = tracing::info_span!("patrol", decision = ?d);
        if let Err(e) = self.apply(&d, now).instrument(span).await {
            tracing::error!(decision = ?d, error = %e, "the patrol could not act");
        }
    }

    async fn apply(&self, d: &Decision, now: Millis) -> Result<(), PatrolError> {
        match d {
            Decision::Dead { session, silent } => {
                self.stop(session, comments::dead_reason(*silent)).await
            }
            Decision::Stop { session, idle } => {
                self.stop(session, comments::stuck_reason(*idle)).await
            }
            Decision::Nudge { session, idle } => self.climb(session, *idle, false, now).await,
            Decision::Escalate { session, idle } => self.climb(session, *idle, true, now).await,
            Decision::Resume { rig } => {
                let rig = rig.clone();
                self.store
                    .write(move |c| {
                        if store::resume_rig(c, &rig)? {
                            tracing::info!(rig = %rig, "the rig's breaker closed: dispatch resumes");
                            crate::lifecycle::attempts::show_pause(c, &rig, now)?;
                            c.wake(store::Wake::Dispatcher);
                        }
                        Ok(())
                    })
                    .await?;
                Ok(())
            }
            Decision::Renotify { escalation, n } => {
                let (id, n, d) = (escalation.clone(), *n, self.durations.clone());
                self.store
                    .write(move |c| escalation::renotify(c, &id, n, &d, now))
                    .await?;
                Ok(())
            }
            Decision::Held { dependent, blocker } => {
                let (dep, blk, d) = (dependent.clone(), blocker.clone(), self.durations.clone());
                self.store
                    .write(move |c| {
                        crate::lifecycle::depends::blocker_gave_up(c, &dep, &blk, &d, now)
                    })
                    .await?;
                Ok(())
            }
            Decision::Release { bead } => {
                self.repaired();
                self.release(bead, now).await
            }
            Decision::Free { agent } => {
                let agent = agent.clone();
                let repairs_total = self.repaired();
                tracing::warn!(agent = %agent, repairs_total,
                    "an agent marked working had no live session: freed");
                self.store
                    .write(move |c| {
                        store::free_agent(c, &agent)?;
                        c.wake(store::Wake::Dispatcher);
                        Ok(())
                    })
                    .await?;
                Ok(())
            }
        }
    }

    /// Count a repaired invariant; returns the count so far.
    fn repaired(&self) -> u64 {
        self.repairs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1
    }

    /// Stop the session's agent and settle it by its role's rule.
    async fn stop(&self, session: &str, why: String) -> Result<(), PatrolError> {
        let Some(sessions) = &self.sessions else {
            return Ok(());
        };
        let id = session.to_string();
        let role = self
            .store
            .read(move |c| match store::get_session(c, &id)? {
                Some(s) => Ok(Some(store::get_agent(c, &s.agent_id)?.role)),
                None => Ok(None),
            })
            .await?;
        let Some(role) = role else { return Ok(()) };
        sessions.stop(session, why, ending_of(role)).await?;
        Ok(())
    }

    /// Take a stuck session up the ladder: the nudge its agent reads next, a note on
    /// its issue, and at the second rung an escalation.
    async fn climb(
        &self,
        session: &str,
        idle: Millis,
        escalate: bool,
        now: Millis,
    ) -> Result<(), PatrolError> {
        let (id, d) = (session.to_string(), self.durations.clone());
        self.store
            .write(move |c| {
                let Some(s) = store::get_session(c, &id)? else {
                    return Ok(());
                };
                let rung = if escalate {
                    Ladder::Escalated
                } else {
                    Ladder::Nudged
                };
                if !store::climb(c, &id, rung, &comments::nudge(idle))? {
                    return Ok(());
                }
                let bead = store::get_bead(c, &s.bead_id)?;
                store::note(
                    c,
                    &bead.id,
                    if escalate {
                        "stuck_escalated"
                    } else {
                        "nudged"
                    },
                    "patrol",
                    &json!({ "session": id, "idle_ms": idle }),
                    now,
                )?;
                let task = escalation::issue_bead(c, &bead)?;
                if task.bead_type == BeadType::Task {
                    let note = comments::stuck_note(idle, escalate);
                    let task = crate::decisions::meta::update_task(c, &task.id, now, |t| {
                        t.notice = Some(note)
                    })?;
                    crate::lifecycle::outbox::queue_bead_update(c, &task, now)?;
                }
                if escalate {
                    escalation::raise(
                        c,
                        &Raise {
                            about: &bead,
                            severity: Severity::Medium,
                            source: "patrol",
                            reason: &comments::stuck_escalation(idle),
                            action: "",
                            details: "",
                        },
                        &d,
                        now,
                    )?;
                }
                Ok(())
            })
            .await?;
        tracing::warn!(
            session,
            idle_ms = idle,
            escalate,
            "a stuck agent was nudged"
        );
        Ok(())
    }

    /// A zombie hook: nobody alive works the bead. It is unhooked and its owner's
    /// rule runs as for an agent that was lost.
    async fn release(&self, bead: &str, now: Millis) -> Result<(), PatrolError> {
        let (id, config) = (bead.to_string(), self.config.clone());
        let town = self.config.town.clone();
        let repairs_total = self.repairs.load(std::sync::atomic::Ordering::Relaxed);
        self.store
            .write(move |c| {
                // Looked at again in the transaction: only a zombie is released.
                if !store::orphaned_beads(c)?.contains(&id) {
                    return Ok(());
                }
                let bead = store::get_bead(c, &id)?;
                let Some(agent) = bead.hook.clone() else {
                    return Ok(());
                };
                let role = store::get_agent(c, &agent)
                    .map(|a| a.role)
                    .unwrap_or(Role::Polecat);
                let last = store::sessions_of_bead(c, &id)?.pop();
                let Some(session) = last else {
                    return Ok(());
                };
                tracing::warn!(bead = %id, agent = %agent, repairs_total,
                    "a zombie hook: released");
                c.execute("UPDATE beads SET hook = NULL WHERE id = ?1", [&id])?;
                let bead = store::get_bead(c, &id)?;
                let ended = Ended {
                    town: bead.town_id.clone().unwrap_or(town),
                    session,
                    code: None,
                    tail: String::new(),
                    checks: None,
                    stopped: Some(comments::ZOMBIE_REASON.into()),
                };
                ending_of(role)(c, &bead, &ended, &config, now)?;
                c.wake(store::Wake::Dispatcher);
                Ok(())
            })
            .await?;
        Ok(())
    }
}

/// What an unfinished end means for a bead, by the role that worked it.
fn ending_of(role: Role) -> Ending {
    match role {
        Role::Refinery => crate::loops::refinery::refinery_ended,
        _ => crate::loops::polecats::polecat_ended,
    }
}

/// What may be due at `now`: live sessions, pauses, escalations due, zombie hooks and
/// workers without a session.
fn snapshot(c: &rusqlite::Connection, now: Millis) -> Result<Snapshot, StoreError> {
    Ok(Snapshot {
        sessions: store::watched(c)?,
        pauses: store::rig_pauses(c)?,
        unacked: store::due_escalations(c, now)?
            .into_iter()
            .map(|e| Unacked {
                escalation: e.bead_id,
                renotified: e.renotified,
                notified_at: e.notified_at,
            })
            .collect(),
        orphaned_beads: store::orphaned_beads(c)?,
        idle_workers: store::idle_workers(c)?,
        held: crate::lifecycle::depends::held_by_failures(c)?,
    })
}
