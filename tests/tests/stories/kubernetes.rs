//! The bot deployed into a real cluster from `deploy/kubernetes/` as an operator would
//! (`kubectl apply -k`), the forge simulator outside it: a labelled issue is worked by
//! a polecat in a town pod and landed by the refinery, and the town pod holds no
//! service account token and no forge credential.
//!
//! The cluster is `.ci/k8s/cluster.sh`'s: no pod network or kube-proxy, so the
//! overlay this story writes puts the bot and its towns on the node's network, and no
//! storage provisioner, so it gives the bot's claim a volume of its own. Everything
//! else is the shipped manifests. Without `GT_K8S_KUBECONFIG` and `GT_K8S_IMAGE` the
//! story prints a skip line, except under CI, where that fails.

use std::path::Path;
use std::time::{Duration, Instant};

use forge_sim::world::IssueState;
use forge_sim::{MergeMethod, SimHandle};
use gastown_tests::kubernetes::cluster;
use gastown_tests::story::{sling, status_comment};
use gastown_tests::town::GITHUB_SECRET;
use serde_json::Value;

const REPO: &str = "octo/hello";
const NAMESPACE: &str = "gastown";
const WAIT: Duration = Duration::from_secs(240);

/// `kubectl` against the test cluster: its stdout, or its stderr as the error.
fn kubectl(kubeconfig: &str, args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new("kubectl")
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .map_err(|e| format!("kubectl: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// What the operator's overlay changes for this cluster, and the forge's address.
fn overlay(dir: &Path, image: &str, port: u16, sim: &SimHandle, bot_token: &str) {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes");
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(&base)
        .arg(dir.join("base"))
        .status()
        .unwrap();
    assert!(status.success());
    let (name, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    let e2e = dir.join("e2e");
    std::fs::create_dir_all(&e2e).unwrap();
    std::fs::write(
        e2e.join("kustomization.yaml"),
        format!(
            r#"apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../base]
images:
  - {{name: gastown, newName: {name}, newTag: "{tag}"}}
secretGenerator:
  - name: gastown-secrets
    namespace: gastown
    options: {{disableNameSuffixHash: true}}
    literals:
      - GT_GITHUB_TOKEN={bot_token}
      - GT_GITHUB_WEBHOOK_SECRET={GITHUB_SECRET}
patches:
  - path: bot.yaml
"#
        ),
    )
    .unwrap();
    let probe = format!("{{httpGet: {{host: 127.0.0.1, port: {port}, path: /readyz}}}}");
    std::fs::write(
        e2e.join("bot.yaml"),
        format!(
            r#"apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: gastown-bot, namespace: gastown}}
spec:
  template:
    spec:
      hostNetwork: true
      dnsPolicy: ClusterFirstWithHostNet
      containers:
        - name: bot
          imagePullPolicy: Never
          readinessProbe: {probe}
          livenessProbe: {probe}
          env:
            - {{name: GT_LISTEN, value: "127.0.0.1:{port}"}}
            - {{name: GT_PUBLIC_URL, value: "http://127.0.0.1:{port}"}}
            - {{name: GT_RUNNER_IMAGE, value: "{image}"}}
            - {{name: GT_RUNNER_K8S_HOST_NETWORK, value: "true"}}
            - {{name: GT_RUNNER_K8S_PULL_POLICY, value: "Never"}}
            - {{name: GT_RUNNER_K8S_CPU_REQUEST, value: "100m"}}
            - {{name: GT_GITHUB_API_URL, value: "{api}"}}
            - {{name: GT_GITHUB_HOST, value: "{host}"}}
            # No kube-proxy: the API server's Service address routes nowhere here.
            - {{name: KUBERNETES_SERVICE_HOST, value: "127.0.0.1"}}
            - {{name: KUBERNETES_SERVICE_PORT, value: "6443"}}
  volumeClaimTemplates:
    - metadata: {{name: data}}
      spec:
        storageClassName: gastown-e2e
        accessModes: ["ReadWriteOnce"]
        resources: {{requests: {{storage: 1Gi}}}}
"#,
            api = sim.github_api_url(),
            host = sim.addr(),
        ),
    )
    .unwrap();
}

/// A volume for the bot's claim, where the cluster has no provisioner.
fn volume(kubeconfig: &str, dir: &Path, name: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("pv");
    std::fs::create_dir_all(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    let manifest = dir.join("pv.yaml");
    std::fs::write(
        &manifest,
        format!(
            r#"apiVersion: v1
kind: PersistentVolume
metadata: {{name: {name}}}
spec:
  storageClassName: gastown-e2e
  capacity: {{storage: 1Gi}}
  accessModes: ["ReadWriteOnce"]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {{path: "{}"}}
"#,
            path.display()
        ),
    )
    .unwrap();
    kubectl(kubeconfig, &["apply", "-f", manifest.to_str().unwrap()]).unwrap();
}

/// Removes what the story made, passed or not.
struct Teardown {
    kubeconfig: String,
    pv: String,
}

impl Drop for Teardown {
    fn drop(&mut self) {
        let _ = kubectl(
            &self.kubeconfig,
            &[
                "delete",
                "namespace",
                NAMESPACE,
                "--wait=true",
                "--timeout=90s",
            ],
        );
        let _ = kubectl(
            &self.kubeconfig,
            &["delete", "pv", &self.pv, "--wait=false"],
        );
    }
}

fn bot_logs(kubeconfig: &str) -> String {
    kubectl(
        kubeconfig,
        &["-n", NAMESPACE, "logs", "gastown-bot-0", "--tail=60"],
    )
    .unwrap_or_else(|e| e)
}

async fn until<T>(kubeconfig: &str, what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        if Instant::now() > deadline {
            panic!(
                "{what} did not happen within {WAIT:?}; the bot's log:\n{}",
                bot_logs(kubeconfig)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn the_bot_deployed_in_the_cluster_lands_an_issue_worked_in_a_town_pod() {
    let Some((kubeconfig, image)) = cluster() else {
        return;
    };
    let (sim, bot) = gastown_tests::forge::github_with_repo(REPO).await;
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let pv = format!("gastown-e2e-{}", std::process::id());
    let _teardown = Teardown {
        kubeconfig: kubeconfig.clone(),
        pv: pv.clone(),
    };
    volume(&kubeconfig, dir.path(), &pv);
    overlay(dir.path(), &image, port, &sim, &bot.token);
    let e2e = dir.path().join("e2e");
    kubectl(&kubeconfig, &["apply", "-k", e2e.to_str().unwrap()]).unwrap();
    let rollout = kubectl(
        &kubeconfig,
        &[
            "-n",
            NAMESPACE,
            "rollout",
            "status",
            "statefulset/gastown-bot",
            "--timeout=180s",
        ],
    );
    assert!(rollout.is_ok(), "{rollout:?}\n{}", bot_logs(&kubeconfig));

    sim.set_hook(
        REPO,
        &format!("http://127.0.0.1:{port}/webhooks/github"),
        GITHUB_SECRET,
    )
    .await
    .unwrap();
    let body = "Add a note.\n\n```gastown-plan\nfiles:\n  - path: NOTE.md\n    content: |\n      made in a pod\ncommands:\n  - grep -q pod NOTE.md\ncommit: Add a note\n```\n";
    let n = sling(&sim, REPO, "Add a note", body).await;

    // The refinery opens the pull request once its gates passed in the town pod.
    let pr = until(&kubeconfig, "the refinery's pull request", async || {
        let pr = sim.pull_requests(REPO).await.into_iter().next()?;
        let statuses = sim.statuses(REPO, &pr.head_sha).await;
        statuses
            .iter()
            .any(|s| s.context == "gastown/refinery" && s.state == "success")
            .then_some(pr)
    })
    .await;
    let note = sim
        .read_file(REPO, &pr.head_ref, "NOTE.md")
        .await
        .unwrap()
        .expect("the polecat's file is on the branch");
    assert_eq!(String::from_utf8(note).unwrap(), "made in a pod\n");

    // One town pod, with no service account token and no forge credential in it.
    let pods: Value = serde_json::from_str(
        &kubectl(
            &kubeconfig,
            &[
                "-n",
                NAMESPACE,
                "get",
                "pods",
                "-l",
                "app.kubernetes.io/managed-by=gastown",
                "-o",
                "json",
            ],
        )
        .unwrap(),
    )
    .unwrap();
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "one town pod: {pods:#}");
    let town = &items[0];
    assert_eq!(town["spec"]["automountServiceAccountToken"], false);
    assert!(!town.to_string().contains(&bot.token), "{town:#}");
    let pod = town["metadata"]["name"].as_str().unwrap();
    let exec = |script: &str| {
        kubectl(
            &kubeconfig,
            &[
                "-n", NAMESPACE, "exec", pod, "-c", "town", "--", "sh", "-c", script,
            ],
        )
    };
    let token_dir = exec("ls /var/run/secrets/kubernetes.io/serviceaccount");
    assert!(token_dir.is_err(), "{token_dir:?}");
    let found = exec(&format!(
        "grep -rlF '{}' /town /proc/[0-9]*/environ 2>/dev/null; true",
        bot.token
    ))
    .unwrap();
    assert_eq!(found.trim(), "", "the forge token is in the town pod");

    // A maintainer merges it: the issue closes and its status says done.
    sim.merge_pr("mara", REPO, pr.number, MergeMethod::Merge)
        .await
        .unwrap();
    until(&kubeconfig, "the issue to close as done", async || {
        let closed = sim.issue(REPO, n).await?.state == IssueState::Closed;
        (closed && status_comment(&sim, REPO, n).await.contains("is **done**")).then_some(())
    })
    .await;
}
