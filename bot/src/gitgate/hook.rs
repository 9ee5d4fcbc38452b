//! The `pre-receive` hook every mirror carries: the one place a push is allowed or
//! refused, and where an accepted push goes on to the forge.
//!
//! Enforcing in the hook rather than in Rust before git runs means the rule sees
//! exactly the ref updates git is about to make (git parses the push, not us), and its
//! refusal reaches the agent the way git reports any refusal: `remote:` lines naming the
//! ref and `! [remote rejected]`. Pushing on to the forge from the same hook, before git
//! moves the mirror's refs, makes "the agent's push succeeded" mean "the branch is on
//! the forge": if the forge refuses, the hook fails, git updates nothing and the agent
//! sees the forge's error, with no ref to roll back afterwards. The pushed objects are
//! still in git's quarantine then, which a `git push` started by the hook can read
//! (git passes the quarantine to hooks through the environment).

use std::path::Path;

use crate::forge::GitRemote;

/// The hook. Inputs come from the environment [`push_env`] builds: `GT_PUSH_BEAD`
/// (empty: this agent may not push), `GT_PROTECTED` and `GT_PROTECTED_BASE` (the
/// protected-file rule, see [`super::protected`]) and `GT_FORGE_URL` plus git's
/// `GIT_CONFIG_*` credentials for the forge.
pub(super) static PRE_RECEIVE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    [
        PRE_RECEIVE_HEAD,
        super::protected::PROTECTED_CHANGES_FN,
        PRE_RECEIVE_BODY,
    ]
    .concat()
});

const PRE_RECEIVE_HEAD: &str = r#"#!/bin/sh
# Installed by gastown-bot's git gateway and rewritten on every sync: do not edit.
# An agent may update only its bead's branches, refs/heads/gt/<bead> and
# refs/heads/gt/<bead>-*, and never delete one, and its commits may not change
# protected files (CI configuration, gastown's settings) unless the target branch's
# .gastown.yaml allows it. Accepted updates are pushed on to the forge before git moves
# any ref here, so a push succeeds only once the forge has it.
set -f
"#;

const PRE_RECEIVE_BODY: &str = r#"
bead="$GT_PUSH_BEAD"
if [ -z "$bead" ]; then
    echo "gastown: this agent has no bead on its hook, so it may not push anything." >&2
    exit 1
fi
allowed="refs/heads/gt/$bead or refs/heads/gt/$bead-*"
refused=0
specs=""
while read -r old new ref; do
    case "$ref" in
        "refs/heads/gt/$bead" | "refs/heads/gt/$bead"-*) ;;
        *)
            echo "gastown: refusing $ref: this agent may push only $allowed" >&2
            refused=1
            continue
            ;;
    esac
    case "$new" in
        *[!0]*) ;;
        *)
            echo "gastown: refusing to delete $ref: branches are never deleted through the gateway" >&2
            refused=1
            continue
            ;;
    esac
    specs="$specs +$new:$ref"
done
if [ "$refused" -ne 0 ]; then
    exit 1
fi
if [ -z "$specs" ]; then
    exit 0
fi
if [ -z "$GT_PROTECTED" ]; then
    echo "gastown: no rule for protected files was given; refusing the push" >&2
    exit 1
