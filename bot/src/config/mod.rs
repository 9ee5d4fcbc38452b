//! Server configuration: one YAML file checked against `schemas/server.schema.json`,
//! with every setting overridable from a `GT_*` environment variable so the bot runs
//! in a container with no file at all. Errors name the file, line and field (or the
//! environment variable) so a person can fix them without reading code.

mod patrol;
pub mod repo;
mod runtimes;
pub mod secrets;
mod town;
pub mod yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value, json};
use webhooks::ForgeKind;

pub use patrol::PatrolConfig;
pub use town::{
    LlmConfig, MayorConfig, PolecatsConfig, RefineryConfig, ReviewConfig, RunnerConfig, RunnerKind,
    RuntimeConfig,
};
pub use yaml::LocatedDoc;

const SCHEMA: &str = include_str!("../../../schemas/server.schema.json");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "defaults::listen")]
    pub listen: String,
    #[serde(default = "defaults::database")]
    pub database: PathBuf,
    #[serde(default = "defaults::data_dir")]
    pub data_dir: PathBuf,
    /// The server's formulas (`*.yaml`), between a repository's own and the built-ins.
    #[serde(default)]
    pub formulas_dir: Option<PathBuf>,
    /// `None`: `http://` plus `listen`.
    #[serde(default)]
    pub public_url: Option<String>,
    #[serde(default = "defaults::town")]
    pub town: String,
    /// `None`: any repository that delivers joins the default town.
    #[serde(default)]
    pub rigs: Option<Vec<RigConfig>>,
    #[serde(default)]
    pub github: GithubConfig,
    #[serde(default)]
    pub gitlab: GitlabConfig,
    #[serde(default)]
    pub labels: LabelsConfig,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub agent_api: AgentApiConfig,
    #[serde(default)]
    pub git: GitConfig,
    #[serde(default)]
    pub worker: WorkerConfig,
    #[serde(default)]
    pub inbox: InboxConfig,
    #[serde(default)]
    pub catch_up: CatchUpConfig,
    #[serde(default)]
    pub permissions: PermissionsConfig,
    #[serde(default)]
    pub runner: RunnerConfig,
    #[serde(default)]
    pub polecats: PolecatsConfig,
    #[serde(default)]
    pub patrol: PatrolConfig,
    #[serde(default)]
    pub refinery: RefineryConfig,
    #[serde(default)]
    pub llm: LlmConfig,
    #[serde(default)]
    pub review: ReviewConfig,
    #[serde(default)]
    pub mayor: MayorConfig,
    /// Added to (or replacing) the built-in runtimes; see [`Config::runtime`].
    #[serde(default)]
    pub runtimes: BTreeMap<String, RuntimeConfig>,
    #[serde(default)]
    pub log: Option<String>,
    /// Resolved from the environment variables the file names; never from the file.
    #[serde(skip)]
    pub secrets: Secrets,
    /// Every secret value above plus the forge tokens and the App's key, built once by
    /// [`Config::load`]: what comes from the town goes through it before it is published.
    #[serde(skip)]
    pub redactor: std::sync::Arc<crate::redact::Redactor>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RigConfig {
    pub forge: ForgeKind,
    pub repo: String,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub town: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GithubConfig {
    pub host: String,
    pub webhook_secret_env: String,
    /// `None`: `https://api.github.com` on github.com, `https://HOST/api/v3` elsewhere.
    pub api_url: Option<String>,
    pub token_env: String,
    pub app_id: Option<u64>,
    pub app_private_key_file_env: String,
    /// The bot's login: `@<bot_name>` addresses it; its comments are never orders.
    pub bot_name: String,
}

impl Default for GithubConfig {
    fn default() -> Self {
        Self {
            host: ForgeKind::GitHub.public_host().into(),
            webhook_secret_env: "GT_GITHUB_WEBHOOK_SECRET".into(),
            api_url: None,
            token_env: "GT_GITHUB_TOKEN".into(),
            app_id: None,
            app_private_key_file_env: "GT_GITHUB_APP_PRIVATE_KEY_FILE".into(),
            bot_name: "gastown-bot".into(),
        }
    }
}

impl GithubConfig {
    pub fn api_url(&self) -> String {
        match &self.api_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => default_api_url(ForgeKind::GitHub, &self.host),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GitlabConfig {
    pub host: String,
    pub webhook_token_env: String,
    /// `None`: `https://HOST/api/v4`.
    pub api_url: Option<String>,
    pub token_env: String,
    /// The webhook is a group webhook: every project of the group delivers, so `rigs`
    /// is required.
    pub group_webhook: bool,
    /// The bot's username: `@<bot_name>` addresses it; its notes are never orders.
    pub bot_name: String,
}

impl Default for GitlabConfig {
    fn default() -> Self {
        Self {
            host: ForgeKind::GitLab.public_host().into(),
            webhook_token_env: "GT_GITLAB_WEBHOOK_TOKEN".into(),
            api_url: None,
            token_env: "GT_GITLAB_TOKEN".into(),
            group_webhook: false,
            bot_name: "gastown-bot".into(),
        }
    }
}

impl GitlabConfig {
    pub fn api_url(&self) -> String {
        match &self.api_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => default_api_url(ForgeKind::GitLab, &self.host),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatchUpConfig {
    pub interval_secs: u64,
}

impl Default for CatchUpConfig {
    fn default() -> Self {
        Self { interval_secs: 900 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PermissionsConfig {
    pub cache_secs: u64,
}

impl Default for PermissionsConfig {
    fn default() -> Self {
        Self { cache_secs: 60 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelsConfig {
    pub sling: String,
}

impl Default for LabelsConfig {
    fn default() -> Self {
        Self {
            sling: "gt:sling".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    pub max_body_bytes: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        // GitHub caps payloads at 25 MB; anything bigger is not from a forge.
        Self {
            max_body_bytes: 25 * 1024 * 1024,
        }
    }
}

/// Limits on what agents may send the tool API and MCP endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentApiConfig {
    /// Largest request body of a tool call or MCP message.
    pub max_body_bytes: usize,
    /// MCP sessions one agent token may hold; one more closes its least recently used.
    pub mcp_sessions_per_token: usize,
    /// MCP sessions open at once; past it new ones are refused.
    pub mcp_sessions: usize,
}

impl Default for AgentApiConfig {
    fn default() -> Self {
        // A tool call is a few lines of JSON; an agent CLI keeps one session or two.
        Self {
            max_body_bytes: 1024 * 1024,
            mcp_sessions_per_token: 4,
            mcp_sessions: 256,
        }
    }
}

/// The git endpoint agents clone from and push to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GitConfig {
    /// Largest push (request body), streamed to git and counted on the way.
    pub max_push_bytes: usize,
}

impl Default for GitConfig {
    fn default() -> Self {
        Self {
            max_push_bytes: 512 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    pub max_attempts: u32,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            retry_base_ms: 1_000,
            retry_max_ms: 5 * 60_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboxConfig {
    /// Settled deliveries older than this are deleted; 0 keeps them all.
    pub keep_days: u32,
}

impl Default for InboxConfig {
    fn default() -> Self {
        Self { keep_days: 30 }
    }
}

/// Webhook secrets and the review model's key. `Debug` never prints them.
#[derive(Clone, Default)]
pub struct Secrets {
    pub github_webhook: Vec<String>,
    pub gitlab_webhook: Vec<String>,
    pub llm_api_key: Option<String>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field(
                "github_webhook",
                &format!("{} configured", self.github_webhook.len()),
            )
            .field(
                "gitlab_webhook",
                &format!("{} configured", self.gitlab_webhook.len()),
            )
            .field(
                "llm_api_key",
                &self.llm_api_key.as_ref().map(|_| "configured"),
            )
            .finish()
    }
}

mod defaults {
    use std::path::PathBuf;
    pub fn listen() -> String {
        "127.0.0.1:8080".into()
    }
    pub fn database() -> PathBuf {
        "./gastown.db".into()
    }
    pub fn town() -> String {
        "default".into()
    }
    pub fn data_dir() -> PathBuf {
        "./gastown-data".into()
    }
}

/// How an environment variable's text becomes a JSON value.
#[derive(Clone, Copy)]
enum EnvKind {
    Text,
    Integer,
    Number,
    Bool,
    Json,
    Rigs,
}

/// Every setting and the variable that overrides it. A test checks this table covers
/// every leaf of the schema.
const ENV_OVERRIDES: &[(&str, &str, EnvKind)] = &[
    ("GT_LISTEN", "/listen", EnvKind::Text),
    ("GT_DATABASE", "/database", EnvKind::Text),
    ("GT_DATA_DIR", "/data_dir", EnvKind::Text),
    ("GT_FORMULAS_DIR", "/formulas_dir", EnvKind::Text),
    ("GT_PUBLIC_URL", "/public_url", EnvKind::Text),
    ("GT_TOWN", "/town", EnvKind::Text),
    ("GT_RUNNER", "/runner/kind", EnvKind::Text),
    ("GT_RUNNER_IMAGE", "/runner/image", EnvKind::Text),
    ("GT_RUNNER_NETWORK", "/runner/network", EnvKind::Text),
    ("GT_RUNNER_GT_BINARY", "/runner/gt_binary", EnvKind::Text),
    ("GT_RUNNER_MEMORY_MB", "/runner/memory_mb", EnvKind::Integer),
    ("GT_RUNNER_CPUS", "/runner/cpus", EnvKind::Number),
    ("GT_RUNNER_PIDS", "/runner/pids", EnvKind::Integer),
    (
        "GT_RUNNER_K8S_NAMESPACE",
        "/runner/kubernetes/namespace",
        EnvKind::Text,
    ),
    (
        "GT_RUNNER_K8S_KUBECONFIG",
        "/runner/kubernetes/kubeconfig",
        EnvKind::Text,
    ),
    (
        "GT_RUNNER_K8S_HOST_NETWORK",
        "/runner/kubernetes/host_network",
        EnvKind::Bool,
    ),
    (
        "GT_RUNNER_K8S_PULL_POLICY",
        "/runner/kubernetes/image_pull_policy",
        EnvKind::Text,
    ),
    (
        "GT_RUNNER_K8S_CPU_REQUEST",
        "/runner/kubernetes/cpu_request",
        EnvKind::Text,
    ),
    (
        "GT_RUNNER_K8S_MEMORY_REQUEST",
        "/runner/kubernetes/memory_request",
        EnvKind::Text,
    ),
    (
        "GT_RUNNER_K8S_VOLUME_SIZE",
        "/runner/kubernetes/town_volume_size",
        EnvKind::Text,
    ),
    (
        "GT_RUNNER_K8S_NODE_SELECTOR",
        "/runner/kubernetes/node_selector",
        EnvKind::Json,
    ),
    (
        "GT_RUNNER_K8S_START_TIMEOUT_SECS",
        "/runner/kubernetes/start_timeout_secs",
        EnvKind::Integer,
    ),
    ("GT_POLECATS_CAP", "/polecats/cap", EnvKind::Integer),
    (
        "GT_POLECATS_TOWN_CAP",
        "/polecats/town_cap",
        EnvKind::Integer,
    ),
    ("GT_POLECATS_RUNTIME", "/polecats/runtime", EnvKind::Text),
    (
        "GT_POLECATS_BASE_BRANCH",
        "/polecats/base_branch",
        EnvKind::Text,
    ),
    ("GT_RUNTIMES", "/runtimes", EnvKind::Json),
    ("GT_PATROL_TICK_SECS", "/patrol/tick_secs", EnvKind::Integer),
    (
        "GT_PATROL_HEARTBEAT_SECS",
        "/patrol/heartbeat_secs",
        EnvKind::Integer,
    ),
    (
        "GT_PATROL_DEAD_AFTER_SECS",
        "/patrol/dead_after_secs",
        EnvKind::Integer,
    ),
    (
        "GT_PATROL_NUDGE_AFTER_SECS",
        "/patrol/nudge_after_secs",
        EnvKind::Integer,
    ),
    (
        "GT_PATROL_ESCALATE_AFTER_SECS",
        "/patrol/escalate_after_secs",
        EnvKind::Integer,
    ),
    (
        "GT_PATROL_STOP_AFTER_SECS",
        "/patrol/stop_after_secs",
        EnvKind::Integer,
    ),
    (
        "GT_PATROL_BACKOFF_SECS",
        "/patrol/backoff_secs",
        EnvKind::Json,
    ),
    (
        "GT_PATROL_MAX_ATTEMPTS",
        "/patrol/max_attempts",
        EnvKind::Integer,
    ),
    (
        "GT_PATROL_BREAKER_WINDOW_SECS",
        "/patrol/breaker_window_secs",
        EnvKind::Integer,
    ),
    (
        "GT_PATROL_BREAKER_THRESHOLD",
        "/patrol/breaker_threshold",
        EnvKind::Integer,
    ),
    (
        "GT_PATROL_BREAKER_COOLDOWN_SECS",
        "/patrol/breaker_cooldown_secs",
        EnvKind::Integer,
    ),
    (
        "GT_PATROL_RENOTIFY_SECS",
        "/patrol/renotify_secs",
        EnvKind::Integer,
    ),
    (
        "GT_PATROL_RENOTIFY_MAX",
        "/patrol/renotify_max",
        EnvKind::Integer,
    ),
    (
        "GT_REFINERY_MERGE_STRATEGY",
        "/refinery/merge_strategy",
        EnvKind::Text,
    ),
    ("GT_LLM_API_URL", "/llm/api_url", EnvKind::Text),
    ("GT_LLM_MODEL", "/llm/model", EnvKind::Text),
    ("GT_LLM_API_KEY_ENV", "/llm/api_key_env", EnvKind::Text),
    ("GT_LLM_TIMEOUT_SECS", "/llm/timeout_secs", EnvKind::Integer),
    (
        "GT_LLM_INPUT_PRICE_PER_MILLION",
        "/llm/input_price_per_million",
        EnvKind::Number,
    ),
    (
        "GT_LLM_OUTPUT_PRICE_PER_MILLION",
        "/llm/output_price_per_million",
        EnvKind::Number,
    ),
    ("GT_REVIEW_AI", "/review/ai", EnvKind::Bool),
    (
        "GT_MAYOR_MAX_TOOL_STEPS",
        "/mayor/max_tool_steps",
        EnvKind::Integer,
    ),
    (
        "GT_MAYOR_MAX_TOKENS_PER_TURN",
        "/mayor/max_tokens_per_turn",
        EnvKind::Integer,
    ),
    (
        "GT_MAYOR_HISTORY_TURNS",
        "/mayor/history_turns",
        EnvKind::Integer,
    ),
    (
        "GT_MAYOR_MAX_ATTEMPTS",
        "/mayor/max_attempts",
        EnvKind::Integer,
    ),
    (
        "GT_REVIEW_MAX_DIFF_BYTES",
        "/review/max_diff_bytes",
        EnvKind::Integer,
    ),
    ("GT_RIGS", "/rigs", EnvKind::Rigs),
    ("GT_GITHUB_HOST", "/github/host", EnvKind::Text),
    (
        "GT_GITHUB_WEBHOOK_SECRET_ENV",
        "/github/webhook_secret_env",
        EnvKind::Text,
    ),
    ("GT_GITHUB_API_URL", "/github/api_url", EnvKind::Text),
    ("GT_GITHUB_BOT_NAME", "/github/bot_name", EnvKind::Text),
    ("GT_GITHUB_TOKEN_ENV", "/github/token_env", EnvKind::Text),
    ("GT_GITHUB_APP_ID", "/github/app_id", EnvKind::Integer),
    (
        "GT_GITHUB_APP_PRIVATE_KEY_FILE_ENV",
        "/github/app_private_key_file_env",
        EnvKind::Text,
    ),
    ("GT_GITLAB_HOST", "/gitlab/host", EnvKind::Text),
    ("GT_GITLAB_API_URL", "/gitlab/api_url", EnvKind::Text),
    ("GT_GITLAB_TOKEN_ENV", "/gitlab/token_env", EnvKind::Text),
    ("GT_GITLAB_BOT_NAME", "/gitlab/bot_name", EnvKind::Text),
    (
        "GT_GITLAB_GROUP_WEBHOOK",
        "/gitlab/group_webhook",
        EnvKind::Bool,
    ),
    (
        "GT_CATCH_UP_INTERVAL_SECS",
        "/catch_up/interval_secs",
        EnvKind::Integer,
    ),
    (
        "GT_PERMISSIONS_CACHE_SECS",
        "/permissions/cache_secs",
        EnvKind::Integer,
    ),
    (
        "GT_GITLAB_WEBHOOK_TOKEN_ENV",
        "/gitlab/webhook_token_env",
        EnvKind::Text,
    ),
    ("GT_LABELS_SLING", "/labels/sling", EnvKind::Text),
    (
        "GT_INGEST_MAX_BODY_BYTES",
        "/ingest/max_body_bytes",
        EnvKind::Integer,
    ),
    (
        "GT_WORKER_MAX_ATTEMPTS",
        "/worker/max_attempts",
        EnvKind::Integer,
    ),
    (
        "GT_WORKER_RETRY_BASE_MS",
        "/worker/retry_base_ms",
        EnvKind::Integer,
    ),
    (
        "GT_WORKER_RETRY_MAX_MS",
        "/worker/retry_max_ms",
        EnvKind::Integer,
    ),
    ("GT_INBOX_KEEP_DAYS", "/inbox/keep_days", EnvKind::Integer),
    (
        "GT_AGENT_API_MAX_BODY_BYTES",
        "/agent_api/max_body_bytes",
        EnvKind::Integer,
    ),
    (
        "GT_AGENT_API_MCP_SESSIONS_PER_TOKEN",
        "/agent_api/mcp_sessions_per_token",
        EnvKind::Integer,
    ),
    (
        "GT_AGENT_API_MCP_SESSIONS",
        "/agent_api/mcp_sessions",
        EnvKind::Integer,
    ),
    (
        "GT_GIT_MAX_PUSH_BYTES",
        "/git/max_push_bytes",
        EnvKind::Integer,
    ),
    ("GT_LOG", "/log", EnvKind::Text),
];

/// Everything wrong with a configuration, one problem per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn one(p: impl Into<String>) -> Self {
        Self {
            problems: vec![p.into()],
        }
    }
}

/// Where a value came from, for error messages.
enum Origin<'a> {
    File { name: &'a str, line: Option<u64> },
    Env(&'static str),
    Default,
}

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File {
                name,
                line: Some(l),
            } => write!(f, "{name}:{l}"),
            Origin::File { name, line: None } => write!(f, "{name}"),
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::Default => f.write_str("defaults"),
        }
    }
}

impl Config {
    /// Load from an optional file plus the environment (`env` is a lookup so tests need
    /// not touch the process environment).
    pub fn load(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let (file_name, doc) = match file {
            Some(path) => {
                let name = path.display().to_string();
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError::one(format!("{name}: cannot read: {e}")))?;
                let doc = yaml::parse(&text)
                    .map_err(|e| ConfigError::one(format!("{name}: not valid YAML: {e}")))?;
                (Some(name), doc)
            }
            None => (None, LocatedDoc::default()),
        };
        let mut value = match doc.value {
            Value::Null => Value::Object(Map::new()),
            ref v => v.clone(),
        };
        if !value.is_object() {
            return Err(ConfigError::one(format!(
                "{}: the top level must be a mapping of settings",
                file_name.as_deref().unwrap_or("config")
            )));
        }
        let mut from_env: Vec<(&'static str, &'static str)> = Vec::new();
        let mut problems = Vec::new();
        for (var, pointer, kind) in ENV_OVERRIDES {
            let Some(text) = env(var) else { continue };
            match env_value(&text, *kind) {
                Ok(v) => {
                    set_pointer(&mut value, pointer, v);
                    from_env.push((pointer, var));
                }
                Err(e) => problems.push(format!("environment variable {var}: {e}")),
            }
        }
        let origin = |pointer: &str| -> Origin<'_> {
            if let Some((_, var)) = from_env
                .iter()
                .find(|(p, _)| pointer == *p || pointer.starts_with(&format!("{p}/")))
            {
                return Origin::Env(var);
            }
            match &file_name {
                Some(name) => Origin::File {
                    name,
                    line: doc.line_of(pointer),
                },
                None => Origin::Default,
            }
        };
        problems.extend(schema_problems(&value, &origin));
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        let mut config: Config = serde_json::from_value(value)
            .map_err(|e| ConfigError::one(format!("{}: {e}", origin(""))))?;
        if config.runtime(&config.polecats.runtime).is_none() {
            let mut known: Vec<&str> = runtimes::BUILT_IN.to_vec();
            known.extend(config.runtimes.keys().map(String::as_str));
            return Err(ConfigError::one(format!(
                "{}: field `polecats.runtime`: no runtime called {:?} (known: {})",
                origin("/polecats/runtime"),
                config.polecats.runtime,
                known.join(", ")
            )));
        }
        // Without `rigs`, any repository whose deliveries verify joins the town: fine
        // for a webhook someone set up on each repository, not when strangers or every
        // project of a group can make deliveries arrive.
        if config.rigs.is_none() {
            let mut unlisted = Vec::new();
            if config.github.app_id.is_some() {
                unlisted.push(format!(
                    "{}: field `github.app_id`: a GitHub App needs `rigs` (GT_RIGS): anyone \
                     can install the App, and without a list every repository it is \
                     installed on would join this town",
                    origin("/github/app_id")
                ));
            }
            if config.gitlab.group_webhook {
                unlisted.push(format!(
                    "{}: field `gitlab.group_webhook`: a group webhook needs `rigs` \
                     (GT_RIGS): every project of the group, and every project made there \
                     later, would join this town",
                    origin("/gitlab/group_webhook")
                ));
            }
            if !unlisted.is_empty() {
                return Err(ConfigError { problems: unlisted });
            }
        }
        config.secrets = Secrets {
            github_webhook: split_secrets(env(&config.github.webhook_secret_env)),
            gitlab_webhook: split_secrets(env(&config.gitlab.webhook_token_env)),
            llm_api_key: env(&config.llm.api_key_env).filter(|k| !k.is_empty()),
        };
        config.redactor = std::sync::Arc::new(secrets::redactor(&config, env));
        Ok(config)
    }

    /// The runtime called `name`: the configured one, else the built-in one.
    pub fn runtime(&self, name: &str) -> Option<RuntimeConfig> {
        self.runtimes
            .get(name)
            .cloned()
            .or_else(|| runtimes::built_in(name))
    }

    /// The web host of the bot's `kind` forge (`github.host`, `gitlab.host`): a rig or
    /// delivery that names no host is there, and only there does the bot have a client.
    pub fn forge_host(&self, kind: ForgeKind) -> &str {
        match kind {
            ForgeKind::GitHub => &self.github.host,
            ForgeKind::GitLab => &self.gitlab.host,
        }
    }

    /// The bot's login on a forge: what a comment mentions to address it.
    pub fn bot_name(&self, kind: ForgeKind) -> &str {
        match kind {
            ForgeKind::GitHub => &self.github.bot_name,
            ForgeKind::GitLab => &self.gitlab.bot_name,
        }
    }

    /// Where agents reach the bot (tools and git).
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }

    /// What is not configured, said once at start so a person knows what to set.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.secrets.github_webhook.is_empty() {
            w.push(format!(
                "GitHub webhooks are disabled (POST /webhooks/github answers 503): set {} \
                 to the webhook secret",
                self.github.webhook_secret_env
            ));
        }
        if self.secrets.gitlab_webhook.is_empty() {
            w.push(format!(
                "GitLab webhooks are disabled (POST /webhooks/gitlab answers 503): set {} \
                 to the webhook secret token",
                self.gitlab.webhook_token_env
            ));
        }
        w
    }
}

fn split_secrets(v: Option<String>) -> Vec<String> {
    v.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    })
    .unwrap_or_default()
}

fn env_value(text: &str, kind: EnvKind) -> Result<Value, String> {
    match kind {
        EnvKind::Text => Ok(Value::String(text.to_string())),
        EnvKind::Integer => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("expected a whole number, got {text:?}")),
        EnvKind::Number => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
            .ok_or_else(|| format!("expected a number, got {text:?}")),
        EnvKind::Bool => match text.trim() {
            "true" | "1" | "yes" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "" => Ok(Value::Bool(false)),
            _ => Err(format!("expected true or false, got {text:?}")),
        },
        EnvKind::Json => {
            serde_json::from_str(text).map_err(|e| format!("expected JSON ({e}), got {text:?}"))
        }
        EnvKind::Rigs => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(parse_rig_spec)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
    }
}

