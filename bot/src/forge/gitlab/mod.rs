//! [`Forge`] for GitLab on the gitlab crate's endpoint builders, sent by
//! [`GitlabRest`] (reqwest plus the shared [`Policy`]).
//!
//! GitLab differs from GitHub in ways the trait hides:
//! - a project is addressed by its URL-encoded path; issue and MR numbers are `iid`s;
//! - comments are notes, and system notes ("added label …") are skipped;
//! - reviews are approvals (→ `Approved`), reviewers who requested changes
//!   (→ `ChangesRequested`) and general MR notes (→ `Commented`); line comments are
//!   `DiffNote`s;
//! - there is no per-check branch protection: [`Forge::required_checks`] answers a
//!   single check named `"pipeline"` when the project has "pipelines must succeed" on
//!   (`only_allow_merge_if_pipeline_succeeds`), whatever the branch;
//! - checks are commit statuses plus the latest pipeline of the ref (named `pipeline`);
//! - `MergeMethod::Rebase` merges with the project's own merge method (GitLab has no
//!   per-merge rebase flag); `Squash` sets `squash`;
//! - reactions are award emoji on notes, which GitLab refuses to give twice (404 "Award
//!   Emoji Name has already been taken") and deletes by award id: the client lists a
//!   note's awards and picks the bot's own by its username (`GET /user`, asked once).

use ::gitlab::api::{ApiError, AsyncQuery, Endpoint, Pageable, Pagination};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use self::client::{GitlabRest, RestError};
use crate::forge::resilience::{Policy, Secret, SendFailure};
use crate::forge::*;

pub mod client;
mod forge;
mod types;

pub use self::types::permission_from_access_level;
use self::types::{GlNote, millis};

const FORGE: &str = "gitlab";

/// The GitLab client the bot uses; see the module docs.
pub struct GitlabForge {
    host: String,
    web_base: String,
    rest: GitlabRest,
    /// The bot's username (`GET /user`), asked the first time a reaction needs it.
    me: tokio::sync::OnceCell<String>,
}

impl fmt::Debug for GitlabForge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitlabForge")
            .field("host", &self.host)
            .field("rest", &self.rest)
            .finish()
    }
}

impl GitlabForge {
    /// `api_base` is `http(s)://host[:port]` (with or without `/api/v4`); `host` is the
    /// web host rigs are named by; note links are built on it.
    pub fn new(
        api_base: &str,
        host: impl Into<String>,
        token: Secret,
        policy: Policy,
    ) -> ForgeResult<Self> {
        let host = host.into();
        let rest = GitlabRest::new(api_base, token, policy).map_err(ForgeError::Config)?;
        // Note links: https, except a local simulator on plain http.
        let local = ["localhost", "127.", "[::1]"]
            .iter()
            .any(|p| host.starts_with(p));
        let scheme = if local && api_base.starts_with("http://") {
            "http"
        } else {
            "https"
        };
        let web_base = format!("{scheme}://{host}");
        Ok(Self {
            host,
            web_base,
            rest,
            me: tokio::sync::OnceCell::new(),
        })
    }

    /// The username the token acts as, asked once and kept: the bot's own award emoji
    /// are told apart from other people's by it.
    async fn me(&self, call: &'static str, repo: &RepoPath) -> ForgeResult<&str> {
        self.me
            .get_or_try_init(|| async {
                let ep = ::gitlab::api::users::CurrentUser::builder()
                    .build()
                    .map_err(|e| build_err(call, repo)(e.to_string()))?;
                let me: self::types::GlUser = self.one(call, repo, ep).await?;
                Ok(me.username)
            })
            .await
            .map(String::as_str)
    }

    fn span(call: &'static str, repo: &RepoPath) -> tracing::Span {
        tracing::info_span!("forge", forge = FORGE, repo = %repo, call)
    }

