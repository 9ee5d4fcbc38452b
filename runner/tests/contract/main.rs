//! What every backend promises the bot, proved against each for real (and, for those
//! that isolate sessions, the sandbox: `sandbox.rs`): the local
//! processes, the Docker daemon and a Kubernetes cluster (`common::backend`). The bot
//! schedules against the `Runner` trait alone, so a backend that passes this suite is
//! one it can use.
//!
//! Docker and Kubernetes print a skip line when absent, except under CI (env `CI`),
//! where a missing daemon or cluster fails.

#[path = "../common/mod.rs"]
mod common;
mod sandbox;

use std::time::{Duration, Instant};

use common::backend::Backend;
use common::{TOKEN, agent, env, git, log, make_remote, serve_git, wait_exit};
use runner::{AgentSpec, AgentStatus, Check, Runner, TownSpec, Workspace};

fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

fn session(town: &TownSpec, id: &str, script: &str) -> AgentSpec {
    AgentSpec {
        town: town.id.clone(),
        agent: agent(id),
        command: sh(script),
        env: env(&[]),
        workspace: None,
        env_files: Vec::new(),
        checks: Vec::new(),
    }
}

/// Removes the town when the test ends, passed or not.
struct Town<'a, B: Backend> {
    runner: &'a B::R,
    spec: TownSpec,
}

impl<B: Backend> Town<'_, B> {
    async fn end(self) {
        B::cleanup(self.runner, &self.spec.id).await;
    }
}

/// A polecat clones its rig over loopback with the token, works on its branch, pushes,
/// and exits with its own code; its output is paged and tailed; the token is stored
/// nowhere in the town but in what the agent itself printed.
pub async fn an_agent_works_pushes_and_exits_with_its_code<B: Backend>() {
    let Some(runner) = B::runner().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let remotes = dir.path().join("remotes");
    let bare = make_remote(&remotes);
    let addr = serve_git(&remotes).await;
    let town = Town::<B> {
        runner: &runner,
        spec: B::town(dir.path(), "work").await,
    };
    assert!(!runner.ensure_town(&town.spec).await.unwrap().reused);

    let mut spec = session(
        &town.spec,
        "polecat-nux-gt-k3x9",
        "env; echo to-stderr >&2; git rev-parse --abbrev-ref HEAD; echo done > done.txt; \
         git add done.txt && git commit -qm 'from the town' && git push -q 2>&1; \
         head -c 300000 /dev/zero | tr '\\0' x; echo; echo the-end; exit 7",
    );
    spec.env = env(&[("GT_TOKEN", TOKEN), ("GT_ISSUE", "gt-k3x9")]);
    spec.workspace = Some(Workspace {
        remote_url: format!("http://{addr}/git/octo/hello.git"),
        rig_dir: "rigs/github-octo-hello".to_owned(),
        worktree_dir: "polecats/github-octo-hello/nux".to_owned(),
        base_branch: "main".to_owned(),
        branch: "gt/gt-k3x9-fix-typo".to_owned(),
    });
    runner.start_agent(&spec).await.unwrap();
    let state = wait_exit(&runner, &town.spec.id, &spec.agent, secs(60)).await;
    let out = log(&runner, &town.spec.id, &spec.agent).await;
    assert_eq!(state.status, AgentStatus::Exited { code: 7 }, "{out}");
    assert!(out.contains("GT_ISSUE=gt-k3x9"), "{out}");
    assert!(out.contains("to-stderr"), "stderr is in the log: {out}");
    assert!(out.contains("\ngt/gt-k3x9-fix-typo\n"), "{out}");
    assert_eq!(
        git(&bare, &["log", "-1", "--format=%s", "gt/gt-k3x9-fix-typo"]),
        "from the town"
    );
    assert!(state.output_at_ms.is_some());

    // Output is paged from an offset and its end is tailed.
    let (all, next) = runner.output(&town.spec.id, &spec.agent, 0).await.unwrap();
    assert!(all.len() > 300_000 && next == all.len() as u64);
    let (rest, after) = runner
        .output(&town.spec.id, &spec.agent, next - 8)
        .await
        .unwrap();
    assert_eq!((rest.as_slice(), after), (&b"the-end\n"[..], next));
    let tail = runner
        .output_tail(&town.spec.id, &spec.agent, 10)
        .await
        .unwrap();
    assert_eq!(tail, b"x\nthe-end\n");

    let stored: Vec<String> = B::files_containing(&runner, &town.spec, TOKEN)
        .await
        .into_iter()
        .filter(|p| !p.ends_with("/log"))
        .collect();
    assert!(stored.is_empty(), "the token is stored in {stored:?}");

    runner
        .forget_agent(&town.spec.id, &spec.agent)
        .await
        .unwrap();
    assert!(runner.agents(&town.spec.id).await.unwrap().is_empty());
    town.end().await;
}

