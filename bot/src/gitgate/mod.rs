//! The git gateway: agents clone from and push to the bot over git smart HTTP, never to
//! the forge, so they hold no forge credentials (DESIGN §6).
//!
//! Each rig has a mirror, a bare repository under `<root>/mirrors/<forge>/<host>/
//! <path>.git`, kept in step with the forge by [`GitGateway::sync`] (the bot's
//! credentials reach git only through the environment, see [`GitRemote::git_env`]).
//! [`router`] serves `/git/<forge>/<host>/<path>.git/...` with `git http-backend`:
//! an agent authenticates with its token, may fetch from its own rig, and may push
//! only its bead's branches (`gt/<bead>`, `gt/<bead>-*`); the mirror's `pre-receive`
//! hook enforces that and pushes accepted branches on to the forge before the mirror
//! takes them (see [`hook`] for why there). Each accepted branch is then reported as a
//! [`PushedBranch`] on the channel the bot gave [`GitGateway::new`].
//!
//! Operations on one mirror (sync, push) are serialized by a lock per mirror; fetches
//! are served without it, git's own ref and pack handling making them safe alongside.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::mpsc::UnboundedSender;
use tracing::Instrument as _;

use crate::forge::{Forge, ForgeError, GitRemote, RepoPath};

mod hook;
mod merge;
mod mirror;
pub mod protected;
mod serve;

pub use merge::Merged;
pub use serve::router;

/// A rig's repository as the gateway serves it.
#[derive(Clone)]
pub struct RigTarget {
    pub rig_id: String,
    pub forge: Arc<dyn Forge>,
    pub repo: RepoPath,
}

impl fmt::Debug for RigTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RigTarget")
            .field("rig_id", &self.rig_id)
            .field("forge", &self.forge.kind().as_str())
            .field("host", &self.forge.host())
            .field("repo", &self.repo.as_str())
            .finish()
    }
}

/// What a live agent token allows: the agent's rig, the bead on its hook (where its
/// pushes are recorded) and the bead whose branches it may push: the same bead for a
/// polecat, the task for a rework or a refinery run on the task's branch (none: it may
/// only fetch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentGrant {
    pub agent_id: String,
    pub rig_id: String,
    pub bead_id: Option<String>,
    pub branch_bead: Option<String>,
}

/// Agent tokens, as the bot's database knows them.
#[async_trait]
pub trait GitAuth: Send + Sync + 'static {
    /// The agent a token belongs to, if the token is live.
    async fn agent_for_token(&self, token: &str) -> Option<AgentGrant>;
}

/// Which rig a gateway URL names.
#[async_trait]
pub trait RigResolver: Send + Sync + 'static {
    /// The rig of repository `path` on the `forge` (`github`, `gitlab`) at `host`, if
    /// the bot serves one there.
    async fn rig(&self, forge: &str, host: &str, path: &str) -> Option<RigTarget>;
}

/// A branch an agent pushed that is now on the forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedBranch {
    pub rig_id: String,
    pub agent_id: String,
    pub bead_id: String,
    /// Without `refs/heads/`: `gt/gt-k3x9-fix`.
    pub branch: String,
    pub sha: String,
}

/// Where accepted pushes are reported. The agent's `git push` is answered only after
/// [`PushSink::pushed`] returns, so whatever the sink records (the bot: a `pushed`
/// event on the bead) is there before the agent's next step, such as `gt_done`.
#[async_trait]
pub trait PushSink: Send + Sync + 'static {
    async fn pushed(&self, branch: PushedBranch);
}

/// A channel as a sink, for callers that consume pushes elsewhere.
#[async_trait]
impl PushSink for UnboundedSender<PushedBranch> {
    async fn pushed(&self, branch: PushedBranch) {
        if self.send(branch).is_err() {
            tracing::warn!("nobody listens for pushed branches");
        }
    }
}

/// How the gateway runs.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Mirrors live under `<root>/mirrors/`.
    pub root: PathBuf,
    /// A fetch through the gateway first syncs the mirror if it was synced longer ago
    /// than this, so agents see the forge's latest main.
    pub sync_interval: Duration,
    /// Largest push (request body) accepted.
    pub max_push_bytes: usize,
    /// The branch each rig's `.gastown.yaml` is read from (`polecats.base_branch`):
    /// its `target_branch` and `allow_protected_changes` decide the protected-file
    /// rule for pushes.
    pub base_branch: String,
}

impl GatewayConfig {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            sync_interval: Duration::from_secs(2),
            max_push_bytes: 512 * 1024 * 1024,
            base_branch: "main".into(),
        }
    }
}

