//! Finding and loading the shared webhook fixtures.
//!
//! Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use webhooks::ForgeKind;

/// The fixtures folder, or `None` (after saying so) when it does not exist. A fresh
/// clone has no `../shared`, so tests skip there; in CI a missing folder means the
/// tests would prove nothing, so it fails instead.
pub fn fixtures_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("GT_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/fixtures"
            ))
        });
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "webhook fixtures not found at {} (set GT_FIXTURES); CI must not skip them",
        dir.display()
    );
    eprintln!(
        "skipping: webhook fixtures not found at {} (set GT_FIXTURES to run)",
        dir.display()
    );
    None
}

pub struct Fixture {
    pub forge: ForgeKind,
    /// The `X-GitHub-Event` / `X-Gitlab-Event` header the delivery came with.
    pub event: String,
    /// Path under the fixtures folder, for messages.
    pub name: String,
    pub body: Vec<u8>,
}

/// `X-Gitlab-Event` for a GitLab fixture, per `gitlab/SOURCES.md`.
pub fn gitlab_event(rel: &str) -> Option<&'static str> {
    if rel.starts_with("systemhooks/") {
        return Some("System Hook");
    }
    let stem = rel.strip_suffix(".json")?;
    Some(match stem {
        "push" => "Push Hook",
        "tag_push" => "Tag Push Hook",
        "issue" => "Issue Hook",
        s if s.starts_with("note_") => "Note Hook",
        "merge_request" | "group_merge_request" | "service_merge_request" => "Merge Request Hook",
        "pipeline" => "Pipeline Hook",
        "job" | "build" => "Job Hook",
        "wiki_page" => "Wiki Page Hook",
        "deployment" => "Deployment Hook",
        "release" => "Release Hook",
        "feature_flag" => "Feature Flag Hook",
        "member" => "Member Hook",
        "subgroup" => "Subgroup Hook",
        s if s.starts_with("resource_access_token_") => "Resource Access Token Hook",
        _ => return None,
    })
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "json") {
            out.push(path);
        }
    }
}

/// Every fixture, with the event header it would have been delivered with. GitLab
/// files missing from the SOURCES.md table get a header no parser knows.
pub fn load_all(dir: &Path) -> Vec<Fixture> {
    let mut out = Vec::new();
    for (forge, sub) in [(ForgeKind::GitHub, "github"), (ForgeKind::GitLab, "gitlab")] {
        let root = dir.join(sub);
        let mut files = Vec::new();
        json_files(&root, &mut files);
        for path in files {
            let rel = path
                .strip_prefix(&root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/");
            let event = match forge {
                ForgeKind::GitHub => rel.split('/').next().expect("event folder").to_owned(),
                ForgeKind::GitLab => gitlab_event(&rel).unwrap_or("Unlisted Hook").to_owned(),
            };
            let body = std::fs::read(&path).unwrap_or_else(|e| panic!("read {rel}: {e}"));
            out.push(Fixture {
                forge,
                event,
                name: format!("{sub}/{rel}"),
                body,
            });
        }
    }
    out
}

/// Read one fixture as raw bytes.
pub fn read(dir: &Path, rel: &str) -> Vec<u8> {
    std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}
