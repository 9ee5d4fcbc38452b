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

mod pod;
mod records;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, DeleteParams, ListParams, PostParams};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tracing::{Instrument, info, info_span, warn};

pub use pod::{MANAGED_BY, MANAGED_LABEL, TOWN_ANNOTATION, TOWN_LABEL, pod_name, town_pod};

use crate::town_scripts::{FORGET_SCRIPT, ROOT_SCRIPT, STOP_SCRIPT};
use crate::wrapper::{self, Isolation};
use crate::{
    AgentId, AgentSpec, AgentState, AgentStatus, CheckResult, Runner, RunnerError, TownId,
    TownSpec, TownStatus,
};
use pod::{CONTAINER, CONTAINER_PATH, TOWN_MOUNT};

/// Where and how towns run in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    pub cpu_request: Option<String>,
    pub memory_request: Option<String>,
    /// The town volume's `sizeLimit` (an emptyDir), e.g. `20Gi`.
    pub town_volume_size: Option<String>,
    pub node_selector: BTreeMap<String, String>,
    /// How long a new pod may take to run (an image pull included).
    pub start_timeout: Duration,
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
            start_timeout: Duration::from_secs(180),
        }
    }
}

const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);
/// A read or a supervisor step; the stop script adds its grace.
const EXEC_TIMEOUT: Duration = Duration::from_secs(30);
/// The most an exec may print before it is cut: an output chunk and some framing.
const EXEC_OUTPUT_CAP: usize = wrapper::OUTPUT_CHUNK + 64 * 1024;
/// How long the launch waits in the pod for the wrapper to record itself, looking every
/// [`START_POLL_MS`] (in the pod: each exec would cost a round trip).
const START_WAIT_SECS: u64 = 15;
const START_POLL_MS: u64 = 20;

/// Runs each town as a hardened pod ([`town_pod`]) and each agent session under a uid
/// of its own inside it ([`Isolation::PerSession`]), as the Docker backend does.
pub struct KubernetesRunner {
    pods: Api<Pod>,
    opts: KubernetesOptions,
    towns: RwLock<HashMap<TownId, String>>,
    stop_grace: Duration,
}

/// What an exec printed and how it ended.
struct Exec {
    code: i32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
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

    async fn town_pods(&self, town: &TownId) -> Result<Vec<Pod>, RunnerError> {
        let selector = format!("{TOWN_LABEL}={}", pod_name(town));
        let list = self
            .pods
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(RunnerError::kube(format!(
                "list the pods of town {town} in namespace {}",
                self.opts.namespace
            )))?;
        Ok(list.items)
    }

