//! A molecule step's gate: commands that must pass in the town before the step
//! closes. The polecat asks to close a gated step (`gt_mol_advance`) and the step
//! waits in review; the refinery runs the gate like its quality gates (a session of
//! its own in the town, the commands run by the town's wrapper under their own uid
//! and recorded there, never as the agent says), on the molecule's branch as pushed.
//! The verdict is taken when the run is settled: every command passed and the step
//! closes, or the step goes back to its polecat with the failing output.

use serde_json::json;
use tracing::Instrument;

use super::{Refinery, RefineryError};
use crate::clock::Millis;
use crate::config::Config;
use crate::decisions::formula::StepRole;
use crate::decisions::meta;
use crate::lifecycle::{self, Cause};
use crate::loops::sessions::{Ended, SessionError, SessionPlan};
use crate::store::{self, Bead, BeadStatus, BeadType, CloseReason, Role, StoreError, Tx};

/// Bring the run's checkout to the branch as the town has it.
const SYNC_CHECKOUT: &str = "git fetch --quiet origin 2>/dev/null; \
    git reset --quiet --hard \"origin/$GT_BRANCH\" && git clean --quiet -fdx";

/// The most a gate's command may run.
const GATE_TIMEOUT_SECS: u64 = 30 * 60;

impl Refinery {
    /// Start a gate run for every step that waits for one. Returns how many started.
    pub(super) async fn run_step_gates(&self) -> Result<usize, RefineryError> {
        let Some(sessions) = &self.sessions else {
            return Ok(0);
        };
        let waiting = self
            .store
            .read(|c| {
                let steps = store::list_beads(c, Some(BeadStatus::Review))?;
                Ok(steps
                    .into_iter()
                    .filter(|b| b.bead_type == BeadType::Step)
                    .map(|step| {
                        let task = store::get_bead(c, &meta::step(&step).task);
                        (step, task)
                    })
                    .collect::<Vec<_>>())
            })
            .await?;
        let mut started = 0;
        for (step, task) in waiting {
            let task = task?;
            let m = meta::step(&step);
            if m.role != StepRole::Polecat || m.gate.is_empty() {
                continue;
            }
            let plan = SessionPlan {
                role: Role::Refinery,
                name: format!("gate-{}", step.id),
                branch: task.branch.clone().unwrap_or_default(),
                base_branch: self.config.polecats.base_branch.clone(),
                // A checkout kept from an earlier run of this gate is brought to the
                // branch as pushed now (the town fetched it before the command).
                command: Some(vec!["sh".into(), "-c".into(), SYNC_CHECKOUT.into()]),
                checks: m
                    .gate
                    .iter()
                    .enumerate()
                    .map(|(i, run)| runner::Check {
                        name: format!("{}[{i}]", m.step),
                        run: run.clone(),
                        timeout_secs: GATE_TIMEOUT_SECS,
                    })
                    .collect(),
            };
            let span = tracing::info_span!("step_gate", bead = %step.id, task = %task.id);
            match sessions.start(&step, &plan).instrument(span).await {
                Ok(()) => started += 1,
                Err(SessionError::Busy { .. } | SessionError::TownFull { .. }) => {}
                Err(e) => tracing::warn!(error = %e, "could not start the step's gate"),
            }
        }
        Ok(started)
    }
}

/// A gate run ended: the step closes if every command passed, else it goes back to
/// its polecat with what failed. Runs in the settling transaction.
pub(super) fn gate_ended(
    tx: &Tx<'_>,
    step: &Bead,
    ended: &Ended,
    _config: &Config,
    now: Millis,
) -> Result<(), StoreError> {
    let m = meta::step(step);
    let task = store::get_bead(tx, &m.task)?;
    let checks = ended.checks.clone().unwrap_or_default();
    let passed = checks.len() == m.gate.len() && checks.iter().all(|g| g.passed);
    let payload = json!({ "gate": checks, "session": ended.session.id });
    if passed {
        let cause = Cause::new("gastown", &payload);
        meta::update_step(tx, &step.id, now, |s| s.gate_failure = None)?;
        lifecycle::move_to(
            tx,
            &step.id,
            BeadStatus::Closed,
            Some(CloseReason::Done),
            cause,
            now,
        )?;
    } else {
        let failure = match checks.iter().find(|g| !g.passed) {
            Some(g) => format!(
                "{}: {}\n{}",
                g.name,
                crate::decisions::gates::outcome(g),
                g.output_tail
            ),
            None => ended.why(),
        };
        meta::update_step(tx, &step.id, now, |s| {
            s.gate_failure = Some(crate::decisions::gates::tail(&failure, 4096).to_string())
        })?;
        let cause = Cause::new("gastown", &payload);
        lifecycle::move_to(tx, &step.id, BeadStatus::InProgress, None, cause, now)?;
    }
    tracing::info!(step = %step.id, task = %task.id, passed, "step gate judged");
    let task = store::get_bead(tx, &task.id)?;
    lifecycle::outbox::queue_bead_update(tx, &task, now)?;
    Ok(())
}
