//! What the refinery asks of its run in the town, what the run reports back, and the
//! verdict drawn from it. Pure data and one pure function ([`judge`]): the same report
//! always leads to the same next step, whatever the clock or the forge says.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::repo::Gate;

/// How much of a gate's output is kept: enough to show why it failed, small enough for
/// a comment and a prompt.
pub const OUTPUT_TAIL: usize = 4000;

/// A refinery run's orders, fixed when the run is hooked. The gates come from
/// `.gastown.yaml` on the *target* branch, never from the branch under test, so a
/// polecat cannot loosen the gates its own work is checked by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Assignment {
    pub merge_request: String,
    /// The task's branch, to rebase and test.
    pub branch: String,
    /// The branch it lands on.
    pub target: String,
    pub gates: Vec<GateSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GateSpec {
    pub name: String,
    pub run: String,
    pub timeout_secs: u64,
}

impl From<&Gate> for GateSpec {
    fn from(g: &Gate) -> Self {
        Self {
            name: g.name.clone(),
            run: g.run.clone(),
            timeout_secs: g.timeout_secs,
        }
    }
}

/// One gate's outcome on the rebased tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateResult {
    pub name: String,
    pub passed: bool,
    /// `None` when it was killed (timeout) or could not start.
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub timed_out: bool,
    pub duration_ms: u64,
    /// The end of its combined stdout and stderr.
    #[serde(default)]
    pub output_tail: String,
}

impl From<&runner::CheckResult> for GateResult {
    /// A gate as the town's wrapper recorded it: passed only when it ran to the end
    /// and exited 0.
    fn from(c: &runner::CheckResult) -> Self {
        let output = String::from_utf8_lossy(&c.output_tail);
        Self {
            name: c.name.clone(),
            passed: c.exit_code == Some(0) && !c.timed_out,
            exit_code: c.exit_code,
            timed_out: c.timed_out,
            duration_ms: c.duration_ms,
            output_tail: tail(&output, OUTPUT_TAIL).to_string(),
        }
    }
}

/// What a refinery run found. `conflict` lists the files that did not rebase; then no
/// gate ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// The target's commit the branch was rebased onto.
    pub base_sha: String,
    /// The branch's commit the gates ran on (after the rebase).
    pub head_sha: String,
    #[serde(default)]
    pub conflict: Option<Vec<String>>,
    #[serde(default)]
    pub gates: Vec<GateResult>,
}

/// What the refinery does with a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Rebased cleanly and every gate passed.
    Passed,
    /// Back to a polecat: why (one line) and what it needs to see (output, files).
    Rework { reason: String, details: String },
}

/// A report's verdict. A report that lists fewer gates than were asked for fails: a
/// gate that did not run never counts as passed.
pub fn judge(report: &Report, asked: &[GateSpec]) -> Verdict {
    if let Some(files) = &report.conflict {
        return Verdict::Rework {
            reason: "the branch does not rebase onto the target branch".into(),
            details: format!("Conflicting files:\n{}", bullet(files)),
        };
    }
    let missing: Vec<String> = asked
        .iter()
        .filter(|g| !report.gates.iter().any(|r| r.name == g.name))
        .map(|g| g.name.clone())
        .collect();
    if !missing.is_empty() {
        return Verdict::Rework {
            reason: format!("gates did not run: {}", missing.join(", ")),
            details: String::new(),
        };
    }
    let failed: Vec<&GateResult> = report.gates.iter().filter(|g| !g.passed).collect();
    if failed.is_empty() {
        return Verdict::Passed;
    }
    let names: Vec<String> = failed.iter().map(|g| format!("`{}`", g.name)).collect();
    let details = failed
        .iter()
        .map(|g| {
            format!(
                "Gate `{}` {}:\n{}",
                g.name,
                outcome(g),
                tail(&g.output_tail, OUTPUT_TAIL)
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n");
    Verdict::Rework {
        reason: format!("quality gate {} failed", names.join(", ")),
        details,
    }
}

/// How a gate ended, in words.
pub fn outcome(g: &GateResult) -> String {
    match (g.passed, g.timed_out, g.exit_code) {
        (true, _, _) => "passed".into(),
        (_, true, _) => "timed out".into(),
        (_, _, Some(code)) => format!("failed (exit {code})"),
        (_, _, None) => "failed (did not run)".into(),
    }
}

fn bullet(items: &[String]) -> String {
    items.iter().map(|f| format!("- {f}\n")).collect()
}

/// The last `max` bytes of `s`, cut at a character boundary.
pub fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut from = s.len() - max;
    while !s.is_char_boundary(from) {
        from += 1;
    }
    &s[from..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(name: &str) -> GateSpec {
        GateSpec {
            name: name.into(),
            run: "true".into(),
            timeout_secs: 5,
        }
    }

    fn result(name: &str, passed: bool, code: i32) -> GateResult {
        GateResult {
            name: name.into(),
            passed,
            exit_code: Some(code),
            timed_out: false,
            duration_ms: 10,
            output_tail: format!("{name} said {code}"),
        }
    }

    #[test]
    fn all_gates_passing_lands() {
        let report = Report {
            gates: vec![result("test", true, 0), result("lint", true, 0)],
            ..Default::default()
        };
        assert_eq!(
            judge(&report, &[gate("test"), gate("lint")]),
            Verdict::Passed
        );
    }

    #[test]
    fn a_failing_gate_is_sent_back_with_its_output() {
        let report = Report {
            gates: vec![result("test", false, 101), result("lint", true, 0)],
            ..Default::default()
        };
        let Verdict::Rework { reason, details } = judge(&report, &[gate("test"), gate("lint")])
        else {
            panic!("a failing gate must not pass");
        };
        assert_eq!(reason, "quality gate `test` failed");
        assert!(details.contains("failed (exit 101)") && details.contains("test said 101"));
    }

    #[test]
    fn a_gate_that_did_not_run_never_passes() {
        let report = Report {
            gates: vec![result("test", true, 0)],
            ..Default::default()
        };
        assert!(matches!(
            judge(&report, &[gate("test"), gate("lint")]),
            Verdict::Rework { reason, .. } if reason == "gates did not run: lint"
        ));
    }

    #[test]
    fn a_conflict_names_its_files() {
        let report = Report {
            conflict: Some(vec!["hello.md".into()]),
            ..Default::default()
        };
        let Verdict::Rework { details, .. } = judge(&report, &[]) else {
            panic!("a conflict must not pass");
        };
        assert!(details.contains("- hello.md"));
    }

    #[test]
    fn tails_cut_at_character_boundaries() {
        assert_eq!(tail("héllo", 4), "llo");
        assert_eq!(tail("abc", 10), "abc");
    }
}
