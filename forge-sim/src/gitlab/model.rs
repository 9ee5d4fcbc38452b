//! What a GitLab project has beyond the forge-neutral [`crate::world::Repo`]: issue and
//! merge request `iid`s (GitLab numbers them separately, the world numbers both with
//! one counter), approvals (which can be withdrawn, unlike GitHub reviews), system
//! notes, pipelines, the project hook with its plain-text token, and the one merge
//! setting the bot reads.

use std::collections::BTreeMap;

use crate::world::Comment;

/// A project hook: GitLab sends its secret token verbatim in `X-Gitlab-Token`.
#[derive(Debug, Clone)]
pub struct GitlabHook {
    pub id: u64,
    pub url: String,
    pub token: String,
}

/// A CI pipeline on one ref and commit.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub id: u64,
    pub iid: u64,
    pub git_ref: String,
    pub sha: String,
    pub before_sha: String,
    /// `created`, `pending`, `running`, `success`, `failed`, `canceled`, `skipped`.
    pub status: String,
    /// `push`, `web`, `api`, `external` (commit statuses), `merge_request_event`.
    pub source: String,
    pub user: u64,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

impl Pipeline {
    pub fn finished(&self) -> bool {
        matches!(
            self.status.as_str(),
            "success" | "failed" | "canceled" | "skipped"
        )
    }
}

#[derive(Debug, Clone, Default)]
pub struct GitlabProject {
    pub hook: Option<GitlabHook>,
    /// Issue iid → world issue number, and the same for merge requests.
    pub issues: BTreeMap<u64, u64>,
    pub mrs: BTreeMap<u64, u64>,
    /// World number → users who approved, in order.
    pub approvals: BTreeMap<u64, Vec<u64>>,
    /// World number → notes GitLab writes itself ("added ~12 label"); never hooked.
    pub system_notes: BTreeMap<u64, Vec<Comment>>,
    pub pipelines: Vec<Pipeline>,
    /// Squash commits of merged MRs, by world number.
    pub squash_commits: BTreeMap<u64, String>,
    pub only_allow_merge_if_pipeline_succeeds: bool,
}

impl GitlabProject {
    pub fn issue_iid(&self, number: u64) -> Option<u64> {
        self.issues
            .iter()
            .find_map(|(iid, n)| (*n == number).then_some(*iid))
    }

    pub fn mr_iid(&self, number: u64) -> Option<u64> {
        self.mrs
            .iter()
            .find_map(|(iid, n)| (*n == number).then_some(*iid))
    }

    /// The iid of whatever world number this is: issue or merge request.
    pub fn iid(&self, number: u64) -> Option<u64> {
        self.issue_iid(number).or_else(|| self.mr_iid(number))
    }

    /// The newest pipeline for `sha`.
    pub fn latest_pipeline(&self, sha: &str) -> Option<&Pipeline> {
        self.pipelines.iter().rev().find(|p| p.sha == sha)
    }
}
