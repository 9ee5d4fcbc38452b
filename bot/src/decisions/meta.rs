//! What each kind of bead keeps beside its columns, as types.
//!
//! A bead's `metadata` column is JSON so that new features can keep new facts without
//! a migration; these structs are the one place that says which facts there are, what
//! they hold and who writes them. Reads go through [`task`] and [`merge_request`];
//! writes through [`update_task`] and [`update_merge_request`], inside the caller's
//! transaction. A key these types do not know is kept as it is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::decisions::gates::{Assignment, GateResult, Report};
use crate::store::{self, Bead, StoreError, Tx};

/// A task: an issue slung to the town, or a rework of one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskMeta {
    /// Who slung it, with what permission, by which label (kept for the history).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slung_by: Option<String>,
    /// Who slung it for them, when not the label: `the Mayor (turn 12)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slung_via: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission: Option<crate::forge::Permission>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue_author: Option<String>,
    /// The branch a retry or a rework continues on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The refinery's PR/MR for this task, once opened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<u64>,
    /// Every head the PR was put up for review at, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub review_heads: Vec<String>,
    /// login → the commit they approved (from the forge's review events).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub approvals: BTreeMap<String, String>,
    /// Review feedback already sent to a rework (its ids), so it is not sent twice.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub handled_feedback: Vec<String>,
    /// What its PR waits for, as the status comment shows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    /// The issues its body says it depends on (forge refs), and those of them not slung
    /// yet, which it waits for (blocked) until they are.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unslung: Vec<String>,
    /// Blockers that failed or closed unmerged, about which a person was asked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blockers_escalated: Vec<String>,
    /// What the patrol holds it for, while it does (a retry's wait, a stuck polecat, a
    /// paused rig, work stopped because the issue changed), as its status comment says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// Why its town cannot start, while it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub town_error: Option<String>,
    /// The molecule its polecats walk (its formula's steps), when it was slung with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub molecule: Option<String>,
    /// Times its polecat stopped at a `human` step as it should: those hookings are not
    /// failed attempts.
    #[serde(skip_serializing_if = "is_zero")]
    pub resumes: u32,
    /// How many times its work was sent back, and the last time why.
    #[serde(skip_serializing_if = "is_zero")]
    pub reworks: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rework: Option<ReworkNote>,
    /// A rework task's own facts: what it reworks and why.
    #[serde(flatten)]
    pub rework_of: Option<ReworkOf>,
    /// Keys these types do not know, kept as they are.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// The last rework of a task, as its status comment shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReworkNote {
    pub attempt: u32,
    pub max: u32,
    pub reason: String,
    pub bead: String,
}

/// What a rework bead reworks, and why (its polecat's prompt says it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReworkOf {
    pub rework_of: String,
    pub attempt: u32,
    pub max: u32,
    pub reason: String,
    #[serde(default)]
    pub details: String,
}

/// A merge request: a polecat's finished branch on its way through the refinery.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MergeRequestMeta {
    /// The bead whose work this is (a task or a rework), and its pushed commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_bead: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    /// The polecat that did it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// What the refinery's run was asked to do, and what it reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignment: Option<Assignment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
    /// The quality gates as the town's wrapper recorded them (what counts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<GateResult>>,
    /// Reports the bot's mirror contradicted.
    #[serde(skip_serializing_if = "is_zero")]
    pub untrusted_reports: u32,
    /// The AI review of the tested head, once made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<StoredReview>,
    /// The PR/MR, the head it was put up for review at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_head: Option<String>,
    /// Something happened that may move it (`nudge`), and the count last looked at.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub nudge: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub nudged: i64,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// A molecule: a formula expanded for one task, its steps the molecule's children.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MoleculeMeta {
    pub formula: String,
    pub version: u32,
    /// Where the formula came from (`repo`, `server`, `built-in`).
    pub source: String,
    /// The plan's hash: the same formula, version and vars expand once.
    pub hash: String,
    pub kind: String,
    /// The vars it was expanded with: data from the issue, never rendered again.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, serde_json::Value>,
    /// The task whose issue it serves.
    pub task: String,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// One step of a molecule: what the formula said of it, and what became of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StepMeta {
    /// Its id in the formula (`implement`), unique in its molecule.
    pub step: String,
    /// Its place in the plan's order.
    pub index: usize,
    /// The task whose molecule it is (a leg's branch is under the task's).
    pub task: String,
    pub role: crate::decisions::formula::StepRole,
    /// Commands that must pass in the town before it closes (never templated).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gate: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acceptance: Option<String>,
    /// A convoy leg: worked by a polecat of its own, on a branch of its own.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub leg: bool,
    /// What the agent said when it closed the step (redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Who closed it: the agent, or the person who approved a `human` step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<String>,
    /// The commit its gate is run on, while it runs, and the gate's last failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate_sha: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate_failure: Option<String>,
    /// The gates as the town's wrapper recorded them (what counts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<GateResult>>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// An AI review as kept: which head, which model, what it said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredReview {
    pub head_sha: String,
    pub model: String,
    pub verdict: serde_json::Value,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

