//! Molecules: a formula's plan poured into beads, and walked.
//!
//! Pouring stores a [`MoleculePlan`] in the caller's transaction: a `molecule` bead, a
//! `step` bead per step (its children, in plan order) and a `blocks` dependency for
//! every `needs`. The task the issue made stays the unit a polecat is hooked to and the
//! refinery lands; its polecat walks the steps ([`current`], [`advance`]). A `human`
//! step parks the task (blocked) until a person approves it ([`approve`]); a convoy leg
//! is a step a polecat of its own works on a branch of its own, and the task waits for
//! every leg (its `blocks` dependencies on them) before its own steps go on.
//!
//! What the walk decides is read from [`MoleculeView`], a value over the stored steps,
//! so the rules (which step is current, what waits) are tested without a database.

use std::collections::{BTreeMap, HashMap};

use serde_json::json;

use crate::clock::Millis;
use crate::decisions::comments::{ChecklistItem, ItemState};
use crate::decisions::formula::{MoleculePlan, StepRole};
use crate::decisions::meta::{self, MoleculeMeta, StepMeta};
use crate::lifecycle::{self, Cause};
use crate::store::{
    self, Bead, BeadStatus, BeadType, CloseReason, DepType, NewBead, StoreError, Tx,
};

/// Longest plan poured; the formula library caps expansions below it.
pub const MAX_STEPS: usize = 500;

/// Store `plan` for `task` (a molecule and its steps), unless the task already has a
/// molecule: a redelivery or a restart never pours twice. Returns the molecule.
pub fn pour(
    tx: &Tx<'_>,
    task: &Bead,
    plan: &MoleculePlan,
    source: &str,
    now: Millis,
) -> Result<Bead, StoreError> {
    if let Some(existing) = meta::task(task).molecule {
        return store::get_bead(tx, &existing);
    }
    if plan.steps.len() > MAX_STEPS {
        return Err(StoreError::Invalid(format!(
            "a molecule has at most {MAX_STEPS} steps; this plan has {}",
            plan.steps.len()
        )));
    }
    let molecule = lifecycle::create(
        tx,
        &NewBead {
            bead_type: BeadType::Molecule,
            title: format!("{}@{}: {}", plan.formula, plan.version, task.title),
            body: String::new(),
            priority: task.priority,
            town_id: task.town_id.clone(),
            rig_id: task.rig_id.clone(),
            parent_id: None,
            forge_ref: None,
            created_by: "gastown".into(),
            metadata: meta::to_value(&MoleculeMeta {
                formula: plan.formula.clone(),
                version: plan.version,
                source: source.to_string(),
                hash: plan.hash.clone(),
                kind: format!("{:?}", plan_kind(plan)).to_lowercase(),
                vars: plan.vars.clone(),
                task: task.id.clone(),
                other: Default::default(),
            }),
        },
        now,
    )?;
    store::add_dep(
        tx,
        &task.id,
        &molecule.id,
        DepType::ParentChild,
        "gastown",
        now,
    )?;
    let mut ids: HashMap<&str, String> = HashMap::new();
    let mut edges = Vec::new();
    for (index, step) in plan.steps.iter().enumerate() {
        let bead = lifecycle::create(
            tx,
            &NewBead {
                bead_type: BeadType::Step,
                title: step.title.clone(),
                body: step.description.clone(),
                priority: task.priority,
                town_id: task.town_id.clone(),
                rig_id: task.rig_id.clone(),
                parent_id: Some(molecule.id.clone()),
                forge_ref: None,
                created_by: "gastown".into(),
                metadata: meta::to_value(&StepMeta {
                    step: step.id.clone(),
                    index,
                    role: step.role,
                    gate: step.gate.clone(),
                    acceptance: step.acceptance.clone(),
                    leg: is_leg(step),
                    task: task.id.clone(),
                    ..Default::default()
                }),
            },
            now,
        )?;
        // The plan lists each step after what it needs, so every need is poured.
        for need in &step.needs {
            if let Some(on) = ids.get(need.as_str()) {
                edges.push((bead.id.clone(), on.clone(), DepType::Blocks));
            }
        }
        if is_leg(step) {
            edges.push((task.id.clone(), bead.id.clone(), DepType::Blocks));
        }
        ids.insert(&step.id, bead.id);
    }
    // The expander proved the graph acyclic, and every edge ends at a bead just made.
    store::add_planned_deps(tx, &edges, "gastown", now)?;
    let task = meta::update_task(tx, &task.id, now, |t| {
        t.molecule = Some(molecule.id.clone())
    })?;
    store::note(
        tx,
        &task.id,
        "molecule_poured",
        "gastown",
        &json!({ "molecule": molecule.id, "formula": plan.formula, "version": plan.version,
                 "source": source, "hash": plan.hash, "steps": plan.steps.len() }),
        now,
    )?;
    Ok(molecule)
}

