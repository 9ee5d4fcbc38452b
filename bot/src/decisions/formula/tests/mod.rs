//! Formulas read, checked and expanded, each mistake with the words a person sees.
//!
//! Here: one workflow file read and expanded. `builtins`: every built-in formula's
//! expansion. `errors`: each mistake the issue lists, with its message. `library`:
//! layers, `extends`, `compose`, convoys and expansions. `props`: properties over
//! random formulas.

mod builtins;
mod errors;
mod library;
mod props;

use std::collections::BTreeMap;

use serde_json::json;

use super::*;

const POLECAT_WORK: &str = include_str!("../../../../../formulas/polecat-work.yaml");

pub(super) fn vars(pairs: &[(&str, serde_json::Value)]) -> BTreeMap<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// The plan as a person reads it: each step, what it needs, its title (a leg marked,
/// a human step and a gate said).
pub(super) fn tree(plan: &MoleculePlan) -> String {
    let mut out = format!(
        "{}@{} {} ({})\n",
        plan.formula,
        plan.version,
        plan.kind,
        plan.hash.len()
    );
    for s in &plan.steps {
        let needs = if s.needs.is_empty() {
            String::new()
        } else {
            format!(" ← {}", s.needs.join(", "))
        };
        let leg = if s.leg { " [leg]" } else { "" };
        let human = if s.role == StepRole::Human {
            " [human]"
        } else {
            ""
        };
        let gate = if s.gate.is_empty() {
            String::new()
        } else {
            format!(" [gate: {}]", s.gate.join("; "))
        };
        out.push_str(&format!(
            "- {}{leg}{human}{gate}{needs}: {}\n",
            s.id, s.title
        ));
    }
    out
}

#[test]
fn the_built_in_polecat_work_expands_step_by_step() {
    let f = parse(POLECAT_WORK, "formulas/polecat-work.yaml").unwrap();
    let plan = expand(&f, &vars(&[("issue", json!("Fix the flux"))])).unwrap();
    insta::assert_snapshot!(tree(&plan), @r"
        polecat-work@1 workflow (24)
        - understand: Understand: Fix the flux
        - implement ← understand: Implement: Fix the flux
        - test ← implement: Test the change
        - self-review ← test: Review your own diff
        - done ← self-review: Hand the work to the refinery
        ");
    let again = expand(&f, &vars(&[("issue", json!("Fix the flux"))])).unwrap();
    assert_eq!(plan, again, "expansion is deterministic");
    let other = expand(&f, &vars(&[("issue", json!("Other"))])).unwrap();
    assert_ne!(plan.hash, other.hash, "other vars, another plan");
}

#[test]
fn steps_come_after_what_they_need_whatever_order_they_are_written_in() {
    let f = parse(
        "formula: w\nversion: 1\ntype: workflow\nsteps:\n  - {id: c, title: C, needs: [a, b]}\n  - {id: b, title: B, needs: [a]}\n  - {id: a, title: A}\n",
        "w.yaml",
    )
    .unwrap();
    let ids: Vec<_> = expand(&f, &BTreeMap::new())
        .unwrap()
        .steps
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, ["a", "b", "c"]);
}

pub(super) fn problems(text: &str) -> String {
    parse(text, "f.yaml").unwrap_err().to_string()
}

