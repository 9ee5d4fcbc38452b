//! The local-process backend: agents are plain host processes under the town root.
//!
//! It exists so `gt demo` works without Docker. It isolates nothing (an agent can read
//! the whole machine as the bot's user), which is why it is opt-in and warns once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Once, RwLock};
use std::time::{Duration, Instant};

use tracing::{Instrument, debug, info, info_span, warn};

use crate::town_fs;
use crate::wrapper::{self, Isolation, OnDisk};
use crate::{
    AgentId, AgentSpec, AgentState, AgentStatus, CheckResult, Runner, RunnerError, TownId,
    TownSpec, TownStatus,
};

static NOT_ISOLATED: Once = Once::new();

/// How long `stop_agent` waits after TERM before it KILLs the process group.
const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

/// Runs agents as detached host processes (their own session), so they survive a
/// restart of the bot; all state is in the town's `run/` directory.
pub struct LocalRunner {
    towns: RwLock<HashMap<TownId, TownSpec>>,
    stop_grace: Duration,
}

impl Default for LocalRunner {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalRunner {
    pub fn new() -> Self {
        Self {
            towns: RwLock::new(HashMap::new()),
            stop_grace: DEFAULT_STOP_GRACE,
        }
    }

    /// Shortens or lengthens the TERM→KILL grace period of `stop_agent`.
    pub fn with_stop_grace(mut self, grace: Duration) -> Self {
        self.stop_grace = grace;
        self
    }

    fn town(&self, id: &TownId) -> Result<TownSpec, RunnerError> {
        self.towns
            .read()
            .expect("town registry lock poisoned")
            .get(id)
            .cloned()
            .ok_or_else(|| RunnerError::UnknownTown { town: id.0.clone() })
    }

    fn state_of(root: &Path, found: &OnDisk) -> AgentState {
        let wrapper = wrapper::wrapper_path(&root.to_string_lossy(), &found.record.agent);
        let alive = found.pid.is_some_and(|pid| wrapper_alive(pid, &wrapper));
        wrapper::state(found, alive)
    }
}

/// True when `pid` is a live process running this agent's wrapper. Checking the
/// command line (not just `kill(pid, 0)`) guards against pid reuse after a reboot or
/// a long downtime; zombies have an empty command line and count as dead.
fn wrapper_alive(pid: i64, wrapper: &str) -> bool {
    if pid <= 0 {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
        cmdline
            .windows(wrapper.len())
            .any(|w| w == wrapper.as_bytes())
    })
}

fn group_alive(pgid: i64) -> bool {
    // SAFETY: kill with signal 0 only checks for existence; no memory is involved.
    unsafe { libc::kill(-(pgid as libc::pid_t), 0) == 0 }
}

