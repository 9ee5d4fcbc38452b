//! A resolved formula and the vars an issue gives → a [`MoleculePlan`]: the vars
//! checked against their declarations, an expansion's template made once per item,
//! every title and description rendered, the steps ordered by their needs, and a hash
//! naming the plan.
//!
//! Var values are data: they are rendered as text into titles and descriptions (a
//! value that looks like a template stays as written), never into a gate, and a
//! template that names an undeclared variable is refused.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::model::{Formula, FormulaKind, Step, StepRole, VarKind, VarSpec};
use super::parse::gate_problems;
use super::{FormulaError, MAX_INSTANCES, MAX_STEPS, graph};

/// What a formula expands into, before anything is stored: the steps rendered, in an
/// order where every step comes after what it needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MoleculePlan {
    pub formula: String,
    pub version: u32,
    /// A convoy's legs become their own task beads; the other types are walked as
    /// one molecule.
    pub kind: FormulaKind,
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
    /// Commands exactly as the formula wrote them: never templated.
    pub gate: Vec<String>,
    pub acceptance: Option<String>,
    /// A convoy leg: independent of the other legs, worked in parallel.
    pub leg: bool,
}

/// The template environment: a variable nobody gave is an error, not an empty
/// string; text is kept to its last newline.
/// Instructions one template may run: far more than a title or a description needs.
pub const TEMPLATE_FUEL: u64 = 100_000;

pub(crate) fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    // A repository's formula is read by the bot: a template that loops for ever (or
    // for a very long while) runs out of fuel instead of holding the worker.
    env.set_fuel(Some(TEMPLATE_FUEL));
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    env
}

/// Expand a resolved `formula` (see [`super::Library::resolve`]) with `given` vars
/// (from an issue: data, never code) into a plan.
pub fn expand(
    formula: &Formula,
    given: &BTreeMap<String, serde_json::Value>,
) -> Result<MoleculePlan, FormulaError> {
    if !formula.references().is_empty() {
        return Err(FormulaError::one(format!(
            "{}: `{}` extends or composes {}: resolve it through a Library first",
            formula.written.locate(""),
            formula.formula,
            formula.references().join(", ")
        )));
    }
    let mut problems = graph::problems(formula);
    let all = formula
        .steps
        .iter()
        .chain(&formula.legs)
        .chain(&formula.synthesis)
        .chain(&formula.template);
    for s in all {
        problems.extend(gate_problems(s));
    }
    FormulaError::check(problems)?;
    let vars = resolve_vars(formula, given)?;
    let renderer = Renderer::new(&vars);
    let mut problems = Vec::new();
    let mut plan = |s: &Step, needs: Vec<String>, leg: bool| PlannedStep {
        id: s.id.clone(),
        title: renderer.render(&s.title, &s.written.locate("/title"), None, &mut problems),
        description: renderer.render(
            &s.description,
            &s.written.locate("/description"),
            None,
            &mut problems,
        ),
        needs,
        role: s.role,
        gate: s.gate.clone(),
        acceptance: s.acceptance.clone(),
        leg,
    };
    let steps: Vec<PlannedStep> = match formula.kind {
        FormulaKind::Workflow => formula
            .steps
            .iter()
            .map(|s| plan(s, s.needs.clone(), false))
            .collect(),
        FormulaKind::Convoy => {
            let mut steps: Vec<PlannedStep> = formula
                .legs
                .iter()
                .map(|s| plan(s, Vec::new(), true))
                .collect();
            if let Some(s) = &formula.synthesis {
                let legs = formula.legs.iter().map(|l| l.id.clone()).collect();
                steps.push(plan(s, legs, false));
            }
            steps
        }
        FormulaKind::Expansion => instantiate(formula, &vars, &renderer, &mut problems)?,
    };
    FormulaError::check(problems)?;
    if steps.len() > MAX_STEPS {
        return Err(FormulaError::one(format!(
            "{}: `{}` would make {} steps: a plan has at most {MAX_STEPS}",
            formula.written.locate(""),
            formula.formula,
            steps.len()
        )));
    }
    let steps = graph::in_order(steps, |s| &s.id, |s| &s.needs);
    let hash = plan_hash(formula, &vars);
    Ok(MoleculePlan {
        formula: formula.formula.clone(),
        version: formula.version,
        kind: formula.kind,
        vars,
        steps,
        hash,
    })
}

