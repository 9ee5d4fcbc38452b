//! A repository's own settings, `.gastown.yaml` on its target branch: how the
//! refinery lands work there. Checked against `schemas/repo.schema.json`; a mistake is
//! reported with the file, line and field, because it is shown on the forge to the
//! people who wrote the file and nothing merges until they fix it.

use serde::Deserialize;
use serde_json::Value;

use crate::config::yaml;

/// Where the file lives in the repository.
pub const FILE: &str = ".gastown.yaml";

const SCHEMA: &str = include_str!("../../../schemas/repo.schema.json");

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeStrategy {
    #[default]
    Pr,
    Direct,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeMethod {
    #[default]
    Merge,
    Squash,
    Rebase,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    pub name: String,
    pub run: String,
    #[serde(default = "default_gate_timeout")]
    pub timeout_secs: u64,
}

fn default_gate_timeout() -> u64 {
    // Long enough for a real test suite, short enough that a hung gate is noticed.
    30 * 60
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoLabels {
    pub sling: Option<String>,
}

/// `.gastown.yaml`. `None` fields fall back to the town's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    #[serde(default)]
    pub merge_strategy: Option<MergeStrategy>,
    #[serde(default)]
    pub target_branch: Option<String>,
    #[serde(default)]
    pub quality_gates: Vec<Gate>,
    #[serde(default)]
    pub auto_merge: bool,
    #[serde(default)]
    pub merge_method: MergeMethod,
    #[serde(default = "default_rework")]
    pub max_rework_attempts: u32,
    #[serde(default)]
    pub polecat_cap: Option<usize>,
    #[serde(default)]
    pub labels: RepoLabels,
    /// Protected files (CI configuration, gastown's settings) agents may change here,
    /// as git glob pathspecs. Work that changes one still lands only through a pull
    /// request a person approves.
    #[serde(default)]
    pub allow_protected_changes: Vec<String>,
    /// The formula a sling uses when the issue names none (else `polecat-work`).
    #[serde(default)]
    pub default_formula: Option<String>,
    /// Forge logins named by high and critical escalations (else whoever slung it).
    #[serde(default)]
    pub owners: Vec<String>,
    /// Delete the town's `gt/` branch once its work merged.
    #[serde(default = "yes")]
    pub delete_merged_branches: bool,
}

fn yes() -> bool {
    true
}

fn default_rework() -> u32 {
    3
}

impl Default for RepoConfig {
    /// A repository without `.gastown.yaml`: pull requests, no gates, people merge.
    fn default() -> Self {
        Self {
            merge_strategy: None,
            target_branch: None,
            quality_gates: Vec::new(),
            auto_merge: false,
            merge_method: MergeMethod::default(),
            max_rework_attempts: default_rework(),
            polecat_cap: None,
            labels: RepoLabels::default(),
            allow_protected_changes: Vec::new(),
            default_formula: None,
            owners: Vec::new(),
            delete_merged_branches: true,
        }
    }
}

/// Every problem with a `.gastown.yaml`, one per line, each naming where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", problems.join("\n"))]
pub struct RepoConfigError {
    pub problems: Vec<String>,
}

/// Read `.gastown.yaml` text. `at` names it in messages, e.g. `.gastown.yaml@main`.
pub fn parse(text: &str, at: &str) -> Result<RepoConfig, RepoConfigError> {
    let one = |p: String| RepoConfigError { problems: vec![p] };
    let doc = yaml::parse(text).map_err(|e| one(format!("{at}: not valid YAML: {e}")))?;
    let value = match doc.value {
        Value::Null => Value::Object(Default::default()),
        ref v => v.clone(),
    };
    if !value.is_object() {
        return Err(one(format!(
            "{at}: the top level must be a mapping of settings"
        )));
    }
    let problems: Vec<String> = crate::config::schema_violations(SCHEMA, &value)
        .into_iter()
        .map(|v| {
            let line = doc
                .line_of(&v.pointer)
                .map(|l| format!(":{l}"))
                .unwrap_or_default();
            format!("{at}{line}: field `{}`: {}", v.field, v.message)
        })
        .collect();
    if !problems.is_empty() {
        return Err(RepoConfigError { problems });
    }
    serde_json::from_value(value).map_err(|e| one(format!("{at}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_is_read() {
        let c = parse(
            "merge_strategy: direct\ntarget_branch: trunk\nquality_gates:\n  - name: tests\n    run: cargo test\n    timeout_secs: 600\n  - name: lint\n    run: cargo clippy\nauto_merge: true\nmerge_method: squash\nmax_rework_attempts: 2\npolecat_cap: 3\nlabels:\n  sling: work-please\n",
            FILE,
        )
        .unwrap();
        assert_eq!(c.merge_strategy, Some(MergeStrategy::Direct));
        assert_eq!(c.target_branch.as_deref(), Some("trunk"));
        assert_eq!(c.quality_gates.len(), 2);
        assert_eq!(c.quality_gates[0].timeout_secs, 600);
        assert_eq!(c.quality_gates[1].timeout_secs, 30 * 60);
        assert_eq!(c.merge_method, MergeMethod::Squash);
        assert_eq!(
            (c.auto_merge, c.max_rework_attempts, c.polecat_cap),
            (true, 2, Some(3))
        );
        assert_eq!(c.labels.sling.as_deref(), Some("work-please"));
    }

    #[test]
    fn an_empty_file_is_the_defaults() {
        assert_eq!(parse("", FILE).unwrap(), RepoConfig::default());
        assert_eq!(
            parse("# nothing yet\n", FILE).unwrap().max_rework_attempts,
            3
        );
    }

    #[test]
    fn mistakes_name_the_file_line_and_field() {
        let e = parse(
            "merge_strategy: yolo\nquality_gates:\n  - name: tests\n    timeout_secs: 0\n",
            ".gastown.yaml@main",
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(".gastown.yaml@main:1: field `merge_strategy`"),
            "{text}"
        );
        assert!(
            text.contains(":3: field `quality_gates.0`") && text.contains("run"),
            "{text}"
        );
        assert!(
            text.contains(":4: field `quality_gates.0.timeout_secs`"),
            "{text}"
        );
        let e = parse("auto_merge: [", FILE).unwrap_err().to_string();
        assert!(e.contains("not valid YAML") && e.contains(FILE), "{e}");
        let e = parse("- a\n- b\n", FILE).unwrap_err().to_string();
        assert!(e.contains("top level must be a mapping"), "{e}");
        let e = parse("automerge: true\n", FILE).unwrap_err().to_string();
        assert!(e.contains("automerge"), "unknown fields are named: {e}");
    }

    #[test]
    fn protected_changes_are_allowed_by_plain_path_globs_only() {
        let c = parse(
            "allow_protected_changes:\n  - .github/workflows/docs-*.yml\n  - .gastown/**\n",
            FILE,
        )
        .unwrap();
        assert_eq!(
            c.allow_protected_changes,
            [".github/workflows/docs-*.yml", ".gastown/**"]
        );
        // Pathspec magic, absolute paths, parent directories and blanks could widen
        // the rule: each is named with its line.
        let e = parse(
            "merge_strategy: pr\nallow_protected_changes:\n  - \":(top)x\"\n  - /abs\n  - a/../b\n  - \"a b\"\n",
            ".gastown.yaml@main",
        )
        .unwrap_err();
        let text = e.to_string();
        for line in 3..=6 {
            assert!(
                text.contains(&format!(
                    ".gastown.yaml@main:{line}: field `allow_protected_changes.{}`",
                    line - 3
                )),
                "{text}"
            );
        }
        let e = parse("allow_protected_changes: true\n", FILE)
            .unwrap_err()
            .to_string();
        assert!(e.contains(":1: field `allow_protected_changes`"), "{e}");
    }
}