/// `github:owner/repo`, `gitlab:group/project`, or with a host:
/// `gitlab:gitlab.example.com/group/project` (a first segment with a dot is a host).
fn parse_rig_spec(spec: &str) -> Result<Value, String> {
    let (forge, rest) = spec
        .split_once(':')
        .ok_or_else(|| format!("rig {spec:?} must look like github:owner/repo"))?;
    let (first, tail) = rest
        .split_once('/')
        .ok_or_else(|| format!("rig {spec:?} must look like github:owner/repo"))?;
    if first.contains('.') && tail.contains('/') {
        Ok(json!({ "forge": forge, "host": first, "repo": tail }))
    } else {
        Ok(json!({ "forge": forge, "repo": rest }))
    }
}

fn set_pointer(root: &mut Value, pointer: &str, v: Value) {
    let mut node = root;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let obj = node.as_object_mut().expect("just made an object");
        if i + 1 == parts.len() {
            obj.insert(part.to_string(), v);
            return;
        }
        node = obj
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

fn schema_problems<'a>(value: &Value, origin: &dyn Fn(&str) -> Origin<'a>) -> Vec<String> {
    schema_violations(SCHEMA, value)
        .into_iter()
        .map(|v| {
            let message = match v.pointer.as_str() {
                "/refinery/merge_strategy"
                    if value.pointer(&v.pointer) == Some(&json!("direct")) =>
                {
                    "`direct` cannot be the town's default: landing without review is \
                     each repository's own choice, made with `merge_strategy: direct` in \
                     its .gastown.yaml. Here only `pr` is accepted."
                        .to_string()
                }
                _ => v.message,
            };
            format!("{}: field `{}`: {message}", origin(&v.pointer), v.field)
        })
        .collect()
}

