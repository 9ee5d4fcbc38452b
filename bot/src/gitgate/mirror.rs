//! The mirror itself: a bare repository per rig, created on first use and fetched from
//! the forge with the bot's credentials. Every git the gateway runs on its own goes
//! through [`git`], which isolates it from the machine's git configuration and keeps
//! credentials out of argv, URLs and the repository's config.

use std::collections::BTreeMap;
use std::path::Path;

use super::{GateError, hook};
use crate::forge::GitRemote;

/// Run `git` in `dir` with `env` (credentials, when any), returning stdout. Failures
/// name the rig and the operation, with git's stderr cleaned of `secrets`.
pub(super) async fn git(
    rig: &str,
    op: &'static str,
    dir: &Path,
    args: &[&str],
    env: &[(String, String)],
) -> Result<String, GateError> {
    let mut cmd = tokio::process::Command::new("git");
    cmd.args(args);
    isolated(rig, op, dir, cmd, env).await
}

/// Run the shell `script` (its arguments `args`) in `dir`, with git isolated as in
/// [`git`]: for rules written once for both the hook and the bot.
pub(super) async fn git_sh(
    rig: &str,
    op: &'static str,
    dir: &Path,
    script: &str,
    args: &[&str],
    env: &[(String, String)],
) -> Result<String, GateError> {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c").arg(script).arg("sh").args(args);
    isolated(rig, op, dir, cmd, env).await
}

/// Runs `cmd` away from the machine's git configuration and any terminal, returning
/// stdout; a failure carries its stderr with the values of `env` scrubbed.
async fn isolated(
    rig: &str,
    op: &'static str,
    dir: &Path,
    mut cmd: tokio::process::Command,
    env: &[(String, String)],
) -> Result<String, GateError> {
    let program = cmd.as_std().get_program().to_string_lossy().into_owned();
    let out = cmd
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| GateError::Git {
            rig: rig.to_owned(),
            op,
            message: format!("could not run {program}: {e}"),
        })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let mut message = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    for (_, secret) in env {
        if secret.len() >= 8 && message.contains(secret.as_str()) {
            message = message.replace(secret.as_str(), "***");
        }
    }
    Err(GateError::Git {
        rig: rig.to_owned(),
        op,
        message: format!("{} ({message})", out.status),
    })
}

/// Create the bare repository at `dir` if it is not there yet, and (re)install the
/// hook. Returns whether it was created.
pub(super) async fn ensure(rig: &str, dir: &Path) -> Result<bool, GateError> {
    let io = |e: std::io::Error| GateError::Io {
        rig: rig.to_owned(),
        path: dir.to_owned(),
        source: e,
    };
    let created = !dir.join("HEAD").is_file();
    if created {
        let parent = dir.parent().unwrap_or(dir);
        tokio::fs::create_dir_all(parent).await.map_err(io)?;
        let d = dir.to_string_lossy();
        git(rig, "init", parent, &["init", "--bare", "--quiet", &d], &[]).await?;
        // Objects from agents are checked as strictly as a forge would.
        git(
            rig,
            "config",
            dir,
            &["config", "receive.fsckObjects", "true"],
            &[],
        )
        .await?;
    }
    hook::install(dir).map_err(io)?;
    Ok(created)
}

/// Fetch every branch from the forge (branches deleted there go here too: the forge is
/// the truth, the mirror a cache), then point `HEAD` at the forge's default branch when
/// it points nowhere, so clones check out what a clone of the forge would.
pub(super) async fn fetch(rig: &str, dir: &Path, remote: &GitRemote) -> Result<(), GateError> {
    let env = remote.git_env();
    let args = [
        "fetch",
        "--quiet",
        "--prune",
        "--no-tags",
        "--no-write-fetch-head",
        remote.url.as_str(),
        "+refs/heads/*:refs/heads/*",
    ];
    git(rig, "fetch", dir, &args, &env).await?;
    let head = git(rig, "symbolic-ref", dir, &["symbolic-ref", "HEAD"], &[]).await?;
    let head = head.trim();
    let verify = ["rev-parse", "--verify", "--quiet", head];
    if git(rig, "rev-parse", dir, &verify, &[]).await.is_err() {
        let ls = ["ls-remote", "--symref", remote.url.as_str(), "HEAD"];
        let out = git(rig, "ls-remote", dir, &ls, &env).await?;
        let default = out.lines().find_map(|l| {
            l.strip_prefix("ref: ")?
                .split_once('\t')
                .filter(|(_, name)| *name == "HEAD")
                .map(|(r, _)| r.to_owned())
        });
        if let Some(default) = default {
            let set = ["symbolic-ref", "HEAD", default.as_str()];
            git(rig, "symbolic-ref", dir, &set, &[]).await?;
        }
    }
    Ok(())
}

/// The mirror's branches: ref name → commit.
pub(super) async fn branches(rig: &str, dir: &Path) -> Result<BTreeMap<String, String>, GateError> {
    let args = [
        "for-each-ref",
        "--format=%(objectname) %(refname)",
        "refs/heads/",
    ];
    let out = git(rig, "for-each-ref", dir, &args, &[]).await?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(sha, name)| (name.to_owned(), sha.to_owned()))
        .collect())
}