/// Why a gateway operation failed, naming the rig (and the operation or path).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("rig {rig}: {source}")]
    Forge {
        rig: String,
        #[source]
        source: ForgeError,
    },
    #[error("rig {rig}: git {op} failed: {message}")]
    Git {
        rig: String,
        op: &'static str,
        message: String,
    },
    #[error("rig {rig}: {}: {source}", path.display())]
    Io {
        rig: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("rig {rig}: `{path}` cannot name a mirror")]
    BadPath { rig: String, path: String },
}

/// What [`GitGateway::land`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landed {
    Pushed,
    TargetMoved,
}

/// One mirror's lock, and when it last matched the forge.
#[derive(Default)]
struct MirrorState {
    synced_at: Option<Instant>,
}

/// The gateway: mirrors and where accepted pushes are reported.
pub struct GitGateway {
    config: GatewayConfig,
    auth: Arc<dyn GitAuth>,
    rigs: Arc<dyn RigResolver>,
    pushed: Arc<dyn PushSink>,
    /// One lock per mirror directory: a sync's `fetch --prune` that overlapped a push
    /// would drop the branch just pushed. The bot builds one gateway, which the router
    /// and the refinery share, so these are the only locks over its mirrors.
    mirrors: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<MirrorState>>>>,
}

impl fmt::Debug for GitGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitGateway")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl GitGateway {
    /// `pushed` hears of every branch an agent pushed once it is on the forge.
    pub fn new(
        config: GatewayConfig,
        auth: Arc<dyn GitAuth>,
        rigs: Arc<dyn RigResolver>,
        pushed: impl PushSink,
    ) -> Self {
        Self {
            config,
            auth,
            rigs,
            pushed: Arc::new(pushed),
            mirrors: Mutex::default(),
        }
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// Where the gateway serves mirrors from (`GIT_PROJECT_ROOT`).
    fn project_root(&self) -> PathBuf {
        self.config.root.join("mirrors")
    }

    /// The mirror's path under [`Self::project_root`]: `<forge>/<host>/<path>.git`. Built
    /// from the rig, never from the request, and refused for any path that could leave
    /// the root.
    fn relative_dir(rig: &RigTarget) -> Result<String, GateError> {
        let host = rig.forge.host();
        let path = rig.repo.as_str();
        let bad = |s: &str| {
            s.is_empty() || s == "." || s == ".." || s.chars().any(|c| c.is_control() || c == '\\')
        };
        if bad(host) || host.contains('/') || path.split('/').any(bad) {
            return Err(GateError::BadPath {
                rig: rig.rig_id.clone(),
                path: format!("{host}/{path}"),
            });
        }
        Ok(format!("{}/{host}/{path}.git", rig.forge.kind().as_str()))
    }

    /// The rig's mirror on disk.
    pub fn mirror_dir(&self, rig: &RigTarget) -> Result<PathBuf, GateError> {
        Ok(self.project_root().join(Self::relative_dir(rig)?))
    }

    fn lock_of(&self, dir: &Path) -> Arc<tokio::sync::Mutex<MirrorState>> {
        self.mirrors
            .lock()
            .expect("mirror locks poisoned")
            .entry(dir.to_owned())
            .or_default()
            .clone()
    }

    /// Bring the rig's mirror up to date with the forge, creating it if absent.
    pub async fn sync(&self, rig: &RigTarget) -> Result<(), GateError> {
        let dir = self.mirror_dir(rig)?;
        let lock = self.lock_of(&dir);
        let mut state = lock.lock().await;
        self.sync_locked(rig, &dir, &mut state).await
    }

    /// Sync unless the mirror was synced within `max_age`. When the forge cannot be
    /// reached, an existing mirror is served as it is (an agent can still work on what
    /// it has); only a mirror that does not exist yet makes this fail.
    async fn sync_if_older(&self, rig: &RigTarget, max_age: Duration) -> Result<(), GateError> {
        let dir = self.mirror_dir(rig)?;
        let lock = self.lock_of(&dir);
        let mut state = lock.lock().await;
        let fresh = state.synced_at.is_some_and(|t| t.elapsed() < max_age);
        if fresh && dir.join("HEAD").is_file() {
            return Ok(());
        }
        match self.sync_locked(rig, &dir, &mut state).await {
            Err(e) if dir.join("HEAD").is_file() => {
                tracing::warn!(error = %e, "serving the mirror without syncing it");
                Ok(())
            }
            r => r,
        }
    }

    async fn sync_locked(
        &self,
        rig: &RigTarget,
        dir: &Path,
        state: &mut MirrorState,
    ) -> Result<(), GateError> {
        let span = tracing::info_span!("mirror_sync", rig = %rig.rig_id, repo = %rig.repo);
        async {
            let created = mirror::ensure(&rig.rig_id, dir).await?;
            let remote = self.remote(rig).await?;
            mirror::fetch(&rig.rig_id, dir, &remote).await?;
            state.synced_at = Some(Instant::now());
            if created {
                tracing::info!(dir = %dir.display(), "mirror created");
            }
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Where `branch` is on the forge now (the mirror, synced first).
    pub async fn branch_head(&self, rig: &RigTarget, branch: &str) -> Result<String, GateError> {
        self.sync(rig).await?;
        let dir = self.mirror_dir(rig)?;
        let at = format!("refs/heads/{branch}");
        let out = mirror::git(
            &rig.rig_id,
            "rev-parse",
            &dir,
            &["rev-parse", "--verify", &at],
            &[],
        )
        .await?;
        Ok(out.trim().to_string())
    }

    /// Where each of `branches` is on the forge now (the mirror, synced once first);
    /// `None` for a branch that is not there.
    pub async fn branch_heads(
        &self,
        rig: &RigTarget,
        branches: &[&str],
    ) -> Result<Vec<Option<String>>, GateError> {
        self.sync(rig).await?;
        let dir = self.mirror_dir(rig)?;
        let mut heads = Vec::with_capacity(branches.len());
        for branch in branches {
            let at = format!("refs/heads/{branch}^{{commit}}");
            let args = ["rev-parse", "--verify", "--quiet", &at];
            let out = mirror::git(&rig.rig_id, "rev-parse", &dir, &args, &[]).await;
            heads.push(out.ok().map(|s| s.trim().to_string()).filter(|s| is_sha(s)));
        }
        Ok(heads)
    }

    /// Whether commit `ancestor` is `of` or in its history, in the mirror. Anything
    /// that is not a commit id, or a commit the mirror does not have, is not.
    pub async fn is_ancestor(
        &self,
        rig: &RigTarget,
        ancestor: &str,
        of: &str,
    ) -> Result<bool, GateError> {
        if !is_sha(ancestor) || !is_sha(of) {
            return Ok(false);
        }
        let dir = self.mirror_dir(rig)?;
        let args = ["merge-base", "--is-ancestor", ancestor, of];
        Ok(mirror::git(&rig.rig_id, "merge-base", &dir, &args, &[])
            .await
            .is_ok())
    }

    /// The diff from `base` to `head` as the forge has them, for the refinery's
    /// review: read from the mirror, synced first if it lacks either commit. Both
    /// must be commit ids (never options or revision expressions).
    pub async fn diff(&self, rig: &RigTarget, base: &str, head: &str) -> Result<String, GateError> {
        if let Some(bad) = [base, head].into_iter().find(|s| !is_sha(s)) {
            return Err(GateError::Git {
                rig: rig.rig_id.clone(),
                op: "diff",
                message: format!("{bad:?} is not a commit id"),
            });
        }
        let dir = self.mirror_dir(rig)?;
        let lock = self.lock_of(&dir);
        let mut state = lock.lock().await;
        let args = ["diff", "--no-color", "--no-ext-diff", base, head];
        match mirror::git(&rig.rig_id, "diff", &dir, &args, &[]).await {
            Ok(diff) => Ok(diff),
            Err(_) => {
                self.sync_locked(rig, &dir, &mut state).await?;
                mirror::git(&rig.rig_id, "diff", &dir, &args, &[]).await
            }
        }
    }

    /// The protected files (see [`protected`]) that the commits of `head` not on
    /// `target` change, as the mirror has them (synced first if it lacks `head`),
    /// whatever `.gastown.yaml` allows: what the refinery lands by.
    pub async fn protected_changes(
        &self,
        rig: &RigTarget,
        target: &str,
        head: &str,
    ) -> Result<Vec<String>, GateError> {
        let dir = self.mirror_dir(rig)?;
        let lock = self.lock_of(&dir);
        let mut state = lock.lock().await;
        let commit = format!("{head}^{{commit}}");
        let verify = ["rev-parse", "--verify", "--quiet", commit.as_str()];
        if mirror::git(&rig.rig_id, "rev-parse", &dir, &verify, &[])
            .await
            .is_err()
        {
            self.sync_locked(rig, &dir, &mut state).await?;
        }
        protected::changed(&rig.rig_id, &dir, target, &self.config.base_branch, head).await
    }

    /// The protected-file rule for a push to `rig`, as the hook's environment: the
    /// target branch and what `.gastown.yaml` on the base branch allows, read from the
    /// mirror. A file that does not read allows nothing.
    async fn protected_rule(&self, rig: &RigTarget, dir: &Path) -> Vec<(String, String)> {
        let base = &self.config.base_branch;
        let (target, allow) = match self.repo_config_at(rig, dir, base).await {
            Ok(c) => (
                c.target_branch.unwrap_or_else(|| base.clone()),
                c.allow_protected_changes,
            ),
            Err(e) => {
                tracing::warn!(rig = %rig.rig_id, error = %e,
                    "cannot read .gastown.yaml from the mirror: no protected file may change");
                (base.clone(), Vec::new())
            }
        };
        protected::hook_env(&target, base, &allow)
    }

    /// `.gastown.yaml` on `branch` of the mirror: the defaults when there is none.
    async fn repo_config_at(
        &self,
        rig: &RigTarget,
        dir: &Path,
        branch: &str,
    ) -> Result<crate::config::repo::RepoConfig, String> {
        let object = format!("refs/heads/{branch}:{}", crate::config::repo::FILE);
        let verify = ["rev-parse", "--verify", "--quiet", object.as_str()];
        if mirror::git(&rig.rig_id, "rev-parse", dir, &verify, &[])
            .await
            .is_err()
        {
            return Ok(crate::config::repo::RepoConfig::default());
        }
        let show = ["cat-file", "blob", object.as_str()];
        let text = mirror::git(&rig.rig_id, "cat-file", dir, &show, &[])
            .await
            .map_err(|e| e.to_string())?;
        let at = format!("{}@{branch}", crate::config::repo::FILE);
        crate::config::repo::parse(&text, &at).map_err(|e| e.to_string())
    }

    /// Put `sha` on the forge's `branch`, fast-forward only: how the refinery lands
    /// work under the `direct` strategy. The commit is in the mirror already (the
    /// refinery's run pushed it through this gateway). A target that moved meanwhile
    /// is no error: it says so, and the refinery rebases and tests again.
    pub async fn land(
        &self,
        rig: &RigTarget,
        sha: &str,
        branch: &str,
    ) -> Result<Landed, GateError> {
        if !is_sha(sha) {
            return Err(GateError::Git {
                rig: rig.rig_id.clone(),
                op: "push",
                message: format!("{sha:?} is not a commit id"),
            });
        }
        let dir = self.mirror_dir(rig)?;
        let lock = self.lock_of(&dir);
        let _state = lock.lock().await;
        let remote = self.remote(rig).await?;
        let spec = format!("{sha}:refs/heads/{branch}");
        let args = ["push", "--quiet", remote.url.as_str(), spec.as_str()];
        match mirror::git(&rig.rig_id, "push", &dir, &args, &remote.git_env()).await {
            Ok(_) => {}
            Err(GateError::Git { message, .. })
                if message.contains("non-fast-forward")
                    || message.contains("fetch first")
                    || message.contains("rejected") =>
            {
                tracing::info!(rig = %rig.rig_id, branch, "the target moved; not a fast-forward");
                return Ok(Landed::TargetMoved);
            }
            Err(e) => return Err(e),
        }
        let update = ["update-ref", &format!("refs/heads/{branch}"), sha];
        mirror::git(&rig.rig_id, "update-ref", &dir, &update, &[]).await?;
        Ok(Landed::Pushed)
    }

    async fn remote(&self, rig: &RigTarget) -> Result<GitRemote, GateError> {
        rig.forge
            .git_remote(&rig.repo)
            .await
            .map_err(|source| GateError::Forge {
                rig: rig.rig_id.clone(),
                source,
            })
    }
}

/// A full commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits. What an agent
/// reports as a commit is checked with this before git sees it.
pub fn is_sha(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `{public}/git/<forge>/<host>/<path>.git`, the rig's repository in the town.
pub fn git_url(public: &str, forge: webhooks::ForgeKind, host: &str, path: &str) -> String {
    format!("{public}/git/{forge}/{host}/{path}.git")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::gitlab::GitlabForge;
    use crate::forge::resilience::{Policy, Secret};

    fn rig(host: &str, path: &str) -> RigTarget {
        let forge = GitlabForge::new(
            "http://127.0.0.1:9",
            host,
            Secret::new("t"),
            Policy::default(),
        )
        .unwrap();
        RigTarget {
            rig_id: "r".into(),
            forge: Arc::new(forge),
            repo: RepoPath::new(path),
        }
    }

    #[test]
    fn mirror_paths_stay_under_the_root() {
        assert_eq!(
            GitGateway::relative_dir(&rig("gl.example:8080", "g/sub/.p")).unwrap(),
            "gitlab/gl.example:8080/g/sub/.p.git"
        );
        for (host, path) in [
            ("gl.example", "../x"),
            ("gl.example", "g/../../x"),
            ("gl.example", "g//p"),
            ("gl.example", "/g/p"),
            ("gl.example", "g/./p"),
            ("..", "g/p"),
            ("a/b", "g/p"),
        ] {
            let r = GitGateway::relative_dir(&rig(host, path));
            assert!(matches!(r, Err(GateError::BadPath { .. })), "{host} {path}");
        }
    }
}
