//! The Docker backend's test fixtures: the daemon (a failure under CI), the town image
//! built once per test binary, a stand-in `gt`, unique towns and their cleanup.

use std::path::Path;
use std::time::{Duration, Instant};

use runner::image::{ImageOptions, build_town_image};
use runner::{DockerRunner, TownId};
use tokio::sync::OnceCell;

static IMAGE: OnceCell<String> = OnceCell::const_new();

/// Connects, or returns None (after a skip line) when Docker is absent outside CI.
pub async fn docker_runner() -> Option<DockerRunner> {
    match DockerRunner::connect().await {
        Ok(runner) => Some(runner.with_stop_grace(Duration::from_secs(3))),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!(
                "CI is set but Docker is unavailable, so the Docker runner cannot be tested: {e}"
            )
        }
        Err(e) => {
            eprintln!("SKIP: Docker runner tests need a Docker daemon ({e})");
            None
        }
    }
}

/// Builds the town image once per test binary; later runs hit the content-addressed tag.
pub async fn town_image() -> String {
    IMAGE
        .get_or_init(|| async {
            let started = Instant::now();
            let tag = build_town_image(&ImageOptions::default(), &mut |line: &str| {
                eprintln!("[image {:>5.1}s] {line}", started.elapsed().as_secs_f64())
            })
            .await
            .expect("the town image builds");
            eprintln!(
                "town image {tag} ready in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            tag
        })
        .await
        .clone()
}

/// A stand-in for the `gt` binary: any executable proves the read-only mount.
pub fn fake_gt(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("gt");
    std::fs::write(&path, "#!/bin/sh\necho \"gt (test stub) $*\"\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

pub fn unique_town(prefix: &str) -> TownId {
    TownId::new(format!("{prefix}-{}-{}", std::process::id(), rand_suffix())).unwrap()
}

pub fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

/// Removes the town's containers even when an assertion fails midway.
pub struct Cleanup(pub TownId);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let ids = std::process::Command::new("docker")
            .args([
                "ps",
                "-aq",
                "--filter",
                &format!("label=gastown.town={}", self.0),
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for id in ids.split_whitespace() {
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f", id])
                .output();
        }
    }
}