    async fn one<T, E>(&self, call: &'static str, repo: &RepoPath, ep: E) -> ForgeResult<T>
    where
        T: DeserializeOwned + Send + 'static,
        E: Endpoint + Sync + Send,
    {
        ep.query_async(&self.rest)
            .instrument(Self::span(call, repo))
            .await
            .map_err(|e| map_api(call, repo, e))
    }

    async fn all<T, E>(&self, call: &'static str, repo: &RepoPath, ep: E) -> ForgeResult<Vec<T>>
    where
        T: DeserializeOwned + Send + 'static,
        E: Endpoint + Pageable + Sync + Send,
    {
        ::gitlab::api::paged(ep, Pagination::All)
            .query_async(&self.rest)
            .instrument(Self::span(call, repo))
            .await
            .map_err(|e| map_api(call, repo, e))
    }

    async fn ignore<E>(&self, call: &'static str, repo: &RepoPath, ep: E) -> ForgeResult<()>
    where
        E: Endpoint + Sync + Send,
    {
        ::gitlab::api::ignore(ep)
            .query_async(&self.rest)
            .instrument(Self::span(call, repo))
            .await
            .map_err(|e| map_api(call, repo, e))
    }

    /// [`Forge::git_remote`]: the project's `http_url_to_repo` and the token, which
    /// GitLab takes over HTTPS as the password of the user `oauth2`.
    async fn remote(&self, repo: &RepoPath) -> ForgeResult<GitRemote> {
        #[derive(serde::Deserialize)]
        struct Project {
            http_url_to_repo: String,
        }
        let ep = ::gitlab::api::projects::Project::builder()
            .project(repo.as_str())
            .build()
            .map_err(|e| build_err("git_remote", repo)(e.to_string()))?;
        let p: Project = self.one("git_remote", repo, ep).await?;
        Ok(GitRemote {
            url: p.http_url_to_repo,
            username: "oauth2".into(),
            password: self.rest.token().clone(),
        })
    }

    fn note_url(&self, repo: &RepoPath, number: u64, on_mr: bool, id: u64) -> String {
        let kind = if on_mr { "merge_requests" } else { "issues" };
        format!("{}/{repo}/-/{kind}/{number}#note_{id}", self.web_base)
    }

    fn note(&self, repo: &RepoPath, n: GlNote, number: u64, on_mr: bool) -> Comment {
        Comment {
            url: self.note_url(repo, number, on_mr, n.id),
            at: CommentRef {
                number,
                on_pull_request: on_mr,
                id: n.id,
                on_diff: n.kind.as_deref() == Some("DiffNote"),
            },
            body: n.body,
            author: n.author.username,
            created_at: millis(&n.created_at),
        }
    }
}

fn build_err(call: &'static str, repo: &RepoPath) -> impl FnOnce(String) -> ForgeError {
    move |message| ForgeError::Protocol {
        call,
        repo: repo.to_string(),
        message: format!("building the request: {message}"),
    }
}

/// Turn a gitlab-crate error into a [`ForgeError`] naming the call and repository.
fn map_api(call: &'static str, repo: &RepoPath, e: ApiError<RestError>) -> ForgeError {
    let repo_s = repo.to_string();
    let by_status = |status: http::StatusCode, message: String| match status.as_u16() {
        404 => ForgeError::NotFound {
            call,
            repo: repo_s.clone(),
        },
        s @ (401 | 403) => ForgeError::Forbidden {
            call,
            repo: repo_s.clone(),
            status: s,
        },
        // Only reached for creates that were not retried (see `Retry::if_unapplied`).
        s @ 500.. => ForgeError::Unavailable {
            call,
            repo: repo_s.clone(),
            attempts: 1,
            last: format!("HTTP {s}: {message}"),
        },
        s => ForgeError::Rejected {
            call,
            repo: repo_s.clone(),
            status: s,
            message,
        },
    };
    match e {
        ApiError::Client {
            source: RestError::Send(SendFailure::GaveUp { attempts, last }),
        } => ForgeError::Unavailable {
            call,
            repo: repo_s,
            attempts,
            last,
        },
        ApiError::GitlabWithStatus { status, msg } => by_status(status, msg),
        ApiError::GitlabObjectWithStatus { status, obj }
        | ApiError::GitlabUnrecognizedWithStatus { status, obj } => {
            by_status(status, obj.to_string())
        }
        ApiError::GitlabService { status, data } => {
            by_status(status, String::from_utf8_lossy(&data).into_owned())
        }
        other => ForgeError::Protocol {
            call,
            repo: repo_s,
            message: other.to_string(),
        },
    }
}
