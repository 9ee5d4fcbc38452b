//! The town's settings: where agents run, how many polecats work at once, and the
//! agent runtimes they run.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RunnerKind {
    Docker,
    /// A pod per town in a Kubernetes cluster (`runner.kubernetes`).
    Kubernetes,
    Local,
    /// No agents: an instance that only ingests and tracks (or a test of ingest).
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunnerConfig {
    pub kind: RunnerKind,
    /// `None`: `gastown-town:latest` for Docker, `gastown:latest` (the town image with
    /// `gt` in it) for Kubernetes. See [`RunnerConfig::image`].
    #[serde(rename = "image")]
    pub image_name: Option<String>,
    /// The Docker network town containers join; `host` unless set.
    pub network: String,
    /// `None`: the running `gt` binary.
    pub gt_binary: Option<PathBuf>,
    pub memory_mb: Option<i64>,
    pub cpus: Option<f64>,
    pub pids: Option<i64>,
    /// Where towns run when `kind` is `kubernetes`.
    pub kubernetes: runner::KubernetesOptions,
}

impl RunnerConfig {
    /// The image towns run: the configured one, else the kind's own default (a pod
    /// cannot mount the bot's `gt` as a Docker container does, so it needs the image
    /// that holds it).
    pub fn image(&self) -> String {
        match (&self.image_name, self.kind) {
            (Some(image), _) => image.clone(),
            (None, RunnerKind::Kubernetes) => "gastown:latest".into(),
            (None, _) => "gastown-town:latest".into(),
        }
    }
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            kind: RunnerKind::Docker,
            image_name: None,
            network: "host".into(),
            gt_binary: None,
            memory_mb: Some(4096),
            cpus: Some(2.0),
            pids: Some(1024),
            kubernetes: runner::KubernetesOptions::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolecatsConfig {
    /// Polecats working at once per rig (a rig's `.gastown.yaml` may change it).
    pub cap: usize,
    /// Agents (polecats and refinery runs) working at once in one town, whatever the
    /// rigs' caps add up to.
    pub town_cap: usize,
    pub runtime: String,
    pub base_branch: String,
}

impl Default for PolecatsConfig {
    fn default() -> Self {
        Self {
            cap: 4,
            town_cap: 16,
            runtime: "scripted".into(),
            base_branch: "main".into(),
        }
    }
}

/// How to start one kind of agent. Each `command` argument is a minijinja template.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    pub command: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub prompt_file: Option<PathBuf>,
}

/// The model the Mayor and the refinery's AI review talk to: any OpenAI-compatible
/// `chat/completions` API with tool calling. Both are off while `api_url` is unset.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// e.g. `https://api.openai.com/v1`.
    pub api_url: Option<String>,
    pub model: String,
    /// The variable holding the API key (sent as a bearer token), if the endpoint
    /// needs one.
    pub api_key_env: String,
    pub timeout_secs: u64,
    /// What a million prompt (input) tokens cost, to record each turn's cost; 0 when
    /// unknown.
    pub input_price_per_million: f64,
    pub output_price_per_million: f64,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            api_url: None,
            model: "gpt-4o-mini".into(),
            api_key_env: "GT_LLM_API_KEY".into(),
            timeout_secs: 120,
            input_price_per_million: 0.0,
            output_price_per_million: 0.0,
        }
    }
}

impl LlmConfig {
    /// What `tokens` (in, out) cost, in millionths of the prices' currency.
    pub fn cost_micros(&self, tokens: (u64, u64)) -> i64 {
        (tokens.0 as f64 * self.input_price_per_million
            + tokens.1 as f64 * self.output_price_per_million)
            .round() as i64
    }
}

/// The refinery's optional AI review: the `llm` model reads each passing diff and
/// approves or rejects it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewConfig {
    /// Review with the model when `llm` has one.
    pub ai: bool,
    /// A diff over this many bytes is not sent: a person must review it.
    pub max_diff_bytes: usize,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        Self {
            ai: true,
            max_diff_bytes: 200_000,
        }
    }
}

/// How much one Mayor turn may do: the model's tool loop is bounded in steps and
/// tokens, and a turn whose model cannot be reached is tried a few times, then said
/// to have failed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MayorConfig {
    pub max_tool_steps: u32,
    pub max_tokens_per_turn: u64,
    pub history_turns: usize,
    pub max_attempts: u32,
}

impl Default for MayorConfig {
    fn default() -> Self {
        Self {
            max_tool_steps: 8,
            max_tokens_per_turn: 40_000,
            history_turns: 10,
            max_attempts: 3,
        }
    }
}

/// How the town's refineries land work where a repository's `.gastown.yaml` does not
/// say. `merge_strategy` can only be `pr` (the schema and [`super::Config::load`]
/// refuse `direct`): landing without review is a repository's own opt-in.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RefineryConfig {
    pub merge_strategy: crate::config::repo::MergeStrategy,
}
