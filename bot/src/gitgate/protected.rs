//! Protected files: the repository's CI configuration and gastown's own settings.
//! Code on an agent branch is not trusted, and these files decide what runs with the
//! repository's CI secrets or how the bot lands work, so an agent may not change them
//! through the gateway unless the target branch's `.gastown.yaml` lists them under
//! `allow_protected_changes`; and work that changes one (allowed or not) always lands
//! through a pull request a person approves (see `refinery::landing`).
//!
//! Which files a branch changes is decided by git, in one shell function used both by
//! the mirror's `pre-receive` hook (before a push is accepted) and by the refinery
//! (before it lands): the same rule, the same pathspecs, never two implementations.

use std::path::Path;

use super::{GateError, mirror};

/// The protected paths. Each is a git `glob` pathspec, so a directory covers
/// everything under it (and the directory entry itself, a symlink included); matched
/// without regard to case.
pub const PROTECTED: &[&str] = &[
    ".github/workflows",
    ".github/actions",
    ".gitlab-ci.yml",
    ".gastown.yaml",
    ".gastown",
];

/// The pathspecs that select protected files not allowed by `allow` (patterns from
/// `allow_protected_changes`, git glob pathspecs: `*` stays within a directory, `**`
/// crosses directories, a directory allows everything under it).
pub fn pathspecs(allow: &[String]) -> Vec<String> {
    PROTECTED
        .iter()
        .map(|p| format!(":(glob,icase){p}"))
        .chain(allow.iter().map(|a| format!(":(exclude,glob){a}")))
        .collect()
}

/// `protected_changes NEW`: print every path matching the pathspecs in
/// `$GT_PROTECTED` (one per line) that the commits of `NEW` not on the target branch
/// `$GT_PROTECTED_BASE` (or, while that does not exist, the base branch
/// `$GT_PROTECTED_CONFIG` the work started from) change: the net change since their
/// merge base and each commit's own change (so a change made and reverted on the
/// branch still counts). Renames count as a deletion and an addition. Without either
/// branch (or common history) every commit of `NEW` counts. Needs `set -f` (pathspecs
/// are not for the shell to glob).
pub(super) const PROTECTED_CHANGES_FN: &str = r#"
protected_changes() {
    pc_new="$1"
    pc_base=""
    for pc_branch in "$GT_PROTECTED_BASE" "$GT_PROTECTED_CONFIG"; do
        if [ -n "$pc_branch" ] \
            && git rev-parse --verify --quiet "refs/heads/$pc_branch^{commit}" >/dev/null; then
            pc_base="refs/heads/$pc_branch"
            break
        fi
    done
    pc_from=""
    if [ -n "$pc_base" ]; then
        pc_from=$(git merge-base "$pc_base" "$pc_new" 2>/dev/null) || pc_from=""
    fi
    if [ -z "$pc_from" ]; then
        pc_from=$(git hash-object -t tree /dev/null)
    fi
    pc_ifs="$IFS"
    pc_status=0
    IFS='
'
    git diff --no-renames --no-ext-diff --name-only "$pc_from" "$pc_new" -- $GT_PROTECTED \
        || pc_status=1
    if [ -n "$pc_base" ]; then
        git log --no-renames --no-merges --format= --name-only "$pc_new" --not "$pc_base" \
            -- $GT_PROTECTED || pc_status=1
    else
        git log --no-renames --no-merges --format= --name-only "$pc_new" -- $GT_PROTECTED \
            || pc_status=1
    fi
    IFS="$pc_ifs"
    return $pc_status
}
"#;

/// The hook's environment for the rule: the target branch to compare with, the base
/// branch whose `.gastown.yaml` set the rule, and the pathspecs of what may not change.
pub(super) fn hook_env(target: &str, base: &str, allow: &[String]) -> Vec<(String, String)> {
    vec![
        ("GT_PROTECTED_BASE".to_owned(), target.to_owned()),
        ("GT_PROTECTED_CONFIG".to_owned(), base.to_owned()),
        ("GT_PROTECTED".to_owned(), pathspecs(allow).join("\n")),
    ]
}

