//! The Docker backend against the real daemon: what only Docker has (its container's
//! limits and mounts). What every backend promises is proved in `tests/contract.rs`.
//!
//! Without Docker these tests print a skip line, except under CI (env `CI`), where a
//! missing daemon is a failure.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::ListContainersOptionsBuilder;
use common::docker::{Cleanup, docker_runner, fake_gt, town_image, unique_town};
use common::{TOKEN, agent, env, files_containing, git, log, make_remote, serve_git, wait_exit};
use runner::{AgentSpec, AgentStatus, DockerRunner, Limits, Runner, TownId, TownSpec, Workspace};

async fn town_containers(runner: &DockerRunner, town: &TownId) -> usize {
    let filters = HashMap::from([("label".to_owned(), vec![format!("gastown.town={town}")])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    runner
        .docker()
        .list_containers(Some(options))
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_town_gets_exactly_one_limited_container_that_a_restarted_bot_reattaches() {
    let Some(runner) = docker_runner().await else {
        return;
    };
    let image = town_image().await;
    let dir = tempfile::tempdir().unwrap();
    let town = TownSpec {
        id: unique_town("limits"),
        root: dir.path().join("town"),
        image,
        gt_binary: fake_gt(dir.path()),
        limits: Limits {
            memory_bytes: Some(512 * 1024 * 1024),
            nano_cpus: Some(1_000_000_000),
            pids: Some(256),
        },
    };

    let _cleanup = Cleanup(town.id.clone());
    let first = runner.ensure_town(&town).await.unwrap();
    assert!(!first.reused);
    let again = runner.ensure_town(&town).await.unwrap();
    assert!(again.reused);
    assert_eq!(first.container_id, again.container_id);

    // The bot restarts: a new runner finds the same container by its label.
    let restarted = docker_runner().await.unwrap();
    let after = restarted.ensure_town(&town).await.unwrap();
    assert!(after.reused);
    assert_eq!(after.container_id, first.container_id);
    assert_eq!(town_containers(&restarted, &town.id).await, 1);

    let inspect = runner
        .docker()
        .inspect_container(first.container_id.as_deref().unwrap(), None)
        .await
        .unwrap();
    let host = inspect.host_config.unwrap();
    assert_eq!(host.memory, Some(512 * 1024 * 1024));
    assert_eq!(host.nano_cpus, Some(1_000_000_000));
    assert_eq!(host.pids_limit, Some(256));
    assert_eq!(host.network_mode.as_deref(), Some("host"));
    assert_eq!(host.init, Some(true));
    let container_env = inspect.config.unwrap().env.unwrap_or_default();
    assert!(
        !container_env.iter().any(|e| e.contains("TOKEN")),
        "no secret in the container's env: {container_env:?}"
    );

    // A stopped container (daemon restart, host reboot) is started, not duplicated.
    runner
        .docker()
        .stop_container(first.container_id.as_deref().unwrap(), None)
        .await
        .unwrap();
    let revived = restarted.ensure_town(&town).await.unwrap();
    assert!(revived.reused);
    assert_eq!(revived.container_id, first.container_id);
    assert_eq!(town_containers(&restarted, &town.id).await, 1);

    restarted.remove_town(&town.id).await.unwrap();
    assert_eq!(town_containers(&restarted, &town.id).await, 0);
}

#[tokio::test]
async fn a_polecat_in_the_town_container_clones_over_loopback_pushes_and_exits_with_its_code() {
    let Some(runner) = docker_runner().await else {
        return;
    };
    let image = town_image().await;
    let dir = tempfile::tempdir().unwrap();
    let remotes = dir.path().join("remotes");
    let bare = make_remote(&remotes);
    let addr = serve_git(&remotes).await;
    let town = TownSpec {
        id: unique_town("polecat"),
        root: dir.path().join("town"),
        image,
        gt_binary: fake_gt(dir.path()),
        limits: Limits::default(),
    };
    let _cleanup = Cleanup(town.id.clone());
    runner.ensure_town(&town).await.unwrap();

    let spec = AgentSpec {
        town: town.id.clone(),
        agent: agent("polecat-nux-gt-k3x9"),
        command: [
            "sh",
            "-c",
            "env; gt --version; git rev-parse --abbrev-ref HEAD; echo done > done.txt; \
             git add done.txt && git commit -qm 'in the container' && git push -q 2>&1; exit 7",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect(),
        env: env(&[("GT_TOKEN", TOKEN), ("GT_ISSUE", "gt-k3x9")]),
        workspace: Some(Workspace {
            remote_url: format!("http://{addr}/git/octo/hello.git"),
            rig_dir: "rigs/github-octo-hello".to_owned(),
            worktree_dir: "polecats/github-octo-hello/nux".to_owned(),
            base_branch: "main".to_owned(),
            branch: "gt/gt-k3x9-fix-typo".to_owned(),
        }),
        env_files: Vec::new(),
        checks: Vec::new(),
    };
    runner.start_agent(&spec).await.unwrap();
    let state = wait_exit(&runner, &town.id, &spec.agent, Duration::from_secs(60)).await;
    let out = log(&runner, &town.id, &spec.agent).await;
    assert_eq!(state.status, AgentStatus::Exited { code: 7 }, "{out}");
    assert!(out.contains("gt (test stub) --version"), "{out}");
    assert!(out.contains("\ngt/gt-k3x9-fix-typo\n"), "{out}");
    assert!(
        out.contains("GT_WORKTREE=/town/homes/polecat-nux-gt-k3x9/work"),
        "{out}"
    );
    assert!(
        out.contains("HOME=/town/homes/polecat-nux-gt-k3x9"),
        "{out}"
    );
    let token_vars: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .filter(|k| k.contains("TOKEN"))
        .collect();
    assert_eq!(token_vars, ["GT_TOKEN"], "{out}");
    assert_eq!(
        git(&bare, &["log", "-1", "--format=%s", "gt/gt-k3x9-fix-typo"]),
        "in the container"
    );
    assert!(
        files_containing(&town.root, TOKEN)
            .iter()
            .all(|p| p.ends_with("log"))
    );

    // Restarted bot: the exit is still reported from the run/ record.
    let restarted = docker_runner().await.unwrap();
    restarted.ensure_town(&town).await.unwrap();
    let states = restarted.agents(&town.id).await.unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].status, AgentStatus::Exited { code: 7 });
    restarted.forget_agent(&town.id, &spec.agent).await.unwrap();
    restarted.remove_town(&town.id).await.unwrap();
}