/// Gates run after a command that succeeded, in order, and what each did is recorded
/// by the town, not reported by the agent.
pub async fn gates_are_recorded_by_the_town<B: Backend>() {
    let Some(runner) = B::runner().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let town = Town::<B> {
        runner: &runner,
        spec: B::town(dir.path(), "gates").await,
    };
    runner.ensure_town(&town.spec).await.unwrap();
    let mut spec = session(&town.spec, "polecat-gated", "echo working");
    spec.checks = vec![
        Check {
            name: "fmt".into(),
            run: "echo formatted".into(),
            timeout_secs: 30,
        },
        Check {
            name: "test".into(),
            run: "echo 'test failed: 1 of 3' >&2; exit 3".into(),
            timeout_secs: 30,
        },
    ];
    runner.start_agent(&spec).await.unwrap();
    wait_exit(&runner, &town.spec.id, &spec.agent, secs(30)).await;
    let checks = runner.checks(&town.spec.id, &spec.agent).await.unwrap();
    let summary: Vec<(&str, Option<i32>)> = checks
        .iter()
        .map(|c| (c.name.as_str(), c.exit_code))
        .collect();
    assert_eq!(summary, [("fmt", Some(0)), ("test", Some(3))]);
    assert!(String::from_utf8_lossy(&checks[1].output_tail).contains("test failed: 1 of 3"));
    town.end().await;
}

/// A restarted bot re-attaches to the town and controls what the old one started:
/// it sees the agent running, cannot forget it while it runs, stops it promptly, and
/// stopping again is harmless.
pub async fn a_restarted_bot_reattaches_and_stops_what_runs<B: Backend>() {
    let Some(before) = B::runner().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let spec = B::town(dir.path(), "restart").await;
    before.ensure_town(&spec).await.unwrap();
    let sleeper = session(&spec, "polecat-sleeper", "sleep 600 & sleep 600; wait");
    before.start_agent(&sleeper).await.unwrap();
    drop(before);

    let after = B::runner().await.unwrap();
    let town = Town::<B> {
        runner: &after,
        spec,
    };
    assert!(after.ensure_town(&town.spec).await.unwrap().reused);
    let states = after.agents(&town.spec.id).await.unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].status, AgentStatus::Running);
    assert!(
        after
            .forget_agent(&town.spec.id, &sleeper.agent)
            .await
            .is_err()
    );

    let started = Instant::now();
    after
        .stop_agent(&town.spec.id, &sleeper.agent)
        .await
        .unwrap();
    assert!(started.elapsed() < secs(8), "{:?}", started.elapsed());
    let status = after.agents(&town.spec.id).await.unwrap()[0].status;
    assert_eq!(status, AgentStatus::Exited { code: 143 });
    after
        .stop_agent(&town.spec.id, &sleeper.agent)
        .await
        .unwrap();
    town.end().await;
}

