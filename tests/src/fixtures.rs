//! The real webhook payloads in `../shared/fixtures/` (or `GT_FIXTURES`). They are read
//! in place, never copied into the project.

use std::path::PathBuf;

use serde_json::Value;

pub struct Fixtures {
    root: PathBuf,
}

impl Fixtures {
    /// The fixtures, or `None` (with a note on stderr) when this checkout has none.
    /// Under CI a missing fixture folder is a failure, never a silent skip.
    pub fn find() -> Option<Self> {
        let root = std::env::var_os("GT_FIXTURES")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures")
            });
        if root.is_dir() {
            return Some(Self { root });
        }
        if std::env::var_os("CI").is_some() {
            panic!("fixtures not found at {} under CI", root.display());
        }
        eprintln!(
            "skipping: no fixtures at {} (set GT_FIXTURES)",
            root.display()
        );
        None
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn bytes(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
    }

    pub fn json(&self, rel: &str) -> Value {
        serde_json::from_slice(&self.bytes(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
    }

    /// A GitHub `issues` delivery about issue `number` of `repo`, built from the real
    /// `labeled`/`unlabeled` payloads: `label` is the label that changed and `labels`
    /// the issue's labels after the change.
    pub fn github_issue_label(
        &self,
        action: &str,
        repo: &str,
        number: u64,
        label: &str,
        labels: &[&str],
        sender: &str,
    ) -> Vec<u8> {
        let mut v = self.json(&format!("github/issues/{action}.1.json"));
        v["repository"]["full_name"] = repo.into();
        v["repository"]["html_url"] = format!("https://github.com/{repo}").into();
        v["issue"]["number"] = number.into();
        v["issue"]["html_url"] = format!("https://github.com/{repo}/issues/{number}").into();
        v["label"]["name"] = label.into();
        v["issue"]["labels"] = labels
            .iter()
            .map(|l| serde_json::json!({ "name": l, "color": "ededed" }))
            .collect::<Vec<_>>()
            .into();
        v["sender"]["login"] = sender.into();
        serde_json::to_vec(&v).unwrap()
    }

    /// `sender` labels issue `number` of `repo` with `gt:sling`, its only label.
    pub fn github_sling(&self, repo: &str, number: u64, sender: &str) -> Vec<u8> {
        self.github_issue_label("labeled", repo, number, "gt:sling", &["gt:sling"], sender)
    }
}
