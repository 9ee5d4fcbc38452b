//! The backends the shared runner contract (`tests/contract.rs`) runs against, each
//! with what only it knows: how to get a runner (a restarted bot is a second one), a
//! town, and how to take a town away from under the runner.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use runner::{
    DockerRunner, KubernetesOptions, KubernetesRunner, Limits, LocalRunner, Runner, TownId,
    TownSpec,
};

use super::docker::{docker_runner, fake_gt, town_image, unique_town};

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    type R: Runner;
    /// Whether sessions run under uids of their own in a town of their own (not local).
    const ISOLATES: bool;
    /// A runner, as a (re)started bot gets one; `None` skips the suite outside CI.
    async fn runner() -> Option<Self::R>;
    /// A fresh town whose files go under `dir` where the backend keeps them on the host.
    async fn town(dir: &Path, prefix: &str) -> TownSpec;
    /// Takes the town away as an operator or the machine would (its container removed,
    /// its pod deleted); `false` where a town cannot be taken away (local).
    async fn kill_town(runner: &Self::R, town: &TownId) -> bool;
    /// Removes whatever the town left, also when a test failed midway.
    async fn cleanup(runner: &Self::R, town: &TownId);
    /// Every file in the town whose bytes hold `needle`, by path in the town.
    async fn files_containing(runner: &Self::R, town: &TownSpec, needle: &str) -> Vec<String>;
    /// Whether `rel` exists in the town.
    async fn exists(runner: &Self::R, town: &TownSpec, rel: &str) -> bool;
    /// The pids of the town's processes running as `uid`.
    async fn processes_of_uid(runner: &Self::R, town: &TownSpec, uid: &str) -> Vec<String>;
}

/// Lists the pids of `$1`'s processes, by /proc (the town image has no `ps`).
const PIDS_OF_UID: &str = r#"for p in /proc/[0-9]*; do [ "$(stat -c %u "$p" 2>/dev/null)" = "$1" ] && echo "${p#/proc/}"; done; true"#;

pub struct Docker;

#[async_trait]
impl Backend for Docker {
    type R = DockerRunner;
    const ISOLATES: bool = true;

    async fn runner() -> Option<DockerRunner> {
        docker_runner().await
    }

    async fn town(dir: &Path, prefix: &str) -> TownSpec {
        TownSpec {
            id: unique_town(prefix),
            root: dir.join("town"),
            image: town_image().await,
            gt_binary: fake_gt(dir),
            limits: Limits::default(),
        }
    }

    async fn kill_town(runner: &DockerRunner, town: &TownId) -> bool {
        runner.remove_town(town).await.unwrap();
        true
    }

    async fn cleanup(runner: &DockerRunner, town: &TownId) {
        let _ = runner.remove_town(town).await;
    }

    async fn files_containing(_: &DockerRunner, town: &TownSpec, needle: &str) -> Vec<String> {
        host_files_containing(&town.root, needle)
    }

    async fn exists(_: &DockerRunner, town: &TownSpec, rel: &str) -> bool {
        town.root.join(rel).exists()
    }

    async fn processes_of_uid(runner: &DockerRunner, town: &TownSpec, uid: &str) -> Vec<String> {
        let top = runner
            .docker()
            .top_processes(&runner::container_name(&town.id), None)
            .await
            .unwrap();
        top.processes
            .unwrap_or_default()
            .into_iter()
            .filter(|row| row.first().map(String::as_str) == Some(uid))
            .map(|row| row.join(" "))
            .collect()
    }
}

pub struct Local;

#[async_trait]
impl Backend for Local {
    type R = LocalRunner;
    const ISOLATES: bool = false;

    async fn runner() -> Option<LocalRunner> {
        Some(LocalRunner::new().with_stop_grace(Duration::from_secs(3)))
    }

    async fn town(dir: &Path, prefix: &str) -> TownSpec {
        TownSpec {
            id: unique_town(prefix),
            root: dir.join("town"),
            image: String::new(),
            gt_binary: fake_gt(dir),
            limits: Limits::default(),
        }
    }

    async fn kill_town(_: &LocalRunner, _: &TownId) -> bool {
        false
    }

    async fn cleanup(_: &LocalRunner, _: &TownId) {}

    async fn files_containing(_: &LocalRunner, town: &TownSpec, needle: &str) -> Vec<String> {
        host_files_containing(&town.root, needle)
    }

    async fn exists(_: &LocalRunner, town: &TownSpec, rel: &str) -> bool {
        town.root.join(rel).exists()
    }