/// A town taken away under the runner (its container removed, its pod deleted) leaves
/// its agents not running, and the next `ensure_town` makes a new town that works.
pub async fn a_town_taken_away_is_recreated<B: Backend>() {
    let Some(runner) = B::runner().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let town = Town::<B> {
        runner: &runner,
        spec: B::town(dir.path(), "gone").await,
    };
    runner.ensure_town(&town.spec).await.unwrap();
    let doomed = session(&town.spec, "polecat-doomed", "sleep 600");
    runner.start_agent(&doomed).await.unwrap();
    if !B::kill_town(&runner, &town.spec.id).await {
        town.end().await;
        return;
    }
    let status = runner.ensure_town(&town.spec).await.unwrap();
    assert!(!status.reused, "a new town, not the old one");
    let left = runner.agents(&town.spec.id).await.unwrap();
    assert!(
        left.iter().all(|s| s.status != AgentStatus::Running),
        "{left:?}"
    );
    let survivor = session(&town.spec, "polecat-next", "echo alive; exit 0");
    runner.start_agent(&survivor).await.unwrap();
    let state = wait_exit(&runner, &town.spec.id, &survivor.agent, secs(30)).await;
    assert_eq!(state.status, AgentStatus::Exited { code: 0 });
    town.end().await;
}

/// Two towns share nothing the bot can see through the runner; where the backend
/// isolates, an agent in one cannot see the other's processes or files either.
pub async fn two_towns_are_kept_apart<B: Backend>() {
    let Some(runner) = B::runner().await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Town::<B> {
        runner: &runner,
        spec: B::town(dir_a.path(), "apart-a").await,
    };
    let b = Town::<B> {
        runner: &runner,
        spec: B::town(dir_b.path(), "apart-b").await,
    };
    runner.ensure_town(&a.spec).await.unwrap();
    runner.ensure_town(&b.spec).await.unwrap();
    let secret_keeper = session(&a.spec, "polecat-in-a", "sleep 600");
    runner.start_agent(&secret_keeper).await.unwrap();
    let snoop = session(
        &b.spec,
        "polecat-in-b",
        "ls \"$GT_TOWN_ROOT/run\"; cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '; echo",
    );
    runner.start_agent(&snoop).await.unwrap();
    wait_exit(&runner, &b.spec.id, &snoop.agent, secs(30)).await;

    let in_b: Vec<String> = runner
        .agents(&b.spec.id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.agent.0)
        .collect();
    assert_eq!(in_b, ["polecat-in-b"]);
    if B::ISOLATES {
        let seen = log(&runner, &b.spec.id, &snoop.agent).await;
        assert!(!seen.contains("polecat-in-a"), "town b saw town a: {seen}");
    }
    runner
        .stop_agent(&a.spec.id, &secret_keeper.agent)
        .await
        .unwrap();
    a.end().await;
    b.end().await;
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The suite, instantiated for one backend.
macro_rules! contract {
    ($module:ident, $backend:ty) => {
        mod $module {
            #[tokio::test]
            async fn an_agent_works_pushes_and_exits_with_its_code() {
                super::an_agent_works_pushes_and_exits_with_its_code::<$backend>().await
            }
            #[tokio::test]
            async fn gates_are_recorded_by_the_town() {
                super::gates_are_recorded_by_the_town::<$backend>().await
            }
            #[tokio::test]
            async fn a_restarted_bot_reattaches_and_stops_what_runs() {
                super::a_restarted_bot_reattaches_and_stops_what_runs::<$backend>().await
            }
            #[tokio::test]
            async fn a_town_taken_away_is_recreated() {
                super::a_town_taken_away_is_recreated::<$backend>().await
            }
            #[tokio::test]
            async fn two_towns_are_kept_apart() {
                super::two_towns_are_kept_apart::<$backend>().await
            }
            #[tokio::test]
            async fn an_agent_cannot_read_another_agents_token_home_or_record() {
                super::sandbox::an_agent_cannot_read_another_agents_token_home_or_record::<
                    $backend,
                >()
                .await
            }
            #[tokio::test]
            async fn gates_run_under_their_own_uid_without_the_token_and_nothing_outlives_a_session()
             {
                super::sandbox::gates_run_under_their_own_uid_without_the_token_and_nothing_outlives_a_session::<$backend>().await
            }
        }
    };
}

contract!(local, crate::common::backend::Local);
contract!(docker, crate::common::backend::Docker);
contract!(kubernetes, crate::common::backend::Kubernetes);
