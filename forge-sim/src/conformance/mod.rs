//! How the tests hold the simulator's deliveries to what the forges publish. A
//! simulator that drifts from the real forge makes every story that uses it prove less,
//! so two independent references are checked:
//!
//! - GitHub's webhook schema, as octokit publishes it (`schema.json` of the npm package
//!   `@octokit/webhooks-schemas`, one definition per event and action, strict about
//!   unknown keys). The project does not ship a copy: the tests read it from the path in
//!   [`SCHEMA_ENV`], which CI downloads (see `.ci/run`).
//! - Real payloads (the shared fixtures), compared by key paths and JSON types with
//!   [`compare`]: GitLab publishes no schema, and for GitHub the samples catch what a
//!   schema leaves optional.
//!
//! The simulator itself never calls this; it lives here so that the simulator's own
//! tests and the end-to-end stories check deliveries the same way.

pub mod gitlab;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::Delivery;

/// The environment variable naming octokit's webhook `schema.json`.
pub const SCHEMA_ENV: &str = "GT_WEBHOOK_SCHEMA";

/// Why the schema could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    #[error("cannot read the webhook schema at {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the webhook schema at {path} is not JSON: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// The schema names no such event and action: either the simulator sends an event
    /// GitHub does not, or the schema is not octokit's.
    #[error("the webhook schema has no definition `{0}`")]
    NoDefinition(String),
    #[error("the webhook schema's definition `{name}` does not compile: {message}")]
    Compile { name: String, message: String },
}

/// What a check of many deliveries found.
#[derive(Debug, Default)]
pub struct Report {
    /// What the deliveries were checked against: schema definitions (`issues$opened`)
    /// or fixture files (`issue.json`).
    pub checked: BTreeSet<String>,
    /// One line per problem, naming the definition or fixture and the delivery's id.
    pub problems: Vec<String>,
}

/// Octokit's webhook schema, with one validator per definition compiled on first use.
pub struct WebhookSchema {
    root: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl std::fmt::Debug for WebhookSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSchema").finish_non_exhaustive()
    }
}

impl WebhookSchema {
    /// The schema at the path in [`SCHEMA_ENV`], or `None` when the variable is unset
    /// (each caller decides whether that is allowed: CI must fail, a fresh clone may skip).
    pub fn from_env() -> Result<Option<Self>, ConformanceError> {
        match std::env::var_os(SCHEMA_ENV) {
            Some(path) if !path.is_empty() => Self::load(Path::new(&path)).map(Some),
            _ => Ok(None),
        }
    }

