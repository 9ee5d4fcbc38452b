//! The plan the built-in `scripted` runtime follows: a fenced ` ```gastown-plan `
//! YAML block in the issue saying which files to write, which commands to run and the
//! commit message. Deterministic work with no model, for tests and `gt demo`.
//!
//! ````markdown
//! ```gastown-plan
//! files:
//!   - path: docs/hello.md
//!     content: |
//!       Hello from a polecat.
//! commands:
//!   - test -s docs/hello.md
//! commit: Add a greeting
//! rework:            # optional: what each rework does (1st, 2nd, …)
//!   - files:
//!       - path: docs/hello.md
//!         content: |
//!           Hello again.
//!     commit: Fix the greeting
//! steps:             # optional: what to do at a molecule's step, by its id
//!   reproduce:
//!     files: [{ path: tests/flux.sh, content: "test -f flux" }]
//!     commit: A failing test
//!     rework:        # a step worked again (its gate refused it) takes these
//!       - commit: …
//! ```
//! ````
//!
//! At a molecule's step the scripted runtime does what `steps` says for it (nothing
//! for a step it does not name) and advances; the top-level `files`, `commands` and
//! `commit` are done last, before `gt_done`.
//!
//! The issue is untrusted text: paths must stay inside the worktree and away from
//! `.git`, and commands run only in the agent's own sandbox (the town container).

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    #[serde(default)]
    pub files: Vec<PlanFile>,
    #[serde(default)]
    pub commands: Vec<String>,
    #[serde(default)]
    pub commit: String,
    /// The steps of the first, second, … rework, when the refinery sends work back.
    #[serde(default)]
    pub rework: Vec<Plan>,
    /// What to do at each step of a molecule, by the step's id.
    #[serde(default)]
    pub steps: std::collections::BTreeMap<String, Plan>,
}

impl Plan {
    /// The step for this attempt: the plan itself, or its rework `n` (1-based; the
    /// last one repeats).
    pub fn step(&self, rework: Option<u32>) -> Option<&Plan> {
        match rework {
            None => Some(self),
            Some(n) => self
                .rework
                .get((n as usize).saturating_sub(1))
                .or(self.rework.last()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    pub path: String,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the issue has no ```gastown-plan block; the scripted runtime needs one")]
    Missing,
    #[error("the ```gastown-plan block starting at line {line} of the issue is not closed")]
    Unclosed { line: usize },
    #[error("the ```gastown-plan block at line {line} of the issue: {message}")]
    Invalid { line: usize, message: String },
}

/// Find the first plan block in `markdown` and read it.
pub fn parse(markdown: &str) -> Result<Plan, PlanError> {
    let (line, yaml) = find_block(markdown)?;
    let plan: Plan = serde_saphyr::from_str(&yaml).map_err(|e| PlanError::Invalid {
        line,
        message: e.to_string(),
    })?;
    let invalid = |message: String| PlanError::Invalid { line, message };
    if plan.steps.is_empty() || !plan.commit.trim().is_empty() {
        check_step(&plan, "").map_err(invalid)?;
    } else {
        check_files(&plan, "").map_err(invalid)?;
    }
    for (n, step) in plan.rework.iter().enumerate() {
        check_step(step, &format!("rework[{n}].")).map_err(invalid)?;
    }
    for (id, step) in &plan.steps {
        check_files(step, &format!("steps.{id}.")).map_err(invalid)?;
        for (n, again) in step.rework.iter().enumerate() {
            check_files(again, &format!("steps.{id}.rework[{n}].")).map_err(invalid)?;
        }
    }
    Ok(plan)
}

fn check_step(plan: &Plan, at: &str) -> Result<(), String> {
    if plan.commit.trim().is_empty() {
        return Err(format!("field `{at}commit`: the commit message is empty"));
    }
    check_files(plan, at)
}

/// A molecule step's plan may commit nothing (a step that only reads), so only its
/// paths are checked.
fn check_files(plan: &Plan, at: &str) -> Result<(), String> {
    for (i, f) in plan.files.iter().enumerate() {
        check_path(&f.path).map_err(|why| format!("field `{at}files[{i}].path`: {why}"))?;
    }
    Ok(())
}

/// The block's first line (1-based, the fence itself) and its text.
fn find_block(markdown: &str) -> Result<(usize, String), PlanError> {
    let mut lines = markdown.lines().enumerate();
    while let Some((i, l)) = lines.next() {
        let t = l.trim_start();
        let Some(fence) = ["```", "~~~"].into_iter().find(|f| t.starts_with(f)) else {
            continue;
        };
        if t[fence.len()..].trim() != "gastown-plan" {
            continue;
        }
        let mut body = String::new();
        for (_, l) in lines.by_ref() {
            if l.trim() == fence {
                return Ok((i + 1, body));
            }
            body.push_str(l);
            body.push('\n');
        }
        return Err(PlanError::Unclosed { line: i + 1 });
    }
    Err(PlanError::Missing)
}

fn check_path(path: &str) -> Result<(), String> {
    let p = std::path::Path::new(path);
    if path.is_empty() {
        return Err("empty path".into());
    }
    if p.is_absolute() {
        return Err(format!(
            "{path:?} is absolute; paths are relative to the repository"
        ));
    }
    for c in p.components() {
        match c {
            std::path::Component::Normal(s) if s == ".git" => {
                return Err(format!("{path:?} is inside .git"));
            }
            std::path::Component::Normal(_) | std::path::Component::CurDir => {}
            _ => return Err(format!("{path:?} leaves the repository")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_is_read_from_its_fenced_block() {
        let issue = "Please add a greeting.\n\n```gastown-plan\nfiles:\n  - path: docs/hello.md\n    content: |\n      Hello.\ncommands:\n  - test -s docs/hello.md\ncommit: Add a greeting\n```\nThanks!";
        let plan = parse(issue).unwrap();
        assert_eq!(plan.files[0].path, "docs/hello.md");
        assert_eq!(plan.files[0].content, "Hello.\n");
        assert_eq!(plan.commands, vec!["test -s docs/hello.md"]);
        assert_eq!(plan.commit, "Add a greeting");
    }

    #[test]
    fn mistakes_are_named_with_the_line_of_the_block() {
        assert_eq!(parse("no plan here"), Err(PlanError::Missing));
        assert_eq!(
            parse("a\n```gastown-plan\ncommit: x\n"),
            Err(PlanError::Unclosed { line: 2 })
        );
        let e = parse("a\nb\n```gastown-plan\nfiles: []\n```").unwrap_err();
        assert!(
            e.to_string().contains("line 3") && e.to_string().contains("commit"),
            "{e}"
        );
        for bad in ["../escape", "/etc/passwd", ".git/config", "a/../../b"] {
            let issue =
                format!("```gastown-plan\nfiles:\n  - path: {bad}\n    content: x\ncommit: c\n```");
            let e = parse(&issue).unwrap_err().to_string();
            assert!(e.contains("files[0].path"), "{bad}: {e}");
        }
    }
}