#[test]
fn each_mistake_is_named_with_file_line_column_and_path() {
    let head = "formula: w\nversion: 1\ntype: workflow\nsteps:\n";
    insta::assert_snapshot!(problems(&format!("{head}  - id: a\n    title: A\n    nedes: [b]\n")), @"f.yaml:5:5: steps[0]: Additional properties are not allowed ('nedes' was unexpected)");
    insta::assert_snapshot!(problems(&format!("{head}  - {{id: a, title: A}}\n  - {{id: a, title: B}}\n")), @"f.yaml:6:10: steps[1].id: step id `a` is already used by steps[0]");
    insta::assert_snapshot!(problems(&format!("{head}  - id: a\n    title: A\n    needs: [b]\n")), @"f.yaml:7:13: steps[0].needs[0]: `b` is not a step of this formula");
    insta::assert_snapshot!(problems(&format!("{head}  - {{id: a, title: A, needs: [c]}}\n  - {{id: b, title: B, needs: [a]}}\n  - {{id: c, title: C, needs: [b]}}\n")), @"f.yaml:5:30: steps[0].needs: the steps need each other in a cycle: a → c → b → a");
    insta::assert_snapshot!(problems("formula: W!\nversion: 0\ntype: pipeline\nsteps: []\n"), @r#"
        f.yaml:1:10: formula: value does not match "^[a-z0-9][a-z0-9-]{0,62}$"
        f.yaml:2:10: version: value is less than the minimum of 1
        f.yaml:3:7: type: value is not one of "workflow", "convoy" or "expansion"
        f.yaml:4:8: steps: value has less than 1 item
        "#);
}

#[test]
fn vars_are_checked_against_what_the_formula_declares() {
    let f = parse(
        "formula: w\nversion: 1\ntype: workflow\nvars:\n  issue: {required: true}\n  size: {enum: [small, large], default: small}\n  ticket: {pattern: 'T-[0-9]+'}\n  count: {type: int}\nsteps:\n  - {id: a, title: '{{ issue }} ({{ size }})'}\n",
        "w.yaml",
    )
    .unwrap();
    let err = |v: &[(&str, serde_json::Value)]| expand(&f, &vars(v)).unwrap_err().to_string();
    insta::assert_snapshot!(err(&[]), @"w.yaml:5:10: vars.issue: var `issue` is required, and no value was given");
    insta::assert_snapshot!(err(&[("issue", json!("x")), ("size", json!("huge"))]), @r#"w.yaml:6:9: vars.size: var `size`: "huge" is not one of "small", "large""#);
    insta::assert_snapshot!(err(&[("issue", json!("x")), ("ticket", json!("T-x"))]), @r#"w.yaml:7:11: vars.ticket: var `ticket`: "T-x" does not match `T-[0-9]+`"#);
    insta::assert_snapshot!(err(&[("issue", json!("x")), ("count", json!("3"))]), @r#"w.yaml:8:10: vars.count: var `count`: "3" is not an int"#);
    insta::assert_snapshot!(err(&[("issue", json!("x")), ("colour", json!("red"))]), @"w: var `colour` is not one of the formula's (count, issue, size, ticket)");
    let plan = expand(&f, &vars(&[("issue", json!("Fix"))])).unwrap();
    assert_eq!(plan.steps[0].title, "Fix (small)");
}

#[test]
fn a_template_may_use_only_declared_vars_and_issue_text_stays_data() {
    let text = "formula: w\nversion: 1\ntype: workflow\nvars:\n  issue: {}\nsteps:\n  - {id: a, title: '{{ issue }}', description: 'see {{ secret }}'}\n";
    let e = parse(text, "w.yaml").unwrap_err().to_string();
    assert!(
        e.starts_with("w.yaml:7:48: steps[0].description: uses `secret`, a variable the formula does not declare"),
        "{e}"
    );
    // A formula changed in code after parsing is still refused, when rendering.
    let mut f = parse(&text.replace("see {{ secret }}", "see"), "w.yaml").unwrap();
    f.steps[0].description = "see {{ secret }}".into();
    let e = expand(&f, &vars(&[("issue", json!("x"))]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(
            "w.yaml:7:48: steps[0].description: uses a variable the formula does not declare"
        ),
        "{e}"
    );
    // A var's value is rendered as text, never as a template of its own.
    let f = parse(
        "formula: w\nversion: 1\ntype: workflow\nvars:\n  issue: {}\nsteps:\n  - {id: a, title: '{{ issue }}'}\n",
        "w.yaml",
    )
    .unwrap();
    let plan = expand(&f, &vars(&[("issue", json!("{{ 7 * 7 }}"))])).unwrap();
    assert_eq!(plan.steps[0].title, "{{ 7 * 7 }}");
}
