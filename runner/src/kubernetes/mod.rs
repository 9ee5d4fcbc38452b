//! The Kubernetes backend: one pod per town, agents exec'd into it through the API.
//!
//! The same town as with Docker, carried differently. The pod only keeps the town
//! alive; agents are wrappers launched (detached, in a session of their own) by a short
//! `exec`, and every read of their `run/` records is another short `exec` (see
//! [`records`]): the bot shares no file system with the town, so it can run anywhere
//! the API server is reachable, in the cluster or outside it.
//!
//! A restarted bot finds its town's pod by label and re-attaches; a pod that is gone
//! (deleted, evicted, its node lost) is recreated by the next `ensure_town`, and its
//! agents, whose records went with it, are lost and retried from what they pushed.

mod exec;
mod launch;
mod pod;
mod records;
mod town;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use tracing::{Instrument, info, info_span, warn};

pub use pod::{MANAGED_BY, MANAGED_LABEL, TOWN_ANNOTATION, TOWN_LABEL, pod_name, town_pod};

use crate::town_scripts::{FORGET_SCRIPT, ROOT_SCRIPT, STOP_SCRIPT};
use crate::wrapper::{self, Isolation};
use crate::{
    AgentId, AgentSpec, AgentState, AgentStatus, CheckResult, Runner, RunnerError, TownId,
    TownSpec, TownStatus,
};
use exec::{EXEC_OUTPUT_CAP, EXEC_TIMEOUT};
use launch::{START_SCRIPT, START_WAIT_SECS, start_payload};
use pod::{CONTAINER_PATH, TOWN_MOUNT};

/// Where and how towns run in the cluster: `runner.kubernetes` in the bot's
/// configuration, as it is written there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesOptions {
    /// The namespace the bot's towns live in; give each bot its own.
    pub namespace: String,
    /// A kubeconfig file; `None` infers one (`KUBECONFIG`, `~/.kube/config`, else the
    /// in-cluster service account).
    pub kubeconfig: Option<PathBuf>,
    /// Pods on the node's network: for clusters without a pod network (a test cluster)
    /// or where agents reach the bot on the node's loopback.
    pub host_network: bool,
    /// `IfNotPresent`, `Always` or `Never` (an image imported into the node).
    pub image_pull_policy: String,
    /// What the scheduler reserves for a town pod; unset, Kubernetes takes the limits.
    pub cpu_request: Option<String>,
    pub memory_request: Option<String>,
    /// The town volume's `sizeLimit` (an emptyDir), e.g. `20Gi`.
    pub town_volume_size: Option<String>,
    /// Nodes a town pod may run on, by label.
    pub node_selector: BTreeMap<String, String>,
    /// How long a new pod may take to run (an image pull included).
    pub start_timeout_secs: u64,
}

impl Default for KubernetesOptions {
    fn default() -> Self {
        Self {
            namespace: "gastown".to_owned(),
            kubeconfig: None,
            host_network: false,
            image_pull_policy: "IfNotPresent".to_owned(),
            cpu_request: None,
            memory_request: None,
            town_volume_size: None,
            node_selector: BTreeMap::new(),
            start_timeout_secs: 180,
        }
    }
}

const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);
/// Runs each town as a hardened pod ([`town_pod`]) and each agent session under a uid
/// of its own inside it ([`Isolation::PerSession`]), as the Docker backend does.
pub struct KubernetesRunner {
    pods: Api<Pod>,
    opts: KubernetesOptions,
    towns: RwLock<HashMap<TownId, String>>,
    stop_grace: Duration,
}

impl KubernetesRunner {
    /// Connects to the API server (checking it answers) for `opts.namespace`.
    pub async fn connect(opts: KubernetesOptions) -> Result<Self, RunnerError> {
        let unreachable = |detail: String| RunnerError::KubernetesUnreachable { detail };
        let config = match &opts.kubeconfig {
            Some(path) => {
                let kubeconfig = kube::config::Kubeconfig::read_from(path)
                    .map_err(|e| unreachable(format!("reading {}: {e}", path.display())))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                    .await
                    .map_err(|e| unreachable(format!("loading {}: {e}", path.display())))?
            }
            None => kube::Config::infer()
                .await
                .map_err(|e| unreachable(e.to_string()))?,
        };
        let client = kube::Client::try_from(config).map_err(|e| unreachable(e.to_string()))?;
        client
            .apiserver_version()
            .await
            .map_err(|e| unreachable(format!("asking the API server its version: {e}")))?;
        Ok(Self {
            pods: Api::namespaced(client, &opts.namespace),
            opts,
            towns: RwLock::new(HashMap::new()),
            stop_grace: DEFAULT_STOP_GRACE,
        })
    }