    async fn processes_of_uid(_: &LocalRunner, _: &TownSpec, _: &str) -> Vec<String> {
        unreachable!("the local backend does not isolate sessions")
    }
}

fn host_files_containing(root: &Path, needle: &str) -> Vec<String> {
    super::files_containing(root, needle)
        .into_iter()
        .map(|p| p.strip_prefix(root).unwrap_or(&p).display().to_string())
        .collect()
}

/// A real cluster (`.ci/k8s/cluster.sh up`) named by `GT_K8S_KUBECONFIG`, with the
/// bot's image (`gt town-image build --with-gt`) imported as `GT_K8S_IMAGE`.
pub struct Kubernetes;

pub const K8S_NAMESPACE: &str = "gastown-runner-test";

impl Kubernetes {
    fn env() -> Option<(String, String)> {
        let kubeconfig = std::env::var("GT_K8S_KUBECONFIG").ok();
        let image = std::env::var("GT_K8S_IMAGE").ok();
        match (kubeconfig, image) {
            (Some(k), Some(i)) => Some((k, i)),
            _ if std::env::var_os("CI").is_some() => panic!(
                "CI is set but GT_K8S_KUBECONFIG and GT_K8S_IMAGE are not, so the Kubernetes \
                 runner cannot be tested (.ci/run starts the cluster and sets them)"
            ),
            _ => {
                eprintln!(
                    "SKIP: Kubernetes runner tests need GT_K8S_KUBECONFIG and GT_K8S_IMAGE \
                     (bash .ci/k8s/cluster.sh up)"
                );
                None
            }
        }
    }
}

#[async_trait]
impl Backend for Kubernetes {
    type R = KubernetesRunner;
    const ISOLATES: bool = true;

    async fn runner() -> Option<KubernetesRunner> {
        let (kubeconfig, _) = Self::env()?;
        let runner = KubernetesRunner::connect(KubernetesOptions {
            namespace: K8S_NAMESPACE.to_owned(),
            kubeconfig: Some(kubeconfig.into()),
            host_network: true,
            image_pull_policy: "Never".to_owned(),
            start_timeout_secs: 60,
            ..Default::default()
        })
        .await
        .expect("the test cluster answers")
        .with_stop_grace(Duration::from_secs(3));
        runner.create_namespace().await.unwrap();
        Some(runner)
    }

    async fn town(dir: &Path, prefix: &str) -> TownSpec {
        let (_, image) = Self::env().expect("checked by runner()");
        TownSpec {
            id: unique_town(prefix),
            root: dir.join("town"),
            image,
            gt_binary: fake_gt(dir),
            limits: Limits {
                memory_bytes: Some(1 << 30),
                nano_cpus: None,
                pids: None,
            },
        }
    }

    async fn kill_town(runner: &KubernetesRunner, town: &TownId) -> bool {
        let pod = runner::kubernetes::pod_name(town);
        runner
            .pods()
            .delete(&pod, &kube::api::DeleteParams::default())
            .await
            .unwrap();
        true
    }

    async fn cleanup(runner: &KubernetesRunner, town: &TownId) {
        let _ = runner.remove_town(town).await;
    }

    async fn files_containing(
        runner: &KubernetesRunner,
        town: &TownSpec,
        needle: &str,
    ) -> Vec<String> {
        use tokio::io::AsyncReadExt;
        let pod = runner::kubernetes::pod_name(&town.id);
        let mut process = runner
            .pods()
            .exec(
                &pod,
                ["grep", "-rlF", "--", needle, "/town"],
                &kube::api::AttachParams::default().container("town"),
            )
            .await
            .unwrap();
        let mut out = String::new();
        process
            .stdout()
            .unwrap()
            .read_to_string(&mut out)
            .await
            .unwrap();
        let _ = process.join().await;
        out.lines()
            .map(|l| l.trim_start_matches("/town/").to_owned())
            .collect()
    }

    async fn exists(runner: &KubernetesRunner, town: &TownSpec, rel: &str) -> bool {
        let path = format!("/town/{rel}");
        let (code, _) = runner
            .run_in_town(&town.id, vec!["test".into(), "-e".into(), path])
            .await
            .unwrap();
        code == 0
    }

    async fn processes_of_uid(
        runner: &KubernetesRunner,
        town: &TownSpec,
        uid: &str,
    ) -> Vec<String> {
        let argv = ["sh", "-c", PIDS_OF_UID, "pids", uid]
            .map(String::from)
            .to_vec();
        let (_, out) = runner.run_in_town(&town.id, argv).await.unwrap();
        String::from_utf8_lossy(&out)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}
