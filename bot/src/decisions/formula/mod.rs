//! Formulas: YAML workflows that expand into molecules (a bead per step, with a
//! dependency graph). Pure: text in, a [`MoleculePlan`] out, every mistake named with
//! its file, line, column and path (`steps[3].needs[0]`).
//!
//! parse ([`parse`]: YAML, the schema, then the graph: duplicate ids, unknown needs,
//! cycles) → expand ([`expand`]: the vars checked against their declarations, then
//! every title and description rendered with minijinja, an unknown variable refused)
//! → a plan whose hash says whether it was expanded before.
//!
//! This first part covers `type: workflow`; convoys, expansions, `extends` and
//! `compose`, and storing a plan as beads come with the rest of the formulas issue.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::yaml;

pub mod cli;
#[cfg(test)]
mod tests;

const SCHEMA: &str = include_str!("../../../../schemas/formula.schema.json");

/// What can go wrong with a formula or its vars: every problem, one per line, each
/// naming where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", problems.join("\n"))]
pub struct FormulaError {
    pub problems: Vec<String>,
}

impl FormulaError {
    fn one(problem: String) -> Self {
        Self {
            problems: vec![problem],
        }
    }
}

/// A formula as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Formula {
    pub formula: String,
    #[serde(default)]
    pub description: String,
    pub version: u32,
    #[serde(rename = "type")]
    pub kind: FormulaKind,
    #[serde(default)]
    pub vars: BTreeMap<String, VarSpec>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormulaKind {
    Workflow,
}

/// A variable the templates may use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VarSpec {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub default: Option<serde_json::Value>,
    #[serde(default, rename = "enum")]
    pub allowed: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: VarKind,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VarKind {
    #[default]
    String,
    Int,
    Bool,
    List,
}

/// Who does a step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepRole {
    #[default]
    Polecat,
    /// A person with write access approves it on the forge.
    Human,
}

/// A step as written: its title and description are templates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub needs: Vec<String>,
    #[serde(default)]
    pub role: StepRole,
    #[serde(default)]
    pub gate: Vec<String>,
    #[serde(default)]
    pub acceptance: Option<String>,
}

/// What a formula expands into, before anything is stored: the steps rendered, in an
/// order where every step comes after what it needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MoleculePlan {
    pub formula: String,
    pub version: u32,
    pub vars: BTreeMap<String, serde_json::Value>,
    pub steps: Vec<PlannedStep>,
    /// Names the plan: the same formula, version and vars always give the same hash,
    /// so a redelivery or a restart never expands an issue twice.
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedStep {
    pub id: String,
    pub title: String,
    pub description: String,
    pub needs: Vec<String>,
    pub role: StepRole,
    pub gate: Vec<String>,
    pub acceptance: Option<String>,
}

/// Read a formula. `file` names it in messages (`formulas/bugfix.yaml`).
pub fn parse(text: &str, file: &str) -> Result<Formula, FormulaError> {
    let doc =
        yaml::parse(text).map_err(|e| FormulaError::one(format!("{file}: not valid YAML: {e}")))?;
    let at = |pointer: &str| match doc.position_of(pointer) {
        Some((line, col)) => format!("{file}:{line}:{col}"),
        None => file.to_string(),
    };
    // In the order a person reads the file.
    let mut violations = crate::config::schema_violations(SCHEMA, &doc.value);
    violations.sort_by_key(|v| doc.position_of(&v.pointer));
    let problems: Vec<String> = violations
        .into_iter()
        .map(|v| format!("{}: {}: {}", at(&v.pointer), path(&v.pointer), v.message))
        .collect();
    if !problems.is_empty() {
        return Err(FormulaError { problems });
    }
    let formula: Formula = serde_json::from_value(doc.value.clone())
        .map_err(|e| FormulaError::one(format!("{file}: {e}")))?;
    let problems = graph_problems(&formula)
        .into_iter()
        .map(|(pointer, message)| format!("{}: {}: {message}", at(&pointer), path(&pointer)))
        .collect::<Vec<_>>();
    if !problems.is_empty() {
        return Err(FormulaError { problems });
    }
    Ok(formula)
}

/// `/steps/3/needs/0` → `steps[3].needs[0]`: the path as a person reads it.
fn path(pointer: &str) -> String {
    if pointer.is_empty() {
        return "(top level)".into();
    }
    let mut out = String::new();
    for part in pointer.trim_start_matches('/').split('/') {
        let part = part.replace("~1", "/").replace("~0", "~");
        if part.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&part);
        }
    }
    out
}

/// Duplicate ids, needs that name no step, and cycles (every step on one named): as
/// (JSON pointer, message).
fn graph_problems(f: &Formula) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, step) in f.steps.iter().enumerate() {
        if let Some(j) = first.insert(&step.id, i) {
            first.insert(&f.steps[j].id, j);
            problems.push((
                format!("/steps/{i}/id"),
                format!("step id `{}` is already used by steps[{j}]", step.id),
            ));
        }
    }
    for (i, step) in f.steps.iter().enumerate() {
        for (k, need) in step.needs.iter().enumerate() {
            if need == &step.id {
                problems.push((
                    format!("/steps/{i}/needs/{k}"),
                    format!("step `{}` needs itself", step.id),
                ));
            } else if !first.contains_key(need.as_str()) {
                problems.push((
                    format!("/steps/{i}/needs/{k}"),
                    format!("`{need}` is not a step of this formula"),
                ));
            }
        }
    }
    if problems.is_empty()
        && let Some(cycle) = find_cycle(f)
    {
        let i = first[cycle[0].as_str()];
        problems.push((
            format!("/steps/{i}/needs"),
            format!(
                "the steps need each other in a cycle: {}",
                cycle.join(" → ")
            ),
        ));
    }
    problems
}

