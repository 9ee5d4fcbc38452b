//! `gt agent refinery`: the refinery's hands inside the town container. It rebases the
//! task's branch onto the latest target, pushes the rebased branch back through the
//! town's git endpoint (so the forge shows what was tested) and reports the commits. It
//! decides nothing: the bot checks the report against its own mirror and judges.
//!
//! The quality gates are not run here. They run the branch's own code, so the town's
//! wrapper runs them after this command exits, on a copy of the checkout, under a uid
//! of their own and without the run's token, and records their outcome itself: neither
//! this process nor a test can report a gate green (`runner::Check`).

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, bail};
use serde_json::json;

use super::ToolClient;
use crate::decisions::gates::{Assignment, Report};

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
    Ok(Report {
        base_sha,
        head_sha,
        conflict: None,
        gates: Vec::new(),
    })
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
