//! What the runner is asked for: a town's spec, and an agent's (its command, its
//! environment and the workspace it works in). Pure over the configuration.

use std::collections::BTreeMap;
use std::path::PathBuf;

use runner::{AgentId, AgentSpec, Limits, TownId, TownSpec, Workspace};
use serde_json::json;

use super::SessionError;
use crate::config::Config;
use crate::store;

/// One agent session to start: who, on which branch, running what.
#[derive(Debug, Clone)]
pub struct SessionPlan {
    pub role: store::Role,
    pub name: String,
    pub branch: String,
    /// What a branch the forge does not have yet starts from.
    pub base_branch: String,
    /// argv; `None` runs the configured polecat runtime.
    pub command: Option<Vec<String>>,
    /// Quality gates the town runs after the command succeeds, each without the
    /// session's token (and under a uid of its own where the runner isolates); their
    /// outcome is recorded by the town's wrapper and kept on the bead as `checks`.
    pub checks: Vec<runner::Check>,
}

pub(super) fn town_spec(config: &Config, town_id: &str) -> TownSpec {
    let r = &config.runner;
    TownSpec {
        id: TownId(town_id.to_string()),
        root: absolute(config.data_dir.join("towns").join(sanitize(town_id))),
        image: r.image(),
        gt_binary: r
            .gt_binary
            .clone()
            .or_else(|| std::env::current_exe().ok())
            .unwrap_or_else(|| PathBuf::from("gt")),
        limits: Limits {
            memory_bytes: r.memory_mb.map(|mb| mb * 1024 * 1024),
            nano_cpus: r.cpus.map(|c| (c * 1e9) as i64),
            pids: r.pids,
        },
    }
}

pub(super) fn agent_spec(
    config: &Config,
    town: &str,
    rig: &store::Rig,
    plan: &SessionPlan,
    session: &str,
    bead_id: &str,
    token: &str,
) -> Result<AgentSpec, SessionError> {
    let public = config.public_url();
    let mcp_url = format!("{public}/mcp");
    let (name, branch, role) = (plan.name.as_str(), plan.branch.as_str(), plan.role);
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let command = match &plan.command {
        Some(argv) => argv.clone(),
        None => {
            let runtime = config.runtime(&config.polecats.runtime).ok_or_else(|| {
                SessionError::Runtime(format!(
                    "the polecat runtime {:?} is not configured",
                    config.polecats.runtime
                ))
            })?;
            env = runtime.env.clone();
            let vars = json!({ "bead_id": bead_id, "branch": branch, "role": role,
                "agent": name, "api_url": public, "mcp_url": mcp_url });
            runtime
                .command
                .iter()
                .map(|arg| render_arg(arg, &vars))
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    env.extend([
        ("GT_URL".to_string(), public.clone()),
        ("GT_TOKEN".to_string(), token.to_string()),
        ("GT_ROLE".to_string(), role.to_string()),
        ("GT_AGENT".to_string(), name.to_string()),
        ("GT_BEAD".to_string(), bead_id.to_string()),
        ("GT_BRANCH".to_string(), branch.to_string()),
        ("GT_MCP_URL".to_string(), mcp_url.clone()),
        // The model, through the bot's proxy: the agent's token is its key there.
        (
            "GT_MODEL_URL".to_string(),
            format!("{public}/api/agent/v1/model"),
        ),
        ("GT_MODEL".to_string(), config.llm.model.clone()),
        (
            "GT_MCP_CONFIG".to_string(),
            json!({ "mcpServers": { "gastown": { "type": "http", "url": mcp_url,
                "headers": { "Authorization": format!("Bearer {token}") } } } })
            .to_string(),
        ),
    ]);
    let rig_key = sanitize(&rig.id);
    let home = match role {
        store::Role::Polecat => "polecats",
        other => other.as_str(),
    };
    Ok(AgentSpec {
        town: TownId(town.to_string()),
        agent: AgentId(session.to_string()),
        command,
        env,
        workspace: Some(Workspace {
            remote_url: crate::gitgate::git_url(&public, rig.forge, &rig.host, &rig.path),
            rig_dir: format!("rigs/{rig_key}"),
            worktree_dir: format!("{home}/{rig_key}/{}-{bead_id}", sanitize(name)),
            base_branch: plan.base_branch.clone(),
            branch: branch.to_string(),
        }),
        env_files: vec!["GT_MCP_CONFIG".to_string()],
        checks: plan.checks.clone(),
    })
}

fn render_arg(arg: &str, vars: &serde_json::Value) -> Result<String, SessionError> {
    let env = minijinja::Environment::new();
    env.render_str(arg, minijinja::value::Serde(vars))
        .map_err(|e| SessionError::Runtime(format!("runtime command argument {arg:?}: {e}")))
}

/// `github:octo/hello` → `github-octo-hello`: a rig or town id as one path segment.
pub fn sanitize(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn absolute(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
    }
}
