//! The real `gt` binary as a child process, for tests that kill and restart it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The `gt` binary built alongside the tests (`cargo test --workspace` builds it), or
/// `GT_BIN`.
pub fn gt_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("GT_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let gt = profile_dir.join(format!("gt{}", std::env::consts::EXE_SUFFIX));
    assert!(
        gt.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (it builds gt) or set GT_BIN",
        gt.display()
    );
    gt
}

/// A `gt serve` child process on a loopback port.
pub struct GtServe {
    pub child: Child,
    pub url: String,
}

impl GtServe {
    /// Start `gt serve` with these environment settings and wait until it listens.
    pub async fn start(env: &[(&str, &str)]) -> GtServe {
        let mut cmd = Command::new(gt_binary());
        cmd.arg("serve")
            .env_remove("GT_CONFIG")
            .env_remove("RUST_LOG")
            .env("GT_LISTEN", "127.0.0.1:0")
            .env("GT_LOG", "warn")
            // No agents unless a test asks for a runner: these tests are about ingest.
            .env("GT_RUNNER", "none")
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        // The bot's files go beside the test's database, never into the source tree.
        if let Some((_, db)) = env.iter().find(|(k, _)| *k == "GT_DATABASE") {
            let dir = Path::new(db)
                .parent()
                .unwrap_or(Path::new("."))
                .join("data");
            cmd.env("GT_DATA_DIR", dir);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn gt serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("listening on ") {
                    return url.to_string();
                }
            }
            panic!("gt serve exited before it listened");
        })
        .await
        .expect("gt serve listening within 30 s");
        GtServe { child, url }
    }

    /// SIGKILL: no shutdown code runs, as in a crash or an OOM kill.
    pub async fn kill9(mut self) {
        self.child.kill().await.expect("kill gt serve");
    }
}

/// Run a `gt` subcommand to completion and return its stdout.
pub async fn gt(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(gt_binary());
    cmd.args(args).env_remove("GT_CONFIG").env("GT_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("run gt");
    assert!(
        out.status.success(),
        "gt {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Run `gt` expecting it to fail; returns what it said on stderr.
pub async fn gt_fails(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(gt_binary());
    cmd.args(args).env_remove("GT_CONFIG").env("GT_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("run gt");
    assert!(!out.status.success(), "gt {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}
