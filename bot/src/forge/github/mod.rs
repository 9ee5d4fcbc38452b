//! [`Forge`] for GitHub (and GitHub Enterprise, `https://host/api/v3`) on octocrab.
//!
//! Calls go through octocrab's generic route methods (`get`/`post`/`patch`/`put`) with
//! small local response shapes: the bot reads a handful of fields, and owning the shapes
//! keeps a GitHub model change in octocrab from breaking the build. Octocrab supplies
//! auth (token, or App JWT → per-installation token that it caches and refreshes),
//! `Link`-header pagination ([`octocrab::Page`]) and errors that carry the response
//! headers, which is what lets [`Policy`] see rate limits: octocrab's own retry layer is
//! switched off so the policy is the only one retrying.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use octocrab::service::middleware::retry::RetryConfig;
use octocrab::{Octocrab, Page};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::forge::resilience::{Policy, Retry, Secret, classify_status};
use crate::forge::*;

mod forge;
mod types;

/// How the bot authenticates to GitHub.
#[derive(Clone)]
pub enum GithubAuth {
    /// A personal access or fine-grained token.
    Token(Secret),
    /// A GitHub App: the JWT signed with the private key buys an installation token for
    /// each repository's installation.
    App {
        app_id: u64,
        private_key_pem: Secret,
    },
}

impl fmt::Debug for GithubAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GithubAuth::Token(_) => f.write_str("Token(***)"),
            GithubAuth::App { app_id, .. } => write!(f, "App {{ app_id: {app_id}, key: *** }}"),
        }
    }
}

enum Clients {
    /// The client, and its token for git (octocrab does not hand a personal token back).
    Token(Arc<Octocrab>, Secret),
    /// The app-authenticated client, and installation clients by repository. Octocrab
    /// keeps each installation token and mints a new one shortly before it expires.
    App {
        app: Arc<Octocrab>,
        installations: tokio::sync::Mutex<Installations>,
    },
}

/// Installation clients: one per installation (so one token per installation), found
/// through the repository's installation. Shared by `Arc` because cloning an
/// `Octocrab` copies its token cache, and a copy's refreshed token would be lost.
#[derive(Default)]
struct Installations {
    by_repo: HashMap<String, Arc<Octocrab>>,
    by_id: HashMap<u64, Arc<Octocrab>>,
}

/// The GitHub client the bot uses; see the module docs.
pub struct GithubForge {
    host: String,
    clients: Clients,
    policy: Policy,
}

impl fmt::Debug for GithubForge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubForge")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

const FORGE: &str = "github";