    pub fn load(path: &Path) -> Result<Self, ConformanceError> {
        let bytes = std::fs::read(path).map_err(|source| ConformanceError::Read {
            path: path.to_owned(),
            source,
        })?;
        let root = serde_json::from_slice(&bytes).map_err(|source| ConformanceError::Parse {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self::from_value(root))
    }

    pub fn from_value(root: Value) -> Self {
        Self {
            root,
            validators: Mutex::new(HashMap::new()),
        }
    }

    /// The definition a delivery must match: `<event>$<action>`, or `<event>$event` for
    /// events without an action (`push`, `status`), as octokit names them.
    pub fn definition_name(event: &str, payload: &Value) -> String {
        let action = payload
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or("event");
        format!("{event}${action}")
    }

    /// Every way `payload`, sent as `X-GitHub-Event: event`, breaks its definition:
    /// one line each, `<JSON pointer>: <what is wrong>`. Empty when it conforms.
    pub fn violations(
        &self,
        event: &str,
        payload: &Value,
    ) -> Result<Vec<String>, ConformanceError> {
        let validator = self.validator(&Self::definition_name(event, payload))?;
        let mut out = Vec::new();
        for e in validator.iter_errors(payload) {
            describe(&e, &mut out);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Check every GitHub delivery (GitLab ones are skipped) against its definition.
    pub fn check(&self, deliveries: &[Delivery]) -> Result<Report, ConformanceError> {
        let mut report = Report::default();
        for d in deliveries.iter().filter(|d| d.gitlab.is_none()) {
            let name = Self::definition_name(&d.event, &d.payload);
            let found = self.violations(&d.event, &d.payload)?;
            report
                .problems
                .extend(found.into_iter().map(|p| format!("{name} #{}: {p}", d.id)));
            report.checked.insert(name);
        }
        Ok(report)
    }

    fn validator(&self, name: &str) -> Result<Arc<jsonschema::Validator>, ConformanceError> {
        if let Some(v) = self.lock().get(name) {
            return Ok(v.clone());
        }
        if self.root.pointer(&format!("/definitions/{name}")).is_none() {
            return Err(ConformanceError::NoDefinition(name.to_owned()));
        }
        // The definition as the root, with every other definition beside it for its
        // `$ref`s; formats (uri, date-time) are checked too, as GitHub's values meet them.
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "definitions": self.root["definitions"],
            "allOf": [{"$ref": format!("#/definitions/{name}")}],
        });
        let validator = jsonschema::draft7::options()
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|e| ConformanceError::Compile {
                name: name.to_owned(),
                message: e.to_string(),
            })?;
        let validator = Arc::new(validator);
        self.lock().insert(name.to_owned(), validator.clone());
        Ok(validator)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<jsonschema::Validator>>> {
        self.validators
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One line per failure, `<JSON pointer>: <what is wrong>`. A value that matches no
/// branch of a `oneOf`/`anyOf` (the schema's "an object or null") is explained by the
/// closest branch's own failures, not by the whole value printed back.
fn describe(e: &jsonschema::ValidationError<'_>, out: &mut Vec<String>) {
    use jsonschema::error::ValidationErrorKind as Kind;
    let at = match e.instance_path().as_str() {
        "" => "/".to_owned(),
        at => at.to_owned(),
    };
    if let Kind::OneOfNotValid { context } | Kind::AnyOf { context } = e.kind() {
        // A branch that only says "not of this type" at the value itself is not the
        // branch that was meant.
        let meant = context
            .iter()
            .filter(|branch| {
                !(branch.len() == 1
                    && matches!(branch[0].kind(), Kind::Type { .. })
                    && branch[0].instance_path() == e.instance_path())
            })
            .min_by_key(|branch| branch.len());
        if let Some(branch) = meant {
            for inner in branch {
                describe(inner, out);
            }
            return;
        }
    }
    let message = if e.instance().is_object() || e.instance().is_array() {
        e.masked_with("the value").to_string()
    } else {
        e.to_string()
    };
    out.push(format!("{at}: {message}"));
}

/// How a payload's shape differs from a real one, each entry a key path (`$.a.b[0]`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ShapeDiff {
    /// In the real payload, not in ours.
    pub missing: Vec<String>,
    /// In ours, not in the real payload.
    pub extra: Vec<String>,
    /// In both, with another JSON type (`path: <real> in the fixture, <ours> here`).
    pub mistyped: Vec<String>,
}

impl ShapeDiff {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.mistyped.is_empty()
    }
}

/// Compare `ours` with `real` by key paths and JSON types.
///
/// Rules of the walk: a `null` on either side only requires the key (both forges send
/// null for a value that is not there); arrays compare their first elements when both
/// have one; all numbers are one type; and directly under a `changes` object neither
/// side's keys are required of the other, since a forge lists only what changed.
pub fn compare(real: &Value, ours: &Value) -> ShapeDiff {
    let mut diff = ShapeDiff::default();
    walk(real, ours, "$", &mut diff);
    diff
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn walk(real: &Value, ours: &Value, path: &str, out: &mut ShapeDiff) {
    if real.is_null() || ours.is_null() {
        return;
    }
    if kind(real) != kind(ours) {
        out.mistyped.push(format!(
            "{path}: {} in the fixture, {} here",
            kind(real),
            kind(ours)
        ));
        return;
    }
    match (real, ours) {
        (Value::Object(r), Value::Object(o)) => {
            let lists_changes = path.ends_with(".changes");
            for (k, rv) in r {
                let p = format!("{path}.{k}");
                match o.get(k) {
                    Some(ov) => walk(rv, ov, &p, out),
                    None if lists_changes => {}
                    None => out.missing.push(p),
                }
            }
            if !lists_changes {
                out.extra.extend(
                    o.keys()
                        .filter(|k| !r.contains_key(*k))
                        .map(|k| format!("{path}.{k}")),
                );
            }
        }
        (Value::Array(r), Value::Array(o)) => {
            if let (Some(r0), Some(o0)) = (r.first(), o.first()) {
                walk(r0, o0, &format!("{path}[0]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_finds_missing_extra_and_mistyped_keys() {
        let real = json!({"a": {"b": 1, "c": [{"d": "x"}]}, "e": null, "n": 1});
        let ours = json!({"a": {"b": "1", "c": [{"z": 2}]}, "n": 1.5, "f": true});
        assert_eq!(
            compare(&real, &ours),
            ShapeDiff {
                missing: vec!["$.a.c[0].d".into(), "$.e".into()],
                extra: vec!["$.a.c[0].z".into(), "$.f".into()],
                mistyped: vec!["$.a.b: number in the fixture, string here".into()],
            }
        );
    }

    #[test]
    fn compare_lists_changes_as_the_forge_does() {
        let real = json!({"changes": {"title": {"previous": "a"}, "labels": {"current": []}}});
        let ours = json!({"changes": {"labels": {"current": "no", "previous": []}, "body": {}}});
        assert_eq!(
            compare(&real, &ours),
            ShapeDiff {
                missing: vec![],
                extra: vec!["$.changes.labels.previous".into()],
                mistyped: vec![
                    "$.changes.labels.current: array in the fixture, string here".into()
                ],
            }
        );
    }

    fn schema() -> WebhookSchema {
        WebhookSchema::from_value(json!({
            "definitions": {
                "review": {
                    "type": "object",
                    "required": ["state"],
                    "properties": {"state": {"enum": ["approved", "commented"]}},
                    "additionalProperties": false,
                },
                "pull_request_review$submitted": {
                    "type": "object",
                    "properties": {"action": {"const": "submitted"}, "review": {"$ref": "#/definitions/review"}},
                    "additionalProperties": false,
                },
                "push$event": {"type": "object", "required": ["ref"]},
            }
        }))
    }

    #[test]
    fn a_delivery_is_held_to_its_events_and_actions_definition() {
        let s = schema();
        let good = json!({"action": "submitted", "review": {"state": "approved"}});
        assert_eq!(
            s.violations("pull_request_review", &good).unwrap(),
            Vec::<String>::new()
        );
        let rest_shaped =
            json!({"action": "submitted", "review": {"state": "APPROVED", "closed_by": null}});
        let found = s.violations("pull_request_review", &rest_shaped).unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found
                .iter()
                .all(|f| f.starts_with("/review:") || f.starts_with("/review/state:")),
            "{found:?}"
        );
        assert_eq!(s.violations("push", &json!({})).unwrap().len(), 1);
        assert!(matches!(
            s.violations("issues", &json!({"action": "opened"})),
            Err(ConformanceError::NoDefinition(name)) if name == "issues$opened"
        ));
    }
}