fn plan_kind(plan: &MoleculePlan) -> crate::decisions::formula::FormulaKind {
    plan.kind
}

fn is_leg(step: &crate::decisions::formula::PlannedStep) -> bool {
    step.leg
}

/// A molecule ends as its task ends (merged, rejected, failed) and opens again with
/// it; its steps keep what became of each.
pub fn follow_task(
    tx: &Tx<'_>,
    task: &Bead,
    cause: Cause<'_>,
    now: Millis,
) -> Result<(), StoreError> {
    let Some(id) = meta::task(task).molecule else {
        return Ok(());
    };
    let molecule = store::get_bead(tx, &id)?;
    let to = match task.status {
        BeadStatus::Closed | BeadStatus::Failed | BeadStatus::Open => task.status,
        _ => return Ok(()),
    };
    if molecule.status == to || !molecule.status.can_become(to) {
        return Ok(());
    }
    let reason = (to == BeadStatus::Closed)
        .then_some(task.close_reason)
        .flatten();
    lifecycle::move_to(tx, &id, to, reason, cause, now)?;
    Ok(())
}

/// One step as stored.
#[derive(Debug, Clone)]
pub struct StepView {
    pub bead: Bead,
    pub meta: StepMeta,
    /// The step beads it waits for.
    pub needs: Vec<String>,
}

impl StepView {
    pub fn closed(&self) -> bool {
        self.bead.status == BeadStatus::Closed
    }
}

/// A molecule with its steps in plan order: what the walk reads.
#[derive(Debug, Clone)]
pub struct MoleculeView {
    pub molecule: Bead,
    pub meta: MoleculeMeta,
    pub steps: Vec<StepView>,
}

/// Where the task's walk is.
#[derive(Debug, Clone, PartialEq)]
pub enum Walk {
    /// This step is the polecat's to work now.
    Step(String),
    /// This step's gate runs in the town; the polecat waits for its verdict.
    Gate(String),
    /// A `human` step waits for a person to approve it.
    Approval(String),
    /// Legs worked by other polecats are not all closed yet.
    Legs(Vec<String>),
    /// Every step is closed: the work goes to the refinery.
    Finished,
}

impl MoleculeView {
    pub fn get(&self, bead_id: &str) -> Option<&StepView> {
        self.steps.iter().find(|s| s.bead.id == bead_id)
    }

    /// Open (or being worked), and everything it needs closed.
    pub fn ready(&self, step: &StepView) -> bool {
        matches!(
            step.bead.status,
            BeadStatus::Open | BeadStatus::InProgress | BeadStatus::Review | BeadStatus::Hooked
        ) && step
            .needs
            .iter()
            .all(|n| self.get(n).is_none_or(StepView::closed))
    }

    /// What the task's own polecat does next: the step it is on, else the first ready
    /// one in plan order; a ready `human` step first waits for its approval. Legs are
    /// other polecats' work.
    pub fn walk(&self) -> Walk {
        let own = || self.steps.iter().filter(|s| !s.meta.leg);
        if let Some(s) = own().find(|s| {
            matches!(
                s.bead.status,
                BeadStatus::InProgress | BeadStatus::Review | BeadStatus::Hooked
            ) && s.meta.role == StepRole::Polecat
        }) {
            return match s.bead.status {
                BeadStatus::InProgress => Walk::Step(s.bead.id.clone()),
                // Waiting for its gate run, or in it.
                _ => Walk::Gate(s.bead.id.clone()),
            };
        }
        if let Some(s) = own().find(|s| self.ready(s) && !s.closed()) {
            return match s.meta.role {
                StepRole::Polecat => Walk::Step(s.bead.id.clone()),
                StepRole::Human => Walk::Approval(s.bead.id.clone()),
            };
        }
        let legs: Vec<String> = self
            .steps
            .iter()
            .filter(|s| s.meta.leg && !s.closed())
            .map(|s| s.bead.id.clone())
            .collect();
        if !legs.is_empty() {
            return Walk::Legs(legs);
        }
        Walk::Finished
    }

