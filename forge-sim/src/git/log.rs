//! Reading history: commits as webhooks and the commits API show them.

use std::path::Path;

use super::{GitError, ok, rev_parse, run};

/// One commit as a push delivery or a status event shows it.
#[derive(Debug, Clone, Default)]
pub struct CommitInfo {
    pub sha: String,
    pub tree: String,
    pub parents: Vec<String>,
    pub message: String,
    pub author_name: String,
    pub author_email: String,
    pub timestamp: i64,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub modified: Vec<String>,
}

const LOG_FORMAT: &str = "--format=%H%x1f%T%x1f%P%x1f%an%x1f%ae%x1f%at%x1f%B%x1e";

fn parse_log(out: &str) -> Vec<CommitInfo> {
    out.split('\u{1e}')
        .filter_map(|rec| {
            let f: Vec<&str> = rec.trim_start_matches('\n').splitn(7, '\u{1f}').collect();
            (f.len() == 7).then(|| CommitInfo {
                sha: f[0].to_owned(),
                tree: f[1].to_owned(),
                parents: f[2].split_whitespace().map(str::to_owned).collect(),
                author_name: f[3].to_owned(),
                author_email: f[4].to_owned(),
                timestamp: f[5].parse().unwrap_or(0),
                message: f[6].trim_end().to_owned(),
                ..CommitInfo::default()
            })
        })
        .collect()
}

/// Fill a commit's added/removed/modified paths from its first-parent diff.
async fn fill_changes(dir: &Path, c: &mut CommitInfo) -> Result<(), GitError> {
    let out = ok(
        dir,
        &[
            "diff-tree",
            "--root",
            "--no-commit-id",
            "--name-status",
            "-r",
            &c.sha,
        ],
        None,
        None,
    )
    .await?;
    for line in out.lines() {
        if let Some((status, path)) = line.split_once('\t') {
            let list = match status.chars().next() {
                Some('A') => &mut c.added,
                Some('D') => &mut c.removed,
                _ => &mut c.modified,
            };
            list.push(path.to_owned());
        }
    }
    Ok(())
}

/// One commit, or `None` when the sha is not a commit here.
pub async fn commit(dir: &Path, sha: &str) -> Result<Option<CommitInfo>, GitError> {
    let Some(sha) = rev_parse(dir, sha).await? else {
        return Ok(None);
    };
    let out = ok(dir, &["log", "-1", LOG_FORMAT, &sha], None, None).await?;
    let mut c = parse_log(&out).into_iter().next();
    if let Some(c) = c.as_mut() {
        fill_changes(dir, c).await?;
    }
    Ok(c)
}

/// Commits reachable from `after` but from none of `exclude` (oldest first, at most 20
/// as GitHub lists them). A push excludes what the repository already had.
pub async fn new_commits(
    dir: &Path,
    exclude: &[String],
    after: &str,
) -> Result<Vec<CommitInfo>, GitError> {
    let mut args = vec![
        "log".to_owned(),
        "--reverse".into(),
        "-n".into(),
        "20".into(),
        LOG_FORMAT.into(),
        after.into(),
    ];
    args.extend(exclude.iter().map(|e| format!("^{e}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ok(dir, &args, None, None).await?;
    let mut commits = parse_log(&out);
    for c in &mut commits {
        fill_changes(dir, c).await?;
    }
    Ok(commits)
}

/// Whether `ancestor` is reachable from `descendant` (a push that is not is forced).
pub async fn is_ancestor(dir: &Path, ancestor: &str, descendant: &str) -> Result<bool, GitError> {
    let (success, _, _) = run(
        dir,
        &["merge-base", "--is-ancestor", ancestor, descendant],
        None,
        None,
    )
    .await?;
    Ok(success)
}