/// One place a document breaks its JSON Schema.
pub struct Violation {
    /// JSON pointer, for finding the line.
    pub pointer: String,
    /// The same as a dotted field name, for people.
    pub field: String,
    pub message: String,
}

/// Check `value` against a bundled schema. Shared by the server configuration and
/// the repositories' `.gastown.yaml`, so both report mistakes the same way.
pub fn schema_violations(schema: &str, value: &Value) -> Vec<Violation> {
    let schema: Value = serde_json::from_str(schema).expect("a bundled schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a bundled schema is valid");
    validator
        .iter_errors(value)
        .map(|e| {
            let pointer = e.instance_path().as_str().to_string();
            let field = if pointer.is_empty() {
                "(top level)".to_string()
            } else {
                pointer.trim_start_matches('/').replace('/', ".")
            };
            Violation {
                pointer,
                field,
                message: e.masked().to_string(),
            }
        })
        .collect()
}

/// Where the REST API of `kind` at web host `host` is when no URL is configured:
/// `https://api.github.com` for github.com, `https://{host}/api/v3` for GitHub
/// Enterprise, `https://{host}/api/v4` for GitLab.
pub fn default_api_url(kind: webhooks::ForgeKind, host: &str) -> String {
    match kind {
        webhooks::ForgeKind::GitHub if host == kind.public_host() => {
            "https://api.github.com".into()
        }
        webhooks::ForgeKind::GitHub => format!("https://{host}/api/v3"),
        webhooks::ForgeKind::GitLab => format!("https://{host}/api/v4"),
    }
}

#[cfg(test)]
mod tests;