    /// Steps the task's polecat has not closed, other than legs.
    pub fn open_steps(&self) -> impl Iterator<Item = &StepView> {
        self.steps.iter().filter(|s| !s.meta.leg && !s.closed())
    }
}

/// Read a molecule and its steps.
pub fn load(conn: &rusqlite::Connection, molecule_id: &str) -> Result<MoleculeView, StoreError> {
    let molecule = store::get_bead(conn, molecule_id)?;
    let mut steps = Vec::new();
    for bead in store::children(conn, molecule_id)? {
        if bead.bead_type != BeadType::Step {
            continue;
        }
        let needs = store::deps_of(conn, &bead.id)?
            .into_iter()
            .filter(|(_, t)| *t == DepType::Blocks)
            .map(|(id, _)| id)
            .collect();
        steps.push(StepView {
            meta: meta::step(&bead),
            bead,
            needs,
        });
    }
    steps.sort_by_key(|s| s.meta.index);
    Ok(MoleculeView {
        meta: meta::molecule(&molecule),
        molecule,
        steps,
    })
}

/// The molecule of `task`, if it was slung with a formula.
pub fn of_task(
    conn: &rusqlite::Connection,
    task: &Bead,
) -> Result<Option<MoleculeView>, StoreError> {
    match meta::task(task).molecule {
        Some(id) => load(conn, &id).map(Some),
        None => Ok(None),
    }
}

/// Move a step, and show the task's checklist again.
fn move_step(
    tx: &Tx<'_>,
    task: &Bead,
    step: &str,
    to: BeadStatus,
    reason: Option<CloseReason>,
    cause: Cause<'_>,
    now: Millis,
) -> Result<(), StoreError> {
    lifecycle::move_to(tx, step, to, reason, cause, now)?;
    let task = store::get_bead(tx, &task.id)?;
    crate::lifecycle::outbox::queue_bead_update(tx, &task, now)
}

/// Where the walk is, starting the current step if it is not yet started.
pub fn current(
    tx: &Tx<'_>,
    task: &Bead,
    actor: &str,
    now: Millis,
) -> Result<Option<(MoleculeView, Walk)>, StoreError> {
    let Some(view) = of_task(tx, task)? else {
        return Ok(None);
    };
    let walk = view.walk();
    if let Walk::Step(id) = &walk
        && view
            .get(id)
            .is_some_and(|s| s.bead.status == BeadStatus::Open)
    {
        let payload = json!({ "via": "gt_mol_current" });
        lifecycle::advance(
            tx,
            id,
            BeadStatus::InProgress,
            Cause::new(actor, &payload),
            now,
        )?;
        let task = store::get_bead(tx, &task.id)?;
        crate::lifecycle::outbox::queue_bead_update(tx, &task, now)?;
        let view = load(tx, &view.molecule.id)?;
        return Ok(Some((view, walk)));
    }
    Ok(Some((view, walk)))
}

/// Why a step could not be closed.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// No step is being worked: the agent should ask for the current one.
    NoStep(Walk),
}

/// Close the step being worked with the agent's summary, then start the next one.
/// Returns where the walk is now.
pub fn advance(
    tx: &Tx<'_>,
    task: &Bead,
    actor: &str,
    summary: &str,
    now: Millis,
) -> Result<Result<(MoleculeView, Walk), Refused>, StoreError> {
    let Some(view) = of_task(tx, task)? else {
        return Ok(Err(Refused::NoStep(Walk::Finished)));
    };
    let step = match view.walk() {
        Walk::Step(id) => id,
        other => return Ok(Err(Refused::NoStep(other))),
    };
    if view.get(&step).is_some_and(|s| !s.meta.gate.is_empty()) {
        // Its gate decides: the refinery runs it on the branch as pushed.
        meta::update_step(tx, &step, now, |m| {
            m.summary = Some(summary.to_string());
            m.closed_by = Some(actor.to_string());
            m.gate_failure = None;
            m.checks = None;
        })?;
        let payload = json!({ "summary": summary, "gate": "requested" });
        move_step(
            tx,
            task,
            &step,
            BeadStatus::Review,
            None,
            Cause::new(actor, &payload),
            now,
        )?;
        let view = load(tx, &view.molecule.id)?;
        return Ok(Ok((view, Walk::Gate(step))));
    }
    close_step(tx, task, &step, actor, summary, now)?;
    let (view, walk) = current(tx, task, actor, now)?.expect("the molecule was just read");
    Ok(Ok((view, walk)))
}

