//! The simulated forge's state: people, repositories and everything that happens in
//! them. Plain data with no IO, kept behind one mutex by [`crate::Sim`].
//!
//! The model is forge-neutral where the forges agree, so GitLab can be added beside
//! GitHub without redesign: a repository has a numeric id *and* a path (GitLab's
//! `projects/:id` and `projects/:path`), issues and change requests share one
//! per-repository counter on GitHub ([`Repo::next_number`]) while GitLab numbers issues
//! and merge requests separately (`iid`), which needs only a second counter; comments
//! are GitLab notes, reviews with state `APPROVED` are GitLab approvals, and commit
//! statuses are pipelines' jobs.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A person's access to a repository, on GitHub's scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    None,
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

impl Permission {
    /// GitHub's `role_name` for this permission (`read` is shown as `read`, etc.).
    pub fn role_name(self) -> &'static str {
        match self {
            Permission::None => "none",
            Permission::Read => "read",
            Permission::Triage => "triage",
            Permission::Write => "write",
            Permission::Maintain => "maintain",
            Permission::Admin => "admin",
        }
    }

    /// GitHub's legacy `permission` field, which only knows admin/write/read/none.
    pub fn legacy(self) -> &'static str {
        match self {
            Permission::None => "none",
            Permission::Read | Permission::Triage => "read",
            Permission::Write | Permission::Maintain => "write",
            Permission::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: u64,
    pub login: String,
    pub token: String,
    /// `User` or `Bot` (a GitHub App's installation acts as `<slug>[bot]`).
    pub kind: &'static str,
}

#[derive(Debug, Clone)]
pub struct Label {
    pub id: u64,
    pub name: String,
    pub color: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Comment {
    pub id: u64,
    pub author: u64,
    pub body: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A reaction on a comment: a GitHub reaction (on an issue or review comment; `content`
/// is one of GitHub's eight) or a GitLab award emoji (on a note or diff note; `content`
/// is the emoji's name). One person gives a content once per comment on both forges.
#[derive(Debug, Clone)]
pub struct Reaction {
    pub id: u64,
    pub user: u64,
    pub content: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueState {
    Open,
    Closed,
}

impl IssueState {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueState::Open => "open",
            IssueState::Closed => "closed",
        }
    }
}

/// An issue, or the issue half of a pull request (GitHub shares numbers and comments).
#[derive(Debug, Clone)]
pub struct Issue {
    pub id: u64,
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub state: IssueState,
    pub author: u64,
    /// Label names, in the order they were added.
    pub labels: Vec<String>,
    pub comments: Vec<Comment>,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
    pub closed_by: Option<u64>,
    /// Set when this issue is the conversation of a pull request.
    pub is_pull: bool,
    /// The issue's event history (`GET /issues/{n}/events`): who labelled it and when.
    pub timeline: Vec<TimelineEvent>,
}

/// One entry of an issue's event history, as GitHub's issue events API lists it.
#[derive(Debug, Clone)]
pub struct TimelineEvent {
    pub id: u64,
    /// `labeled`, `unlabeled`, `closed`, `reopened`.
    pub event: &'static str,
    pub actor: u64,
    pub label: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
}

impl ReviewState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Approved => "APPROVED",
            ReviewState::ChangesRequested => "CHANGES_REQUESTED",
            ReviewState::Commented => "COMMENTED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Review {
    pub id: u64,
    pub author: u64,
    pub state: ReviewState,
    pub body: Option<String>,
    pub commit_id: String,
    pub submitted_at: i64,
}

/// A comment on a line of a pull request's diff.
#[derive(Debug, Clone)]
pub struct ReviewComment {
    pub id: u64,
    /// The review it came in on GitHub, which makes one for a comment made on its
    /// own; `None` for a GitLab diff note, which belongs to no review.
    pub review_id: Option<u64>,
    pub author: u64,
    pub body: String,
    pub path: String,
    pub line: Option<u64>,
    pub commit_id: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct PullRequest {
    pub id: u64,
    pub number: u64,
    pub head_ref: String,
    pub base_ref: String,
    /// Read from the git repository when the PR is opened and after each push.
    pub head_sha: String,
    pub base_sha: String,
    pub draft: bool,
    pub merged: bool,
    pub merged_at: Option<i64>,
    pub merged_by: Option<u64>,
    pub merge_commit_sha: Option<String>,
    /// Whether the head merges cleanly into the base; `None` until computed, as GitHub
    /// answers `null` while it computes in the background.
    pub mergeable: Option<bool>,
    pub reviews: Vec<Review>,
    pub review_comments: Vec<ReviewComment>,
}

#[derive(Debug, Clone)]
pub struct CommitStatus {
    pub id: u64,
    pub sha: String,
    pub state: String,
    pub context: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
    pub creator: u64,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct CheckRun {
    pub id: u64,
    pub head_sha: String,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub details_url: Option<String>,
    pub external_id: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub started_at: i64,
    pub completed_at: Option<i64>,
}

/// Where deliveries for a repository go.
#[derive(Debug, Clone)]
pub struct Hook {
    pub id: u64,
    pub url: String,
    pub secret: String,
}

#[derive(Debug, Clone)]
pub struct Repo {
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub default_branch: String,
    pub git_dir: PathBuf,
    pub created_at: i64,
    pub collaborators: BTreeMap<u64, Permission>,
    pub labels: Vec<Label>,
    /// Issues and pull requests by number.
    pub issues: BTreeMap<u64, Issue>,
    pub pulls: BTreeMap<u64, PullRequest>,
    pub statuses: Vec<CommitStatus>,
    pub check_runs: Vec<CheckRun>,
    /// Branch → required status check contexts (a protected branch).
    pub protection: BTreeMap<String, Vec<String>>,
    pub hook: Option<Hook>,
    pub next_number: u64,
    /// Comment id (issue comment, review comment, GitLab note or diff note) → the
    /// reactions on it, oldest first. Ids are unique across the world, so one map
    /// serves every kind of comment.
    pub reactions: BTreeMap<u64, Vec<Reaction>>,
}

impl Repo {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    pub fn permission_of(&self, user: &User, owner_id: Option<u64>) -> Permission {
        if owner_id == Some(user.id) {
            return Permission::Admin;
        }
        self.collaborators
            .get(&user.id)
            .copied()
            .unwrap_or(Permission::None)
    }

