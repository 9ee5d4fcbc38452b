//! `extends` and `compose` flattened into one formula, then the whole checked.
//!
//! - `extends: base`: the base (itself resolved first) gives its vars and steps; a
//!   step of the same id replaces the inherited one where it stood, new steps come
//!   after, `drop: [id…]` leaves inherited ones out. A step left needing a dropped one
//!   is an error naming both.
//! - `compose: [{expand: {target: t, with: inner}}]`: step `t` is replaced by the
//!   steps of workflow `inner`, ids prefixed `t.`; inner steps that needed nothing need
//!   what `t` needed, and steps that needed `t` need the inner steps nothing inside
//!   needs (its leaves). The vars are merged; one declared differently by both is an
//!   error.
//!
//! A formula that extends or composes itself, directly or not, is an error naming
//! the chain (`a → b → a`).

use std::collections::{BTreeSet, HashMap, HashSet};

use super::expand::environment;
use super::library::{Library, ResolveError};
use super::model::{Compose, Formula, FormulaKind, Step, split_reference};
use super::{FormulaError, MAX_STEPS, graph};

/// What one resolution has worked out: the entries being resolved around the current
/// one (to name a loop), and those already resolved (a formula composed many times,
/// through many paths, is resolved once, so the work stays linear in the files).
#[derive(Default)]
pub(crate) struct Walk {
    chain: Vec<usize>,
    done: HashMap<usize, Formula>,
}

impl Library {
    /// Entry `index` with its `extends` and `compose` resolved.
    pub(crate) fn flatten(&self, index: usize, walk: &mut Walk) -> Result<Formula, ResolveError> {
        if let Some(f) = walk.done.get(&index) {
            return Ok(f.clone());
        }
        walk.chain.push(index);
        let entry = &self.entries[index];
        let mut f = entry.formula.clone();
        if let Some(reference) = f.extends.clone() {
            let parent = self.follow(index, &reference, &f.written.locate("/extends"), walk)?;
            f = inherit(parent, f)?;
        }
        for c in std::mem::take(&mut f.compose) {
            let at = c.written.locate("/expand/with");
            let inner = self.follow(index, &c.expand.formula, &at, walk)?;
            f = splice(f, &c, inner)?;
        }
        walk.chain.pop();
        FormulaError::check(whole_problems(&f))?;
        walk.done.insert(index, f.clone());
        Ok(f)
    }

    /// The formula entry `from` refers to as `reference`, resolved, unless that closes
    /// a loop.
    fn follow(
        &self,
        from: usize,
        reference: &str,
        at: &str,
        walk: &mut Walk,
    ) -> Result<Formula, ResolveError> {
        let entry = &self.entries[from];
        let below = (split_reference(reference).0 == entry.formula.formula).then_some(entry.source);
        let found = self.lookup(reference, below, at)?;
        if walk.chain.contains(&found) {
            let mut names: Vec<&str> = walk
                .chain
                .iter()
                .map(|&i| self.entries[i].formula.formula.as_str())
                .collect();
            let from = walk.chain.iter().position(|&i| i == found).unwrap_or(0);
            names.drain(..from);
            names.push(&self.entries[found].formula.formula);
            return Err(FormulaError::one(format!(
                "{at}: the formulas extend or compose each other in a loop: {}",
                names.join(" → ")
            ))
            .into());
        }
        self.flatten(found, walk)
    }
}

