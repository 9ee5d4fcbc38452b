//! What the stories in a real town container share: Docker (or a skip, and a failure
//! under CI), and the town container removed whatever the story's outcome.

use std::sync::Arc;

use runner::{DockerRunner, TownId};

/// Docker, or a skip (a failure under CI, where Docker is part of the suite).
pub async fn docker() -> Option<Arc<DockerRunner>> {
    match DockerRunner::connect().await {
        Ok(d) => Some(Arc::new(d)),
        Err(e) if std::env::var_os("CI").is_some() => panic!("Docker is required in CI: {e}"),
        Err(e) => {
            eprintln!("skipping: Docker is not reachable ({e})");
            None
        }
    }
}

/// Removes the story's town container when dropped.
pub struct RemoveTown(pub Arc<DockerRunner>, pub TownId);

impl Drop for RemoveTown {
    fn drop(&mut self) {
        let (d, t) = (self.0.clone(), self.1.clone());
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(async { d.remove_town(&t).await })
        })
        .join();
    }
}

/// The `docker` CLI, as a person would look at a town from outside it; its stdout, the
/// command required to succeed.
pub fn cli(args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
