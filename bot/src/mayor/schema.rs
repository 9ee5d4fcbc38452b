//! What the Mayor's tools look like to the model (their JSON declarations) and how
//! their arguments are read: strictly, so a model's mistake is an error it can act on.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::llm::ToolCall;

/// The declarations sent with each request (OpenAI `tools`).
pub fn declarations() -> Vec<Value> {
    let bead = json!({"type": "string", "description": "a bead id (gt-…) or an issue of this repository (#12)"});
    let sling_one = json!({
        "type": "object", "additionalProperties": false,
        "properties": {
            "issue": {"type": "string", "description": "an existing issue of this repository, #12"},
            "title": {"type": "string", "description": "for a new issue: its title"},
            "body": {"type": "string", "description": "for a new issue: what to do"},
            "formula": {"type": "string"},
            "priority": {"type": "integer", "minimum": 0, "maximum": 4},
            "vars": {"type": "object", "additionalProperties": {"type": "string"}}
        }
    });
    let mut task = sling_one.clone();
    task["properties"]["key"] =
        json!({"type": "string", "description": "a name other tasks' depends_on use"});
    task["properties"]["depends_on"] = json!({"type": "array", "items": {"type": "string"}, "description": "keys of tasks of this batch that must land first"});
    task["required"] = json!(["key"]);
    let none = json!({"type": "object", "additionalProperties": false, "properties": {}});
    let one = |name: &str, v: &Value| json!({"type": "object", "additionalProperties": false, "required": [name], "properties": {name: v}});
    let f = |name: &str, description: &str, parameters: Value| json!({"type": "function", "function": {"name": name, "description": description, "parameters": parameters}});
    vec![
        f(
            "gt_list_rigs",
            "The repository this thread is in, as a rig of the town.",
            none.clone(),
        ),
        f(
            "gt_list_beads",
            "The tasks slung in this repository, with their status.",
            json!({"type": "object", "additionalProperties": false, "properties": {"status": {"type": "string", "enum": ["open", "hooked", "in_progress", "blocked", "review", "closed", "failed"]}}}),
        ),
        f(
            "gt_bead_status",
            "Where one task stands.",
            one("bead", &bead),
        ),
        f(
            "gt_sling",
            "Sling one issue to a polecat: an existing one, or a new one opened with title and body.",
            sling_one,
        ),
        f(
            "gt_sling_batch",
            "Open and sling several tasks at once, with dependencies between them, tracked by one convoy. All or nothing.",
            json!({"type": "object", "additionalProperties": false, "required": ["convoy_title", "tasks"], "properties": {
              "convoy_title": {"type": "string"}, "tasks": {"type": "array", "minItems": 1, "maxItems": 20, "items": task}}}),
        ),
        f(
            "gt_list_convoys",
            "The convoys of this repository.",
            none.clone(),
        ),
        f(
            "gt_convoy_status",
            "A convoy's tracked issues and whether it landed.",
            one("convoy", &json!({"type": "string"})),
        ),
        f(
            "gt_retry",
            "Run a failed or stopped task again (or now, if it waits to retry).",
            one("bead", &bead),
        ),
        f(
            "gt_stop",
            "Stop a task's polecat and close it as won't-fix.",
            one("bead", &bead),
        ),
        f(
            "gt_list_escalations",
            "Escalations about this repository's work that nobody acknowledged.",
            none,
        ),
        f(
            "gt_ack_escalation",
            "Acknowledge an escalation.",
            one("escalation", &json!({"type": "string"})),
        ),
        f(
            "gt_mail_send",
            "Send a message to the agents working a task.",
            json!({"type": "object", "additionalProperties": false, "required": ["bead", "subject", "body"], "properties": {
              "bead": bead, "subject": {"type": "string"}, "body": {"type": "string"}}}),
        ),
    ]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Empty {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListBeads {
    pub(super) status: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OneBead {
    pub(super) bead: String,
}

#[derive(Deserialize)]
pub(super) struct BatchTask {
    pub(super) key: String,
    #[serde(flatten)]
    pub(super) sling: SlingOneFields,
    #[serde(default)]
    pub(super) depends_on: Vec<String>,
}

/// One issue to sling: an existing one, or a new one to open. Read after
/// [`check_fields`], as serde's `flatten` (a batch task holds one) cannot refuse
/// unknown fields itself.
#[derive(Deserialize, Clone)]
pub(super) struct SlingOneFields {
    pub(super) issue: Option<String>,
    pub(super) title: Option<String>,
    pub(super) body: Option<String>,
    pub(super) formula: Option<String>,
    pub(super) priority: Option<u8>,
    #[serde(default)]
    pub(super) vars: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Batch {
    pub(super) convoy_title: String,
    pub(super) tasks: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OneConvoy {
    pub(super) convoy: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OneEscalation {
    pub(super) escalation: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Mail {
    pub(super) bead: String,
    pub(super) subject: String,
    pub(super) body: String,
}

pub(super) fn args<T: DeserializeOwned>(call: &ToolCall) -> Result<T, String> {
    let text = if call.arguments.trim().is_empty() {
        "{}"
    } else {
        &call.arguments
    };
    serde_json::from_str(text).map_err(|e| format!("{}: bad arguments: {e}", call.name))
}

pub(super) const SLING_FIELDS: [&str; 6] =
    ["issue", "title", "body", "formula", "priority", "vars"];
pub(super) const TASK_FIELDS: [&str; 8] = [
    "issue",
    "title",
    "body",
    "formula",
    "priority",
    "vars",
    "key",
    "depends_on",
];

/// An object with no field but `known`.
pub(super) fn check_fields(what: &str, v: &Value, known: &[&str]) -> Result<(), String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{what}: give an object"))?;
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!("{what}: unknown field `{k}`")),
        None => Ok(()),
    }
}