/// Close one step as done, saying who and with what summary.
fn close_step(
    tx: &Tx<'_>,
    task: &Bead,
    step: &str,
    actor: &str,
    summary: &str,
    now: Millis,
) -> Result<(), StoreError> {
    meta::update_step(tx, step, now, |m| {
        m.summary = Some(summary.to_string());
        m.closed_by = Some(actor.to_string());
        m.gate_sha = None;
    })?;
    let payload = json!({ "summary": summary });
    move_step(
        tx,
        task,
        step,
        BeadStatus::Closed,
        Some(CloseReason::Done),
        Cause::new(actor, &payload),
        now,
    )
}

/// A convoy leg's polecat said done: the leg closes with its branch and commit
/// recorded, and the task (which waits for every leg) may become ready.
pub fn leg_done(
    tx: &Tx<'_>,
    leg: &Bead,
    actor: &str,
    summary: &str,
    branch: &str,
    sha: &str,
    now: Millis,
) -> Result<Bead, StoreError> {
    let task = store::get_bead(tx, &meta::step(leg).task)?;
    store::note(
        tx,
        &leg.id,
        "leg_done",
        actor,
        &json!({ "branch": branch, "sha": sha }),
        now,
    )?;
    meta::update_step(tx, &leg.id, now, |m| {
        m.other.insert("branch".into(), json!(branch));
        m.other.insert("sha".into(), json!(sha));
    })?;
    close_step(tx, &task, &leg.id, actor, summary, now)?;
    store::get_bead(tx, &leg.id)
}

/// The agent said done: the steps it did not close are closed with its summary,
/// unless one of them must not be closed that way (a gate to pass, a person to
/// approve). `Err` says which, in words for the agent.
pub fn finish(
    tx: &Tx<'_>,
    task: &Bead,
    actor: &str,
    summary: &str,
    now: Millis,
) -> Result<Result<(), String>, StoreError> {
    let Some(view) = of_task(tx, task)? else {
        return Ok(Ok(()));
    };
    let open: Vec<&StepView> = view.open_steps().collect();
    if let Some(s) = open.iter().find(|s| s.meta.role == StepRole::Human) {
        return Ok(Err(format!(
            "step `{}` waits for a person's approval; it cannot be done with gt_done",
            s.meta.step
        )));
    }
    if let Some(s) = open.iter().find(|s| !s.meta.gate.is_empty()) {
        return Ok(Err(format!(
            "step `{}` has a gate: close it with gt_mol_advance, which runs the gate",
            s.meta.step
        )));
    }
    if let Walk::Legs(legs) = view.walk() {
        return Ok(Err(format!("legs {} are not closed yet", legs.join(", "))));
    }
    for s in open {
        close_step(
            tx,
            task,
            &s.bead.id,
            actor,
            &format!("closed with gt_done: {summary}"),
            now,
        )?;
    }
    Ok(Ok(()))
}

/// The task's polecat reached a `human` step: its session ends as done and the task
/// waits (blocked) for the approval.
pub fn park(
    tx: &Tx<'_>,
    task: &Bead,
    step: &str,
    actor: &str,
    now: Millis,
) -> Result<(), StoreError> {
    let payload = json!({ "waiting_for_approval": step });
    lifecycle::move_to(
        tx,
        &task.id,
        BeadStatus::Blocked,
        None,
        Cause::new(actor, &payload),
        now,
    )?;
    tx.execute("UPDATE beads SET hook = NULL WHERE id = ?1", [&task.id])?;
    meta::update_task(tx, &task.id, now, |t| t.resumes += 1)?;
    Ok(())
}