/// A task's facts. Metadata the bot did not write in this shape is a bug: it is
/// logged and read as empty, so a bead never becomes unreadable.
pub fn task(bead: &Bead) -> TaskMeta {
    parse(bead)
}

/// A merge request's facts (see [`task`]).
pub fn merge_request(bead: &Bead) -> MergeRequestMeta {
    parse(bead)
}

/// A molecule's facts (see [`task`]).
pub fn molecule(bead: &Bead) -> MoleculeMeta {
    parse(bead)
}

/// A step's facts (see [`task`]).
pub fn step(bead: &Bead) -> StepMeta {
    parse(bead)
}

fn parse<T: serde::de::DeserializeOwned + Default>(bead: &Bead) -> T {
    serde_json::from_value(bead.metadata.clone()).unwrap_or_else(|e| {
        tracing::error!(bead = %bead.id, error = %e, "bead metadata does not read; using none");
        T::default()
    })
}

/// Change a task's facts in the caller's transaction; returns the bead as it is now.
pub fn update_task(
    tx: &Tx<'_>,
    id: &str,
    now: Millis,
    change: impl FnOnce(&mut TaskMeta),
) -> Result<Bead, StoreError> {
    let bead = store::get_bead(tx, id)?;
    let mut meta = task(&bead);
    change(&mut meta);
    store::set_metadata(tx, id, &to_value(&meta), now)
}

/// Change a merge request's facts (see [`update_task`]).
pub fn update_merge_request(
    tx: &Tx<'_>,
    id: &str,
    now: Millis,
    change: impl FnOnce(&mut MergeRequestMeta),
) -> Result<Bead, StoreError> {
    let bead = store::get_bead(tx, id)?;
    let mut meta = merge_request(&bead);
    change(&mut meta);
    store::set_metadata(tx, id, &to_value(&meta), now)
}

/// Change a step's facts (see [`update_task`]).
pub fn update_step(
    tx: &Tx<'_>,
    id: &str,
    now: Millis,
    change: impl FnOnce(&mut StepMeta),
) -> Result<Bead, StoreError> {
    let bead = store::get_bead(tx, id)?;
    let mut meta = step(&bead);
    change(&mut meta);
    store::set_metadata(tx, id, &to_value(&meta), now)
}

pub fn to_value<T: Serialize>(meta: &T) -> serde_json::Value {
    serde_json::to_value(meta).expect("bead metadata serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rework_reads_as_one_and_unknown_keys_survive_a_write() {
        let stored = json!({ "rework_of": "gt-1", "attempt": 2, "max": 3, "reason": "red",
            "details": "log", "branch": "gt/gt-1-x", "future_key": [1, 2] });
        let meta: TaskMeta = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(meta.rework_of.as_ref().unwrap().rework_of, "gt-1");
        assert_eq!(meta.branch.as_deref(), Some("gt/gt-1-x"));
        assert_eq!(to_value(&meta), stored);
    }

    #[test]
    fn a_plain_task_is_no_rework() {
        let meta: TaskMeta =
            serde_json::from_value(json!({ "slung_by": "mara", "pull_request": 7 })).unwrap();
        assert!(meta.rework_of.is_none());
        assert_eq!(meta.pull_request, Some(7));
    }
}
