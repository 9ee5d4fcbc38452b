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
use crate::edge::agent_api::{AdvanceRequest, DoneReply, MolReply, StatusReply};

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
    /// Mail on your bead: `gt agent mail send [--kind HANDOFF] [--to refinery] "<text>"`,
    /// `gt agent mail check`.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Ask a person for help: `gt agent escalate "<reason>" [--severity high] [--details …]`.
    Escalate {
        reason: String,
        /// low, medium (default), high (names the repository's owners) or critical.
        #[arg(long)]
        severity: Option<String>,
        #[arg(long)]
        details: Option<String>,
    },
    /// The molecule's current step (`gt agent mol current`), or close it with a
    /// summary and get the next (`gt agent mol advance "<summary>"`).
    #[command(subcommand)]
    Mol(MolCommand),
    /// Built-in runtime: follow the ```gastown-plan block of the hooked bead's issue, push, then gt_done.
    Scripted,
    /// Built-in runtime, the refinery's run: rebase the branch onto its target, push it, run the
    /// quality gates and report.
    Refinery,
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Leave a message: for whoever works this bead next (a HANDOFF), the refinery, the Mayor.
    Send {
        body: String,
        #[arg(long, default_value = "NOTE")]
        kind: String,
        #[arg(long, default_value = "bead")]
        to: String,
        #[arg(long)]
        subject: Option<String>,
    },
    /// Read your unread messages (they are marked read).
    Check {
        #[arg(long)]
        json: bool,
    },
}

