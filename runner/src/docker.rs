//! The Docker backend: one long-lived container per town, agents exec'd into it.
//!
//! The container only keeps the town alive (`sleep infinity` under Docker's init, which
//! reaps orphans); agents are detached execs of the shared wrapper, so they survive the
//! bot's restart and its Docker connection. The town root is bind-mounted at `/town`,
//! which lets the bot read `run/` records directly from the host.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;
use tracing::{Instrument, info, info_span, warn};

use crate::town_fs;
use crate::town_scripts::{
    CONTAINER_PATH, FORGET_SCRIPT, ROOT_SCRIPT, STOP_SCRIPT, TOWN_CAPS, TOWN_MOUNT,
};
use crate::wrapper::{self, Isolation, OnDisk};
use crate::{
    AgentId, AgentSpec, AgentState, AgentStatus, CheckResult, Runner, RunnerError, TownId,
    TownSpec, TownStatus,
};

/// Label holding the town id; how a restarted bot finds its town's container.
pub const TOWN_LABEL: &str = "gastown.town";
/// Label marking containers this crate manages, for cleanup tools.
pub const MANAGED_LABEL: &str = "gastown.managed";

const SOCKET: &str = "/var/run/docker.sock";
const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Runs each town in its own hardened container (every capability dropped but
/// [`TOWN_CAPS`], no new privileges, a read-only root filesystem, resource limits from
/// [`Limits`](crate::Limits)); each agent session under a uid of its own
/// ([`Isolation::PerSession`]).
pub struct DockerRunner {
    docker: Docker,
    towns: RwLock<HashMap<TownId, Town>>,
    stop_grace: Duration,
    network: String,
}

#[derive(Clone)]
struct Town {
    spec: TownSpec,
    container: String,
}

/// The container name of a town; the label, not the name, is authoritative.
pub fn container_name(town: &TownId) -> String {
    format!("gastown-town-{}", town.0)
}

impl DockerRunner {
    /// Connects to the local daemon and negotiates the API version (the daemon may be
    /// older than bollard's default API).
    pub async fn connect() -> Result<Self, RunnerError> {
        let unreachable = |source| RunnerError::DockerUnreachable {
            socket: SOCKET.to_owned(),
            source,
        };
        let docker = Docker::connect_with_socket_defaults().map_err(unreachable)?;
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        docker.ping().await.map_err(unreachable)?;
        Ok(Self {
            docker,
            towns: RwLock::new(HashMap::new()),
            stop_grace: DEFAULT_STOP_GRACE,
            network: "host".to_owned(),
        })
    }

    /// The Docker network new town containers join (`host` by default: agents reach
    /// the bot on loopback). A bridge network keeps them off the host's loopback and
    /// metadata addresses where the daemon has one; then set `public_url` to an
    /// address the bridge reaches.
    pub fn with_network(mut self, network: impl Into<String>) -> Self {
        self.network = network.into();
        self
    }

    /// Shortens or lengthens the TERM→KILL grace period of `stop_agent`.
    pub fn with_stop_grace(mut self, grace: Duration) -> Self {
        self.stop_grace = grace;
        self
    }

    /// The negotiated client, for callers that need more than the [`Runner`] seam
    /// (image builds, inspection in tests).
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    fn town(&self, id: &TownId) -> Result<Town, RunnerError> {
        self.towns
            .read()
            .expect("town registry lock poisoned")
            .get(id)
            .cloned()
            .ok_or_else(|| RunnerError::UnknownTown { town: id.0.clone() })
    }

    async fn find_town_containers(&self, town: &TownId) -> Result<Vec<String>, RunnerError> {
        let filters =
            HashMap::from([("label".to_owned(), vec![format!("{TOWN_LABEL}={}", town.0)])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let found =
            self.docker
                .list_containers(Some(options))
                .await
                .map_err(RunnerError::docker(format!(
                    "list the containers of town {town}"
                )))?;
        Ok(found.into_iter().filter_map(|c| c.id).collect())
    }

    /// Removes the town's container(s) (and with them every agent process); the town
    /// root on the host is kept. Idempotent.
    pub async fn remove_town(&self, town: &TownId) -> Result<(), RunnerError> {
        let span = info_span!("remove_town", town = %town, runner = "docker");
        async {
            for id in self.find_town_containers(town).await? {
                let options = RemoveContainerOptionsBuilder::default().force(true).build();
                self.docker
                    .remove_container(&id, Some(options))
                    .await
                    .map_err(RunnerError::docker(format!(
                        "remove container {id} of town {town}"
                    )))?;
                info!(container = %id, "town container removed");
            }
            self.towns
                .write()
                .expect("town registry lock poisoned")
                .remove(town);
            Ok(())
        }
        .instrument(span)
        .await
    }

    async fn create_town_container(&self, spec: &TownSpec) -> Result<String, RunnerError> {
        let binds = vec![
            format!("{}:{TOWN_MOUNT}", spec.root.display()),
            format!("{}:/usr/local/bin/gt:ro", spec.gt_binary.display()),
        ];
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: Some(vec!["sleep".to_owned(), "infinity".to_owned()]),
            // Root in the town is the wrapper's supervisor: it may change uids, chown
            // and signal, nothing else; every agent runs under a uid of its own.
            user: Some("0:0".to_owned()),
            working_dir: Some(TOWN_MOUNT.to_owned()),
            env: Some(vec![format!("PATH={CONTAINER_PATH}")]),
            labels: Some(HashMap::from([
                (TOWN_LABEL.to_owned(), spec.id.0.clone()),
                (MANAGED_LABEL.to_owned(), "true".to_owned()),
            ])),
            host_config: Some(HostConfig {
                binds: Some(binds),
                network_mode: Some(self.network.clone()),
                init: Some(true),
                cap_drop: Some(vec!["ALL".to_owned()]),
                cap_add: Some(TOWN_CAPS.iter().map(|c| (*c).to_owned()).collect()),
                security_opt: Some(vec!["no-new-privileges".to_owned()]),
                readonly_rootfs: Some(true),
                tmpfs: Some(HashMap::from([(
                    "/tmp".to_owned(),
                    "rw,nosuid,nodev,mode=1777,size=1g".to_owned(),
                )])),
                memory: spec.limits.memory_bytes,
                nano_cpus: spec.limits.nano_cpus,
                pids_limit: spec.limits.pids,
                ..Default::default()
            }),
            ..Default::default()
        };
        let name = container_name(&spec.id);
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(RunnerError::docker(format!(
                "create container {name} for town {} from image {} (build it with `gt town-image build`, or remove a stale {name} with `docker rm -f {name}`)",
                spec.id, spec.image
            )))?;
        for warning in &created.warnings {
            warn!(container = %created.id, "{warning}");
        }
        Ok(created.id)
    }

    /// Whether a container was made with the sandbox's hardening.
    async fn hardened(&self, id: &str) -> Result<bool, RunnerError> {
        let inspect = self
            .docker
            .inspect_container(id, None)
            .await
            .map_err(RunnerError::docker(format!("inspect container {id}")))?;
        let host = inspect.host_config.unwrap_or_default();
        Ok(host.cap_drop.unwrap_or_default().iter().any(|c| c == "ALL")
            && host
                .security_opt
                .unwrap_or_default()
                .iter()
                .any(|o| o == "no-new-privileges"))
    }

    async fn start_container(&self, id: &str, town: &TownId) -> Result<(), RunnerError> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(RunnerError::docker(format!(
                "start container {id} of town {town}"
            )))
    }

    /// Runs a short command in the container to completion and returns its exit code
    /// and combined output.
    async fn exec_capture(
        &self,
        town: &Town,
        cmd: Vec<String>,
    ) -> Result<(i64, String), RunnerError> {
        let action = |what: &str| {
            format!(
                "{what} in container {} of town {}",
                town.container, town.spec.id
            )
        };
        let options = CreateExecOptions {
            cmd: Some(cmd),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let exec = self
            .docker
            .create_exec(&town.container, options)
            .await
            .map_err(RunnerError::docker(action(
                "create an exec (is the container running? call ensure_town)",
            )))?;
        let mut text = String::new();
        if let StartExecResults::Attached { mut output, .. } = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(RunnerError::docker(action("start an exec")))?
        {
            while let Some(chunk) = output.next().await {
                let chunk = chunk.map_err(RunnerError::docker(action("read exec output")))?;
                text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            }
        }
        let inspect = self
            .docker
            .inspect_exec(&exec.id)
            .await
            .map_err(RunnerError::docker(action("inspect an exec")))?;
        Ok((inspect.exit_code.unwrap_or(-1), text))
    }

    /// Command lines of the container's live root processes (wrappers run as root;
    /// an agent cannot fake one by naming another's wrapper in its own command line);
    /// empty if it is not running.
    async fn live_wrappers(&self, town: &Town) -> HashSet<String> {
        match self.docker.top_processes(&town.container, None).await {
            Ok(top) => top
                .processes
                .unwrap_or_default()
                .into_iter()
                .filter(|row| row.first().is_some_and(|uid| uid == "root" || uid == "0"))
                .map(|row| row.join(" "))
                .collect(),
            Err(e) => {
                warn!(container = %town.container, error = %e, "cannot list the town's processes; counting its agents as not running");
                HashSet::new()
            }
        }
    }

    fn state_of(live: &HashSet<String>, found: &OnDisk) -> AgentState {
        let wrapper = wrapper::wrapper_path(TOWN_MOUNT, &found.record.agent);
        let alive = live
            .iter()
            .any(|cmd| cmd.contains(&wrapper) && !cmd.contains("<defunct>"));
        wrapper::state(found, alive)
    }

    async fn state(&self, town: &Town, agent: &AgentId) -> Option<AgentState> {
        let (root, a) = (town.spec.root.clone(), agent.clone());
        let found = town_fs::blocking(move || Ok(wrapper::read_one(&root, &a)))
            .await
            .ok()??;
        let live = self.live_wrappers(town).await;
        Some(Self::state_of(&live, &found))
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The bot's gid: the group of the `run/` records, so a bot that is not root reads them.
fn bot_gid() -> u32 {
    // SAFETY: getgid cannot fail and touches no memory.
    unsafe { libc::getgid() }
}

#[async_trait::async_trait]
impl Runner for DockerRunner {
    fn kind(&self) -> &'static str {
        "docker"
    }

    async fn ensure_town(&self, spec: &TownSpec) -> Result<TownStatus, RunnerError> {
        spec.id.validate()?;
        let span = info_span!("ensure_town", town = %spec.id, runner = "docker");
        async {
            std::fs::create_dir_all(&spec.root)
                .map_err(RunnerError::io("cannot create the town root", &spec.root))?;
            let mut spec = spec.clone();
            spec.root = absolute(&spec.root);
            spec.gt_binary = absolute(&spec.gt_binary);
            // Docker would silently create a directory for a missing bind source.
            if !spec.gt_binary.is_file() {
                return Err(RunnerError::Io {
                    what: "the gt binary to mount into the town is missing:".to_owned(),
                    path: spec.gt_binary.clone(),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                });
            }
            let existing = self.find_town_containers(&spec.id).await?;
            if existing.len() > 1 {
                return Err(RunnerError::DuplicateTownContainers {
                    town: spec.id.0.clone(),
                    count: existing.len(),
                    ids: existing.join(", "),
                });
            }
            // A town container from before the sandbox (all capabilities, agents as
            // the bot's uid) is not kept: its agents are lost and retried from what
            // they pushed, as after any restart of the town.
            let mut existing = existing;
            if let Some(id) = existing.first().cloned()
                && !self.hardened(&id).await?
            {
                warn!(container = %id, "the town container predates the sandbox (no capability drop); replacing it");
                let options = RemoveContainerOptionsBuilder::default().force(true).build();
                self.docker
                    .remove_container(&id, Some(options))
                    .await
                    .map_err(RunnerError::docker(format!("remove the old container {id} of town {}", spec.id)))?;
                existing.clear();
            }
            let (container, reused) = match existing.into_iter().next() {
                Some(id) => {
                    let inspect = self
                        .docker
                        .inspect_container(&id, None)
                        .await
                        .map_err(RunnerError::docker(format!("inspect container {id} of town {}", spec.id)))?;
                    let root = spec.root.to_string_lossy().into_owned();
                    let mounted = inspect
                        .mounts
                        .unwrap_or_default()
                        .into_iter()
                        .find(|m| m.destination.as_deref() == Some(TOWN_MOUNT))
                        .and_then(|m| m.source)
                        .unwrap_or_default();
                    if mounted != root {
                        return Err(RunnerError::TownRootMismatch {
                            town: spec.id.0.clone(),
                            container: id,
                            found: mounted,
                            wanted: root,
                        });
                    }
                    if inspect.config.and_then(|c| c.image).as_deref() != Some(spec.image.as_str()) {
                        warn!(container = %id, image = %spec.image, "town container runs another image; keeping it (remove it to switch images)");
                    }
                    let running = inspect.state.and_then(|s| s.running).unwrap_or(false);
                    if !running {
                        info!(container = %id, "starting the stopped town container");
                        self.start_container(&id, &spec.id).await?;
                    }
                    (id, true)
                }
                None => {
                    let id = self.create_town_container(&spec).await?;
                    self.start_container(&id, &spec.id).await?;
                    info!(container = %id, image = %spec.image, "town container created");
                    (id, false)
                }
            };
            let town = Town {
                spec,
                container: container.clone(),
            };
            let cmd = ["sh", "-c", ROOT_SCRIPT, "root", TOWN_MOUNT, &bot_gid().to_string()]
                .map(str::to_owned)
                .to_vec();
            let (code, text) = self.exec_capture(&town, cmd).await?;
            if code != 0 {
                return Err(RunnerError::TownSetup {
                    town: town.spec.id.0.clone(),
                    container,
                    detail: format!("exit {code}: {}", text.trim()),
                });
            }
            self.towns
                .write()
                .expect("town registry lock poisoned")
                .insert(town.spec.id.clone(), town);
            Ok(TownStatus {
                container_id: Some(container),
                reused,
            })
        }
        .instrument(span)
        .await
    }

    async fn start_agent(&self, spec: &AgentSpec) -> Result<(), RunnerError> {
        let span =
            info_span!("start_agent", town = %spec.town, agent = %spec.agent, runner = "docker");
        async {
            wrapper::validate(spec)?;
            let town = self.town(&spec.town)?;
            let dir = wrapper::run_dir(&town.spec.root, &spec.agent);
            if std::fs::symlink_metadata(&dir).is_ok() {
                return Err(RunnerError::AgentExists {
                    town: spec.town.0.clone(),
                    agent: spec.agent.0.clone(),
                    dir,
                });
            }
            let isolation = Isolation::PerSession { bot_gid: bot_gid() };
            let mut env = wrapper::agent_env(spec, TOWN_MOUNT, CONTAINER_PATH, isolation);
            env.insert(
                "GT_WRAPPER".to_owned(),
                wrapper::script(spec, TOWN_MOUNT, isolation),
            );
            let options = CreateExecOptions {
                cmd: Some(
                    [
                        "sh",
                        "-c",
                        wrapper::BOOTSTRAP,
                        "gastown-bootstrap",
                        TOWN_MOUNT,
                        &bot_gid().to_string(),
                        &spec.agent.0,
                    ]
                    .map(str::to_owned)
                    .to_vec(),
                ),
                env: Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
                working_dir: Some(TOWN_MOUNT.to_owned()),
                ..Default::default()
            };
            let action = |what: &str| {
                format!(
                    "{what} agent {} in container {} of town {}",
                    spec.agent, town.container, spec.town
                )
            };
            let exec = self
                .docker
                .create_exec(&town.container, options)
                .await
                .map_err(RunnerError::docker(action("create the exec of")))?;
            self.docker
                .start_exec(
                    &exec.id,
                    Some(StartExecOptions {
                        detach: true,
                        ..Default::default()
                    }),
                )
                .await
                .map_err(RunnerError::docker(action("start")))?;
            // Return only once the wrapper has recorded itself, so `agents()` right
            // after this call is accurate and a broken image fails loudly here.
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                if dir.join("pid").exists() || dir.join("exit").exists() {
                    info!(container = %town.container, "agent started");
                    return Ok(());
                }
                let inspect = self.docker.inspect_exec(&exec.id).await.ok();
                let failed = inspect
                    .as_ref()
                    .filter(|i| i.running == Some(false))
                    .and_then(|i| i.exit_code)
                    .filter(|code| *code != 0);
                if failed == Some(97) {
                    return Err(RunnerError::AgentExists {
                        town: spec.town.0.clone(),
                        agent: spec.agent.0.clone(),
                        dir,
                    });
                }
                if failed.is_some() || Instant::now() > deadline {
                    return Err(RunnerError::StartTimeout {
                        town: spec.town.0.clone(),
                        agent: spec.agent.0.clone(),
                        secs: START_TIMEOUT.as_secs(),
                        code: failed,
                        log: dir.join("log"),
                    });
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        .instrument(span)
        .await
    }

    async fn stop_agent(&self, town: &TownId, agent: &AgentId) -> Result<(), RunnerError> {
        agent.validate()?;
        let span = info_span!("stop_agent", town = %town, agent = %agent, runner = "docker");
        async {
            let town = self.town(town)?;
            let (root, a) = (town.spec.root.clone(), agent.clone());
            let Some(found) = town_fs::blocking(move || Ok(wrapper::read_one(&root, &a))).await?
            else {
                return Ok(());
            };
            let live = self.live_wrappers(&town).await;
            let (AgentStatus::Running, Some(pid)) =
                (Self::state_of(&live, &found).status, found.pid)
            else {
                return Ok(());
            };
            let tenths = (self.stop_grace.as_millis() / 100).to_string();
            let cmd = vec![
                "sh".to_owned(),
                "-c".to_owned(),
                STOP_SCRIPT.to_owned(),
                "stop".to_owned(),
                pid.to_string(),
                wrapper::wrapper_path(TOWN_MOUNT, agent),
                tenths,
                format!("{TOWN_MOUNT}/run/{}", agent.0),
            ];
            let (code, text) = self.exec_capture(&town, cmd).await?;
            if !text.trim().is_empty() {
                warn!(pid, code, "{}", text.trim());
            }
            info!(pid, "agent stopped");
            Ok(())
        }
        .instrument(span)
        .await
    }

    async fn agents(&self, town: &TownId) -> Result<Vec<AgentState>, RunnerError> {
        let span = info_span!("agents", town = %town, runner = "docker");
        async {
            let town = self.town(town)?;
            let root = town.spec.root.clone();
            let found = town_fs::blocking(move || wrapper::read_all(&root)).await?;
            if found.is_empty() {
                return Ok(Vec::new());
            }
            let live = self.live_wrappers(&town).await;
            Ok(found.iter().map(|f| Self::state_of(&live, f)).collect())
        }
        .instrument(span)
        .await
    }

    async fn output(
        &self,
        town: &TownId,
        agent: &AgentId,
        from: u64,
    ) -> Result<(Vec<u8>, u64), RunnerError> {
        let root = self.town(town)?.spec.root;
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
        let root = self.town(town)?.spec.root;
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
        let root = self.town(town)?.spec.root;
        wrapper::read_agent(root, town, agent, wrapper::read_checks).await
    }

    async fn forget_agent(&self, town: &TownId, agent: &AgentId) -> Result<(), RunnerError> {
        agent.validate()?;
        let span = info_span!("forget_agent", town = %town, agent = %agent, runner = "docker");
        async {
            let t = self.town(town)?;
            if let Some(state) = self.state(&t, agent).await
                && state.status == AgentStatus::Running
            {
                return Err(RunnerError::AgentRunning {
                    town: town.0.clone(),
                    agent: agent.0.clone(),
                });
            }
            let cmd = ["sh", "-c", FORGET_SCRIPT, "forget", TOWN_MOUNT, &agent.0]
                .map(str::to_owned)
                .to_vec();
            let (code, text) = self.exec_capture(&t, cmd).await?;
            if code != 0 {
                return Err(RunnerError::TownSetup {
                    town: town.0.clone(),
                    container: t.container.clone(),
                    detail: format!(
                        "forgetting agent {agent} failed (exit {code}): {}",
                        text.trim()
                    ),
                });
            }
            Ok(())
        }
        .instrument(span)
        .await
    }
}