fn signal_group(pgid: i64, signal: libc::c_int) {
    // SAFETY: plain syscall; a stale group yields ESRCH, which is what we want to ignore.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), signal);
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

#[async_trait::async_trait]
impl Runner for LocalRunner {
    fn kind(&self) -> &'static str {
        "local"
    }

    async fn ensure_town(&self, town: &TownSpec) -> Result<TownStatus, RunnerError> {
        town.id.validate()?;
        let _span = info_span!("ensure_town", town = %town.id, runner = "local").entered();
        NOT_ISOLATED.call_once(|| {
            warn!(
                "the local runner does not isolate agents: they run as this user with full \
                 access to the machine; use the docker runner for untrusted work"
            );
        });
        let reused = town.root.join("run").is_dir();
        std::fs::create_dir_all(&town.root)
            .map_err(RunnerError::io("cannot create the town root", &town.root))?;
        let mut spec = town.clone();
        spec.root = absolute(&town.root);
        spec.gt_binary = absolute(&town.gt_binary);
        info!(root = %spec.root.display(), reused, "town ready");
        self.towns
            .write()
            .expect("town registry lock poisoned")
            .insert(town.id.clone(), spec);
        Ok(TownStatus {
            container_id: None,
            reused,
        })
    }

    async fn start_agent(&self, spec: &AgentSpec) -> Result<(), RunnerError> {
        let span =
            info_span!("start_agent", town = %spec.town, agent = %spec.agent, runner = "local");
        async {
            let town = self.town(&spec.town)?;
            let root = town.root.to_string_lossy().into_owned();
            let dir = wrapper::prepare_shared(&town.root, &root, spec, self.kind())?;
            let gt_dir = town
                .gt_binary
                .parent()
                .map(|p| format!("{}:", p.display()))
                .unwrap_or_default();
            let env = wrapper::agent_env(
                spec,
                &root,
                &format!("{gt_dir}/usr/local/bin:/usr/bin:/bin"),
                Isolation::Shared,
            );
            let mut cmd = tokio::process::Command::new("/bin/sh");
            cmd.arg(wrapper::wrapper_path(&root, &spec.agent))
                .env_clear()
                .envs(&env)
                .current_dir(&town.root)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            // SAFETY: setsid is async-signal-safe; it detaches the wrapper into its own
            // session and process group so it outlives the bot and can be stopped as a group.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::setsid() == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let mut child = cmd.spawn().map_err(RunnerError::io(
                "cannot start /bin/sh for the wrapper in",
                &dir,
            ))?;
            if let Some(pid) = child.id() {
                // The wrapper writes the same pid itself; writing it here too means
                // `agents()` sees it immediately after this returns.
                let _ = std::fs::write(dir.join("pid"), format!("{pid}\n"));
                info!(pid, "agent started");
            }
            // Reap the wrapper when it ends so it does not linger as a zombie (which
            // `kill(pid, 0)` would still report as alive).
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
            Ok(())
        }
        .instrument(span)
        .await
    }

    async fn stop_agent(&self, town: &TownId, agent: &AgentId) -> Result<(), RunnerError> {
        agent.validate()?;
        let span = info_span!("stop_agent", town = %town, agent = %agent, runner = "local");
        async {
            let spec = self.town(town)?;
            let Some(found) = wrapper::read_one(&spec.root, agent) else {
                debug!("no record; nothing to stop");
                return Ok(());
            };
            if Self::state_of(&spec.root, &found).status != AgentStatus::Running {
                return Ok(());
            }
            let Some(pid) = found.pid else {
                return Ok(());
            };
            let mut code = 143;
            signal_group(pid, libc::SIGTERM);
            let deadline = Instant::now() + self.stop_grace;
            let mut resend = Instant::now() + Duration::from_secs(1);
            while group_alive(pid) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
                // A process forked in the instant of the first TERM (between fork and
                // exec, or before the wrapper set its traps) misses it; repeat it.
                if Instant::now() > resend {
                    signal_group(pid, libc::SIGTERM);
                    resend += Duration::from_secs(1);
                }
            }
            if group_alive(pid) {
                warn!(
                    pid,
                    grace_s = self.stop_grace.as_secs(),
                    "agent ignored TERM; killing its process group"
                );
                signal_group(pid, libc::SIGKILL);
                code = 137;
                let deadline = Instant::now() + Duration::from_secs(2);
                while group_alive(pid) && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            if !wrapper_alive(
                pid,
                &wrapper::wrapper_path(&spec.root.to_string_lossy(), agent),
            ) {
                wrapper::record_stop(&spec.root, agent, code);
            }
            info!(pid, code, "agent stopped");
            Ok(())
        }
        .instrument(span)
        .await
    }

    async fn agents(&self, town: &TownId) -> Result<Vec<AgentState>, RunnerError> {
        let spec = self.town(town)?;
        town_fs::blocking(move || {
            Ok(wrapper::read_all(&spec.root)?
                .iter()
                .map(|found| Self::state_of(&spec.root, found))
                .collect())
        })
        .instrument(info_span!("agents", town = %town, runner = "local"))
        .await
    }

    async fn output(
        &self,
        town: &TownId,
        agent: &AgentId,
        from: u64,
    ) -> Result<(Vec<u8>, u64), RunnerError> {
        let root = self.town(town)?.root;
        wrapper::read_agent(root, town, agent, move |r, t, a| {
            wrapper::read_output(r, t, a, from)
        })
        .await
    }

    async fn output_tail(
        &self,
        town: &TownId,
        agent: &AgentId,
        max: usize,
    ) -> Result<Vec<u8>, RunnerError> {
        let root = self.town(town)?.root;
        wrapper::read_agent(root, town, agent, move |r, t, a| {
            wrapper::read_output_tail(r, t, a, max)
        })
        .await
    }

    async fn checks(
        &self,
        town: &TownId,
        agent: &AgentId,
    ) -> Result<Vec<CheckResult>, RunnerError> {
        let root = self.town(town)?.root;
        wrapper::read_agent(root, town, agent, wrapper::read_checks).await
    }

    async fn forget_agent(&self, town: &TownId, agent: &AgentId) -> Result<(), RunnerError> {
        agent.validate()?;
        let _span =
            info_span!("forget_agent", town = %town, agent = %agent, runner = "local").entered();
        let spec = self.town(town)?;
        let Some(found) = wrapper::read_one(&spec.root, agent) else {
            return wrapper::forget(&spec.root, agent);
        };
        if Self::state_of(&spec.root, &found).status == AgentStatus::Running {
            return Err(RunnerError::AgentRunning {
                town: town.0.clone(),
                agent: agent.0.clone(),
            });
        }
        wrapper::forget(&spec.root, agent)
    }
}