async fn mail(cmd: MailCommand) -> anyhow::Result<()> {
    let tools = ToolClient::from_env()?;
    match cmd {
        MailCommand::Send {
            body,
            kind,
            to,
            subject,
        } => {
            let reply: crate::edge::agent_api::MailSendReply = tools
                .call(
                    "mail/send",
                    &json!({ "kind": kind, "to": to, "subject": subject, "body": body }),
                )
                .await?;
            println!("message {} left for {to}", reply.message);
        }
        MailCommand::Check { json: as_json } => {
            let reply: crate::edge::agent_api::MailCheckReply =
                tools.call("mail/check", &json!({})).await?;
            if as_json {
                println!("{}", serde_json::to_string_pretty(&reply)?);
            } else if reply.mail.is_empty() {
                println!("no unread mail");
            } else {
                for m in reply.mail {
                    println!("[{}] {} (from {})\n{}\n", m.kind, m.subject, m.from, m.body);
                }
            }
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum MolCommand {
    /// The step to work now, and the steps done so far.
    Current {
        #[arg(long)]
        json: bool,
    },
    /// Close the step being worked with a summary of what it produced.
    Advance {
        summary: String,
        #[arg(long)]
        json: bool,
    },
}

async fn mol(cmd: MolCommand) -> anyhow::Result<()> {
    let tools = ToolClient::from_env()?;
    let (reply, json_out): (MolReply, bool) = match cmd {
        MolCommand::Current { json } => (tools.call("mol/current", &json!({})).await?, json),
        MolCommand::Advance { summary, json } => {
            let req = AdvanceRequest {
                bead_id: None,
                summary: Some(summary),
            };
            (tools.call("mol/advance", &req).await?, json)
        }
    };
    if json_out {
        println!("{}", serde_json::to_string_pretty(&reply)?);
        return Ok(());
    }
    if let Some(m) = &reply.molecule {
        println!("molecule {} ({}@{})", m.id, m.formula, m.version);
    }
    for d in &reply.done {
        println!("  [x] {}: {}", d.id, d.summary);
    }
    if let Some(s) = &reply.step {
        println!("  [ ] {} — {}\n\n{}", s.id, s.title, s.description);
        if let Some(a) = &s.acceptance {
            println!("\nacceptance: {a}");
        }
        if let Some(f) = &s.gate_failure {
            println!("\nits gate failed:\n{f}");
        }
    }
    println!(
        "\n{} ({} steps left): {}",
        reply.state, reply.remaining, reply.next
    );
    Ok(())
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

async fn escalate(
    reason: String,
    severity: Option<String>,
    details: Option<String>,
) -> anyhow::Result<()> {
    let reply: crate::edge::agent_api::EscalateReply = ToolClient::from_env()?
        .call(
            "escalate",
            &json!({ "reason": reason, "severity": severity, "details": details }),
        )
        .await?;
    println!(
        "escalation {} ({}) raised: a person will be asked",
        reply.escalation, reply.severity
    );
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
        reply.bead_id,
        reply.status,
        reply.merge_request.as_deref().unwrap_or("-")
    );
    Ok(())
}

pub async fn run(cmd: AgentCommand) -> anyhow::Result<()> {
    match cmd {
        AgentCommand::Prime { json } => prime(json).await,
        AgentCommand::Heartbeat => heartbeat().await,
        AgentCommand::Status { message } => status(message).await,
        AgentCommand::Done { summary } => done(summary).await,
        AgentCommand::Mol(cmd) => mol(cmd).await,
        AgentCommand::Mail(cmd) => mail(cmd).await,
        AgentCommand::Escalate {
            reason,
            severity,
            details,
        } => escalate(reason, severity, details).await,
        AgentCommand::Scripted => scripted().await,
        AgentCommand::Refinery => crate::agent::refinery_run::run().await,
    }
}

/// The scripted runtime: prime, walk the molecule (doing what the plan says at each
/// step), do the plan's own work, commit, push the branch through the town, and say
/// done. A rework follows the plan's `rework` steps instead.
async fn scripted() -> anyhow::Result<()> {
    let tools = ToolClient::from_env()?;
    let prime = tools.prime().await?;
    eprintln!(
        "scripted polecat {} on bead {} ({})",
        prime.agent.name, prime.bead.id, prime.branch
    );
    let issue = prime.task.as_ref().unwrap_or(&prime.bead);
    let whole = plan::parse(&issue.body)?;
    let attempt = prime.rework.as_ref().map(|r| r.attempt);
    if let Some(r) = &prime.rework {
        eprintln!("rework {} of {}: {}", r.attempt, r.max, r.reason);
    }
    let dir = std::env::current_dir()?;
    if attempt.is_none() && walk(&tools, &prime, &whole, &dir).await? == Walked::Stopped {
        return Ok(());
    }
    let Some(plan) = whole.step(attempt) else {
        bail!("the plan has no `rework` steps, so the scripted runtime cannot rework this branch");
    };
    work(&tools, plan, &dir).await?;
    let summary = match plan.commit.trim() {
        "" => "Every step of the molecule is done".to_string(),
        c => c.to_string(),
    };
    push(&dir, &prime.branch).await?;
    let reply: DoneReply = tools.call("done", &json!({ "summary": summary })).await?;
    eprintln!(
        "done: bead {} is in {}, merge request {}",
        reply.bead_id,
        reply.status,
        reply.merge_request.as_deref().unwrap_or("-")
    );
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Walked {
    /// Every step is closed (or there is no molecule): the work goes on to gt_done.
    Finished,
    /// The session's part ends here (a person approves next, a leg was done).
    Stopped,
}

/// Walk the molecule: at each step, what the plan says for it, then advance; a gate
/// that refuses the step means working it again (the step's `rework` entries).
async fn walk(
    tools: &ToolClient,
    prime: &crate::edge::agent_api::Prime,
    whole: &plan::Plan,
    dir: &Path,
) -> anyhow::Result<Walked> {
    let mut at: MolReply = tools.call("mol/current", &json!({})).await?;
    let mut worked: std::collections::HashMap<String, u32> = Default::default();
    loop {
        match at.state.as_str() {
            "none" | "finished" => return Ok(Walked::Finished),
            "approval" | "legs" => {
                eprintln!("{}", at.next);
                return Ok(Walked::Stopped);
            }
            "gate" => {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                at = tools.call("mol/current", &json!({})).await?;
                continue;
            }
            "step" => {}
            other => bail!("gt_mol_current answered a state this runtime does not know: {other}"),
        }
        let step = at.step.clone().context("a step state without a step")?;
        let times = worked.entry(step.id.clone()).or_default();
        let again = (*times > 0).then_some(*times);
        *times += 1;
        if let Some(failure) = &step.gate_failure {
            eprintln!("step {} again: its gate failed: {failure}", step.id);
        }
        let summary = match whole.steps.get(&step.id).and_then(|p| p.step(again)) {
            Some(p) => {
                work(tools, p, dir).await?;
                match p.commit.trim() {
                    "" => format!("step {}: done", step.id),
                    c => c.to_string(),
                }
            }
            None => format!("step {}: nothing to change", step.id),
        };
        push(dir, &prime.branch).await?;
        if step.bead == prime.bead.id {
            // A convoy leg: its branch is its result.
            let reply: DoneReply = tools.call("done", &json!({ "summary": summary })).await?;
            eprintln!("leg {} done: {}", step.id, reply.status);
            return Ok(Walked::Stopped);
        }
        eprintln!("step {}: {summary}", step.id);
        at = tools
            .call("mol/advance", &json!({ "summary": summary }))
            .await?;
    }
}

/// Write the plan's files, run its commands and commit what changed.
async fn work(tools: &ToolClient, plan: &plan::Plan, dir: &Path) -> anyhow::Result<()> {
    for f in &plan.files {
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &f.content).with_context(|| format!("cannot write {}", f.path))?;
        eprintln!("wrote {}", f.path);
    }
    if !plan.files.is_empty() {
        let _: serde_json::Value = tools
            .call(
                "status",
                &json!({ "message": format!("wrote {} files", plan.files.len()) }),
            )
            .await?;
    }
    for command in &plan.commands {
        eprintln!("$ {command}");
        let status = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(dir)
            .stdin(Stdio::null())
            .status()
            .await?;
        if !status.success() {
            bail!("the plan's command `{command}` failed with {status}");
        }
    }
    git(dir, &["add", "-A"]).await?;
    let staged = tokio::process::Command::new("git")
        .args(["diff", "--cached", "--quiet"])
        .current_dir(dir)
        .status()
        .await?;
    if !staged.success() {
        let message = match plan.commit.trim() {
            "" => "Work of a molecule step",
            c => c,
        };
        git(dir, &["commit", "-m", message]).await?;
    }
    Ok(())
}

async fn push(dir: &Path, branch: &str) -> anyhow::Result<()> {
    git(
        dir,
        &["push", "origin", &format!("HEAD:refs/heads/{branch}")],
    )
    .await
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
