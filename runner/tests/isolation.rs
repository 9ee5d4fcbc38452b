//! The Docker town container's own hardening. What the sandbox guarantees inside any
//! isolating town (uids, tokens, gates) is proved for Docker and Kubernetes alike in
//! `tests/contract/sandbox.rs`.
//!
//! Without Docker these tests print a skip line, except under CI, where a missing
//! daemon is a failure.

mod common;

use common::docker::{Cleanup, docker_runner, fake_gt, town_image, unique_town};
use runner::{DockerRunner, Limits, Runner, TownId, TownSpec};

async fn town(runner: &DockerRunner, dir: &std::path::Path, prefix: &str) -> TownSpec {
    let town = TownSpec {
        id: unique_town(prefix),
        root: dir.join("town"),
        image: town_image().await,
        gt_binary: fake_gt(dir),
        limits: Limits::default(),
    };
    runner.ensure_town(&town).await.unwrap();
    town
}

#[tokio::test]
async fn the_town_container_is_hardened() {
    let Some(runner) = docker_runner().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let town = town(&runner, dir.path(), "hardened").await;
    let _cleanup = Cleanup(town.id.clone());
    let inspect = runner
        .docker()
        .inspect_container(&runner::container_name(&town.id), None)
        .await
        .unwrap();
    let host = inspect.host_config.unwrap();
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
    assert_eq!(
        host.security_opt,
        Some(vec!["no-new-privileges".to_owned()])
    );
    assert_eq!(host.readonly_rootfs, Some(true));
    runner_cleanup(&runner, &town.id).await;
}

async fn runner_cleanup(runner: &DockerRunner, town: &TownId) {
    runner.remove_town(town).await.unwrap();
}

/// A town container made before the sandbox (every capability, agents as the bot's uid)
/// is replaced by a hardened one when the bot comes back, not kept forever.
#[tokio::test]
async fn a_town_container_from_before_the_sandbox_is_replaced() {
    let Some(runner) = docker_runner().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let spec = TownSpec {
        id: unique_town("upgrade"),
        root: dir.path().join("town"),
        image: town_image().await,
        gt_binary: fake_gt(dir.path()),
        limits: Limits::default(),
    };
    let _cleanup = Cleanup(spec.id.clone());
    std::fs::create_dir_all(&spec.root).unwrap();
    let root = std::fs::canonicalize(&spec.root).unwrap();
    let old = std::process::Command::new("docker")
        .args(["create", "--label"])
        .arg(format!("gastown.town={}", spec.id))
        .args(["--label", "gastown.managed=true", "--network", "host", "-v"])
        .arg(format!("{}:/town", root.display()))
        .args([&spec.image, "sleep", "infinity"])
        .output()
        .unwrap();
    assert!(old.status.success(), "{old:?}");
    let old_id = String::from_utf8_lossy(&old.stdout).trim().to_owned();

    let status = runner.ensure_town(&spec).await.unwrap();
    assert!(!status.reused);
    assert_ne!(status.container_id.as_deref(), Some(old_id.as_str()));
    let inspect = runner
        .docker()
        .inspect_container(&runner::container_name(&spec.id), None)
        .await
        .unwrap();
    assert_eq!(
        inspect.host_config.unwrap().cap_drop,
        Some(vec!["ALL".to_owned()])
    );
    runner_cleanup(&runner, &spec.id).await;
}