/// An expansion's steps: the template once per item of the `foreach` list (capped),
/// placed before the first fixed step that needs them, those needs rewritten to name
/// every instance.
fn instantiate(
    f: &Formula,
    vars: &BTreeMap<String, serde_json::Value>,
    renderer: &Renderer,
    problems: &mut Vec<String>,
) -> Result<Vec<PlannedStep>, FormulaError> {
    let at = f.written.locate("/foreach");
    let (Some(name), Some(template)) = (&f.foreach, &f.template) else {
        return Err(FormulaError::one(format!(
            "{at}: an expansion needs `foreach` and `template`"
        )));
    };
    let items = match vars.get(name) {
        Some(serde_json::Value::Array(items)) => items,
        _ => {
            return Err(FormulaError::one(format!(
                "{at}: var `{name}` is not a list with a value"
            )));
        }
    };
    if items.is_empty() {
        return Err(FormulaError::one(format!(
            "{at}: var `{name}` has no items: an expansion makes a step per item"
        )));
    }
    if items.len() > MAX_INSTANCES {
        return Err(FormulaError::one(format!(
            "{at}: var `{name}` has {} items: an expansion makes at most {MAX_INSTANCES} \
             steps",
            items.len()
        )));
    }
    let ids: Vec<String> = (1..=items.len())
        .map(|i| format!("{}-{i}", template.id))
        .collect();
    let mut instances = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let each = Some((item, i + 1));
        let needs = if f.sequential && i > 0 {
            vec![ids[i - 1].clone()]
        } else {
            template.needs.clone()
        };
        instances.push(PlannedStep {
            id: ids[i].clone(),
            title: renderer.render(
                &template.title,
                &template.written.locate("/title"),
                each,
                problems,
            ),
            description: renderer.render(
                &template.description,
                &template.written.locate("/description"),
                each,
                problems,
            ),
            needs,
            role: template.role,
            gate: template.gate.clone(),
            acceptance: template.acceptance.clone(),
            leg: false,
        });
    }
    let mut steps = Vec::with_capacity(f.steps.len() + instances.len());
    let mut instances = Some(instances);
    for s in &f.steps {
        let after_template = s.needs.iter().any(|n| n == &template.id);
        if after_template && let Some(list) = instances.take() {
            steps.extend(list);
        }
        let mut needs = Vec::new();
        for n in &s.needs {
            if n == &template.id {
                needs.extend(ids.iter().cloned());
            } else {
                needs.push(n.clone());
            }
        }
        steps.push(PlannedStep {
            id: s.id.clone(),
            title: renderer.render(&s.title, &s.written.locate("/title"), None, problems),
            description: renderer.render(
                &s.description,
                &s.written.locate("/description"),
                None,
                problems,
            ),
            needs,
            role: s.role,
            gate: s.gate.clone(),
            acceptance: s.acceptance.clone(),
            leg: false,
        });
    }
    steps.extend(instances.into_iter().flatten());
    Ok(steps)
}

/// Renders titles and descriptions over the vars (and an expansion's item).
struct Renderer {
    env: minijinja::Environment<'static>,
    vars: minijinja::Value,
}

impl Renderer {
    fn new(vars: &BTreeMap<String, serde_json::Value>) -> Renderer {
        Renderer {
            env: environment(),
            vars: minijinja::Value::from(minijinja::value::Serde(vars)),
        }
    }

    /// `template` rendered; on a mistake, the message (starting with `here`) is added
    /// to `problems` and the text is empty.
    fn render(
        &self,
        template: &str,
        here: &str,
        each: Option<(&serde_json::Value, usize)>,
        problems: &mut Vec<String>,
    ) -> String {
        // Without a brace nothing is templated: most descriptions, rendered for free.
        if !template.contains('{') {
            return template.to_string();
        }
        let result = match each {
            None => self.env.render_str(template, self.vars.clone()),
            Some((item, index)) => self.env.render_str(
                template,
                minijinja::context! {
                    item => minijinja::Value::from(minijinja::value::Serde(item)),
                    index => index,
                    ..self.vars.clone()
                },
            ),
        };
        result.unwrap_or_else(|e| {
            let why = match e.kind() {
                minijinja::ErrorKind::UndefinedError => {
                    format!("uses a variable the formula does not declare ({e})")
                }
                _ => e.to_string(),
            };
            problems.push(format!("{here}: {why}"));
            String::new()
        })
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
                problems.push(format!(
                    "{}: var `{name}` is required, and no value was given",
                    spec.written.locate("")
                ));
                continue;
            }
            None => continue,
        };
        if let Err(why) = check_var(spec, &value) {
            problems.push(format!("{}: var `{name}`: {why}", spec.written.locate("")));
            continue;
        }
        vars.insert(name.clone(), value);
    }
    FormulaError::check(problems)?;
    Ok(vars)
}

/// `value` against its declaration's type, enum and pattern.
pub(crate) fn check_var(spec: &VarSpec, value: &serde_json::Value) -> Result<(), String> {
    let type_ok = match spec.kind {
        VarKind::String => value.is_string(),
        VarKind::Int => value.is_i64() || value.is_u64(),
        VarKind::Bool => value.is_boolean(),
        VarKind::List => value.is_array(),
    };
    if !type_ok {
        let article = if spec.kind == VarKind::Int { "an" } else { "a" };
        return Err(format!("{value} is not {article} {}", spec.kind));
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

fn plan_hash(formula: &Formula, vars: &BTreeMap<String, serde_json::Value>) -> String {
    let input = serde_json::json!({ "formula": formula, "vars": vars });
    let digest = Sha256::digest(input.to_string().as_bytes());
    hex::encode(&digest[..12])
}
