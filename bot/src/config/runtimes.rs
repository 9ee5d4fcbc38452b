//! The agent runtimes gastown knows without configuration. Each is a real agent CLI in
//! its non-interactive mode, given the role prompt and the town's MCP endpoint; users
//! add their own or replace these under `runtimes:`. Arguments are minijinja templates
//! (see [`super::RuntimeConfig`]); `$GT_*` variables are expanded by the shell at start,
//! and `gt agent prime` prints the role prompt, so no prompt file is needed.

use std::collections::BTreeMap;

use super::RuntimeConfig;

/// The names `polecats.runtime` accepts without a `runtimes:` entry.
pub const BUILT_IN: &[&str] = &["scripted", "claude", "opencode", "codex", "kilo"];

const CODEX: &str = r#"export CODEX_HOME="$(mktemp -d)" && cat > "$CODEX_HOME/config.toml" <<EOF
model = "$GT_MODEL"
model_provider = "gastown"
[model_providers.gastown]
name = "gastown"
base_url = "$GT_MODEL_URL"
wire_api = "responses"
env_key = "GT_TOKEN"
[mcp_servers.gastown]
url = "$GT_MCP_URL"
bearer_token_env_var = "GT_TOKEN"
EOF
exec codex exec --dangerously-bypass-approvals-and-sandbox --skip-git-repo-check "$(gt agent prime)" </dev/null"#;

/// Claude Code in print mode. Its home (settings, sessions) is the session's own; it
/// reaches the model through the bot's proxy (the Anthropic SDK appends `/v1/messages`
/// to the base URL; the session token is sent as a bearer token), every model tier
/// mapped to the town's one model. Only our MCP server is loaded (`--strict-mcp-config`:
/// a repository's `.mcp.json` is code on an agent branch) and only user settings (a
/// repository's `.claude/settings.json` could add hooks or change the endpoint).
const CLAUDE: &str = r#"export CLAUDE_CONFIG_DIR="$(mktemp -d)" \
  ANTHROPIC_BASE_URL="$GT_MODEL_URL" ANTHROPIC_AUTH_TOKEN="$GT_TOKEN" ANTHROPIC_MODEL="$GT_MODEL" \
  ANTHROPIC_DEFAULT_OPUS_MODEL="$GT_MODEL" ANTHROPIC_DEFAULT_SONNET_MODEL="$GT_MODEL" \
  ANTHROPIC_DEFAULT_HAIKU_MODEL="$GT_MODEL" CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
  DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 && \
exec claude -p "$(gt agent prime)" --mcp-config "$GT_MCP_CONFIG" --strict-mcp-config \
  --setting-sources user --dangerously-skip-permissions </dev/null"#;

/// opencode and Kilo CLI (a fork of it, its variables prefixed `KILO_`) in `run`
/// mode. Their config, written per session, names the bot's model proxy as an
/// OpenAI-compatible provider (bundled in the binary, nothing installed) and our MCP
/// server; the token is left as `{env:GT_TOKEN}` for the CLI to substitute, so no
/// secret is written. The variables keep them offline but for the model (no models
/// list, update, plugin install, LSP download or sharing) and ignore a repository's own
/// config and `.claude/` (code on an agent branch).
fn opencode_family(command: &str, prefix: &str) -> String {
    let off = [
        "DISABLE_MODELS_FETCH",
        "DISABLE_AUTOUPDATE",
        "DISABLE_DEFAULT_PLUGINS",
        "DISABLE_LSP_DOWNLOAD",
        "DISABLE_SHARE",
        "DISABLE_PROJECT_CONFIG",
        "DISABLE_CLAUDE_CODE",
    ]
    .map(|v| format!("{prefix}_{v}=1"))
    .join(" ");
    format!(
        r#"export {prefix}_CONFIG="$(mktemp -d)/config.json" {off} && cat > "${prefix}_CONFIG" <<EOF
{{"provider": {{"gastown": {{"npm": "@ai-sdk/openai-compatible", "name": "gastown",
  "options": {{"baseURL": "$GT_MODEL_URL", "apiKey": "{{env:GT_TOKEN}}"}},
  "models": {{"$GT_MODEL": {{"name": "$GT_MODEL", "tool_call": true}}}}}}}},
 "model": "gastown/$GT_MODEL", "small_model": "gastown/$GT_MODEL",
 "autoupdate": false, "share": "disabled",
 "permission": {{"edit": "allow", "bash": "allow", "webfetch": "deny"}},
 "mcp": {{"gastown": {{"type": "remote", "url": "$GT_MCP_URL",
  "headers": {{"Authorization": "Bearer {{env:GT_TOKEN}}"}}}}}}}}
EOF
exec {command} run "$(gt agent prime)" </dev/null"#
    )
}

pub fn built_in(name: &str) -> Option<RuntimeConfig> {
    let shell = |line: &str| RuntimeConfig {
        command: vec!["sh".into(), "-c".into(), line.into()],
        env: BTreeMap::new(),
        prompt_file: None,
    };
    Some(match name {
        // Follows the `gastown-plan` block in the issue; deterministic, no model.
        "scripted" => RuntimeConfig {
            command: vec!["gt".into(), "agent".into(), "scripted".into()],
            env: BTreeMap::new(),
            prompt_file: None,
        },
        // Claude Code: print mode, the town's tools over MCP, no permission prompts
        // (the town is its sandbox).
        "claude" => shell(CLAUDE),
        // opencode: `run` works one message and exits.
        "opencode" => shell(&opencode_family("opencode", "OPENCODE")),
        // Codex: `exec` is its non-interactive mode. Its config (a home of its own for
        // the session) points it at the bot's model proxy and MCP endpoint, the session
        // token its key for both; the town is its sandbox, so it runs without its own.
        "codex" => shell(CODEX),
        // Kilo CLI, the same way.
        "kilo" => shell(&opencode_family("kilo", "KILO")),
        _ => return None,
    })
}
