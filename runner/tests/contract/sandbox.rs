//! The town as a sandbox, for the backends that isolate (Docker, Kubernetes): each
//! session runs under a uid of its own, so one agent cannot read another's token,
//! files or environment, a gate cannot read its session's token, and nothing a session
//! leaves running outlives it.

use std::time::Duration;

use runner::{AgentSpec, AgentStatus, Check, Runner, TownId, TownSpec, Workspace};

use crate::common::backend::Backend;
use crate::common::{self, agent, env, log, make_remote, serve_git, wait_exit};

const VICTIM_TOKEN: &str = "gt-victim-token-8d41c2";
const ATTACKER_TOKEN: &str = "gt-attacker-token-1b9e77";

fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

/// A runner of a backend that isolates sessions; `None` for the others (and outside CI
/// where the backend is missing).
async fn isolating<B: Backend>() -> Option<B::R> {
    if !B::ISOLATES {
        return None;
    }
    B::runner().await
}

async fn town<B: Backend>(runner: &B::R, dir: &std::path::Path, prefix: &str) -> TownSpec {
    let town = B::town(dir, prefix).await;
    runner.ensure_town(&town).await.unwrap();
    town
}

fn session(town: &TownId, id: &str, token: &str, script: &str) -> AgentSpec {
    AgentSpec {
        town: town.clone(),
        agent: agent(id),
        command: sh(script),
        env: env(&[
            ("GT_TOKEN", token),
            (
                "GT_MCP_CONFIG",
                &format!(r#"{{"headers":{{"Authorization":"Bearer {token}"}}}}"#),
            ),
        ]),
        env_files: vec!["GT_MCP_CONFIG".into()],
        workspace: None,
        checks: Vec::new(),
    }
}

/// Waits until the victim's wrapper says it is running its command.
async fn until_logged(runner: &dyn Runner, town: &TownId, id: &str, needle: &str) {
    for _ in 0..300 {
        if log(runner, town, &agent(id)).await.contains(needle) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{id} never logged {needle:?}");
}

/// One agent cannot read another's token, home, environment or record, nor replace its
/// own record; it is never root, the root filesystem is read-only, and no token is in any
/// command line of the town.
pub async fn an_agent_cannot_read_another_agents_token_home_or_record<B: Backend>() {
    let Some(runner) = isolating::<B>().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let town = town::<B>(&runner, dir.path(), "sandbox").await;

    let mut victim = session(
        &town.id,
        "polecat-victim",
        VICTIM_TOKEN,
        // The note comes from the environment: a command line is public in any town.
        "printf '%s' \"$NOTE\" > \"$HOME/notes\"; echo victim-\"\"ready; sleep 600",
    );
    victim.env.insert("NOTE".into(), "secret-work".into());
    runner.start_agent(&victim).await.unwrap();
    until_logged(&runner, &town.id, "polecat-victim", "victim-ready").await;

    // Everything an attacker with a shell in the town would try.
    let attacker = session(
        &town.id,
        "polecat-attacker",
        ATTACKER_TOKEN,
        "echo uid=$(id -u); \
         echo mcp=$GT_MCP_CONFIG; \
         echo ==cmd\"\"lines==; for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' <\"$f\" 2>/dev/null; echo; done; \
         echo ==env\"\"irons==; for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' <\"$f\" 2>/dev/null; done; echo ==end==; \
         cat /town/homes/polecat-victim/notes /town/homes/polecat-victim/.gastown/GT_MCP_CONFIG 2>&1; \
         ls /town/run 2>&1; cat /town/run/polecat-victim/log 2>&1; \
         ln -sf /proc/self/environ /town/run/polecat-attacker/log 2>&1 && echo replaced-my-\"\"log; \
         touch /etc/evil 2>&1 || echo rootfs-read-only; \
         echo attacker-done",
    );
    runner.start_agent(&attacker).await.unwrap();
    let state = wait_exit(&runner, &town.id, &attacker.agent, Duration::from_secs(60)).await;
    let out = log(&runner, &town.id, &attacker.agent).await;
    assert_eq!(state.status, AgentStatus::Exited { code: 0 }, "{out}");
    assert!(out.contains("attacker-done"), "{out}");
    assert!(
        !out.contains(VICTIM_TOKEN),
        "the victim's token leaked:\n{out}"
    );
    assert!(
        !out.contains("secret-work"),
        "the victim's files leaked:\n{out}"
    );
    assert!(
        !out.contains("victim-ready"),
        "the victim's log leaked:\n{out}"
    );
    assert!(!out.contains("replaced-my-log"), "{out}");
    assert!(out.contains("rootfs-read-only"), "{out}");
    assert!(!out.contains("uid=0\n"), "agents never run as root:\n{out}");
    // The MCP config is a path to a 0600 file: no token in any argv.
    assert!(
        out.contains("mcp=/town/homes/polecat-attacker/.gastown/GT_MCP_CONFIG"),
        "{out}"
    );
    let cmdlines = out
        .split("==cmdlines==")
        .nth(1)
        .and_then(|rest| rest.split("==environs==").next())
        .expect("the attacker listed the command lines");
    assert!(cmdlines.contains("wrapper.sh"), "{cmdlines}");
    for token in [VICTIM_TOKEN, ATTACKER_TOKEN] {
        assert!(!cmdlines.contains(token), "a token in an argv:\n{cmdlines}");
    }

    runner.stop_agent(&town.id, &victim.agent).await.unwrap();
    runner.forget_agent(&town.id, &victim.agent).await.unwrap();
    runner
        .forget_agent(&town.id, &attacker.agent)
        .await
        .unwrap();
    assert!(!B::exists(&runner, &town, "homes/polecat-victim").await);
    B::cleanup(&runner, &town.id).await;
}

/// Gates run on a copy of the checkout under a uid of their own, with no token and no
/// `GT_` variable, timed out when slow; a daemon a session leaves does not outlive it.
pub async fn gates_run_under_their_own_uid_without_the_token_and_nothing_outlives_a_session<
    B: Backend,
>() {
    let Some(runner) = isolating::<B>().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let remotes = dir.path().join("remotes");
    make_remote(&remotes);
    let addr = serve_git(&remotes).await;
    let town = town::<B>(&runner, dir.path(), "gates").await;

    let mut refinery = session(
        &town.id,
        "refinery-main-1",
        common::TOKEN,
        // A daemon that leaves the process group, then a clean exit.
        "setsid sh -c 'sleep 600' </dev/null >/dev/null 2>&1 & echo session-uid=$(id -u); exit 0",
    );
    refinery.workspace = Some(Workspace {
        remote_url: format!("http://{addr}/git/octo/hello.git"),
        rig_dir: "rigs/github-octo-hello".into(),
        worktree_dir: "refinery/github-octo-hello/main".into(),
        base_branch: "main".into(),
        branch: "gt/gt-k3x9-fix".into(),
    });
    refinery.checks = vec![
        Check {
            name: "snoop".into(),
            run: "echo gate-uid=$(id -u); test -f README && echo has-checkout; \
                  echo \"head=$(git log -1 --format=%s)\"; \
                  env | grep -c GT_ ; \
                  for f in /proc/[0-9]*/environ; do cat \"$f\" 2>/dev/null | tr '\\0' '\\n'; done | grep GT_TOKEN; \
                  exit 3"
                .into(),
            timeout_secs: 60,
        },
        Check {
            name: "slow".into(),
            run: "sleep 30".into(),
            timeout_secs: 1,
        },
    ];
    runner.start_agent(&refinery).await.unwrap();
    let state = wait_exit(&runner, &town.id, &refinery.agent, Duration::from_secs(90)).await;
    let out = log(&runner, &town.id, &refinery.agent).await;
    assert_eq!(state.status, AgentStatus::Exited { code: 0 }, "{out}");

    let checks = runner.checks(&town.id, &refinery.agent).await.unwrap();
    assert_eq!(checks.len(), 2, "{checks:?}");
    let snoop = String::from_utf8_lossy(&checks[0].output_tail).into_owned();
    assert_eq!(checks[0].exit_code, Some(3), "{snoop}");
    assert!(snoop.contains("has-checkout"), "{snoop}");
    assert!(
        snoop.contains("head=initial"),
        "git works in the gate's copy:\n{snoop}"
    );
    assert!(
        !snoop.contains(common::TOKEN),
        "a gate read the token:\n{snoop}"
    );
    assert!(
        snoop.contains("\n0\n"),
        "a gate saw GT_ variables:\n{snoop}"
    );
    let session_uid = out
        .lines()
        .find_map(|l| l.strip_prefix("session-uid="))
        .expect("the session said its uid");
    let gate_uid = snoop
        .lines()
        .find_map(|l| l.strip_prefix("gate-uid="))
        .expect("the gate said its uid");
    assert_ne!(session_uid, gate_uid);
    assert!(checks[1].timed_out, "{:?}", checks[1]);

    // The daemon it left behind did not outlive the session.
    let leftovers = B::processes_of_uid(&runner, &town, session_uid).await;
    assert!(leftovers.is_empty(), "{leftovers:?}");
    runner
        .forget_agent(&town.id, &refinery.agent)
        .await
        .unwrap();
    B::cleanup(&runner, &town.id).await;
}
