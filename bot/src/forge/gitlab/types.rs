//! GitLab response shapes: only the fields the bot reads.

use serde::Deserialize;

use crate::forge::*;

#[derive(Deserialize)]
pub(super) struct GlUser {
    #[serde(default)]
    pub(super) id: u64,
    pub(super) username: String,
}

/// An award emoji (a reaction) on a note.
#[derive(Deserialize)]
pub(super) struct GlAward {
    pub(super) id: u64,
    pub(super) name: String,
    pub(super) user: GlUser,
}

#[derive(Deserialize)]
pub(super) struct GlIssue {
    pub(super) iid: u64,
    pub(super) title: String,
    pub(super) description: Option<String>,
    pub(super) state: String,
    #[serde(default)]
    pub(super) labels: Vec<String>,
    pub(super) author: GlUser,
    pub(super) web_url: String,
}

impl From<GlIssue> for Issue {
    fn from(i: GlIssue) -> Self {
        Issue {
            number: i.iid,
            title: i.title,
            body: i.description.unwrap_or_default(),
            state: state(&i.state),
            labels: i.labels,
            author: i.author.username,
            url: i.web_url,
            is_pull_request: false,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct GlPosition {
    pub(super) new_path: Option<String>,
    pub(super) old_path: Option<String>,
    pub(super) new_line: Option<u64>,
    pub(super) old_line: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct GlNote {
    pub(super) id: u64,
    pub(super) body: String,
    pub(super) author: GlUser,
    pub(super) created_at: String,
    #[serde(default)]
    pub(super) system: bool,
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
    pub(super) position: Option<GlPosition>,
}

#[derive(Deserialize)]
pub(super) struct GlMr {
    pub(super) iid: u64,
    pub(super) title: String,
    pub(super) description: Option<String>,
    pub(super) state: String,
    pub(super) source_branch: String,
    pub(super) target_branch: String,
    pub(super) sha: Option<String>,
    pub(super) author: GlUser,
    pub(super) web_url: String,
    pub(super) merge_commit_sha: Option<String>,
    pub(super) squash_commit_sha: Option<String>,
}

impl From<GlMr> for PullRequest {
    fn from(m: GlMr) -> Self {
        PullRequest {
            number: m.iid,
            title: m.title,
            body: m.description.unwrap_or_default(),
            state: state(&m.state),
            merged: m.state == "merged",
            head: m.source_branch,
            head_sha: m.sha.unwrap_or_default(),
            base: m.target_branch,
            author: m.author.username,
            url: m.web_url,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct GlApprover {
    pub(super) user: GlUser,
}

#[derive(Deserialize)]
pub(super) struct GlApprovals {
    #[serde(default)]
    pub(super) approved_by: Vec<GlApprover>,
}

#[derive(Deserialize)]
pub(super) struct GlReviewer {
    pub(super) user: GlUser,
    pub(super) state: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct GlStatus {
    pub(super) id: u64,
    pub(super) name: String,
    pub(super) status: String,
    pub(super) target_url: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct GlPipeline {
    pub(super) status: String,
    pub(super) web_url: Option<String>,
}

pub(super) fn state(s: &str) -> State {
    if s == "opened" || s == "open" {
        State::Open
    } else {
        State::Closed
    }
}

pub(super) fn millis(ts: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(ts).map_or(0, |t| t.timestamp_millis())
}

pub(super) fn check_state(s: &str) -> CheckState {
    match s {
        "success" | "skipped" => CheckState::Success,
        "failed" | "canceled" | "canceling" => CheckState::Failure,
        _ => CheckState::Pending,
    }
}

/// GitLab access levels onto [`Permission`] (see its doc): 10 guest and 15 planner →
/// Read, 20 reporter → Triage, 30 developer → Write, 40 maintainer → Maintain, 50 owner
/// (and 60 admin) → Admin; 5 minimal access and anything lower → None.
pub fn permission_from_access_level(level: u64) -> Permission {
    match level {
        50.. => Permission::Admin,
        40..=49 => Permission::Maintain,
        30..=39 => Permission::Write,
        20..=29 => Permission::Triage,
        10..=19 => Permission::Read,
        _ => Permission::None,
    }
}

pub(super) fn is_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}
