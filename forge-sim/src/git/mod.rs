//! The real bare git repositories behind the simulated ones, driven through git
//! plumbing so merges, contents and pushes are exactly what git does.

mod log;
mod merge;
mod tree;

pub use log::{CommitInfo, commit, is_ancestor, new_commits};
pub use merge::{MergeMethod, merge, merges_cleanly};
pub use tree::{TreeEntry, commit_file, list_tree, read_file};

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("git {args}: {stderr}")]
    Failed { args: String, stderr: String },
    #[error("could not run git: {0}")]
    Spawn(#[from] std::io::Error),
    #[error("merge conflict")]
    Conflict,
}

/// Who git records as author and committer for commits the forge makes itself.
#[derive(Debug, Clone)]
pub struct Signature {
    pub name: String,
    pub email: String,
}

pub(crate) async fn run(
    dir: &Path,
    args: &[&str],
    input: Option<&[u8]>,
    sig: Option<&Signature>,
) -> Result<(bool, Vec<u8>, String), GitError> {
    let mut cmd = Command::new("git");
    cmd.arg("--git-dir").arg(dir).args(args);
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    // A user's global configuration must not change what the forge does.
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null");
    if let Some(sig) = sig {
        cmd.env("GIT_AUTHOR_NAME", &sig.name)
            .env("GIT_AUTHOR_EMAIL", &sig.email)
            .env("GIT_COMMITTER_NAME", &sig.name)
            .env("GIT_COMMITTER_EMAIL", &sig.email);
    }
    let mut child = cmd.spawn()?;
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("stdin is piped");
        stdin.write_all(input).await?;
    }
    let out = child.wait_with_output().await?;
    Ok((
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

pub(crate) async fn ok(
    dir: &Path,
    args: &[&str],
    input: Option<&[u8]>,
    sig: Option<&Signature>,
) -> Result<String, GitError> {
    let (success, stdout, stderr) = run(dir, args, input, sig).await?;
    if !success {
        return Err(GitError::Failed {
            args: args.join(" "),
            stderr,
        });
    }
    Ok(String::from_utf8_lossy(&stdout).trim().to_owned())
}

/// Create a bare repository whose default branch holds one commit with a README, as
/// GitHub does when "Add a README file" is ticked.
pub async fn init_bare(
    dir: &Path,
    default_branch: &str,
    title: &str,
    sig: &Signature,
) -> Result<String, GitError> {
    let out = Command::new("git")
        .args(["init", "--quiet", "--bare", "-b", default_branch])
        .arg(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .await?;
    if !out.status.success() {
        return Err(GitError::Failed {
            args: "init".into(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    // Let `git http-backend` serve pushes with HTTP auth done by the simulator.
    ok(dir, &["config", "http.receivepack", "true"], None, None).await?;
    let readme = format!("# {title}\n");
    let blob = ok(
        dir,
        &["hash-object", "-w", "--stdin"],
        Some(readme.as_bytes()),
        None,
    )
    .await?;
    let tree = ok(
        dir,
        &["mktree"],
        Some(format!("100644 blob {blob}\tREADME.md\n").as_bytes()),
        None,
    )
    .await?;
    let commit = ok(
        dir,
        &["commit-tree", &tree, "-m", "Initial commit"],
        None,
        Some(sig),
    )
    .await?;
    ok(
        dir,
        &[
            "update-ref",
            &format!("refs/heads/{default_branch}"),
            &commit,
        ],
        None,
        None,
    )
    .await?;
    Ok(commit)
}

/// The commit a ref or sha names, if it exists.
pub async fn rev_parse(dir: &Path, rev: &str) -> Result<Option<String>, GitError> {
    let (success, stdout, _) = run(
        dir,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
        None,
        None,
    )
    .await?;
    Ok(success.then(|| String::from_utf8_lossy(&stdout).trim().to_owned()))
}

/// Every branch and tag with its target, used to diff refs around a push.
pub async fn refs(dir: &Path) -> Result<BTreeMap<String, String>, GitError> {
    let out = ok(
        dir,
        &["for-each-ref", "--format=%(objectname) %(refname)"],
        None,
        None,
    )
    .await?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(sha, name)| (name.to_owned(), sha.to_owned()))
        .collect())
}