fi
for spec in $specs; do
    new=${spec#+}
    new=${new%%:*}
    ref=${spec#*:}
    if ! files=$(protected_changes "$new"); then
        echo "gastown: refusing $ref: could not tell which files its commits change" >&2
        exit 1
    fi
    if [ -n "$files" ]; then
        echo "gastown: refusing $ref: its commits change protected files:" >&2
        printf '%s\n' "$files" | sort -u | head -n 20 | sed 's/^/gastown:   /' >&2
        echo "gastown: CI configuration (.github/workflows, .github/actions, .gitlab-ci.yml) and gastown's settings (.gastown.yaml, .gastown/) change through an agent only where .gastown.yaml on $GT_PROTECTED_CONFIG lists them under allow_protected_changes. Leave them as they are on $GT_PROTECTED_BASE and push again." >&2
        refused=1
    fi
done
if [ "$refused" -ne 0 ]; then
    exit 1
fi
if [ -z "$GT_FORGE_URL" ]; then
    echo "gastown: no forge to push to; refusing the push" >&2
    exit 1
fi
unset GIT_PROTOCOL
# Unquoted on purpose: one word per refspec (ref names hold no spaces or globs).
if ! git push --quiet "$GT_FORGE_URL" $specs; then
    echo "gastown: the forge did not accept the push (see above), so it is refused here too; nothing changed." >&2
    exit 1
fi
"#;

/// Write the hook into a mirror (only when it differs, so a running push never sees a
/// half-written file from a concurrent sync: the mirror lock serializes both anyway).
pub(super) fn install(git_dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let hooks = git_dir.join("hooks");
    std::fs::create_dir_all(&hooks)?;
    let path = hooks.join("pre-receive");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(PRE_RECEIVE.as_str()) {
        let tmp = hooks.join("pre-receive.tmp");
        std::fs::write(&tmp, PRE_RECEIVE.as_str())?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(())
}

/// A bead id the hook can take literally: it becomes part of a ref name and of a shell
/// `case` pattern (quoted there, but nothing odd should reach it at all).
pub(super) fn valid_bead(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with(['-', '.'])
        && !id.contains("..")
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Environment for a `git-receive-pack` run: who may push what, and where accepted
/// pushes go. Values include the forge credentials: never log them.
pub(super) fn push_env(bead: Option<&str>, forge: Option<&GitRemote>) -> Vec<(String, String)> {
    let mut env = vec![("GT_PUSH_BEAD".to_owned(), bead.unwrap_or("").to_owned())];
    if let Some(remote) = forge {
        env.push(("GT_FORGE_URL".to_owned(), remote.url.clone()));
        env.extend(remote.git_env());
    }
    // The forge push from the hook runs with `git http-backend`'s cleared environment;
    // keep what reaching the forge may need.
    for var in [
        "HOME",
        "https_proxy",
        "HTTPS_PROXY",
        "http_proxy",
        "HTTP_PROXY",
        "no_proxy",
        "NO_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "GIT_SSL_CAINFO",
    ] {
        if let Some(v) = std::env::var_os(var).and_then(|v| v.into_string().ok()) {
            env.push((var.to_owned(), v));
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    use super::*;

    const ZERO: &str = "0000000000000000000000000000000000000000";
    const A: &str = "1111111111111111111111111111111111111111";

    /// Run the hook with `lines` on stdin as bead `bead`, no forge configured.
    fn run(bead: &str, lines: &[String]) -> (bool, String) {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(PRE_RECEIVE.as_str())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("GT_PUSH_BEAD", bead)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The hook may refuse before reading its input: a broken pipe is fine here.
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(format!("{}\n", lines.join("\n")).as_bytes());
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn update(r: &str) -> String {
        format!("{ZERO} {A} {r}")
    }

    #[test]
    fn only_the_beads_own_branches_pass_the_rule() {
        for ok in ["refs/heads/gt/gt-k3x9", "refs/heads/gt/gt-k3x9-fix"] {
            let (_, err) = run("gt-k3x9", &[update(ok)]);
            // Allowed refs get as far as the protected-file rule, not given here.
            assert!(err.contains("no rule for protected files"), "{ok}: {err}");
        }
        for bad in [
            "refs/heads/main",
            "refs/heads/gt/gt-k3x9a-x",
            "refs/heads/gt/gt-other-x",
            "refs/heads/gt/gt-k3x",
            "refs/tags/gt/gt-k3x9",
            "refs/heads/x/gt/gt-k3x9",
        ] {
            let (ok, err) = run("gt-k3x9", &[update(bad)]);
            assert!(!ok, "{bad} passed");
            assert!(
                err.contains(&format!("refusing {bad}"))
                    && err.contains("refs/heads/gt/gt-k3x9 or refs/heads/gt/gt-k3x9-*"),
                "{err}"
            );
        }
    }

    #[test]
    fn deletes_and_beadless_agents_are_refused() {
        let (ok, err) = run("gt-k3x9", &[format!("{A} {ZERO} refs/heads/gt/gt-k3x9-x")]);
        assert!(!ok);
        assert!(
            err.contains("refusing to delete refs/heads/gt/gt-k3x9-x"),
            "{err}"
        );
        let (ok, err) = run("", &[update("refs/heads/gt/gt-k3x9")]);
        assert!(!ok);
        assert!(err.contains("no bead"), "{err}");
    }

    #[test]
    fn one_bad_ref_refuses_the_whole_push() {
        let (ok, err) = run(
            "gt-k3x9",
            &[update("refs/heads/gt/gt-k3x9-a"), update("refs/heads/main")],
        );
        assert!(!ok);
        assert!(err.contains("refusing refs/heads/main"), "{err}");
        assert!(
            !err.contains("no rule for protected files"),
            "stopped before the forge: {err}"
        );
    }

    #[test]
    fn bead_ids() {
        assert!(valid_bead("gt-k3x9"));
        assert!(valid_bead("gt_a.1"));
        for bad in ["", "-x", ".x", "a..b", "a b", "a*", "a/b", "a$b"] {
            assert!(!valid_bead(bad), "{bad}");
        }
    }
}