    pub fn label(&self, name: &str) -> Option<&Label> {
        self.labels
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(name))
    }

    /// The number of the issue or pull request whose conversation holds comment `id`.
    pub fn comment_number(&self, id: u64) -> Option<u64> {
        self.issues
            .values()
            .find(|i| i.comments.iter().any(|c| c.id == id))
            .map(|i| i.number)
    }

    /// The number of the pull request whose diff holds review comment `id`.
    pub fn review_comment_number(&self, id: u64) -> Option<u64> {
        self.pulls
            .values()
            .find(|p| p.review_comments.iter().any(|c| c.id == id))
            .map(|p| p.number)
    }

    pub fn comment_mut(&mut self, id: u64) -> Option<(u64, &mut Comment)> {
        self.issues.values_mut().find_map(|i| {
            let n = i.number;
            i.comments.iter_mut().find(|c| c.id == id).map(|c| (n, c))
        })
    }
}

/// The whole forge. Ids come from one counter so every object's id is unique, which is
/// stricter than GitHub and catches code that mixes id kinds.
#[derive(Debug, Default)]
pub struct World {
    pub users: BTreeMap<u64, User>,
    pub repos: BTreeMap<u64, Repo>,
    /// `owner/name` (lowercase) → repo id.
    pub repo_paths: HashMap<String, u64>,
    /// App installation tokens → the bot user they act as, with expiry (unix seconds).
    pub installation_tokens: HashMap<String, (u64, i64)>,
    /// Repo id → GitLab-only state; a repository listed here is a GitLab project.
    pub gitlab: BTreeMap<u64, crate::gitlab::model::GitlabProject>,
    next_id: u64,
}

impl World {
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        1000 + self.next_id
    }

    pub fn user_by_login(&self, login: &str) -> Option<&User> {
        self.users
            .values()
            .find(|u| u.login.eq_ignore_ascii_case(login))
    }

    pub fn user_by_token(&self, token: &str, now: i64) -> Option<&User> {
        if let Some(u) = self.users.values().find(|u| u.token == token) {
            return Some(u);
        }
        let (id, expires) = self.installation_tokens.get(token)?;
        if *expires < now {
            return None;
        }
        self.users.get(id)
    }

    pub fn repo_id(&self, full_name: &str) -> Option<u64> {
        self.repo_paths
            .get(&full_name.to_ascii_lowercase())
            .copied()
    }

    pub fn repo(&self, full_name: &str) -> Option<&Repo> {
        self.repo_id(full_name).and_then(|id| self.repos.get(&id))
    }

    pub fn repo_mut(&mut self, full_name: &str) -> Option<&mut Repo> {
        let id = self.repo_id(full_name)?;
        self.repos.get_mut(&id)
    }

    /// A user's permission on a repository; owners are admins of their own repositories.
    pub fn permission(&self, repo: &Repo, user_id: u64) -> Permission {
        let Some(user) = self.users.get(&user_id) else {
            return Permission::None;
        };
        // The GitHub App is installed on every repository with write access.
        if user.kind == "Bot" {
            return Permission::Write.max(
                repo.collaborators
                    .get(&user_id)
                    .copied()
                    .unwrap_or(Permission::None),
            );
        }
        let owner = self.user_by_login(&repo.owner).map(|u| u.id);
        repo.permission_of(user, owner)
    }

    pub fn login(&self, user_id: u64) -> &str {
        self.users
            .get(&user_id)
            .map(|u| u.login.as_str())
            .unwrap_or("ghost")
    }
}
