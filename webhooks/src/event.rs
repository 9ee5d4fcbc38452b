//! The one normalized event model both forges are parsed into.
//!
//! The bot never looks at raw GitHub or GitLab JSON outside this crate: everything it
//! reacts to is a [`ForgeEvent`]. Fields hold only what the town logic needs; the raw
//! delivery stays in the inbox for anything else.

use serde::{Deserialize, Serialize};

/// Which kind of forge a delivery came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    GitHub,
    GitLab,
}

impl ForgeKind {
    pub const ALL: [ForgeKind; 2] = [ForgeKind::GitHub, ForgeKind::GitLab];

    /// The name in URLs, rig ids, config files and the database: `github`, `gitlab`.
    pub fn as_str(self) -> &'static str {
        match self {
            ForgeKind::GitHub => "github",
            ForgeKind::GitLab => "gitlab",
        }
    }

    /// The public instance's web host: where a repository is when nothing names
    /// another host (the server's default, a rig id without a host).
    pub fn public_host(self) -> &'static str {
        match self {
            ForgeKind::GitHub => "github.com",
            ForgeKind::GitLab => "gitlab.com",
        }
    }
}

impl std::fmt::Display for ForgeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A forge name that is neither `github` nor `gitlab`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown forge {0:?} (github or gitlab)")]
pub struct UnknownForge(pub String);

/// The one place a forge's name is read back: every stored or configured name goes
/// through here, so a new forge is added by one variant and one spelling.
impl std::str::FromStr for ForgeKind {
    type Err = UnknownForge;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ForgeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownForge(s.to_string()))
    }
}

/// A repository on a forge. `path` is `owner/repo` on GitHub and the full
/// `group/sub/project` path on GitLab.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RepoRef {
    pub forge: ForgeKind,
    /// Host of the forge's web UI, e.g. `github.com` or `gitlab.example.com`.
    pub host: String,
    pub path: String,
    /// The forge's numeric id, when the payload carries it.
    pub id: Option<u64>,
    pub default_branch: Option<String>,
}

/// The person (or bot) that caused the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    pub login: String,
    pub id: Option<u64>,
    /// An automation, not a person: a GitHub account of type `Bot` (Apps), a GitLab
    /// project or group access token's user, or GitLab itself (system notes). The
    /// town never takes orders from one.
    #[serde(default)]
    pub bot: bool,
}

impl Actor {
    pub fn person(login: impl Into<String>) -> Self {
        Self {
            login: login.into(),
            id: None,
            bot: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ForgeEvent {
    Issue(IssueEvent),
    /// A comment on an issue or on a PR/MR conversation (not a diff line).
    Comment(CommentEvent),
    PullRequest(PullRequestEvent),
    Review(ReviewEvent),
    /// A comment on a line of a PR/MR diff.
    ReviewComment(CommentEvent),
    /// check_run, check_suite, status, GitLab pipeline.
    Ci(CiEvent),
    Push(PushEvent),
    Installation(InstallationEvent),
    Ping(PingEvent),
    /// A delivery we understand well enough to know we do not act on it.
    Ignored(IgnoredEvent),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IssueEvent {
    pub repo: RepoRef,
    pub actor: Actor,
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub url: Option<String>,
    pub author: Option<String>,
    /// The issue's labels after the event.
    pub labels: Vec<String>,
    pub state: IssueState,
    pub action: IssueAction,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum IssueState {
    Open,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum IssueAction {
    Opened,
    Edited,
    Closed,
    Reopened,
    Labeled { label: String },
    Unlabeled { label: String },
}

/// What a comment is attached to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum CommentTarget {
    Issue {
        number: u64,
    },
    PullRequest {
        number: u64,
    },
    /// GitLab notes on commits and snippets: parsed, not acted on.
    Other {
        kind: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommentEvent {
    pub repo: RepoRef,
    pub actor: Actor,
    pub target: CommentTarget,
    pub comment_id: u64,
    pub body: String,
    pub url: Option<String>,
    pub action: CommentAction,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum CommentAction {
    Created,
    Edited,
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PullRequestEvent {
    pub repo: RepoRef,
    pub actor: Actor,
    /// GitHub PR number or GitLab MR iid.
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub url: Option<String>,
    pub head_branch: String,
    pub head_sha: Option<String>,
    pub base_branch: String,
    pub merged: bool,
    pub action: PullRequestAction,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum PullRequestAction {
    Opened,
    /// New commits on the head branch (GitHub `synchronize`, GitLab `update` with `oldrev`).
    Synchronize,
    /// Closed without merging.
    Closed,
    Merged,
    Reopened,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewEvent {
    pub repo: RepoRef,
    pub actor: Actor,
    pub number: u64,
    pub state: ReviewState,
    pub body: Option<String>,
    pub commit_sha: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
    /// A GitLab approval withdrawn (`unapproved`) or a GitHub review dismissed.
    Dismissed,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CiEvent {
    pub repo: RepoRef,
    pub actor: Option<Actor>,
    pub kind: CiKind,
    /// Check run name, status context, or pipeline name/ref.
    pub name: String,
    pub sha: String,
    pub branch: Option<String>,
    pub status: CiStatus,
    /// Numbers of the PRs/MRs the forge says this result belongs to.
    pub pull_requests: Vec<u64>,
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CiKind {
    CheckRun,
    CheckSuite,
    Status,
    Pipeline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CiStatus {
    Pending,
    Running,
    Success,
    Failure,
    Cancelled,
    Skipped,
    Neutral,
}

impl CiStatus {
    /// Whether no further result will come for this run.
    pub fn is_completed(self) -> bool {
        !matches!(self, CiStatus::Pending | CiStatus::Running)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PushEvent {
    pub repo: RepoRef,
    pub actor: Actor,
    /// Full ref, e.g. `refs/heads/main`.
    pub git_ref: String,
    pub before: String,
    pub after: String,
    pub commit_count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstallationEvent {
    pub actor: Actor,
    pub installation_id: u64,
    pub account: String,
    /// `created`, `deleted`, `suspend`, … as the forge names it.
    pub action: String,
    pub repositories: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PingEvent {
    pub repo: Option<RepoRef>,
    pub hook_id: Option<u64>,
    pub zen: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IgnoredEvent {
    /// The event name as the forge sent it (`X-GitHub-Event` / `X-Gitlab-Event`).
    pub event: String,
    pub action: Option<String>,
    pub repo: Option<RepoRef>,
}

impl ForgeEvent {
    /// The repository the event belongs to, when it belongs to exactly one.
    pub fn repo(&self) -> Option<&RepoRef> {
        match self {
            ForgeEvent::Issue(e) => Some(&e.repo),
            ForgeEvent::Comment(e) | ForgeEvent::ReviewComment(e) => Some(&e.repo),
            ForgeEvent::PullRequest(e) => Some(&e.repo),
            ForgeEvent::Review(e) => Some(&e.repo),
            ForgeEvent::Ci(e) => Some(&e.repo),
            ForgeEvent::Push(e) => Some(&e.repo),
            ForgeEvent::Installation(_) => None,
            ForgeEvent::Ping(e) => e.repo.as_ref(),
            ForgeEvent::Ignored(e) => e.repo.as_ref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ForgeKind;

    #[test]
    fn a_forge_name_reads_back_as_its_kind_and_nothing_else_does() {
        for kind in ForgeKind::ALL {
            assert_eq!(kind.as_str().parse::<ForgeKind>(), Ok(kind));
        }
        let err = "GitHub".parse::<ForgeKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown forge \"GitHub\" (github or gitlab)"
        );
    }
}
