//! Polecats: worker agents hooked to ready beads, started in the town, watched until
//! they finish. [`schedule`] decides who works what; the dispatcher does it: one round
//! first settles polecats that ended ([`crate::loops::sessions`]), then hooks and starts new
//! ones under the rig and town caps.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tracing::Instrument;

use crate::clock::{Millis, SharedClock};
use crate::config::Config;
use crate::decisions::schedule::{Busy, ReadyBead, branch_name, schedule};
use crate::lifecycle::{self, Cause};
use crate::loops::sessions::{Ended, SessionError, SessionPlan, Sessions};
use crate::store::{self, AgentStatus, Bead, BeadStatus, BeadType, Role, Store, StoreError, Tx};

/// The dispatcher: built once with the bot.
#[derive(Clone)]
pub struct Polecats {
    store: Store,
    config: Arc<Config>,
    clock: SharedClock,
    sessions: Sessions,
    /// Each rig's `.gastown.yaml` (its `polecat_cap`).
    settings: crate::forge::settings::RepoSettings,
    forges: crate::forge::registry::Forges,
    /// Merges a convoy's legs into its molecule's branch.
    gateway: Arc<crate::gitgate::GitGateway>,
}

impl Polecats {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        clock: SharedClock,
        sessions: Sessions,
        settings: crate::forge::settings::RepoSettings,
        forges: crate::forge::registry::Forges,
        gateway: Arc<crate::gitgate::GitGateway>,
    ) -> Self {
        Self {
            store,
            config,
            clock,
            sessions,
            settings,
            forges,
            gateway,
        }
    }

    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// One round: settle polecats that ended, then hook and start what the caps
    /// allow. Returns how many agents were started or settled.
    pub async fn step(&self) -> Result<usize, SessionError> {
        let ended = self.sessions.ended(Role::Polecat).await?;
        let settled = ended.len();
        for e in ended {
            self.sessions.settle(e, polecat_ended).await?;
        }
        let started = self.dispatch().await?;
        Ok(settled + started)
    }

    /// Step until nothing changes: the sync point tests use.
    pub async fn drain(&self) -> Result<usize, SessionError> {
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
        let wake = self.store.wakes().of(store::Wake::Dispatcher);
        crate::loops::rounds::run("polecats", every, wake, shutdown, || self.step()).await
    }

    /// Each rig's cap: its `.gastown.yaml` may lower or raise the town's.
    async fn caps(&self, rigs: &HashSet<String>) -> Result<HashMap<String, usize>, SessionError> {
        let town_cap = self.config.polecats.cap;
        let mut caps = HashMap::new();
        let (settings, forges) = (&self.settings, &self.forges);
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

    /// Show on a queued bead's issue that its town cannot start, and why (once per
    /// reason), instead of "waiting for a free polecat".
    async fn show_town_trouble(&self, bead: &store::Bead, why: String) -> Result<(), SessionError> {
        if crate::decisions::meta::task(bead).town_error.as_ref() == Some(&why) {
            return Ok(());
        }
        let (id, now) = (bead.id.clone(), self.clock.now_ms());
        self.store
            .write(move |c| {
                let bead =
                    crate::decisions::meta::update_task(c, &id, now, |t| t.town_error = Some(why))?;
                crate::lifecycle::outbox::queue_bead_update(c, &bead, now)
            })
            .await?;
        Ok(())
    }

    async fn dispatch(&self) -> Result<usize, SessionError> {
        let now = self.clock.now_ms();
        let (ready, busy) = self
            .store
            .read(move |c| {
                // A paused rig (its breaker, or a person) gets no new work; its merge
                // requests still finish.
                let paused: HashSet<String> = store::rig_pauses(c)?
                    .into_iter()
                    .map(|p| p.rig_id)
                    .collect();
                let ready = store::ready_beads(c, now)?
                    .into_iter()
                    .filter(|b| {
                        b.bead_type == BeadType::MergeRequest
                            || !b.rig_id.as_ref().is_some_and(|r| paused.contains(r))
                    })
                    .collect::<Vec<_>>();
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
        // Tasks, and convoy legs (steps a polecat of their own works).
        let ready: Vec<_> = ready
            .into_iter()
            .filter(|b| {
                b.bead_type == BeadType::Task
                    || (b.bead_type == BeadType::Step && crate::decisions::meta::step(b).leg)
            })
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
        for a in busy.iter().filter(|a| a.status == AgentStatus::Working) {
            *in_town.entry(a.town_id.clone()).or_default() += 1;
        }
        let town_room = |town: &str| {
            let working = in_town.get(town).copied().unwrap_or(0);
            let kept = refinery_waits.get(town).map_or(0, HashSet::len);
            self.config.polecats.town_cap.saturating_sub(working + kept)
        };
        let busy: Vec<Busy> = busy
            .into_iter()
            .filter(|a| a.role == Role::Polecat && a.status == AgentStatus::Working)
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
            if self.sessions.town_backing_off(town).await {
                if let Some(why) = self.sessions.town_trouble(town).await {
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
                Err(e) if !self.sessions.town_is_up(town).await => {
                    match self.sessions.town_trouble(town).await {
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

    async fn start(&self, bead: &store::Bead, name: &'static str) -> Result<(), SessionError> {
        // A retry keeps its branch; a rework continues its task's; a convoy leg works
        // on a branch of its own under its task's (`gt/<task>-<leg>`).
        let branch = match bead.bead_type {
            BeadType::Step => {
                let leg = crate::decisions::meta::step(bead);
                bead.branch
                    .clone()
                    .unwrap_or_else(|| format!("gt/{}-{}", leg.task, leg.step))
            }
            _ => crate::decisions::meta::task(bead)
                .branch
                .or_else(|| bead.branch.clone())
                .unwrap_or_else(|| branch_name(&bead.id, &bead.title)),
        };
        if bead.bead_type == BeadType::Task && !self.merge_legs(bead, &branch).await? {
            return Ok(());
        }
        let plan = SessionPlan {
            role: Role::Polecat,
            name: name.to_string(),
            branch,
            base_branch: self.config.polecats.base_branch.clone(),
            command: None,
            checks: Vec::new(),
        };
        self.sessions.start(bead, &plan).await
    }
}

impl Polecats {
    /// Before a molecule's own polecat starts, the bot merges the branches of its
    /// closed convoy legs into the molecule's branch. `false` when it cannot start
    /// yet: a leg that does not merge goes back to its polecat, to be rebased.
    async fn merge_legs(&self, task: &Bead, branch: &str) -> Result<bool, SessionError> {
        let t = task.clone();
        let Some(view) = self
            .store
            .read(move |c| crate::lifecycle::molecule::of_task(c, &t))
            .await?
        else {
            return Ok(true);
        };
        if view.meta.other.get("legs_merged").is_some() {
            return Ok(true);
        }
        let legs: Vec<(String, String)> = view
            .steps
            .iter()
            .filter(|s| s.meta.leg && s.closed())
            .filter_map(|s| {
                let b = s.meta.other.get("branch")?.as_str()?.to_string();
                Some((s.bead.id.clone(), b))
            })
            .collect();
        if legs.is_empty() {
            return Ok(true);
        }
        let rig_id = task.rig_id.clone().unwrap_or_default();
        let Some(rig) = self
            .store
            .read(move |c| store::find_rig(c, &rig_id))
            .await?
        else {
            return Ok(false);
        };
        let Some(forge) = self.forges.for_rig(&rig) else {
            return Ok(false);
        };
        let target = crate::gitgate::RigTarget {
            rig_id: rig.id.clone(),
            forge,
            repo: crate::forge::RepoPath::new(rig.path.clone()),
        };
        let branches: Vec<String> = legs.iter().map(|(_, b)| b.clone()).collect();
        let base = &self.config.polecats.base_branch;
        let merged = match self
            .gateway
            .merge_into(&target, branch, base, &branches)
            .await
        {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(bead = %task.id, error = %e, "cannot merge the convoy's legs yet");
                return Ok(false);
            }
        };
        let (task_id, molecule, now) = (
            task.id.clone(),
            view.molecule.id.clone(),
            self.clock.now_ms(),
        );
        match merged {
            crate::gitgate::Merged::Pushed(sha) => {
                tracing::info!(bead = %task.id, %sha, legs = legs.len(), "convoy legs merged");
                self.store
                    .write(move |c| {
                        let mut meta =
                            crate::decisions::meta::molecule(&store::get_bead(c, &molecule)?);
                        meta.other.insert("legs_merged".into(), json!(sha));
                        store::set_metadata(
                            c,
                            &molecule,
                            &crate::decisions::meta::to_value(&meta),
                            now,
                        )?;
                        store::note(
                            c,
                            &task_id,
                            "legs_merged",
                            "gastown",
                            &json!({ "sha": sha, "legs": branches }),
                            now,
                        )
                    })
                    .await?;
                Ok(true)
            }
            crate::gitgate::Merged::Conflict(source) => {
                let leg = legs
                    .iter()
                    .find(|(_, b)| *b == source)
                    .map(|(id, _)| id.clone());
                tracing::info!(bead = %task.id, branch = %source, "a convoy leg does not merge: back to its polecat");
                if let Some(leg) = leg {
                    let why = format!(
                        "{source} does not merge cleanly into {branch}: rebase it onto {branch} and push again"
                    );
                    self.store
                        .write(move |c| {
                            crate::decisions::meta::update_step(c, &leg, now, |m| {
                                m.gate_failure = Some(why.clone())
                            })?;
                            let payload = json!({ "conflict": why });
                            lifecycle::move_to(
                                c,
                                &leg,
                                BeadStatus::Open,
                                None,
                                Cause::new("gastown", &payload),
                                now,
                            )?;
                            Ok(())
                        })
                        .await?;
                }
                Ok(false)
            }
            crate::gitgate::Merged::Moved => Ok(false),
        }
    }
}

/// A polecat ended without `gt_done`: a failed attempt ([`lifecycle::attempts`]): the
/// bead is retried after its backoff until `patrol.max_attempts`, then fails and
/// escalates.
pub(crate) fn polecat_ended(
    tx: &Tx<'_>,
    bead: &Bead,
    ended: &Ended,
    config: &Config,
    now: Millis,
) -> Result<(), StoreError> {
    let why = ended.why();
    store::note(
        tx,
        &bead.id,
        "attempt_failed",
        "gastown",
        &json!({ "reason": why, "session": ended.session.id }),
        now,
    )?;
    lifecycle::attempts::failed(tx, bead, &why, &ended.tail, config, now)?;
    Ok(())
}
