//! `gt agent refinery`: the refinery's hands inside the town container. It rebases the
//! task's branch onto the latest target, pushes the rebased branch back through the
//! town's git endpoint (so the forge shows what was tested), runs the quality gates on
//! that tree and reports. It decides nothing: the bot judges the report.
//!
//! Gates run the branch's own code, so they run without the run's token in their
//! environment: a test cannot call the tool API to report itself green.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use tokio::io::AsyncReadExt;

use super::gates::{Assignment, GateResult, GateSpec, OUTPUT_TAIL, Report, tail};
use crate::agent_cli::ToolClient;

/// Variables a gate never sees.
const HIDDEN_FROM_GATES: &[&str] = &["GT_TOKEN", "GT_MCP_CONFIG"];

pub async fn run() -> anyhow::Result<()> {
    let tools = ToolClient::from_env()?;
    let job: Assignment = tools.call("refinery/assignment", &json!({})).await?;
    let dir = std::env::current_dir()?;
    eprintln!(
        "refinery: merge request {} — rebasing {} onto {}",
        job.merge_request, job.branch, job.target
    );
    let report = refine(&dir, &job).await?;
    let _: serde_json::Value = tools.call("refinery/report", &report).await?;
    eprintln!("refinery: reported on {}", report.head_sha);
    Ok(())
}

async fn refine(dir: &Path, job: &Assignment) -> anyhow::Result<Report> {
    let remote_target = format!("refs/remotes/origin/{}", job.target);
    git(
        dir,
        &[
            "fetch",
            "--quiet",
            "origin",
            &format!("+refs/heads/{}:{remote_target}", job.target),
        ],
    )
    .await?;
    let base_sha = git(dir, &["rev-parse", &remote_target]).await?;
    let before = git(dir, &["rev-parse", "HEAD"]).await?;
    let rebase = git_status(
        dir,
        &[
            "-c",
            "user.name=Gastown refinery",
            "-c",
            "user.email=refinery@gastown.invalid",
            "rebase",
            "--quiet",
            &remote_target,
        ],
    )
    .await?;
    if !rebase {
        let files = git(dir, &["diff", "--name-only", "--diff-filter=U"]).await?;
        git(dir, &["rebase", "--abort"]).await?;
        eprintln!("refinery: conflicts with {}: {files}", job.target);
        return Ok(Report {
            base_sha,
            head_sha: before,
            conflict: Some(files.lines().map(String::from).collect()),
            gates: Vec::new(),
        });
    }
    let head_sha = git(dir, &["rev-parse", "HEAD"]).await?;
    if head_sha != before {
        eprintln!("refinery: rebased onto {base_sha}, pushing {head_sha}");
        git(
            dir,
            &[
                "push",
                "--quiet",
                "origin",
                &format!("+HEAD:refs/heads/{}", job.branch),
            ],
        )
        .await?;
    }
    let mut gates = Vec::new();
    for gate in &job.gates {
        eprintln!("refinery: gate {} — {}", gate.name, gate.run);
        let result = run_gate(dir, gate).await;
        eprintln!(
            "refinery: gate {} {} in {} ms",
            gate.name,
            super::gates::outcome(&result),
            result.duration_ms
        );
        gates.push(result);
    }
    Ok(Report {
        base_sha,
        head_sha,
        conflict: None,
        gates,
    })
}

/// Run one gate in its own process group, so a timeout kills everything it started.
async fn run_gate(dir: &Path, gate: &GateSpec) -> GateResult {
    let start = Instant::now();
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!("exec 2>&1\n{}", gate.run))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    for var in HIDDEN_FROM_GATES {
        cmd.env_remove(var);
    }
    let done = |exit_code: Option<i32>, timed_out: bool, output: String| GateResult {
        name: gate.name.clone(),
        passed: exit_code == Some(0) && !timed_out,
        exit_code,
        timed_out,
        duration_ms: start.elapsed().as_millis() as u64,
        output_tail: tail(&output, OUTPUT_TAIL).to_string(),
    };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return done(None, false, format!("could not start the gate: {e}")),
    };
    let group = child.id();
    let mut stdout = child.stdout.take().expect("piped");
    let collect = async {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n) = stdout.read(&mut buf).await {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            // Keep a bounded tail of a chatty gate.
            if out.len() > 4 * OUTPUT_TAIL {
                out.drain(..out.len() - 2 * OUTPUT_TAIL);
            }
        }
        let status = child.wait().await;
        (out, status)
    };
    let limit = Duration::from_secs(gate.timeout_secs.max(1));
    match tokio::time::timeout(limit, collect).await {
        Ok((out, status)) => {
            let code = status.ok().and_then(|s| s.code());
            done(code, false, String::from_utf8_lossy(&out).into_owned())
        }
        Err(_) => {
            if let Some(pgid) = group {
                // SAFETY: signalling a process group we created; no memory is touched.
                unsafe { libc::kill(-(pgid as libc::pid_t), libc::SIGKILL) };
            }
            done(
                None,
                true,
                format!("the gate ran longer than its {} s timeout", limit.as_secs()),
            )
        }
    }
}

/// Whether git succeeded; its complaint goes to the run's log.
async fn git_status(dir: &Path, args: &[&str]) -> anyhow::Result<bool> {
    let out = run_git(dir, args).await?;
    if !out.status.success() {
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(out.status.success())
}

/// git's output, or an error naming the command and what git said.
async fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = run_git(dir, args).await?;
    if !out.status.success() {
        bail!(
            "git {} failed with {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

async fn run_git(dir: &Path, args: &[&str]) -> anyhow::Result<std::process::Output> {
    tokio::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .await
        .context("cannot run git")
}
