//! Reading one formula file: YAML with the line and column of every node, the JSON
//! schema, then what the file can say about itself (keys of another type, templated
//! gates, vars' own defaults). A file that extends or composes nothing is checked
//! whole here too; one that does is checked whole once resolved
//! ([`super::resolve`]), when the steps it refers to are known.

use crate::config::yaml;

use super::FormulaError;
use super::expand::check_var;
use super::model::{Formula, FormulaKind, Step, Written};
use super::resolve;

const SCHEMA: &str = include_str!("../../../../schemas/formula.schema.json");

/// Read a formula. `file` names it in messages (`formulas/bugfix.yaml`).
pub fn parse(text: &str, file: &str) -> Result<Formula, FormulaError> {
    let doc =
        yaml::parse(text).map_err(|e| FormulaError::one(format!("{file}: not valid YAML: {e}")))?;
    // In the order a person reads the file.
    let mut violations = crate::config::schema_violations(SCHEMA, &doc.value);
    violations.sort_by_key(|v| doc.position_of(&v.pointer));
    let value = doc.value.clone();
    let written = Written::root(file, doc);
    FormulaError::check(
        violations
            .into_iter()
            .map(|v| format!("{}: {}", written.locate(&v.pointer), v.message))
            .collect(),
    )?;
    let mut formula: Formula =
        serde_json::from_value(value).map_err(|e| FormulaError::one(format!("{file}: {e}")))?;
    formula.attach(written);
    FormulaError::check(own_problems(&formula))?;
    if formula.extends.is_none() && formula.compose.is_empty() {
        FormulaError::check(resolve::whole_problems(&formula))?;
    }
    Ok(formula)
}

/// What one file gets wrong whatever it extends or composes.
fn own_problems(f: &Formula) -> Vec<String> {
    let mut problems = Vec::new();
    let at = |rel: &str| f.written.locate(rel);
    // Each type's keys, and only those.
    let misplaced: &[(&str, bool)] = match f.kind {
        FormulaKind::Workflow => &[
            ("legs", !f.legs.is_empty()),
            ("synthesis", f.synthesis.is_some()),
            ("foreach", f.foreach.is_some()),
            ("template", f.template.is_some()),
            ("sequential", f.sequential),
        ],
        FormulaKind::Convoy => &[
            ("steps", !f.steps.is_empty()),
            ("foreach", f.foreach.is_some()),
            ("template", f.template.is_some()),
            ("sequential", f.sequential),
        ],
        FormulaKind::Expansion => &[
            ("legs", !f.legs.is_empty()),
            ("synthesis", f.synthesis.is_some()),
        ],
    };
    for (key, present) in misplaced {
        if *present {
            problems.push(format!(
                "{}: `{key}` is not part of a {} formula ({})",
                at(&format!("/{key}")),
                f.kind,
                keys_of(f.kind)
            ));
        }
    }
    if !f.drop.is_empty() && f.extends.is_none() {
        problems.push(format!(
            "{}: only a formula that `extends` another can drop its steps",
            at("/drop")
        ));
    }
    let steps = f
        .steps
        .iter()
        .chain(&f.legs)
        .chain(&f.synthesis)
        .chain(&f.template);
    for s in steps {
        problems.extend(gate_problems(s));
    }
    for (name, spec) in &f.vars {
        if let Some(default) = &spec.default
            && let Err(why) = check_var(spec, default)
        {
            problems.push(format!(
                "{}: the default of `{name}`: {why}",
                spec.written.locate("/default")
            ));
        }
    }
    problems
}

fn keys_of(kind: FormulaKind) -> &'static str {
    match kind {
        FormulaKind::Workflow => "a workflow has `steps`",
        FormulaKind::Convoy => "a convoy has `legs` and a `synthesis`",
        FormulaKind::Expansion => "an expansion has `foreach`, `template` and fixed `steps`",
    }
}

/// A gate is a command run in the town exactly as written. Vars come from issues, so
/// they are never rendered into a gate; a gate that looks like a template would
/// otherwise run with a literal `{{ … }}` in it, which is never what its author meant,
/// so it is refused.
pub(crate) fn gate_problems(s: &Step) -> Vec<String> {
    s.gate
        .iter()
        .enumerate()
        .filter(|(_, command)| ["{{", "{%", "{#"].iter().any(|t| command.contains(t)))
        .map(|(k, _)| {
            format!(
                "{}: a gate runs as written: vars are never rendered into gate commands, \
                 so `{{{{`, `{{%` and `{{#` are refused (read the value from the \
                 repository or the environment instead)",
                s.written.locate(&format!("/gate/{k}"))
            )
        })
        .collect()
}