/// A person approved the `human` step the task waits for: it closes, and the task is
/// ready for a polecat again. Returns the step's id in the formula, or `None` when no
/// step waits for an approval.
pub fn approve(
    tx: &Tx<'_>,
    task: &Bead,
    approver: &str,
    now: Millis,
) -> Result<Option<String>, StoreError> {
    let Some(view) = of_task(tx, task)? else {
        return Ok(None);
    };
    let Walk::Approval(step) = view.walk() else {
        return Ok(None);
    };
    let name = view
        .get(&step)
        .map(|s| s.meta.step.clone())
        .unwrap_or_default();
    close_step(
        tx,
        task,
        &step,
        approver,
        &format!("approved by @{approver}"),
        now,
    )?;
    let task = store::get_bead(tx, &task.id)?;
    if task.status == BeadStatus::Blocked {
        let payload = json!({ "approved": name, "by": approver });
        lifecycle::move_to(
            tx,
            &task.id,
            BeadStatus::Open,
            None,
            Cause::new(approver, &payload),
            now,
        )?;
    }
    Ok(Some(name))
}

/// The checklist a task's status comment shows: its formula and each step in plan
/// order; `None` for a task without a molecule.
pub fn checklist(
    conn: &rusqlite::Connection,
    task: &Bead,
) -> Result<Option<(String, Vec<ChecklistItem>)>, StoreError> {
    let Some(view) = of_task(conn, task)? else {
        return Ok(None);
    };
    let waiting = match view.walk() {
        Walk::Approval(id) => Some(id),
        _ => None,
    };
    let formula = format!("{}@{}", view.meta.formula, view.meta.version);
    let items = view
        .steps
        .iter()
        .map(|s| ChecklistItem {
            step: s.meta.step.clone(),
            title: s.bead.title.clone(),
            state: match s.bead.status {
                BeadStatus::Closed => ItemState::Done,
                _ if waiting.as_deref() == Some(&s.bead.id) => ItemState::Approval,
                BeadStatus::InProgress | BeadStatus::Hooked => ItemState::Working,
                BeadStatus::Review => ItemState::Gate,
                _ => ItemState::Todo,
            },
            leg: s.meta.leg,
        })
        .collect();
    Ok(Some((formula, items)))
}

/// The task's status comment as it reads now, its checklist included.
pub fn status_comment(conn: &rusqlite::Connection, task: &Bead) -> Result<String, StoreError> {
    if task.bead_type == BeadType::Convoy {
        return crate::lifecycle::convoy::status_comment(conn, task);
    }
    let steps = checklist(conn, task)?;
    // What a queued task waits for, read when the comment is written: the work it
    // depends on, else its rig's pause, else the issues it names that are not slung.
    let mut shown = task.clone();
    let meta = crate::decisions::meta::task(task);
    let note = match task.status {
        _ if meta.notice.is_some() => None,
        crate::store::BeadStatus::Open => {
            let blockers = crate::lifecycle::depends::waiting_on(conn, task)?;
            let pause = match task.rig_id.as_deref() {
                Some(rig) => store::rig_pause(conn, rig)?,
                None => None,
            };
            if !blockers.is_empty() {
                Some(crate::decisions::comments::waiting_for_blockers(&blockers))
            } else {
                pause.map(|p| crate::decisions::comments::paused_note(&p.reason, p.until))
            }
        }
        crate::store::BeadStatus::Blocked if !meta.unslung.is_empty() => {
            let rig = task.rig_id.clone().unwrap_or_default();
            let names: Vec<String> = meta
                .unslung
                .iter()
                .map(|f| crate::lifecycle::depends::short(f, &rig))
                .collect();
            Some(crate::decisions::comments::waiting_for_unslung(&names))
        }
        _ => None,
    };
    if let Some(note) = note
        && let Some(m) = shown.metadata.as_object_mut()
    {
        m.insert("notice".into(), serde_json::Value::String(note));
    }
    Ok(crate::decisions::comments::status_comment_with(
        &shown,
        steps
            .as_ref()
            .map(|(f, items)| (f.as_str(), items.as_slice())),
    ))
}

/// The steps already closed, with what was said when each closed: what a polecat
/// taking the molecule over needs to know.
pub fn done_so_far(view: &MoleculeView) -> BTreeMap<usize, (String, String, String)> {
    view.steps
        .iter()
        .filter(|s| s.closed())
        .map(|s| {
            (
                s.meta.index,
                (
                    s.meta.step.clone(),
                    s.bead.title.clone(),
                    s.meta.summary.clone().unwrap_or_default(),
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests;