/// The protected files the commits of `head` not on `target` (else `base`) change,
/// sorted, in the mirror at `dir`, with nothing allowed (what the refinery lands by).
pub(super) async fn changed(
    rig: &str,
    dir: &Path,
    target: &str,
    base: &str,
    head: &str,
) -> Result<Vec<String>, GateError> {
    let script = format!("set -f\n{PROTECTED_CHANGES_FN}\nprotected_changes \"$1\"\n");
    let env = hook_env(target, base, &[]);
    let out = mirror::git_sh(rig, "protected-changes", dir, &script, &[head], &env).await?;
    let mut files: Vec<String> = out
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Write `files` (an empty text deletes), commit, return the commit.
    fn commit(dir: &Path, files: &[(&str, &str)]) -> String {
        for (path, text) in files {
            let p = dir.join(path);
            if text.is_empty() {
                git(dir, &["rm", "--quiet", path]);
                continue;
            }
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
            git(dir, &["add", path]);
        }
        git(dir, &["commit", "--quiet", "-m", "c"]);
        git(dir, &["rev-parse", "HEAD"])
    }

    async fn changed_on(dir: &Path, head: &str) -> Vec<String> {
        changed("r", dir, "main", "main", head).await.unwrap()
    }

    #[tokio::test]
    async fn what_counts_as_changing_a_protected_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        git(dir, &["init", "--quiet", "-b", "main"]);
        commit(
            dir,
            &[
                ("README.md", "hi\n"),
                (".github/workflows/ci.yml", "on: push\n"),
                (".github/CODEOWNERS", "* @mara\n"),
            ],
        );
        git(dir, &["checkout", "--quiet", "-b", "gt/gt-1"]);
        let plain = commit(dir, &[("src/lib.rs", "fn main() {}\n")]);
        assert!(changed_on(dir, &plain).await.is_empty());

        // Only this branch's commits count, not what main has.
        let more_main_work = commit(dir, &[(".github/CODEOWNERS", "* @ana\n")]);
        assert!(changed_on(dir, &more_main_work).await.is_empty());

        let ci = commit(dir, &[(".github/workflows/ci.yml", "on: [push, pr]\n")]);
        assert_eq!(changed_on(dir, &ci).await, [".github/workflows/ci.yml"]);

        // Changed and changed back still counts: the commit is on the branch.
        let reverted = commit(dir, &[(".github/workflows/ci.yml", "on: push\n")]);
        assert_eq!(
            changed_on(dir, &reverted).await,
            [".github/workflows/ci.yml"]
        );

        // A rename out of the directory is a deletion; each protected name counts,
        // whatever its case.
        git(dir, &["checkout", "--quiet", "-b", "gt/gt-2", "main"]);
        git(dir, &["mv", ".github/workflows/ci.yml", "ci.yml"]);
        git(dir, &["commit", "--quiet", "-m", "move"]);
        let moved = commit(
            dir,
            &[
                (".GitLab-CI.yml", "x: 1\n"),
                (".gastown.yaml", "merge_strategy: direct\n"),
                (".gastown/formulas/a.yaml", "x\n"),
                (".github/actions/setup/action.yml", "x\n"),
                (".gastownx/ok", "x\n"),
            ],
        );
        // A target that does not exist yet: compared with the base branch.
        assert_eq!(
            changed("r", dir, "release", "main", &ci).await.unwrap(),
            [".github/workflows/ci.yml"]
        );
        assert_eq!(
            changed_on(dir, &moved).await,
            [
                ".GitLab-CI.yml",
                ".gastown.yaml",
                ".gastown/formulas/a.yaml",
                ".github/actions/setup/action.yml",
                ".github/workflows/ci.yml",
            ]
        );
    }

    #[test]
    fn allowed_patterns_become_exclusions() {
        let specs = pathspecs(&[".github/workflows/docs-*.yml".into()]);
        assert_eq!(specs[0], ":(glob,icase).github/workflows");
        assert_eq!(
            specs.last().unwrap(),
            ":(exclude,glob).github/workflows/docs-*.yml"
        );
    }
}
