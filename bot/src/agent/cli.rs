//! `gt agent …`: what an agent runs inside the town (`gt agent prime`, `gt agent done`,
//! …), the built-in `scripted` runtime and the refinery's run. They sit under one
//! subcommand so the top level stays the operator's (`gt status` is the town summary,
//! not a progress note). They hold no state and no privilege: they call the bot's tool
//! API with the agent's own token (`GT_URL`, `GT_TOKEN`) and use git over the town's
//! endpoint, exactly as any agent CLI would.

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::json;

use super::ToolClient;
use crate::decisions::plan;
use crate::edge::agent_api::{DoneReply, StatusReply};

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// What is on my hook: the role prompt (or the whole briefing with --json).
    Prime {
        #[arg(long)]
        json: bool,
    },
    /// Tell the town this agent is alive.
    Heartbeat,
    /// A progress note on the hooked bead, for the humans; without one, where the bead is.
    Status { message: Option<String> },
    /// The branch is pushed and the work is finished.
    Done { summary: Option<String> },
    /// Built-in runtime: follow the ```gastown-plan block of the hooked bead's issue, push, then gt_done.
    Scripted,
    /// Built-in runtime, the refinery's run: rebase the branch onto its target, push it, run the
    /// quality gates and report.
    Refinery,
}

async fn prime(json_out: bool) -> anyhow::Result<()> {
    let prime = ToolClient::from_env()?.prime().await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&prime)?);
    } else {
        println!("{}", prime.prompt);
    }
    Ok(())
}

async fn heartbeat() -> anyhow::Result<()> {
    let _: serde_json::Value = ToolClient::from_env()?
        .call("heartbeat", &json!({}))
        .await?;
    Ok(())
}

async fn status(message: Option<String>) -> anyhow::Result<()> {
    let reply: StatusReply = ToolClient::from_env()?
        .call("status", &json!({ "message": message }))
        .await?;
    println!(
        "bead {} is {} on {}{}",
        reply.bead_id,
        reply.status,
        reply.branch.as_deref().unwrap_or("-"),
        reply
            .pushed_sha
            .map(|s| format!(" (pushed {})", &s[..s.len().min(12)]))
            .unwrap_or_default()
    );
    Ok(())
}

async fn done(summary: Option<String>) -> anyhow::Result<()> {
    let reply: DoneReply = ToolClient::from_env()?
        .call("done", &json!({ "summary": summary }))
        .await?;
    println!(
        "bead {} is in {}; merge request {}",
        reply.bead_id, reply.status, reply.merge_request
    );
    Ok(())
}

pub async fn run(cmd: AgentCommand) -> anyhow::Result<()> {
    match cmd {
        AgentCommand::Prime { json } => prime(json).await,
        AgentCommand::Heartbeat => heartbeat().await,
        AgentCommand::Status { message } => status(message).await,
        AgentCommand::Done { summary } => done(summary).await,
        AgentCommand::Scripted => scripted().await,
        AgentCommand::Refinery => crate::agent::refinery_run::run().await,
    }
}

/// The scripted runtime: prime, follow the plan in the current worktree, commit,
/// push the branch through the town, and say done.
async fn scripted() -> anyhow::Result<()> {
    let tools = ToolClient::from_env()?;
    let prime = tools.prime().await?;
    eprintln!(
        "scripted polecat {} on bead {} ({})",
        prime.agent.name, prime.bead.id, prime.branch
    );
    let whole = plan::parse(&prime.bead.body)?;
    let attempt = prime.rework.as_ref().map(|r| r.attempt);
    if let Some(r) = &prime.rework {
        eprintln!("rework {} of {}: {}", r.attempt, r.max, r.reason);
    }
    let Some(plan) = whole.step(attempt) else {
        bail!("the plan has no `rework` steps, so the scripted runtime cannot rework this branch");
    };
    let dir = std::env::current_dir()?;
    for f in &plan.files {
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &f.content).with_context(|| format!("cannot write {}", f.path))?;
        eprintln!("wrote {}", f.path);
    }
    let _: serde_json::Value = tools
        .call(
            "status",
            &json!({ "message": format!("wrote {} files", plan.files.len()) }),
        )
        .await?;
    for command in &plan.commands {
        eprintln!("$ {command}");
        let status = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .status()
            .await?;
        if !status.success() {
            bail!("the plan's command `{command}` failed with {status}");
        }
    }
    git(&dir, &["add", "-A"]).await?;
    git(&dir, &["commit", "-m", &plan.commit]).await?;
    git(
        &dir,
        &[
            "push",
            "origin",
            &format!("HEAD:refs/heads/{}", prime.branch),
        ],
    )
    .await?;
    let reply: DoneReply = tools
        .call("done", &json!({ "summary": plan.commit }))
        .await?;
    eprintln!(
        "done: bead {} is in {}, merge request {}",
        reply.bead_id, reply.status, reply.merge_request
    );
    Ok(())
}

async fn git(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let status = tokio::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .status()
        .await
        .context("cannot run git")?;
    if !status.success() {
        bail!("git {} failed with {status}", args.join(" "));
    }
    Ok(())
}