    /// Deletes the town's pod (and with it every agent and the town's files). Idempotent.
    pub async fn remove_town(&self, town: &TownId) -> Result<(), RunnerError> {
        let span = info_span!("remove_town", town = %town, runner = "kubernetes");
        async {
            for p in self.town_pods(town).await? {
                let name = p.metadata.name.unwrap_or_default();
                self.delete_pod(town, &name).await?;
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

    /// Deletes a pod and waits until it is gone, so a new one can take its name. Never
    /// a forced deletion (a grace of 0): that removes the object while the node still
    /// runs its containers, and an exec by the pod's name could land in the old town.
    async fn delete_pod(&self, town: &TownId, name: &str) -> Result<(), RunnerError> {
        let params = DeleteParams {
            grace_period_seconds: Some(1),
            ..Default::default()
        };
        match self.pods.delete(name, &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
            Err(e) => {
                return Err(RunnerError::kube(format!(
                    "delete the pod {name} of town {town}"
                ))(e));
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match self.pods.get_opt(name).await {
                Ok(None) => {
                    info!(pod = name, "town pod deleted");
                    return Ok(());
                }
                Ok(Some(_)) | Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
        Err(RunnerError::TownPodFailed {
            town: town.0.clone(),
            pod: name.to_owned(),
            reason: "it was still terminating a minute after it was deleted".to_owned(),
        })
    }

    /// Waits until the pod's town container runs, or says why it cannot.
    async fn wait_running(&self, town: &TownId, name: &str) -> Result<(), RunnerError> {
        let deadline = Instant::now() + self.opts.start_timeout;
        let mut last = "it was not scheduled yet".to_owned();
        loop {
            let pod = self
                .pods
                .get_opt(name)
                .await
                .map_err(RunnerError::kube(format!(
                    "read the pod {name} of town {town}"
                )))?;
            let Some(pod) = pod else {
                return Err(RunnerError::TownPodFailed {
                    town: town.0.clone(),
                    pod: name.to_owned(),
                    reason: "it was deleted while starting".to_owned(),
                });
            };
            let status = pod.status.unwrap_or_default();
            let container = status
                .container_statuses
                .unwrap_or_default()
                .into_iter()
                .find(|c| c.name == CONTAINER);
            if let Some(c) = &container {
                let state = c.state.clone().unwrap_or_default();
                if state.running.is_some() {
                    return Ok(());
                }
                if let Some(waiting) = state.waiting {
                    let reason = waiting.reason.unwrap_or_default();
                    last = format!(
                        "its container is waiting: {reason} {}",
                        waiting.message.unwrap_or_default()
                    );
                    // These never resolve by themselves: say so now, not at the deadline.
                    if matches!(
                        reason.as_str(),
                        "ErrImageNeverPull" | "InvalidImageName" | "CreateContainerConfigError"
                    ) {
                        return Err(RunnerError::TownPodFailed {
                            town: town.0.clone(),
                            pod: name.to_owned(),
                            reason: format!(
                                "{last} (build the image with `gt town-image build --with-gt` and push it to a registry the cluster pulls from, or import it into the node)"
                            ),
                        });
                    }
                }
            } else if let Some(c) = status
                .conditions
                .unwrap_or_default()
                .iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            {
                last = format!(
                    "it cannot be scheduled: {}",
                    c.message.clone().unwrap_or_default()
                );
            }
            if matches!(status.phase.as_deref(), Some("Failed" | "Succeeded")) {
                return Err(RunnerError::TownPodFailed {
                    town: town.0.clone(),
                    pod: name.to_owned(),
                    reason: format!("it ended ({})", status.phase.unwrap_or_default()),
                });
            }
            if Instant::now() > deadline {
                return Err(RunnerError::TownPodFailed {
                    town: town.0.clone(),
                    pod: name.to_owned(),
                    reason: format!(
                        "it did not run within {} s: {last}",
                        self.opts.start_timeout.as_secs()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Runs `argv` in the town container to completion: its exit code and output
    /// (bounded), `stdin` written first. The command must not wait for the end of its
    /// input: clusters before 1.29 cannot close an exec's stdin.
    async fn exec(
        &self,
        town: &TownId,
        pod: &str,
        argv: Vec<String>,
        stdin: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Exec, RunnerError> {
        let fail = |detail: String| RunnerError::Exec {
            town: town.0.clone(),
            pod: pod.to_owned(),
            detail,
        };
        let params = AttachParams::default()
            .container(CONTAINER)
            .stdin(stdin.is_some())
            .stdout(true)
            .stderr(true);
        let run = async {
            let mut process =
                self.pods
                    .exec(pod, argv, &params)
                    .await
                    .map_err(RunnerError::kube(format!(
                        "exec in the pod {pod} of town {town}"
                    )))?;
            if let (Some(bytes), Some(mut input)) = (stdin, process.stdin()) {
                input
                    .write_all(&bytes)
                    .await
                    .map_err(|e| fail(format!("writing its input: {e}")))?;
                input
                    .flush()
                    .await
                    .map_err(|e| fail(format!("writing its input: {e}")))?;
            }
            let status = process.take_status();
            let (stdout, stderr) = tokio::join!(
                read_capped(process.stdout(), EXEC_OUTPUT_CAP),
                read_capped(process.stderr(), 64 * 1024)
            );
            let status = match status {
                Some(status) => status.await,
                None => None,
            };
            let _ = process.join().await;
            let code = exit_code(status.as_ref()).ok_or_else(|| {
                fail(format!(
                    "it ended without an exit status ({})",
                    status
                        .and_then(|s| s.message)
                        .unwrap_or_else(|| "the connection closed".to_owned())
                ))
            })?;
            Ok(Exec {
                code,
                stdout: stdout.map_err(|e| fail(format!("reading its output: {e}")))?,
                stderr: stderr.map_err(|e| fail(format!("reading its errors: {e}")))?,
            })
        };
        tokio::time::timeout(timeout, run)
            .await
            .map_err(|_| fail(format!("it did not finish within {} s", timeout.as_secs())))?
    }

    /// A fixed script with arguments, run by `sh -c` as the town's root.
    async fn script(
        &self,
        town: &TownId,
        pod: &str,
        script: &str,
        args: &[&str],
    ) -> Result<Exec, RunnerError> {
        let mut argv = vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()];
        argv.push("gastown".to_owned());
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        self.exec(town, pod, argv, None, EXEC_TIMEOUT).await
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
                detail: format!(
                    "listing the agents exited {}: {}",
                    out.code,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        Ok(records::parse_agents(&out.stdout))
    }

    async fn pod_is_gone(&self, pod: &str) -> bool {
        match self.pods.get_opt(pod).await {
            Ok(None) => true,
            Ok(Some(p)) => {
                p.metadata.deletion_timestamp.is_some()
                    || matches!(
                        p.status.and_then(|s| s.phase).as_deref(),
                        Some("Failed" | "Succeeded")
                    )
            }
            Err(_) => false,
        }
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
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            }),
        }
    }
}

/// Reads a stream to its end, keeping at most `cap` bytes (the rest is drained, so the
/// remote side never blocks on a full buffer).
async fn read_capped(
    reader: Option<impl AsyncRead + Unpin>,
    cap: usize,
) -> std::io::Result<Vec<u8>> {
    let Some(mut reader) = reader else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(out);
        }
        let room = cap.saturating_sub(out.len());
        out.extend_from_slice(&buf[..n.min(room)]);
    }
}

/// The exit code an exec's final status carries: `Success` is 0; a failure names its
/// code in a cause of reason `ExitCode`.
fn exit_code(
    status: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>,
) -> Option<i32> {
    let status = status?;
    if status.status.as_deref() == Some("Success") {
        return Some(0);
    }
    status
        .details
        .as_ref()?
        .causes
        .as_ref()?
        .iter()
        .find(|c| c.reason.as_deref() == Some("ExitCode"))?
        .message
        .as_deref()?
        .parse()
        .ok()
}

/// The launch that replaces [`wrapper::BOOTSTRAP`]'s `exec`: an exec cannot be
/// detached, so the wrapper goes to the background in a session of its own, and the
/// exec returns once it has recorded itself (exit 98: it did not in time).
fn launch_script() -> String {
    format!(
        r#"setsid sh "$1/run/$3/wrapper.sh" </dev/null >/dev/null 2>&1 &
i=0
while [ ! -e "$1/run/$3/pid" ] && [ ! -e "$1/run/$3/exit" ]; do
  i=$((i + 1)); [ "$i" -lt {polls} ] || exit 98
  sleep {poll}
done
exit 0
"#,
        polls = START_WAIT_SECS * 1000 / START_POLL_MS,
        poll = START_POLL_MS as f64 / 1000.0,
    )
}

/// What the start exec reads from its stdin and evaluates: the arguments, the agent's
/// environment and its wrapper as shell assignments, then the bootstrap. Secrets
/// travel only in this input, never in an argv another process could read.
fn start_payload(spec: &AgentSpec, env: &BTreeMap<String, String>, wrapper: &str) -> String {
    let bootstrap = wrapper::BOOTSTRAP
        .strip_suffix(wrapper::BOOTSTRAP_LAUNCH)
        .expect("BOOTSTRAP ends with its launch");
    let mut s = format!(
        "set -- {} 0 {}\n",
        wrapper::sh_quote(TOWN_MOUNT),
        wrapper::sh_quote(&spec.agent.0)
    );
    for (k, v) in env {
        s.push_str(&format!("export {k}={}\n", wrapper::sh_quote(v)));
    }
    s.push_str(&format!("GT_WRAPPER={}\n", wrapper::sh_quote(wrapper)));
    s.push_str(bootstrap);
    s.push_str(&launch_script());
    s
}

/// Evaluates exactly `$1` bytes of stdin: `head -c` stops there, without waiting for
/// an end of input the exec protocol may never send.
const START_SCRIPT: &str = r#"eval "$(head -c "$1")""#;

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
                        String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).trim()
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
            let found = self.read_agents(town, Some(agent)).await?;
            if !found
                .iter()
                .any(|s| s.agent == *agent && s.status == AgentStatus::Running)
            {
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
            let found = self.read_agents(town, Some(agent)).await?;
            if found
                .iter()
                .any(|s| s.agent == *agent && s.status == AgentStatus::Running)
            {
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
                        String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).trim()
                    ),
                });
            }
            Ok(())
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};

    #[test]
    fn exit_codes_come_from_the_final_status() {
        let ok = Status {
            status: Some("Success".to_owned()),
            ..Default::default()
        };
        let failed = Status {
            status: Some("Failure".to_owned()),
            reason: Some("NonZeroExitCode".to_owned()),
            details: Some(StatusDetails {
                causes: Some(vec![StatusCause {
                    reason: Some("ExitCode".to_owned()),
                    message: Some("97".to_owned()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(exit_code(Some(&ok)), Some(0));
        assert_eq!(exit_code(Some(&failed)), Some(97));
        assert_eq!(exit_code(None), None);
    }

    #[test]
    fn secrets_travel_in_the_payload_never_in_argv() {
        let spec = AgentSpec {
            town: TownId::new("t").unwrap(),
            agent: AgentId::new("a").unwrap(),
            command: vec!["true".to_owned()],
            env: BTreeMap::from([("GT_TOKEN".to_owned(), "s3cr3t'; rm -rf /".to_owned())]),
            env_files: Vec::new(),
            workspace: None,
            checks: Vec::new(),
        };
        let env = wrapper::agent_env(
            &spec,
            TOWN_MOUNT,
            CONTAINER_PATH,
            Isolation::PerSession { bot_gid: 0 },
        );
        let payload = start_payload(&spec, &env, "echo hi");
        assert!(payload.contains(r"export GT_TOKEN='s3cr3t'\''; rm -rf /'"));
        assert!(!START_SCRIPT.contains("s3cr3t"));
        assert!(payload.starts_with("set -- '/town' 0 'a'\n"));
        assert!(!payload.contains("exec setsid"));
    }
}
