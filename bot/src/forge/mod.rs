//! The forge as the bot acts on it: one [`Forge`] trait, implemented for GitHub (on
//! octocrab) and GitLab (on the gitlab crate), and answered in tests and `gt demo` by
//! the forge simulator. Town logic only ever sees these types.
//!
//! Every implementation retries 5xx and timeouts with backoff, waits out primary and
//! secondary rate limits instead of hammering, pages through lists, and traces each
//! call with the repository (and the bead, when the caller is in a bead's span).

use std::fmt;

use serde::{Deserialize, Serialize};
use webhooks::ForgeKind;

use self::resilience::Secret;

/// A repository on a forge: `owner/repo` on GitHub, `group/sub/project` on GitLab.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RepoPath(pub String);

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl RepoPath {
    pub fn new(path: impl Into<String>) -> Self {
        Self(path.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's access to a repository, on GitHub's scale. GitLab access levels map onto
/// it: guest/planner → Read, reporter → Triage, developer → Write, maintainer →
/// Maintain, owner → Admin.
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
    /// Commands that change the town need write access or better.
    pub fn can_command(self) -> bool {
        self >= Permission::Write
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Open,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub state: State,
    pub labels: Vec<String>,
    pub author: String,
    pub url: String,
    /// GitHub lists pull requests among issues; catch-up skips them.
    pub is_pull_request: bool,
}

/// Where a comment lives. GitLab addresses a note through its issue or merge request,
/// so the id alone is not enough to edit it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CommentRef {
    pub number: u64,
    pub on_pull_request: bool,
    pub id: u64,
    /// A comment on a line of a PR/MR diff (a GitHub pull request review comment, a
    /// GitLab `DiffNote`) rather than on the conversation. GitHub keeps the two kinds
    /// apart (`/pulls/comments/{id}` vs `/issues/comments/{id}`); GitLab reaches both
    /// through the merge request's notes.
    #[serde(default)]
    pub on_diff: bool,
}

/// The bot's acknowledgement on a comment it was asked something in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reaction {
    /// The command was accepted and is being worked on (👀).
    Seen,
    /// The command was answered (GitHub 🚀, GitLab ✅).
    Done,
    /// The command failed (GitHub 😕, GitLab ❌).
    Failed,
}

impl Reaction {
    /// GitHub's reaction `content` (GitHub only offers +1, -1, laugh, confused, heart,
    /// hooray, rocket, eyes): eyes, rocket, confused.
    pub fn github(self) -> &'static str {
        match self {
            Reaction::Seen => "eyes",
            Reaction::Done => "rocket",
            Reaction::Failed => "confused",
        }
    }

    /// GitLab's award emoji `name`: eyes, white_check_mark, x.
    pub fn gitlab(self) -> &'static str {
        match self {
            Reaction::Seen => "eyes",
            Reaction::Done => "white_check_mark",
            Reaction::Failed => "x",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub at: CommentRef,
    pub body: String,
    pub author: String,
    pub url: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
}

/// A label to put on an issue; created with `color` (6 hex digits) when missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelSpec {
    pub name: String,
    pub color: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewIssue {
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPullRequest {
    pub title: String,
    pub body: String,
    /// Branch with the changes.
    pub head: String,
    /// Branch to merge into.
    pub base: String,
    pub draft: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestUpdate {
    pub title: Option<String>,
    pub body: Option<String>,
    pub state: Option<State>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub state: State,
    pub merged: bool,
    pub head: String,
    pub head_sha: String,
    pub base: String,
    pub author: String,
    pub url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
    Dismissed,
}

/// A review (GitHub) or an approval (GitLab).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub id: u64,
    pub author: String,
    pub state: ReviewState,
    pub body: String,
    pub commit_sha: Option<String>,
}

/// A comment on a line of a PR/MR diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewComment {
    pub id: u64,
    pub author: String,
    pub body: String,
    pub path: Option<String>,
    pub line: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeMethod {
    Merge,
    Squash,
    Rebase,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MergeOutcome {
    Merged {
        sha: String,
    },
    /// The forge refused: conflicts, checks, approvals, or the head moved.
    NotMergeable {
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckState {
    Pending,
    Success,
    Failure,
    Error,
}

/// What the bot reports on a commit (a commit status on both forges; GitHub check runs
/// need an App, statuses work with any token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitStatus {
    pub context: String,
    pub state: CheckState,
    pub description: String,
    pub target_url: Option<String>,
}

/// One check on a ref: a check run or status (GitHub), a pipeline or status (GitLab).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub state: CheckState,
    pub url: Option<String>,
}

/// How the bot's own git reaches a repository on the forge: its smart-HTTP URL and
/// the HTTP Basic credentials of the bot's account there. Agents never see it: the git
/// gateway ([`crate::gitgate`]) fetches and pushes with it on their behalf.
#[derive(Debug, Clone)]
pub struct GitRemote {
    pub url: String,
    pub username: String,
    pub password: Secret,
}

impl GitRemote {
    /// Environment that makes a `git` process authenticate to the forge, through
    /// `GIT_CONFIG_COUNT` so the credentials are neither in the URL, nor in argv (both
    /// visible to other users of the machine), nor in any repository's config; a
    /// credential helper the machine may have is switched off so git never asks
    /// anything else. The values are secrets: never log them.
    pub fn git_env(&self) -> Vec<(String, String)> {
        use base64::Engine as _;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.username,
            self.password.expose()
        ));
        [
            ("GIT_CONFIG_COUNT", "2".to_owned()),
            ("GIT_CONFIG_KEY_0", "http.extraHeader".to_owned()),
            (
                "GIT_CONFIG_VALUE_0",
                format!("Authorization: Basic {basic}"),
            ),
            ("GIT_CONFIG_KEY_1", "credential.helper".to_owned()),
            ("GIT_CONFIG_VALUE_1", String::new()),
            ("GIT_TERMINAL_PROMPT", "0".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// Why a forge call failed, with the call and repository named so a person can act.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error("{call} on {repo}: not found")]
    NotFound { call: &'static str, repo: String },
    #[error("{call} on {repo}: the bot's credentials are not allowed to do this ({status})")]
    Forbidden {
        call: &'static str,
        repo: String,
        status: u16,
    },
    #[error("{call} on {repo}: the forge refused the request ({status}): {message}")]
    Rejected {
        call: &'static str,
        repo: String,
        status: u16,
        message: String,
    },
    #[error("{call} on {repo}: gave up after {attempts} attempts: {last}")]
    Unavailable {
        call: &'static str,
        repo: String,
        attempts: u32,
        last: String,
    },
    #[error("{call} on {repo}: unexpected response: {message}")]
    Protocol {
        call: &'static str,
        repo: String,
        message: String,
    },
    #[error("forge configuration: {0}")]
    Config(String),
}

pub type ForgeResult<T> = Result<T, ForgeError>;

/// "Does not exist" as a value: for reads where absence is an answer (a missing file,
/// an unprotected branch, a stranger).
pub(crate) fn ok_or_none<T>(r: ForgeResult<T>) -> ForgeResult<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(ForgeError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The operations the bot performs on a forge.
#[async_trait::async_trait]
pub trait Forge: Send + Sync + 'static {
    fn kind(&self) -> ForgeKind;

    /// Web host, e.g. `github.com`: with [`Forge::kind`] it names the rigs this serves.
    fn host(&self) -> &str;

    async fn issue(&self, repo: &RepoPath, number: u64) -> ForgeResult<Issue>;
    async fn create_issue(&self, repo: &RepoPath, new: &NewIssue) -> ForgeResult<Issue>;
    async fn set_issue_state(&self, repo: &RepoPath, number: u64, state: State) -> ForgeResult<()>;
    /// Open issues (not pull requests) carrying `label`, every page.
    async fn issues_with_label(&self, repo: &RepoPath, label: &str) -> ForgeResult<Vec<Issue>>;

    /// Who most recently added `label` to the issue, from the issue's event history.
    /// Catch-up needs it: a label found on an issue only counts if the person who put
    /// it there may sling. `None` when the history does not say.
    async fn label_added_by(
        &self,
        repo: &RepoPath,
        number: u64,
        label: &str,
    ) -> ForgeResult<Option<String>> {
        let _ = (repo, number, label);
        Ok(None)
    }

    /// Comments on an issue or PR conversation, oldest first, every page.
    async fn comments(
        &self,
        repo: &RepoPath,
        number: u64,
        on_pull_request: bool,
    ) -> ForgeResult<Vec<Comment>>;
    async fn create_comment(
        &self,
        repo: &RepoPath,
        number: u64,
        on_pull_request: bool,
        body: &str,
    ) -> ForgeResult<Comment>;
    async fn edit_comment(
        &self,
        repo: &RepoPath,
        at: &CommentRef,
        body: &str,
    ) -> ForgeResult<Comment>;

    /// Put the bot's `reaction` on the comment; one already there is not an error.
    async fn add_reaction(
        &self,
        repo: &RepoPath,
        at: &CommentRef,
        reaction: Reaction,
    ) -> ForgeResult<()>;
    /// Take the bot's `reaction` off the comment; one that is not there is not an error.
    async fn remove_reaction(
        &self,
        repo: &RepoPath,
        at: &CommentRef,
        reaction: Reaction,
    ) -> ForgeResult<()>;

    /// Add labels, creating any the repository does not have yet.
    async fn add_labels(
        &self,
        repo: &RepoPath,
        number: u64,
        labels: &[LabelSpec],
    ) -> ForgeResult<()>;
    /// Remove a label; removing one that is not there is not an error.
    async fn remove_label(&self, repo: &RepoPath, number: u64, label: &str) -> ForgeResult<()>;

    /// A user's access to the repository as the forge reports it: `None` for unknown
    /// users and non-members of private repositories; GitHub reports anyone on a
    /// public repository as at least `Read`.
    async fn permission(&self, repo: &RepoPath, user: &str) -> ForgeResult<Permission>;

    async fn create_pull_request(
        &self,
        repo: &RepoPath,
        new: &NewPullRequest,
    ) -> ForgeResult<PullRequest>;
    async fn update_pull_request(
        &self,
        repo: &RepoPath,
        number: u64,
        update: &PullRequestUpdate,
    ) -> ForgeResult<PullRequest>;
    async fn pull_request(&self, repo: &RepoPath, number: u64) -> ForgeResult<PullRequest>;
    /// Open pull/merge requests, every page.
    async fn open_pull_requests(&self, repo: &RepoPath) -> ForgeResult<Vec<PullRequest>>;
    async fn reviews(&self, repo: &RepoPath, number: u64) -> ForgeResult<Vec<Review>>;
    async fn review_comments(
        &self,
        repo: &RepoPath,
        number: u64,
    ) -> ForgeResult<Vec<ReviewComment>>;
    /// Merge, optionally only if the head is still `expected_head` (never merge
    /// commits nobody checked).
    async fn merge(
        &self,
        repo: &RepoPath,
        number: u64,
        method: MergeMethod,
        expected_head: Option<&str>,
    ) -> ForgeResult<MergeOutcome>;

    async fn set_status(
        &self,
        repo: &RepoPath,
        sha: &str,
        status: &CommitStatus,
    ) -> ForgeResult<()>;
    /// Every check and status on a ref, every page.
    async fn checks(&self, repo: &RepoPath, git_ref: &str) -> ForgeResult<Vec<CheckResult>>;
    /// Names of the checks the branch requires before merging (empty when unprotected).
    async fn required_checks(&self, repo: &RepoPath, branch: &str) -> ForgeResult<Vec<String>>;

    /// A file's bytes at a ref, `None` when it does not exist (e.g. `.gastown.yaml`).
    async fn file(
        &self,
        repo: &RepoPath,
        path: &str,
        git_ref: &str,
    ) -> ForgeResult<Option<Vec<u8>>>;

    /// Delete a branch the town made once its work is merged. A branch that is gone
    /// already is not an error; the default or a protected branch is refused by the
    /// forge ([`ForgeError::Rejected`] or [`ForgeError::Forbidden`]).
    async fn delete_branch(&self, repo: &RepoPath, branch: &str) -> ForgeResult<()>;

    /// The repository's clone URL as the forge reports it, with credentials the bot's
    /// git may use for it right now (an App's installation token expires: ask again
    /// rather than keep it).
    async fn git_remote(&self, repo: &RepoPath) -> ForgeResult<GitRemote>;
}

pub mod config;
pub mod formulas;
pub mod github;
pub mod gitlab;
pub(crate) mod redacting;
pub mod registry;
pub mod resilience;
pub(crate) mod settings;
