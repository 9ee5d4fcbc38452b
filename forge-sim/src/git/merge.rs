//! Merging as the merge button does: merge commits, squashes and rebases, all without
//! a work tree.

use std::path::Path;

use tokio::process::Command;

use super::{GitError, Signature, ok, rev_parse, run};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMethod {
    Merge,
    Squash,
    Rebase,
}

/// Merge `head` into branch `base` the way GitHub's merge button does, moving the base
/// branch only if it still points at `base_sha` (so a concurrent push is not lost).
/// `rebase` replays each of the head's commits onto the base, keeping their authors and
/// messages (`message` is unused there, as on GitHub).
pub async fn merge(
    dir: &Path,
    base: &str,
    head_sha: &str,
    method: MergeMethod,
    message: &str,
    sig: &Signature,
) -> Result<String, GitError> {
    let base_ref = format!("refs/heads/{base}");
    let base_sha = rev_parse(dir, &base_ref)
        .await?
        .ok_or_else(|| GitError::Failed {
            args: format!("rev-parse {base_ref}"),
            stderr: "base branch does not exist".into(),
        })?;
    let (clean, stdout, stderr) = run(
        dir,
        &["merge-tree", "--write-tree", &base_sha, head_sha],
        None,
        None,
    )
    .await?;
    let out = String::from_utf8_lossy(&stdout);
    let tree = out.lines().next().unwrap_or_default().trim().to_owned();
    if !clean {
        if tree.len() == 40 {
            return Err(GitError::Conflict);
        }
        return Err(GitError::Failed {
            args: "merge-tree".into(),
            stderr,
        });
    }
    let commit = match method {
        MergeMethod::Merge => {
            ok(
                dir,
                &[
                    "commit-tree",
                    &tree,
                    "-p",
                    &base_sha,
                    "-p",
                    head_sha,
                    "-m",
                    message,
                ],
                None,
                Some(sig),
            )
            .await?
        }
        MergeMethod::Rebase => replay(dir, &base_sha, head_sha, sig).await?,
        MergeMethod::Squash => {
            ok(
                dir,
                &["commit-tree", &tree, "-p", &base_sha, "-m", message],
                None,
                Some(sig),
            )
            .await?
        }
    };
    ok(
        dir,
        &["update-ref", &base_ref, &commit, &base_sha],
        None,
        None,
    )
    .await?;
    Ok(commit)
}

/// Replay the commits of `head` that `onto` lacks, oldest first, each onto the last:
/// a rebase without a work tree. Merge commits cannot be rebased (GitHub refuses too).
async fn replay(dir: &Path, onto: &str, head: &str, sig: &Signature) -> Result<String, GitError> {
    let list = ok(
        dir,
        &[
            "rev-list",
            "--reverse",
            "--parents",
            &format!("{onto}..{head}"),
        ],
        None,
        None,
    )
    .await?;
    let mut tip = onto.to_owned();
    for line in list.lines() {
        let ids: Vec<&str> = line.split_whitespace().collect();
        let (commit, parents) = ids.split_first().ok_or(GitError::Conflict)?;
        let [parent] = parents else {
            return Err(GitError::Conflict);
        };
        let merge_base = format!("--merge-base={parent}");
        let (clean, stdout, _) = run(
            dir,
            &["merge-tree", "--write-tree", &merge_base, &tip, commit],
            None,
            None,
        )
        .await?;
        if !clean {
            return Err(GitError::Conflict);
        }
        let tree = String::from_utf8_lossy(&stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let meta = ok(
            dir,
            &[
                "log",
                "-1",
                "--format=%an%x1f%ae%x1f%ad%x1f%B",
                "--date=raw",
                commit,
            ],
            None,
            None,
        )
        .await?;
        let f: Vec<&str> = meta.splitn(4, '\u{1f}').collect();
        let [name, email, date, message] = f[..] else {
            return Err(GitError::Failed {
                args: format!("log {commit}"),
                stderr: "unexpected format".into(),
            });
        };
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(dir)
            .args(["commit-tree", &tree, "-p", &tip, "-m", message])
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", name)
            .env("GIT_AUTHOR_EMAIL", email)
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_NAME", &sig.name)
            .env("GIT_COMMITTER_EMAIL", &sig.email)
            .output()
            .await?;
        if !out.status.success() {
            return Err(GitError::Failed {
                args: "commit-tree".into(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        tip = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    }
    Ok(tip)
}

/// Whether `head` merges cleanly into branch `base` (nothing is written but objects).
pub async fn merges_cleanly(dir: &Path, base: &str, head: &str) -> Result<bool, GitError> {
    let (clean, stdout, stderr) = run(
        dir,
        &[
            "merge-tree",
            "--write-tree",
            &format!("refs/heads/{base}"),
            head,
        ],
        None,
        None,
    )
    .await?;
    let tree = String::from_utf8_lossy(&stdout);
    if !clean && tree.lines().next().is_none_or(|l| l.trim().len() != 40) {
        return Err(GitError::Failed {
            args: "merge-tree".into(),
            stderr,
        });
    }
    Ok(clean)
}