/// A cycle of needs, as step ids from one step back to itself, if there is one.
fn find_cycle(f: &Formula) -> Option<Vec<String>> {
    let needs: HashMap<&str, &[String]> = f
        .steps
        .iter()
        .map(|s| (s.id.as_str(), s.needs.as_slice()))
        .collect();
    // 0 unvisited, 1 on the current path, 2 done.
    let mut state: HashMap<&str, u8> = HashMap::new();
    let mut path: Vec<&str> = Vec::new();
    fn visit<'a>(
        id: &'a str,
        needs: &HashMap<&'a str, &'a [String]>,
        state: &mut HashMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match state.get(id) {
            Some(2) => return None,
            Some(1) => {
                let from = path.iter().position(|p| *p == id).unwrap_or(0);
                let mut cycle: Vec<String> = path[from..].iter().map(|s| s.to_string()).collect();
                cycle.push(id.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(id, 1);
        path.push(id);
        for need in needs.get(id).copied().unwrap_or_default() {
            if let Some(c) = visit(need, needs, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(id, 2);
        None
    }
    f.steps
        .iter()
        .find_map(|s| visit(&s.id, &needs, &mut state, &mut path))
}

/// Expand `formula` with `given` vars (from an issue: data, never code) into a plan.
pub fn expand(
    formula: &Formula,
    given: &BTreeMap<String, serde_json::Value>,
) -> Result<MoleculePlan, FormulaError> {
    let vars = resolve_vars(formula, given)?;
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let mut problems = Vec::new();
    let mut render = |template: &str, where_: String| -> String {
        match env.render_str(template, minijinja::value::Serde(&vars)) {
            Ok(s) => s,
            Err(e) => {
                problems.push(format!(
                    "{}: {where_}: {}",
                    formula.formula,
                    template_error(&e)
                ));
                String::new()
            }
        }
    };
    let mut steps = Vec::with_capacity(formula.steps.len());
    for (i, s) in formula.steps.iter().enumerate() {
        steps.push(PlannedStep {
            id: s.id.clone(),
            title: render(&s.title, format!("steps[{i}].title")),
            description: render(&s.description, format!("steps[{i}].description")),
            needs: s.needs.clone(),
            role: s.role,
            gate: s.gate.clone(),
            acceptance: s.acceptance.clone(),
        });
    }
    if !problems.is_empty() {
        return Err(FormulaError { problems });
    }
    let steps = in_order(steps);
    let hash = plan_hash(formula, &vars);
    Ok(MoleculePlan {
        formula: formula.formula.clone(),
        version: formula.version,
        vars,
        steps,
        hash,
    })
}

fn template_error(e: &minijinja::Error) -> String {
    match e.kind() {
        minijinja::ErrorKind::UndefinedError => {
            format!("uses a variable the formula does not declare ({e})")
        }
        _ => e.to_string(),
    }
}

/// The vars to render with: each declared one given, defaulted, or refused; a given
/// one the formula does not declare is refused too (a typo would otherwise vanish).
fn resolve_vars(
    formula: &Formula,
    given: &BTreeMap<String, serde_json::Value>,
) -> Result<BTreeMap<String, serde_json::Value>, FormulaError> {
    let mut problems = Vec::new();
    let mut vars = BTreeMap::new();
    for name in given.keys().filter(|k| !formula.vars.contains_key(*k)) {
        problems.push(format!(
            "{}: var `{name}` is not one of the formula's ({})",
            formula.formula,
            formula.vars.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    for (name, spec) in &formula.vars {
        let value = match given.get(name).or(spec.default.as_ref()) {
            Some(v) => v.clone(),
            None if spec.required => {
                problems.push(format!("{}: var `{name}` is required", formula.formula));
                continue;
            }
            None => continue,
        };
        if let Err(why) = check_var(spec, &value) {
            problems.push(format!("{}: var `{name}`: {why}", formula.formula));
            continue;
        }
        vars.insert(name.clone(), value);
    }
    if problems.is_empty() {
        Ok(vars)
    } else {
        Err(FormulaError { problems })
    }
}

fn check_var(spec: &VarSpec, value: &serde_json::Value) -> Result<(), String> {
    let type_ok = match spec.kind {
        VarKind::String => value.is_string(),
        VarKind::Int => value.is_i64() || value.is_u64(),
        VarKind::Bool => value.is_boolean(),
        VarKind::List => value.is_array(),
    };
    if !type_ok {
        return Err(format!("{value} is not a {:?}", spec.kind).to_lowercase());
    }
    if let Some(allowed) = &spec.allowed
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(|v| v.to_string()).collect();
        return Err(format!("{value} is not one of {}", list.join(", ")));
    }
    if let (Some(pattern), Some(s)) = (&spec.pattern, value.as_str()) {
        let re = regex::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| format!("its pattern does not compile: {e}"))?;
        if !re.is_match(s) {
            return Err(format!("{value} does not match `{pattern}`"));
        }
    }
    Ok(())
}

/// The steps in an order where each comes after what it needs, keeping the
/// formula's order wherever the needs allow (the graph was checked acyclic).
fn in_order(steps: Vec<PlannedStep>) -> Vec<PlannedStep> {
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut left = steps;
    let mut out = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let i = left
            .iter()
            .position(|s| s.needs.iter().all(|n| done.contains(n)))
            .unwrap_or(0);
        let step = left.remove(i);
        done.insert(step.id.clone());
        out.push(step);
    }
    out
}

fn plan_hash(formula: &Formula, vars: &BTreeMap<String, serde_json::Value>) -> String {
    let input = serde_json::json!({ "formula": formula, "vars": vars });
    let digest = Sha256::digest(input.to_string().as_bytes());
    hex::encode(&digest[..12])
}