/// `child` on top of `parent` (already resolved): see the module's documentation.
pub fn inherit(parent: Formula, child: Formula) -> Result<Formula, FormulaError> {
    let at = |rel: &str| child.written.locate(rel);
    if parent.kind != child.kind {
        return Err(FormulaError::one(format!(
            "{}: `{}` is a {} and cannot extend `{}`, a {}",
            at("/extends"),
            child.formula,
            child.kind,
            parent.formula,
            parent.kind
        )));
    }
    let mut problems = Vec::new();
    let inherited: Vec<&str> = parent
        .steps
        .iter()
        .chain(&parent.legs)
        .chain(&parent.synthesis)
        .map(|s| s.id.as_str())
        .collect();
    let own: HashSet<&str> = child
        .steps
        .iter()
        .chain(&child.legs)
        .chain(&child.synthesis)
        .map(|s| s.id.as_str())
        .collect();
    for (k, id) in child.drop.iter().enumerate() {
        if parent.template.as_ref().is_some_and(|t| &t.id == id) {
            problems.push(format!(
                "{}: `{id}` is the template of `{}`: an expansion keeps its template \
                 (override it instead)",
                at(&format!("/drop/{k}")),
                parent.formula
            ));
        } else if !inherited.contains(&id.as_str()) {
            problems.push(format!(
                "{}: `{id}` is not a step of `{}` (it has: {})",
                at(&format!("/drop/{k}")),
                parent.formula,
                inherited.join(", ")
            ));
        } else if own.contains(id.as_str()) {
            problems.push(format!(
                "{}: `{id}` is both dropped and written again here: keep one",
                at(&format!("/drop/{k}"))
            ));
        }
    }
    FormulaError::check(problems)?;
    let dropped = |id: &str| child.drop.iter().any(|d| d == id);
    let steps = merge(parent.steps, &child.steps, &dropped);
    let legs = merge(parent.legs, &child.legs, &dropped);
    let synthesis = child
        .synthesis
        .clone()
        .or(parent.synthesis.filter(|s| !dropped(&s.id)));
    let (template, sequential) = match &child.template {
        Some(t) => (Some(t.clone()), child.sequential),
        None => (parent.template, parent.sequential),
    };
    let mut vars = parent.vars;
    vars.extend(child.vars.clone());
    let merged = Formula {
        formula: child.formula.clone(),
        description: if child.description.is_empty() {
            parent.description
        } else {
            child.description.clone()
        },
        version: child.version,
        kind: child.kind,
        extends: None,
        drop: Vec::new(),
        vars,
        steps,
        legs,
        synthesis,
        foreach: child.foreach.clone().or(parent.foreach),
        sequential,
        template,
        compose: child.compose.clone(),
        written: child.written.clone(),
    };
    let mut problems = Vec::new();
    for s in merged.steps.iter().chain(&merged.template) {
        for (k, need) in s.needs.iter().enumerate() {
            if let Some(d) = child.drop.iter().position(|d| d == need) {
                problems.push(format!(
                    "{}: `{need}` is dropped by `{}` ({}), and `{}` still needs it: drop \
                     or override `{}` too",
                    s.written.locate(&format!("/needs/{k}")),
                    child.formula,
                    at(&format!("/drop/{d}")),
                    s.id,
                    s.id
                ));
            }
        }
    }
    FormulaError::check(problems)?;
    Ok(merged)
}

/// The inherited steps in their order, each replaced by the child's of the same id
/// and left out when dropped, then the child's new ones.
fn merge(parent: Vec<Step>, child: &[Step], dropped: &dyn Fn(&str) -> bool) -> Vec<Step> {
    let inherited: HashSet<String> = parent.iter().map(|s| s.id.clone()).collect();
    let mut out: Vec<Step> = parent
        .into_iter()
        .filter(|s| !dropped(&s.id))
        .map(|s| match child.iter().find(|c| c.id == s.id) {
            Some(c) => c.clone(),
            None => s,
        })
        .collect();
    out.extend(child.iter().filter(|c| !inherited.contains(&c.id)).cloned());
    out
}

/// Step `c.expand.target` of `outer` replaced by the steps of `inner` (resolved): see
/// the module's documentation.
pub fn splice(mut outer: Formula, c: &Compose, inner: Formula) -> Result<Formula, FormulaError> {
    let target = c.expand.target.as_str();
    if inner.kind != FormulaKind::Workflow {
        return Err(FormulaError::one(format!(
            "{}: `{}` is a {}: only a workflow's steps can replace a step",
            c.written.locate("/expand/with"),
            inner.formula,
            inner.kind
        )));
    }
    let Some(pos) = outer.steps.iter().position(|s| s.id == target) else {
        let what = if outer
            .legs
            .iter()
            .chain(&outer.synthesis)
            .any(|s| s.id == target)
        {
            format!("`{target}` is part of a convoy: compose replaces one of `steps`")
        } else if outer.template.as_ref().is_some_and(|t| t.id == target) {
            format!("`{target}` is the template: compose replaces one of `steps`")
        } else {
            let ids: Vec<&str> = outer.steps.iter().map(|s| s.id.as_str()).collect();
            format!(
                "`{target}` is not a step of `{}` (its steps: {})",
                outer.formula,
                ids.join(", ")
            )
        };
        return Err(FormulaError::one(format!(
            "{}: {what}",
            c.written.locate("/expand/target")
        )));
    };
    let mut problems = Vec::new();
    for (name, spec) in &inner.vars {
        match outer.vars.get(name) {
            Some(mine) if !mine.same_as(spec) => problems.push(format!(
                "{}: var `{name}` is declared by `{}` ({}) and by `{}` ({}), differently",
                c.written.locate("/expand/with"),
                outer.formula,
                mine.written.locate(""),
                inner.formula,
                spec.written.locate("")
            )),
            Some(_) => {}
            None => {
                outer.vars.insert(name.clone(), spec.clone());
            }
        }
    }
    FormulaError::check(problems)?;
    let replaced = outer.steps.remove(pos);
    let prefixed = |id: &str| format!("{target}.{id}");
    let needed: HashSet<&str> = inner
        .steps
        .iter()
        .flat_map(|s| s.needs.iter().map(String::as_str))
        .collect();
    let leaves: Vec<String> = inner
        .steps
        .iter()
        .filter(|s| !needed.contains(s.id.as_str()))
        .map(|s| prefixed(&s.id))
        .collect();
    let spliced = inner.steps.iter().map(|s| Step {
        id: prefixed(&s.id),
        needs: if s.needs.is_empty() {
            replaced.needs.clone()
        } else {
            s.needs.iter().map(|n| prefixed(n)).collect()
        },
        ..s.clone()
    });
    outer.steps.splice(pos..pos, spliced);
    for s in outer.steps.iter_mut().chain(&mut outer.template) {
        if s.needs.iter().any(|n| n == target) {
            let mut needs = Vec::new();
            for n in s.needs.drain(..) {
                let with = if n == target { leaves.clone() } else { vec![n] };
                for n in with {
                    if !needs.contains(&n) {
                        needs.push(n);
                    }
                }
            }
            s.needs = needs;
        }
    }
    Ok(outer)
}

