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
        // Claude Code: print mode, the town's tools over MCP, no permission prompts.
        "claude" => shell(
            r#"exec claude -p "$(gt agent prime)" --mcp-config "$GT_MCP_CONFIG" --dangerously-skip-permissions"#,
        ),
        // opencode: `run` executes one message and exits.
        "opencode" => shell(r#"exec opencode run "$(gt agent prime)""#),
        // Codex: `exec` is its non-interactive mode. Its config (a home of its own for
        // the session) points it at the bot's model proxy and MCP endpoint, the session
        // token its key for both; the town is its sandbox, so it runs without its own.
        "codex" => shell(CODEX),
        // Kilo CLI: autonomous mode for one task.
        "kilo" => shell(r#"exec kilocode --auto "$(gt agent prime)""#),
        _ => return None,
    })
}