impl GithubForge {
    /// `api_base` is `https://api.github.com`, `https://host/api/v3` for Enterprise, or a
    /// local simulator; `host` is the web host rigs are named by. Call inside the tokio
    /// runtime: octocrab spawns its request buffer task here.
    pub fn new(
        api_base: &str,
        host: impl Into<String>,
        auth: GithubAuth,
        policy: Policy,
    ) -> ForgeResult<Self> {
        let cfg = |e: octocrab::Error| ForgeError::Config(format!("github client: {e}"));
        let builder = Octocrab::builder()
            .base_uri(api_base.trim_end_matches('/'))
            .map_err(cfg)?
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(policy.settings.request_timeout))
            .set_read_timeout(Some(policy.settings.request_timeout));
        let clients = match auth {
            GithubAuth::Token(t) => Clients::Token(
                Arc::new(
                    builder
                        .personal_token(t.expose().to_owned())
                        .build()
                        .map_err(cfg)?,
                ),
                t,
            ),
            GithubAuth::App {
                app_id,
                private_key_pem,
            } => {
                let app = builder
                    .app_from_rsa_pem(app_id.into(), private_key_pem.expose().as_bytes())
                    .map_err(cfg)?
                    .build()
                    .map_err(cfg)?;
                Clients::App {
                    app: Arc::new(app),
                    installations: Default::default(),
                }
            }
        };
        Ok(Self {
            host: host.into(),
            clients,
            policy,
        })
    }

    /// The client for `repo`: the token client, or the installation client of the App's
    /// installation on that repository (looked up once, then cached).
    async fn crab(&self, repo: &RepoPath) -> ForgeResult<Arc<Octocrab>> {
        match &self.clients {
            Clients::Token(c, _) => Ok(c.clone()),
            Clients::App { app, installations } => {
                let mut cache = installations.lock().await;
                if let Some(c) = cache.by_repo.get(repo.as_str()) {
                    return Ok(c.clone());
                }
                #[derive(serde::Deserialize)]
                struct Inst {
                    id: u64,
                }
                let route = Self::route(repo, "installation");
                let inst: Inst = self
                    .run("installation", repo, || app.get(&route, None::<&()>))
                    .await?;
                let client = match cache.by_id.get(&inst.id) {
                    Some(c) => c.clone(),
                    None => {
                        let c = app
                            .installation(inst.id.into())
                            .map(Arc::new)
                            .map_err(|e| {
                                ForgeError::Config(format!(
                                    "github app installation {} for {repo}: {e}",
                                    inst.id
                                ))
                            })?;
                        cache.by_id.insert(inst.id, c.clone());
                        c
                    }
                };
                cache
                    .by_repo
                    .insert(repo.as_str().to_owned(), client.clone());
                Ok(client)
            }
        }
    }

    /// The token the client calls `repo` with, for git over HTTPS (as `x-access-token`):
    /// the personal token, or the installation's token, minted anew when the cached one
    /// has under a minute left so a long fetch does not outlive it.
    async fn git_token(&self, repo: &RepoPath) -> ForgeResult<Secret> {
        use octocrab::secrecy::ExposeSecret as _;
        match &self.clients {
            Clients::Token(_, t) => Ok(t.clone()),
            Clients::App { .. } => {
                let crab = self.crab(repo).await?;
                let token = self
                    .run("git_remote", repo, || {
                        crab.installation_token_with_buffer(chrono::Duration::seconds(60))
                    })
                    .await?;
                Ok(Secret::new(token.expose_secret()))
            }
        }
    }

    /// [`Forge::git_remote`]: the repository's `clone_url` and the client's token.
    async fn remote(&self, repo: &RepoPath) -> ForgeResult<GitRemote> {
        #[derive(serde::Deserialize)]
        struct Repo {
            clone_url: String,
        }
        let route = format!("/repos/{}", repo.as_str());
        let r: Repo = self.get("git_remote", repo, &route).await?;
        Ok(GitRemote {
            url: r.clone_url,
            username: "x-access-token".into(),
            password: self.git_token(repo).await?,
        })
    }

    /// One call through the policy, in a span naming forge, repository and call.
    async fn run<T, F, Fut>(&self, call: &'static str, repo: &RepoPath, op: F) -> ForgeResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = octocrab::Result<T>>,
    {
        self.run_with(call, repo, true, op).await
    }

    /// [`Self::run`] for a call that is not idempotent when `idempotent` is false: see
    /// [`Retry::if_unapplied`].
    async fn run_with<T, F, Fut>(
        &self,
        call: &'static str,
        repo: &RepoPath,
        idempotent: bool,
        op: F,
    ) -> ForgeResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = octocrab::Result<T>>,
    {
        let span = tracing::info_span!("forge", forge = FORGE, repo = %repo, call);
        let policy = &self.policy;
        async move {
            policy
                .run(op, |e| {
                    classify(e, policy.now_epoch_secs())
                        .if_unapplied(idempotent || proves_unapplied(e))
                })
                .await
                .map_err(|f| f.into_forge(call, repo.as_str(), |e| map_error(call, repo, e)))
        }
        .instrument(span)
        .await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        call: &'static str,
        repo: &RepoPath,
        route: &str,
    ) -> ForgeResult<T> {
        let crab = self.crab(repo).await?;
        self.run(call, repo, || crab.get(route, None::<&()>)).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        call: &'static str,
        repo: &RepoPath,
        method: http::Method,
        route: &str,
        body: &serde_json::Value,
    ) -> ForgeResult<T> {
        let crab = self.crab(repo).await?;
        // POSTs that create things must not be repeated blindly; adding labels to an
        // issue is a set union, a repeated status only adds a history entry, and a
        // repeated reaction answers the one already there.
        let idempotent = method != http::Method::POST
            || matches!(
                call,
                "add_labels" | "set_status" | "add_reaction" | "remove_reaction"
            );
        self.run_with(call, repo, idempotent, || {
            let crab = &crab;
            let method = method.clone();
            async move {
                match method {
                    http::Method::POST => crab.post(route, Some(body)).await,
                    http::Method::PATCH => crab.patch(route, Some(body)).await,
                    http::Method::PUT => crab.put(route, Some(body)).await,
                    _ => crab.delete(route, Some(body)).await,
                }
            }
        })
        .await
    }

    /// A call whose answer has no body worth reading (204s, deletes).
    async fn send_empty(
        &self,
        call: &'static str,
        repo: &RepoPath,
        method: http::Method,
        route: &str,
    ) -> ForgeResult<()> {
        let crab = self.crab(repo).await?;
        self.run(call, repo, || {
            let crab = &crab;
            let method = method.clone();
            async move {
                let resp = if method == http::Method::DELETE {
                    crab._delete(route, None::<&()>).await?
                } else {
                    crab._put(route, None::<&()>).await?
                };
                octocrab::map_github_error(resp).await.map(|_| ())
            }
        })
        .await
    }

    /// Every page of a list, following `Link: rel="next"`.
    async fn all<T: DeserializeOwned>(
        &self,
        call: &'static str,
        repo: &RepoPath,
        route: &str,
    ) -> ForgeResult<Vec<T>> {
        let crab = self.crab(repo).await?;
        let sep = if route.contains('?') { '&' } else { '?' };
        let first = format!("{route}{sep}per_page=100");
        let mut page: Page<T> = self
            .run(call, repo, || crab.get(&first, None::<&()>))
            .await?;
        let mut items = page.take_items();
        while let Some(next) = page.next.take() {
            let next = next.to_string();
            page = self
                .run(call, repo, || crab.get(&next, None::<&()>))
                .await?;
            items.extend(page.take_items());
        }
        Ok(items)
    }

    fn route(repo: &RepoPath, rest: &str) -> String {
        format!("/repos/{}/{rest}", repo.as_str())
    }

    /// A comment's reactions: an issue (or PR conversation) comment's, or a review
    /// comment's when the comment is on the diff.
    fn reactions_route(repo: &RepoPath, at: &CommentRef) -> String {
        let kind = if at.on_diff { "pulls" } else { "issues" };
        Self::route(repo, &format!("{kind}/comments/{}/reactions", at.id))
    }
}

