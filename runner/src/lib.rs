//! Runs a town's agents: one container per town, each agent a process in its own git
//! worktree (DESIGN.md §6).
//!
//! The bot schedules against the [`Runner`] trait; three backends implement it:
//! [`DockerRunner`] (one long-lived container per town, the isolated default),
//! [`KubernetesRunner`] (one pod per town, for a cluster) and [`LocalRunner`] (plain
//! host processes, for `gt demo` without Docker).
//!
//! Both backends share one convention so that an agent outlives the bot: every agent
//! runs under a generated POSIX `sh` wrapper that records its pid, output and exit code
//! in `run/<agent>/` under the town root. A restarted bot reads those files back instead
//! of holding any in-memory handle. The convention is documented in [`wrapper`].

pub mod agents;
mod docker;
mod error;
pub mod image;
pub mod kubernetes;
mod local;
pub mod town_fs;
mod town_scripts;
pub mod wrapper;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use docker::{DockerRunner, MANAGED_LABEL, TOWN_LABEL, container_name};
pub use error::RunnerError;
pub use kubernetes::{KubernetesOptions, KubernetesRunner};
pub use local::LocalRunner;
pub use town_scripts::{TOWN_CAPS, TOWN_MOUNT};

/// Identifies a town's container and the agents in it.
///
/// It becomes part of a container name and a label value, so only `[a-z0-9-_.]` is
/// accepted where it matters ([`TownId::validate`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TownId(pub String);

/// Identifies one agent process inside a town, e.g. `polecat-nux-gt-k3x9`.
///
/// It names a directory under `run/` and appears in shell scripts, so it is restricted
/// to `[a-z0-9-_.]`; [`AgentId::new`] refuses anything else.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AgentId(pub String);

fn check_id(kind: &'static str, id: &str) -> Result<(), RunnerError> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && !id.starts_with('.')
        && !id.starts_with('-')
        && id
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(RunnerError::InvalidId {
            kind,
            id: id.to_owned(),
        })
    }
}

impl TownId {
    /// Builds a town id, refusing characters that cannot go into a container name.
    pub fn new(id: impl Into<String>) -> Result<Self, RunnerError> {
        let id = id.into();
        check_id("town", &id)?;
        Ok(Self(id))
    }

    /// Re-checks an id built through the public field.
    pub fn validate(&self) -> Result<(), RunnerError> {
        check_id("town", &self.0)
    }
}

impl AgentId {
    /// Builds an agent id, refusing characters that are unsafe in a path or a script.
    pub fn new(id: impl Into<String>) -> Result<Self, RunnerError> {
        let id = id.into();
        check_id("agent", &id)?;
        Ok(Self(id))
    }

    /// Re-checks an id built through the public field.
    pub fn validate(&self) -> Result<(), RunnerError> {
        check_id("agent", &self.0)
    }
}

impl fmt::Display for TownId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Resource limits of a town's container; `None` leaves Docker's default (unlimited).
/// The local backend cannot enforce them and ignores them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub memory_bytes: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub pids: Option<i64>,
}

/// Everything needed to (re)create a town's environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TownSpec {
    pub id: TownId,
    /// Host directory holding the town's files (clones, worktrees, `run/`). Docker
    /// bind-mounts it at `/town`, so the bot can read agent records without Docker.
    pub root: PathBuf,
    /// Docker image of the town container (ignored by the local backend).
    pub image: String,
    /// Host path of the `gt` binary the agents call back into the bot with. Docker
    /// mounts it read-only at `/usr/local/bin/gt`; the local backend puts its directory
    /// first on `PATH`.
    pub gt_binary: PathBuf,
    pub limits: Limits,
}

/// A git worktree the agent works in, prepared by the wrapper before the command starts
/// (so a slow clone never blocks the bot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    /// The bot's git smart-HTTP endpoint for the rig. Never holds credentials: the
    /// wrapper answers git's credential prompt from `$GT_TOKEN` in the agent's env.
    pub remote_url: String,
    /// Relative to the town root; one bare clone per rig, shared by its agents.
    pub rig_dir: String,
    /// Relative to the town root; the agent's own worktree.
    pub worktree_dir: String,
    pub base_branch: String,
    /// Checked out from `origin/<branch>` if the remote has it, else created from
    /// `origin/<base_branch>`.
    pub branch: String,
}