/// What only the whole formula can say, once nothing is left to resolve: the graph,
/// what each type must have, the step cap, and templates that use a variable nobody
/// declares (found here, before any issue gives vars).
pub fn whole_problems(f: &Formula) -> Vec<String> {
    let at = |rel: &str| f.written.locate(rel);
    let mut problems = graph::problems(f);
    match f.kind {
        FormulaKind::Workflow if f.steps.is_empty() => {
            problems.push(format!(
                "{}: a workflow needs at least one step",
                at("/steps")
            ));
        }
        FormulaKind::Convoy if f.legs.is_empty() => {
            problems.push(format!("{}: a convoy needs at least one leg", at("/legs")));
        }
        FormulaKind::Expansion => problems.extend(expansion_problems(f)),
        _ => {}
    }
    let count = f.steps.len() + f.legs.len() + usize::from(f.synthesis.is_some());
    if count > MAX_STEPS {
        problems.push(format!(
            "{}: `{}` has {count} steps: a formula makes at most {MAX_STEPS}",
            at(""),
            f.formula
        ));
    }
    let env = environment();
    let globals: HashSet<&str> = env.globals().map(|(name, _)| name).collect();
    let declared: BTreeSet<&str> = f.vars.keys().map(String::as_str).collect();
    let templated = f
        .steps
        .iter()
        .chain(&f.legs)
        .chain(&f.synthesis)
        .map(|s| (s, false))
        .chain(f.template.iter().map(|s| (s, true)));
    for (s, per_item) in templated {
        for (field, text) in [("title", &s.title), ("description", &s.description)] {
            if !text.contains('{') {
                continue;
            }
            let here = s.written.locate(&format!("/{field}"));
            let template = match env.template_from_str(text) {
                Ok(t) => t,
                Err(e) => {
                    problems.push(format!("{here}: not a valid template: {e}"));
                    continue;
                }
            };
            let mut unknown: Vec<String> = template
                .undeclared_variables(false)
                .into_iter()
                .filter(|v| {
                    !declared.contains(v.as_str())
                        && !globals.contains(v.as_str())
                        && !(per_item && (v == "item" || v == "index"))
                })
                .collect();
            unknown.sort();
            for v in unknown {
                problems.push(format!(
                    "{here}: uses `{v}`, a variable the formula does not declare (vars: {})",
                    if declared.is_empty() {
                        "none".to_string()
                    } else {
                        declared.iter().copied().collect::<Vec<_>>().join(", ")
                    }
                ));
            }
        }
    }
    problems
}

fn expansion_problems(f: &Formula) -> Vec<String> {
    let at = |rel: &str| f.written.locate(rel);
    let mut problems = Vec::new();
    if f.template.is_none() {
        problems.push(format!("{}: an expansion needs a `template`", at("")));
    }
    match &f.foreach {
        None => problems.push(format!(
            "{}: an expansion needs `foreach`: the list var its template is made for",
            at("")
        )),
        Some(name) => match f.vars.get(name) {
            None => problems.push(format!(
                "{}: `{name}` is not one of the formula's vars",
                at("/foreach")
            )),
            Some(spec) if spec.kind != super::VarKind::List => problems.push(format!(
                "{}: `{name}` is a {}, and an expansion needs a list",
                at("/foreach"),
                spec.kind
            )),
            Some(_) => {}
        },
    }
    for reserved in ["item", "index"] {
        if let Some(spec) = f.vars.get(reserved) {
            problems.push(format!(
                "{}: `{reserved}` is what the template calls each item and its position; \
                 name the var otherwise",
                spec.written.locate("")
            ));
        }
    }
    problems
}