/// Percent-encode one path segment (label names, file paths keep their slashes).
fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn file_path(s: &str) -> String {
    s.split('/').map(seg).collect::<Vec<_>>().join("/")
}

fn classify(e: &octocrab::Error, now: u64) -> Retry {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            let empty = http::HeaderMap::new();
            let headers = source.headers.as_ref().unwrap_or(&empty);
            let status = source.status_code.as_u16();
            match classify_status(status, headers, now) {
                // GitHub's secondary limit sometimes comes without retry-after.
                Retry::No
                    if status == 403 && source.message.to_lowercase().contains("rate limit") =>
                {
                    Retry::RateLimited(std::time::Duration::from_secs(60))
                }
                r => r,
            }
        }
        octocrab::Error::Hyper { .. } | octocrab::Error::Service { .. } => Retry::Transient(None),
        _ => Retry::No,
    }
}

/// A failure that shows the request never reached GitHub: a 503, or a connection that
/// never opened (hyper's `client error (Connect)` anywhere in the chain).
fn proves_unapplied(e: &octocrab::Error) -> bool {
    if let octocrab::Error::GitHub { source, .. } = e {
        return source.status_code == http::StatusCode::SERVICE_UNAVAILABLE;
    }
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cur {
        if err.to_string() == "client error (Connect)" {
            return true;
        }
        cur = err.source();
    }
    false
}

fn map_error(call: &'static str, repo: &RepoPath, e: octocrab::Error) -> ForgeError {
    let repo_s = repo.as_str().to_owned();
    match e {
        octocrab::Error::GitHub { source, .. } => match source.status_code.as_u16() {
            404 => ForgeError::NotFound { call, repo: repo_s },
            s @ (401 | 403) => ForgeError::Forbidden {
                call,
                repo: repo_s,
                status: s,
            },
            // Only reached for creates that were not retried (see `if_unapplied`).
            s @ 500.. => ForgeError::Unavailable {
                call,
                repo: repo_s,
                attempts: 1,
                last: format!("HTTP {s}: {}", source.message),
            },
            s => ForgeError::Rejected {
                call,
                repo: repo_s,
                status: s,
                message: source.message.clone(),
            },
        },
        e @ (octocrab::Error::Hyper { .. } | octocrab::Error::Service { .. }) => {
            ForgeError::Unavailable {
                call,
                repo: repo_s,
                attempts: 1,
                last: format!("{e} (not retried: the request may have been applied)"),
            }
        }
        other => ForgeError::Protocol {
            call,
            repo: repo_s,
            message: other.to_string(),
        },
    }
}