/// One agent process to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSpec {
    pub town: TownId,
    pub agent: AgentId,
    /// argv; run by the wrapper, not through a shell.
    pub command: Vec<String>,
    /// The only environment the agent gets. The backend adds `PATH` and `HOME` (unless
    /// given here), `GT_TOWN_ROOT` and, with a workspace, `GT_WORKTREE`; nothing of the
    /// bot's own environment leaks in. Values are never written to disk.
    pub env: BTreeMap<String, String>,
    /// Variables of `env` whose value is a secret too long or too structured for argv
    /// (an MCP config with the token): the wrapper writes each value to a 0600 file
    /// `$HOME/.gastown/<NAME>` and sets the variable to that path instead.
    #[serde(default)]
    pub env_files: Vec<String>,
    pub workspace: Option<Workspace>,
    /// Quality gates the wrapper runs after the command exits 0, in order, on a copy of
    /// the worktree, each without any of `env` (no token) and, where the backend
    /// isolates, under a uid of their own. Their outcome is recorded by the wrapper, not
    /// reported by the agent: read it with [`Runner::checks`].
    #[serde(default)]
    pub checks: Vec<Check>,
}

/// One quality gate to run after an agent's command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    /// A shell command line (`sh -c`), from the repository's configuration.
    pub run: String,
    pub timeout_secs: u64,
}

/// What became of one [`Check`], as the wrapper recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    /// `None` when it did not finish (the agent was stopped meanwhile).
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub duration_ms: u64,
    /// The end of its combined output, at most [`wrapper::CHECK_TAIL`] bytes.
    pub output_tail: Vec<u8>,
}

/// What became of an agent process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentStatus {
    Running,
    Exited {
        code: i32,
    },
    /// Neither a live process nor a recorded exit: the wrapper itself was killed (with
    /// its container, by SIGKILL, by a reboot). The bot should treat the work as
    /// interrupted and recover from the pushed branch.
    Lost,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentState {
    pub agent: AgentId,
    pub status: AgentStatus,
    pub started_at_ms: i64,
    /// When its output last grew (its log's modification time, by the host's clock):
    /// the patrol counts new output as progress.
    #[serde(default)]
    pub output_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TownStatus {
    pub container_id: Option<String>,
    /// True when an existing container (or, locally, town directory) was re-attached
    /// rather than created, i.e. agents from before a bot restart may still be there.
    pub reused: bool,
}

/// The seam between the bot's scheduling and where agent processes actually run.
///
/// All state lives in the town's `run/` directory, so a new instance (after a bot
/// restart) sees the agents an old one started, once `ensure_town` has been called
/// for their town.
#[async_trait::async_trait]
pub trait Runner: Send + Sync + 'static {
    /// `"docker"`, `"kubernetes"` or `"local"`.
    fn kind(&self) -> &'static str;

    /// Creates the town (or re-attaches to it) and registers it with this instance.
    async fn ensure_town(&self, town: &TownSpec) -> Result<TownStatus, RunnerError>;

    /// Starts the agent's wrapper and returns once the process exists; workspace
    /// preparation and the command itself run afterwards, inside the wrapper.
    async fn start_agent(&self, spec: &AgentSpec) -> Result<(), RunnerError>;

    /// TERMs the agent's whole process group, KILLs it after a grace period.
    /// Idempotent: stopping an exited or unknown-but-recorded agent is fine.
    async fn stop_agent(&self, town: &TownId, agent: &AgentId) -> Result<(), RunnerError>;

    /// Every agent recorded in the town's `run/` directory, exited ones included,
    /// oldest first.
    async fn agents(&self, town: &TownId) -> Result<Vec<AgentState>, RunnerError>;

    /// Combined stdout+stderr from byte offset `from`, and the offset to ask for next.
    /// Returns at most [`wrapper::OUTPUT_CHUNK`] bytes per call.
    async fn output(
        &self,
        town: &TownId,
        agent: &AgentId,
        from: u64,
    ) -> Result<(Vec<u8>, u64), RunnerError>;

    /// The last `max` bytes of the agent's output (its log is rotated at
    /// [`wrapper::LOG_CAP`], so this is bounded whatever the agent printed).
    async fn output_tail(
        &self,
        town: &TownId,
        agent: &AgentId,
        max: usize,
    ) -> Result<Vec<u8>, RunnerError>;

    /// The outcome of the agent's [`Check`]s that ran, in order; read it before
    /// `forget_agent`.
    async fn checks(&self, town: &TownId, agent: &AgentId)
    -> Result<Vec<CheckResult>, RunnerError>;

    /// Removes the agent's `run/` record once the bot has handled its exit; refused
    /// while it runs. Where sessions are isolated, its home (and checkout) goes too, and
    /// any process left of its uid is killed: what it pushed is on the git endpoint.
    async fn forget_agent(&self, town: &TownId, agent: &AgentId) -> Result<(), RunnerError>;
}
