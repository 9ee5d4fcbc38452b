use std::path::PathBuf;

/// Why a runner operation failed. Every message names the town/agent/container involved
/// and says what the operator can do about it.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(
        "invalid {kind} id {id:?}: use 1-100 characters from [a-z0-9-_.], not starting with '.' or '-'"
    )]
    InvalidId { kind: &'static str, id: String },

    #[error("town {town} is not known to this runner: call ensure_town for it first")]
    UnknownTown { town: String },

    #[error("agent {agent} has no record in town {town} (looked in {dir})")]
    UnknownAgent {
        town: String,
        agent: String,
        dir: PathBuf,
    },

    #[error(
        "agent {agent} in town {town} is still running: stop_agent it first, then forget_agent"
    )]
    AgentRunning { town: String, agent: String },

    #[error(
        "agent {agent} in town {town} already has a record in {dir}: forget_agent it before starting it again"
    )]
    AgentExists {
        town: String,
        agent: String,
        dir: PathBuf,
    },

    #[error("agent {agent} in town {town} has an empty command: give at least the program to run")]
    EmptyCommand { town: String, agent: String },

    #[error("{what} {path}: {source}")]
    Io {
        what: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "Docker is not reachable at {socket}: start dockerd, or set GT_RUNNER=local (`runner: {{kind: local}}`) to run agents unisolated ({source})"
    )]
    DockerUnreachable {
        socket: String,
        #[source]
        source: bollard::errors::Error,
    },

    #[error("Docker failed to {action}: {source}")]
    Docker {
        action: String,
        #[source]
        source: bollard::errors::Error,
    },

    #[error(
        "town {town} has {count} containers labelled gastown.town={town} ({ids}): remove all but one with `docker rm -f`"
    )]
    DuplicateTownContainers {
        town: String,
        count: usize,
        ids: String,
    },

    #[error(
        "container {container} of town {town} mounts {found} at /town but the town root is {wanted}: remove it with `docker rm -f {container}` or use the same root"
    )]
    TownRootMismatch {
        town: String,
        container: String,
        found: String,
        wanted: String,
    },

    #[error(
        "agent {agent} in town {town} did not start within {secs} s (exec exit code {code:?}); see {log}"
    )]
    StartTimeout {
        town: String,
        agent: String,
        secs: u64,
        code: Option<i64>,
        log: PathBuf,
    },

    #[error(
        "Kubernetes is not reachable ({detail}): set runner.kubernetes.kubeconfig (or KUBECONFIG), or run the bot in the cluster with its service account"
    )]
    KubernetesUnreachable { detail: String },

    #[error("Kubernetes failed to {action}: {source}")]
    Kubernetes {
        action: String,
        #[source]
        source: Box<kube::Error>,
    },

    #[error(
        "town {town} has {count} pods labelled {label} ({names}): delete all but one with `kubectl delete pod`"
    )]
    DuplicateTownPods {
        town: String,
        count: usize,
        label: String,
        names: String,
    },

    #[error("the pod {pod} of town {town} cannot run: {reason}")]
    TownPodFailed {
        town: String,
        pod: String,
        reason: String,
    },

    #[error("a command in the pod {pod} of town {town} failed: {detail}")]
    Exec {
        town: String,
        pod: String,
        detail: String,
    },

    #[error("building the town image failed at {step}: {detail}")]
    Image { step: String, detail: String },

    #[error(
        "the town container {container} of town {town} refused a supervisor step ({detail}); a town container made by an older gastown lacks its capabilities: remove it with `docker rm -f {container}`"
    )]
    TownSetup {
        town: String,
        container: String,
        detail: String,
    },

    #[error("a blocking read of town files did not finish: {0}")]
    Blocking(String),

    #[error("the town's record {path} of agent {agent} is not trustworthy ({why}); it is ignored")]
    Hostile {
        agent: String,
        path: String,
        why: String,
    },

    #[error("invalid environment variable name {0:?} for a file: use [A-Z0-9_]")]
    InvalidEnvName(String),

    #[error("invalid quality gate {name:?}: {why}")]
    InvalidCheck { name: String, why: String },
}

impl RunnerError {
    pub(crate) fn io(
        what: impl Into<String>,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        let path = path.into();
        move |source| RunnerError::Io { what, path, source }
    }

    pub(crate) fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let action = action.into();
        move |source| RunnerError::Kubernetes {
            action,
            source: Box::new(source),
        }
    }

    pub(crate) fn docker(action: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> Self {
        let action = action.into();
        move |source| RunnerError::Docker { action, source }
    }
}
