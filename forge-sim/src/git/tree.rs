//! Files and directories: reading them at a ref, and committing one file the way the
//! web editor does.

use std::path::Path;

use tokio::process::Command;

use super::{GitError, Signature, ok, rev_parse, run};

/// A file's bytes and blob sha at a ref, or `None` when the path does not exist there.
pub async fn read_file(
    dir: &Path,
    rev: &str,
    path: &str,
) -> Result<Option<(Vec<u8>, String)>, GitError> {
    let spec = format!("{rev}:{path}");
    let (found, sha, _) = run(
        dir,
        &["rev-parse", "--verify", "--quiet", &spec],
        None,
        None,
    )
    .await?;
    if !found {
        return Ok(None);
    }
    let sha = String::from_utf8_lossy(&sha).trim().to_owned();
    let (is_blob, kind, _) = run(dir, &["cat-file", "-t", &sha], None, None).await?;
    if !is_blob || String::from_utf8_lossy(&kind).trim() != "blob" {
        return Ok(None);
    }
    let (_, bytes, _) = run(dir, &["cat-file", "blob", &sha], None, None).await?;
    Ok(Some((bytes, sha)))
}

/// Commit one file onto `branch` (created from `from` when it does not exist) without a
/// work tree, as the web editor does; returns (old tip, new commit).
pub async fn commit_file(
    dir: &Path,
    branch: &str,
    from: &str,
    path: &str,
    content: &[u8],
    message: &str,
    sig: &Signature,
) -> Result<(Option<String>, String), GitError> {
    let branch_ref = format!("refs/heads/{branch}");
    let old = rev_parse(dir, &branch_ref).await?;
    let parent = match &old {
        Some(sha) => sha.clone(),
        None => rev_parse(dir, &format!("refs/heads/{from}"))
            .await?
            .ok_or_else(|| GitError::Failed {
                args: format!("rev-parse {from}"),
                stderr: "no such branch".into(),
            })?,
    };
    let blob = ok(dir, &["hash-object", "-w", "--stdin"], Some(content), None).await?;
    let index = tempfile::NamedTempFile::new()?;
    let with_index = |args: &[&str]| {
        let mut cmd = Command::new("git");
        cmd.arg("--git-dir")
            .arg(dir)
            .args(args)
            .env("GIT_INDEX_FILE", index.path());
        cmd
    };
    for args in [
        vec!["read-tree", parent.as_str()],
        vec![
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("100644,{blob},{path}"),
        ],
    ] {
        let out = with_index(&args).output().await?;
        if !out.status.success() {
            return Err(GitError::Failed {
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
    }
    let out = with_index(&["write-tree"]).output().await?;
    let tree = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let commit = ok(
        dir,
        &["commit-tree", &tree, "-p", &parent, "-m", message],
        None,
        Some(sig),
    )
    .await?;
    let expected = old.clone().unwrap_or_else(|| "0".repeat(40));
    ok(
        dir,
        &["update-ref", &branch_ref, &commit, &expected],
        None,
        None,
    )
    .await?;
    Ok((old, commit))
}

/// One entry of a directory listing.
#[derive(Debug, Clone)]
pub struct TreeEntry {
    pub name: String,
    /// `blob`, `tree` or `commit` (a submodule).
    pub kind: String,
    pub sha: String,
    pub size: u64,
}

/// The entries of directory `path` at `rev` (`""` is the root), or `None` when it is
/// not a directory there.
pub async fn list_tree(
    dir: &Path,
    rev: &str,
    path: &str,
) -> Result<Option<Vec<TreeEntry>>, GitError> {
    let spec = format!("{rev}:{}", path.trim_matches('/'));
    let (found, kind, _) = run(dir, &["cat-file", "-t", &spec], None, None).await?;
    if !found || String::from_utf8_lossy(&kind).trim() != "tree" {
        return Ok(None);
    }
    let out = ok(dir, &["ls-tree", "-l", &spec], None, None).await?;
    Ok(Some(
        out.lines()
            .filter_map(|line| {
                let (meta, name) = line.split_once('\t')?;
                let mut f = meta.split_whitespace();
                let (_mode, kind, sha, size) = (f.next()?, f.next()?, f.next()?, f.next()?);
                Some(TreeEntry {
                    name: name.to_owned(),
                    kind: kind.to_owned(),
                    sha: sha.to_owned(),
                    size: size.parse().unwrap_or(0),
                })
            })
            .collect(),
    ))
}