    /// The namespace its towns live in.
    pub fn namespace(&self) -> &str {
        &self.opts.namespace
    }

    /// Shortens or lengthens the TERM→KILL grace period of `stop_agent`.
    pub fn with_stop_grace(mut self, grace: Duration) -> Self {
        self.stop_grace = grace;
        self
    }

    /// Creates the runner's namespace where it is missing (a demo, a test cluster);
    /// a deployed bot's namespace is the operator's, and its Role cannot do this.
    pub async fn create_namespace(&self) -> Result<(), RunnerError> {
        use k8s_openapi::api::core::v1::Namespace;
        let api: Api<Namespace> = Api::all(self.pods.clone().into_client());
        let ns = Namespace {
            metadata: kube::api::ObjectMeta {
                name: Some(self.opts.namespace.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &ns).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(RunnerError::kube(format!(
                "create the namespace {}",
                self.opts.namespace
            ))(e)),
        }
    }

    /// One bare `exec` round trip into the town's pod (`true`): the floor under every
    /// operation of this backend, for measurements.
    pub async fn exec_round_trip(&self, town: &TownId) -> Result<Duration, RunnerError> {
        let pod = self.pod(town)?;
        let started = Instant::now();
        let out = self
            .exec(town, &pod, vec!["true".to_owned()], None, EXEC_TIMEOUT)
            .await?;
        debug_assert_eq!(out.code, 0);
        Ok(started.elapsed())
    }

    /// Runs `argv` as the town's root and returns its exit code and output: for
    /// measurements and operators' checks, never with a secret in `argv`.
    pub async fn run_in_town(
        &self,
        town: &TownId,
        argv: Vec<String>,
    ) -> Result<(i32, Vec<u8>), RunnerError> {
        let pod = self.pod(town)?;
        let out = self.exec(town, &pod, argv, None, EXEC_TIMEOUT).await?;
        Ok((out.code, out.stdout))
    }

    /// The pods API of the runner's namespace, for callers that need more than the
    /// [`Runner`] seam (tests, measurements).
    pub fn pods(&self) -> &Api<Pod> {
        &self.pods
    }

    fn pod(&self, town: &TownId) -> Result<String, RunnerError> {
        self.towns
            .read()
            .expect("town registry lock poisoned")
            .get(town)
            .cloned()
            .ok_or_else(|| RunnerError::UnknownTown {
                town: town.0.clone(),
            })
    }

    async fn read_agents(
        &self,
        town: &TownId,
        only: Option<&AgentId>,
    ) -> Result<Vec<AgentState>, RunnerError> {
        let pod = self.pod(town)?;
        let only = only.map(|a| a.0.as_str()).unwrap_or("");
        let out = match self
            .script(town, &pod, &records::agents_script(), &[TOWN_MOUNT, only])
            .await
        {
            Ok(out) => out,
            // The pod is gone: so are its records. Its agents are lost, and the next
            // `ensure_town` makes a new town.
            Err(e) if self.pod_is_gone(&pod).await => {
                warn!(pod, error = %e, "the town's pod is gone; its agents with it");
                self.towns
                    .write()
                    .expect("town registry lock poisoned")
                    .remove(town);
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        if out.code != 0 {
            return Err(RunnerError::Exec {
                town: town.0.clone(),
                pod,
                detail: format!("listing the agents exited {}: {}", out.code, out.said()),
            });
        }
        Ok(records::parse_agents(&out.stdout))
    }

    /// Whether the agent's record says it runs (read in the town, as every read is).
    async fn is_running(&self, town: &TownId, agent: &AgentId) -> Result<bool, RunnerError> {
        let found = self.read_agents(town, Some(agent)).await?;
        Ok(found
            .iter()
            .any(|s| s.agent == *agent && s.status == AgentStatus::Running))
    }

    /// A read script for one agent; its exit [`records::NO_RECORD`] means no record.
    async fn read_agent(
        &self,
        town: &TownId,
        agent: &AgentId,
        script: &str,
        extra: &[&str],
    ) -> Result<Vec<u8>, RunnerError> {
        agent.validate()?;
        let pod = self.pod(town)?;
        let mut args = vec![TOWN_MOUNT, agent.0.as_str()];
        args.extend_from_slice(extra);
        let out = self.script(town, &pod, script, &args).await?;
        match out.code {
            0 => Ok(out.stdout),
            records::NO_RECORD => Err(RunnerError::UnknownAgent {
                town: town.0.clone(),
                agent: agent.0.clone(),
                dir: PathBuf::from(format!("{TOWN_MOUNT}/run/{}", agent.0)),
            }),
            code => Err(RunnerError::Exec {
                town: town.0.clone(),
                pod,
                detail: format!(
                    "reading the records of agent {agent} exited {code}: {}",
                    out.said()
                ),
            }),
        }
    }
}

#[async_trait::async_trait]
impl Runner for KubernetesRunner {
    fn kind(&self) -> &'static str {
        "kubernetes"
    }

    async fn ensure_town(&self, spec: &TownSpec) -> Result<TownStatus, RunnerError> {
        spec.id.validate()?;
        let span = info_span!("ensure_town", town = %spec.id, runner = "kubernetes");
        async {
            let town = &spec.id;
            let name = pod_name(town);
            let mut existing = self.town_pods(town).await?;
            if existing.len() > 1 {
                return Err(RunnerError::DuplicateTownPods {
                    town: town.0.clone(),
                    count: existing.len(),
                    label: format!("{TOWN_LABEL}={name}"),
                    names: existing
                        .iter()
                        .filter_map(|p| p.metadata.name.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            // A pod that ended or is going away cannot be re-attached: make a new one.
            if let Some(p) = existing.first() {
                let phase = p.status.as_ref().and_then(|s| s.phase.clone());
                if p.metadata.deletion_timestamp.is_some()
                    || matches!(phase.as_deref(), Some("Failed" | "Succeeded"))
                {
                    let old = p.metadata.name.clone().unwrap_or_default();
                    warn!(pod = %old, phase = ?phase, "the town's pod has ended; replacing it");
                    self.delete_pod(town, &old).await?;
                    existing.clear();
                }
            }
            let (pod, reused) = match existing.into_iter().next() {
                Some(p) => (p.metadata.name.unwrap_or(name), true),
                None => {
                    let manifest = town_pod(spec, &self.opts);
                    match self.pods.create(&PostParams::default(), &manifest).await {
                        Ok(_) => info!(pod = %name, image = %spec.image, "town pod created"),
                        // Another bot (or this one, a moment ago) made it: the name is
                        // the town's, so there is still only one.
                        Err(kube::Error::Api(s)) if s.code == 409 => {
                            info!(pod = %name, "town pod already exists; re-attaching")
                        }
                        Err(e) => {
                            return Err(RunnerError::kube(format!(
                                "create the pod {name} of town {town} in namespace {} (does the bot's role allow creating pods there?)",
                                self.opts.namespace
                            ))(e));
                        }
                    }
                    (name, false)
                }
            };
            self.wait_running(town, &pod).await?;
            let setup = format!(
                r#"[ -x /usr/local/bin/gt ] || {{ echo "the town image has no /usr/local/bin/gt: build it with gt town-image build --with-gt"; exit 2; }}
{ROOT_SCRIPT}"#
            );
            let out = self.script(town, &pod, &setup, &[TOWN_MOUNT, "0"]).await?;
            if out.code != 0 {
                return Err(RunnerError::TownPodFailed {
                    town: town.0.clone(),
                    pod,
                    reason: format!(
                        "its supervisor's setup exited {}: {}",
                        out.code,
                        out.said()
                    ),
                });
            }
            self.towns
                .write()
                .expect("town registry lock poisoned")
                .insert(town.clone(), pod.clone());
            Ok(TownStatus {
                container_id: Some(pod),
                reused,
            })
        }
        .instrument(span)
        .await
    }

    async fn start_agent(&self, spec: &AgentSpec) -> Result<(), RunnerError> {
        let span = info_span!("start_agent", town = %spec.town, agent = %spec.agent,
            runner = "kubernetes");
        async {
            wrapper::validate(spec)?;
            let pod = self.pod(&spec.town)?;
            let isolation = Isolation::PerSession { bot_gid: 0 };
            let env = wrapper::agent_env(spec, TOWN_MOUNT, CONTAINER_PATH, isolation);
            let payload = start_payload(spec, &env, &wrapper::script(spec, TOWN_MOUNT, isolation));
            let argv = ["sh", "-c", START_SCRIPT, "gastown-start"]
                .map(str::to_owned)
                .into_iter()
                .chain([payload.len().to_string()])
                .collect();
            let out = self
                .exec(
                    &spec.town,
                    &pod,
                    argv,
                    Some(payload.into_bytes()),
                    EXEC_TIMEOUT,
                )
                .await?;
            let dir = PathBuf::from(format!("{TOWN_MOUNT}/run/{}", spec.agent.0));
            match out.code {
                0 => {
                    info!(pod, "agent started");
                    Ok(())
                }
                97 => Err(RunnerError::AgentExists {
                    town: spec.town.0.clone(),
                    agent: spec.agent.0.clone(),
                    dir,
                }),
                code => Err(RunnerError::StartTimeout {
                    town: spec.town.0.clone(),
                    agent: spec.agent.0.clone(),
                    secs: START_WAIT_SECS,
                    code: Some(i64::from(code)),
                    log: dir.join("log"),
                }),
            }
        }
        .instrument(span)
        .await
    }

    async fn stop_agent(&self, town: &TownId, agent: &AgentId) -> Result<(), RunnerError> {
        agent.validate()?;
        let span = info_span!("stop_agent", town = %town, agent = %agent, runner = "kubernetes");
        async {
            let pod = self.pod(town)?;
            if !self.is_running(town, agent).await? {
                return Ok(());
            }
            // The pid is read in the town (the record's own), then the shared stop.
            let script = format!(
                r#"set -- "$(head -c 32 "$4/pid" 2>/dev/null | tr -cd 0-9)" "$2" "$3" "$4"
[ -n "$1" ] || exit 0
{STOP_SCRIPT}"#
            );
            let tenths = (self.stop_grace.as_millis() / 100).to_string();
            let run = format!("{TOWN_MOUNT}/run/{}", agent.0);
            let wrapper_path = wrapper::wrapper_path(TOWN_MOUNT, agent);
            let argv = [
                "sh",
                "-c",
                &script,
                "stop",
                "-",
                &wrapper_path,
                &tenths,
                &run,
            ]
            .map(str::to_owned)
            .to_vec();
            let out = self
                .exec(town, &pod, argv, None, EXEC_TIMEOUT + self.stop_grace)
                .await?;
            let said = String::from_utf8_lossy(&out.stdout);
            if !said.trim().is_empty() {
                warn!(code = out.code, "{}", said.trim());
            }
            info!("agent stopped");
            Ok(())
        }
        .instrument(span)
        .await
    }

    async fn agents(&self, town: &TownId) -> Result<Vec<AgentState>, RunnerError> {
        let span = info_span!("agents", town = %town, runner = "kubernetes");
        self.read_agents(town, None).instrument(span).await
    }

    async fn output(
        &self,
        town: &TownId,
        agent: &AgentId,
        from: u64,
    ) -> Result<(Vec<u8>, u64), RunnerError> {
        let (from_s, chunk) = (from.to_string(), wrapper::OUTPUT_CHUNK.to_string());
        let mut buf = self
            .read_agent(town, agent, records::OUTPUT_SCRIPT, &[&from_s, &chunk])
            .await?;
        buf.truncate(wrapper::OUTPUT_CHUNK);
        let next = from + buf.len() as u64;
        Ok((buf, next))
    }

    async fn output_tail(
        &self,
        town: &TownId,
        agent: &AgentId,
        max: usize,
    ) -> Result<Vec<u8>, RunnerError> {
        let max = max.min(EXEC_OUTPUT_CAP / 2);
        let mut tail = self
            .read_agent(town, agent, records::TAIL_SCRIPT, &[&max.to_string()])
            .await?;
        if tail.len() > max {
            tail.drain(..tail.len() - max);
        }
        Ok(tail)
    }

    async fn checks(
        &self,
        town: &TownId,
        agent: &AgentId,
    ) -> Result<Vec<CheckResult>, RunnerError> {
        let out = self
            .read_agent(town, agent, &records::checks_script(), &[])
            .await?;
        Ok(records::parse_checks(&out))
    }

    async fn forget_agent(&self, town: &TownId, agent: &AgentId) -> Result<(), RunnerError> {
        agent.validate()?;
        let span = info_span!("forget_agent", town = %town, agent = %agent, runner = "kubernetes");
        async {
            let pod = self.pod(town)?;
            if self.is_running(town, agent).await? {
                return Err(RunnerError::AgentRunning {
                    town: town.0.clone(),
                    agent: agent.0.clone(),
                });
            }
            let out = self
                .script(town, &pod, FORGET_SCRIPT, &[TOWN_MOUNT, &agent.0])
                .await?;
            if out.code != 0 {
                return Err(RunnerError::Exec {
                    town: town.0.clone(),
                    pod,
                    detail: format!(
                        "forgetting agent {agent} exited {}: {}",
                        out.code,
                        out.said()
                    ),
                });
            }
            Ok(())
        }
        .instrument(span)
        .await
    }
}
