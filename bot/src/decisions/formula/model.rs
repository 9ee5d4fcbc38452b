//! A formula as written, before `extends` and `compose` are resolved: the shape the
//! schema (`schemas/formula.schema.json`) checks. One struct serves the three types;
//! the fields a type does not use stay empty (parse refuses them with a message).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::LocatedDoc;

/// A formula. After [`crate::decisions::formula::Library::resolve`] it has no
/// `extends`, `drop` or `compose` left and is ready for
/// [`crate::decisions::formula::expand`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Formula {
    pub formula: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub version: u32,
    #[serde(rename = "type")]
    pub kind: FormulaKind,
    /// Another formula (`name` or `name@version`) whose vars and steps this one starts
    /// from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// Inherited steps (or legs) left out, by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, VarSpec>,
    /// `workflow`: the steps. `expansion`: the fixed steps around the template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// `convoy`: independent steps worked in parallel (no `needs`, no `role`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub legs: Vec<Step>,
    /// `convoy`: the step that needs every leg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthesis: Option<Step>,
    /// `expansion`: the list var the template is instantiated over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreach: Option<String>,
    /// `expansion`: each instance needs the one before it (else they are parallel).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sequential: bool,
    /// `expansion`: the step made once per item, as `<id>-1`, `<id>-2`…; its title and
    /// description see the item as `item` and its 1-based position as `index`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Step>,
    /// Steps replaced by another formula's steps, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compose: Vec<Compose>,
    #[serde(skip)]
    pub written: Written,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormulaKind {
    /// Steps with needs.
    Workflow,
    /// Legs worked in parallel, then an optional synthesis.
    Convoy,
    /// A step template instantiated once per item of a list var.
    Expansion,
}

impl fmt::Display for FormulaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FormulaKind::Workflow => "workflow",
            FormulaKind::Convoy => "convoy",
            FormulaKind::Expansion => "expansion",
        })
    }
}

/// A variable the templates may use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VarSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
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
    #[serde(skip)]
    pub written: Written,
}

impl VarSpec {
    /// The same declaration, whatever the words describing it: two composed formulas
    /// may both declare `issue` as long as they mean the same thing by it.
    pub fn same_as(&self, other: &VarSpec) -> bool {
        self.required == other.required
            && self.default == other.default
            && self.allowed == other.allowed
            && self.pattern == other.pattern
            && self.kind == other.kind
    }
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

impl fmt::Display for VarKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VarKind::String => "string",
            VarKind::Int => "int",
            VarKind::Bool => "bool",
            VarKind::List => "list",
        })
    }
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

/// A step (or a leg, a synthesis, a template) as written: its title and description
/// are templates; its gate is never one.
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
    #[serde(skip)]
    pub written: Written,
}

/// One `compose` entry: `{expand: {target: <step id>, with: <formula>}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compose {
    pub expand: Splice,
    #[serde(skip)]
    pub written: Written,
}

/// Step `target` replaced by the steps of formula `with`, their ids prefixed
/// `<target>.`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Splice {
    pub target: String,
    #[serde(rename = "with")]
    pub formula: String,
}

/// Where a part of a formula was written: its file and its JSON pointer there, so a
/// mistake found later (after `extends` or `compose` brought several files together,
/// or when vars are given) is still reported as `file:line:col: path`. A formula built
/// in code has an empty one and is reported by path alone.
///
/// Where something was written is not part of what it is: two `Written` always
/// compare equal, and they are never serialized (nor hashed into a plan).
#[derive(Clone, Default)]
pub struct Written {
    file: Arc<str>,
    pointer: String,
    positions: Option<Arc<LocatedDoc>>,
}

impl Written {
    /// The top of `file`, whose positions are in `doc` (its value is not kept).
    pub fn root(file: &str, mut doc: LocatedDoc) -> Written {
        doc.value = serde_json::Value::Null;
        Written {
            file: file.into(),
            pointer: String::new(),
            positions: Some(Arc::new(doc)),
        }
    }

    /// A part of this one, `rel` being a JSON pointer from here (`/steps/3`).
    pub fn at(&self, rel: &str) -> Written {
        Written {
            file: self.file.clone(),
            pointer: format!("{}{rel}", self.pointer),
            positions: self.positions.clone(),
        }
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    /// Its path (`steps[3]`), without the file.
    pub fn path(&self) -> String {
        path(&self.pointer)
    }

    /// `file:line:col: path` of `rel` below this one (the path alone when there is no
    /// file), the start of every message about it.
    pub fn locate(&self, rel: &str) -> String {
        let pointer = format!("{}{rel}", self.pointer);
        let path = path(&pointer);
        let position = self
            .positions
            .as_ref()
            .and_then(|d| d.position_of(&pointer));
        match position {
            Some((line, col)) => format!("{}:{line}:{col}: {path}", self.file),
            None if self.file.is_empty() => path,
            None => format!("{}: {path}", self.file),
        }
    }
}

impl PartialEq for Written {
    fn eq(&self, _: &Written) -> bool {
        true
    }
}

impl fmt::Debug for Written {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.file, self.pointer)
    }
}

/// `/steps/3/needs/0` → `steps[3].needs[0]`: the path as a person reads it.
pub fn path(pointer: &str) -> String {
    if pointer.is_empty() {
        return "(top level)".into();
    }
    let mut out = String::new();
    for part in pointer.trim_start_matches('/').split('/') {
        let part = part.replace("~1", "/").replace("~0", "~");
        if !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()) {
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

impl Formula {
    /// The names this formula extends or composes (without any `@version`), in the
    /// order written: what must be in the library before it resolves.
    pub fn references(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let written = self
            .extends
            .iter()
            .chain(self.compose.iter().map(|c| &c.expand.formula));
        for reference in written {
            let name = split_reference(reference).0.to_string();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// Every id a need may name before expansion: the steps, the legs, the synthesis
    /// and the template (which stands for all of its instances).
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.steps
            .iter()
            .chain(&self.legs)
            .chain(&self.synthesis)
            .chain(&self.template)
            .map(|s| s.id.as_str())
    }

    /// Record where each part was written, once the formula is read from `written`.
    pub(crate) fn attach(&mut self, written: Written) {
        for (i, s) in self.steps.iter_mut().enumerate() {
            s.written = written.at(&format!("/steps/{i}"));
        }
        for (i, s) in self.legs.iter_mut().enumerate() {
            s.written = written.at(&format!("/legs/{i}"));
        }
        if let Some(s) = &mut self.synthesis {
            s.written = written.at("/synthesis");
        }
        if let Some(s) = &mut self.template {
            s.written = written.at("/template");
        }
        for (name, v) in &mut self.vars {
            v.written = written.at(&format!("/vars/{}", name.replace('~', "~0")));
        }
        for (i, c) in self.compose.iter_mut().enumerate() {
            c.written = written.at(&format!("/compose/{i}"));
        }
        self.written = written;
    }
}

/// `name@3` → (`name`, Some("3")); `name` → (`name`, None).
pub fn split_reference(reference: &str) -> (&str, Option<&str>) {
    match reference.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (reference, None),
    }
}
