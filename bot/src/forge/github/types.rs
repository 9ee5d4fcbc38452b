//! GitHub response shapes: only the fields the bot reads.

use serde::Deserialize;

use crate::forge::*;

#[derive(Deserialize)]
pub(super) struct GhUser {
    pub(super) login: String,
}

#[derive(Deserialize)]
pub(super) struct GhLabel {
    pub(super) name: String,
}

#[derive(Deserialize)]
pub(super) struct GhIssue {
    pub(super) number: u64,
    pub(super) title: String,
    pub(super) body: Option<String>,
    pub(super) state: String,
    #[serde(default)]
    pub(super) labels: Vec<GhLabel>,
    pub(super) user: Option<GhUser>,
    pub(super) html_url: String,
    pub(super) pull_request: Option<serde_json::Value>,
}

impl From<GhIssue> for Issue {
    fn from(i: GhIssue) -> Self {
        Issue {
            number: i.number,
            title: i.title,
            body: i.body.unwrap_or_default(),
            state: state(&i.state),
            labels: i.labels.into_iter().map(|l| l.name).collect(),
            author: login(i.user),
            url: i.html_url,
            is_pull_request: i.pull_request.is_some(),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct GhComment {
    pub(super) id: u64,
    pub(super) body: Option<String>,
    pub(super) user: Option<GhUser>,
    pub(super) html_url: String,
    pub(super) created_at: String,
}

impl GhComment {
    pub(super) fn into_comment(self, number: u64, on_pull_request: bool) -> Comment {
        Comment {
            at: CommentRef {
                number,
                on_pull_request,
                id: self.id,
                on_diff: false,
            },
            body: self.body.unwrap_or_default(),
            author: login(self.user),
            url: self.html_url,
            created_at: millis(&self.created_at),
        }
    }
}

/// A reaction: `POST .../reactions` answers the new one (201) or the caller's existing
/// one of that content (200).
#[derive(Deserialize)]
pub(super) struct GhReaction {
    pub(super) id: u64,
}

#[derive(Deserialize)]
pub(super) struct GhRef {
    #[serde(rename = "ref")]
    pub(super) name: String,
    pub(super) sha: String,
}

#[derive(Deserialize)]
pub(super) struct GhPull {
    pub(super) number: u64,
    pub(super) title: String,
    pub(super) body: Option<String>,
    pub(super) state: String,
    pub(super) merged: Option<bool>,
    pub(super) merged_at: Option<String>,
    pub(super) head: GhRef,
    pub(super) base: GhRef,
    pub(super) user: Option<GhUser>,
    pub(super) html_url: String,
}

impl From<GhPull> for PullRequest {
    fn from(p: GhPull) -> Self {
        PullRequest {
            number: p.number,
            title: p.title,
            body: p.body.unwrap_or_default(),
            state: state(&p.state),
            merged: p.merged.unwrap_or(p.merged_at.is_some()),
            head: p.head.name,
            head_sha: p.head.sha,
            base: p.base.name,
            author: login(p.user),
            url: p.html_url,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct GhReview {
    pub(super) id: u64,
    pub(super) user: Option<GhUser>,
    pub(super) state: String,
    pub(super) body: Option<String>,
    pub(super) commit_id: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct GhReviewComment {
    pub(super) id: u64,
    pub(super) user: Option<GhUser>,
    pub(super) body: Option<String>,
    pub(super) path: Option<String>,
    pub(super) line: Option<u64>,
    pub(super) original_line: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct GhStatus {
    pub(super) context: String,
    pub(super) state: String,
    pub(super) target_url: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct GhCheckRuns {
    pub(super) total_count: u64,
    pub(super) check_runs: Vec<GhCheckRun>,
}

#[derive(Deserialize)]
pub(super) struct GhCheckRun {
    pub(super) name: String,
    pub(super) status: String,
    pub(super) conclusion: Option<String>,
    /// The CI's own page for the run (what a status's `target_url` is).
    pub(super) details_url: Option<String>,
    pub(super) html_url: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct GhMerge {
    pub(super) sha: Option<String>,
}

pub(super) fn login(u: Option<GhUser>) -> String {
    u.map(|u| u.login).unwrap_or_else(|| "ghost".into())
}

pub(super) fn state(s: &str) -> State {
    if s.eq_ignore_ascii_case("open") {
        State::Open
    } else {
        State::Closed
    }
}

pub(super) fn millis(ts: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(ts).map_or(0, |t| t.timestamp_millis())
}

pub(super) fn state_str(s: State) -> &'static str {
    match s {
        State::Open => "open",
        State::Closed => "closed",
    }
}

pub(super) fn check_state(s: &str) -> CheckState {
    match s {
        "success" | "neutral" | "skipped" => CheckState::Success,
        "failure" | "cancelled" | "timed_out" | "action_required" | "stale" => CheckState::Failure,
        "error" | "startup_failure" => CheckState::Error,
        _ => CheckState::Pending,
    }
}

/// GitHub's `role_name` (finer) or `permission` (coarser) onto [`Permission`].
pub(super) fn permission_from(role: &str) -> Permission {
    match role {
        "admin" => Permission::Admin,
        "maintain" => Permission::Maintain,
        "write" | "push" => Permission::Write,
        "triage" => Permission::Triage,
        "read" | "pull" => Permission::Read,
        _ => Permission::None,
    }
}
