//! Which formula a sling uses, and with what vars: pure over the issue event.
//!
//! First match wins: a `gt:formula:<name>` label (the one just added, else the first
//! on the issue), then `formula:` in a ```` ```gastown ```` block of the issue's body,
//! then the repository's `default_formula`, then `polecat-work`. The block's `vars:`
//! apply whichever formula is picked. The body is the issue author's text: what it
//! says is data for the formula's vars, checked by the formula's declarations.

use std::collections::BTreeMap;

use webhooks::{IssueAction, IssueEvent};

/// Labels that sling an issue with a formula: `gt:formula:bugfix`.
pub const FORMULA_LABEL: &str = "gt:formula:";

/// The formula used when neither the issue nor the repository names one.
pub const DEFAULT_FORMULA: &str = "polecat-work";

/// The language tag of the issue body's block that names a formula and its vars.
pub const BLOCK: &str = "gastown";

#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    /// `name` or `name@version`.
    pub reference: String,
    pub vars: BTreeMap<String, serde_json::Value>,
    pub from: PickedBy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickedBy {
    Label,
    Block,
    Repository,
    Default,
}

/// Whether `label` slings with a formula.
pub fn is_formula_label(label: &str) -> bool {
    label
        .strip_prefix(FORMULA_LABEL)
        .is_some_and(|name| !name.is_empty())
}

/// A var given as `key=value` on a `/gt sling` line: an integer or a boolean when it
/// reads as one (the formula's declarations check the type), else a string.
pub fn var_value(v: &str) -> serde_json::Value {
    if let Ok(n) = v.parse::<i64>() {
        return n.into();
    }
    match v {
        "true" => true.into(),
        "false" => false.into(),
        _ => v.into(),
    }
}

/// The formula and vars for a sling of `event`. `Err` names what is wrong with the
/// issue's ```` ```gastown ```` block.
pub fn pick(event: &IssueEvent, default_formula: Option<&str>) -> Result<Pick, String> {
    let block = block(event.body.as_deref().unwrap_or_default())?;
    let vars = block.as_ref().map(|b| b.vars.clone()).unwrap_or_default();
    let added = match &event.action {
        IssueAction::Labeled { label } if is_formula_label(label) => Some(label.as_str()),
        _ => None,
    };
    let label = added.or_else(|| {
        event
            .labels
            .iter()
            .map(String::as_str)
            .find(|l| is_formula_label(l))
    });
    let (reference, from) = if let Some(label) = label {
        (label[FORMULA_LABEL.len()..].to_string(), PickedBy::Label)
    } else if let Some(name) = block.and_then(|b| b.formula) {
        (name, PickedBy::Block)
    } else if let Some(name) = default_formula {
        (name.to_string(), PickedBy::Repository)
    } else {
        (DEFAULT_FORMULA.to_string(), PickedBy::Default)
    };
    Ok(Pick {
        reference,
        vars,
        from,
    })
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Block {
    #[serde(default)]
    formula: Option<String>,
    #[serde(default)]
    vars: BTreeMap<String, serde_json::Value>,
}

/// The first ```` ```gastown ```` block of `body`, read as YAML.
fn block(body: &str) -> Result<Option<Block>, String> {
    let mut lines = body.lines().enumerate();
    let (start, fence) = loop {
        let Some((n, line)) = lines.next() else {
            return Ok(None);
        };
        let t = line.trim_start();
        let fence: String = t.chars().take_while(|c| *c == '`' || *c == '~').collect();
        if fence.len() >= 3 && t[fence.len()..].trim() == BLOCK {
            break (n + 1, fence);
        }
    };
    let mut text = String::new();
    for (_, line) in lines.by_ref() {
        let t = line.trim();
        if t.starts_with(&fence) && t.chars().all(|c| c == fence.as_bytes()[0] as char) {
            break;
        }
        text.push_str(line);
        text.push('\n');
    }
    if text.trim().is_empty() {
        return Ok(None);
    }
    let value = crate::config::yaml::parse(&text)
        .map_err(|e| format!("the ```{BLOCK} block (from line {start}): {e}"))?
        .value;
    serde_json::from_value(value).map_err(|e| {
        format!(
            "the ```{BLOCK} block (from line {start}): {e}; it takes `formula: <name>` and `vars:`"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decisions::sling::test_issue as issue;
    use serde_json::json;

    #[test]
    fn the_label_just_added_wins_and_the_block_gives_the_vars() {
        let body = "It breaks.\n\n```gastown\nformula: docs\nvars:\n  area: parser\n```\n";
        let e = issue(
            IssueAction::Labeled {
                label: "gt:formula:bugfix".into(),
            },
            &["gt:formula:feature", "gt:formula:bugfix"],
            body,
        );
        let p = pick(&e, Some("refactor")).unwrap();
        assert_eq!(p.reference, "bugfix");
        assert_eq!(p.from, PickedBy::Label);
        assert_eq!(p.vars["area"], json!("parser"));
    }

    #[test]
    fn then_the_block_then_the_repository_then_polecat_work() {
        let block = "```gastown\nformula: release@2\n```";
        let e = issue(IssueAction::Opened, &["gt:sling"], block);
        assert_eq!(pick(&e, Some("x")).unwrap().reference, "release@2");
        let e = issue(IssueAction::Opened, &["gt:sling"], "no block");
        assert_eq!(pick(&e, Some("docs")).unwrap().from, PickedBy::Repository);
        assert_eq!(pick(&e, None).unwrap().reference, DEFAULT_FORMULA);
    }

    #[test]
    fn a_broken_block_is_named_with_its_line() {
        let e = issue(
            IssueAction::Opened,
            &[],
            "Intro\n\n```gastown\nformula: x\ncolour: blue\n```",
        );
        let err = pick(&e, None).unwrap_err();
        assert!(
            err.contains("from line 3") && err.contains("colour"),
            "{err}"
        );
    }

    #[test]
    fn other_code_blocks_are_not_read() {
        let e = issue(IssueAction::Opened, &[], "```yaml\nformula: x\n```");
        assert_eq!(pick(&e, None).unwrap().from, PickedBy::Default);
    }
}
