//! `gt demo`, the README's first command, run as a newcomer would: it must work the
//! sample issues through the refinery's gates and pull requests onto main, one of them
//! after a rework, one as a molecule of the bugfix formula and one retried by the patrol
//! after its first polecat crashed, and two the Mayor opened when asked in a comment,
//! and exit 0.

use gastown_tests::process::gt;

#[tokio::test]
async fn the_demo_lands_every_sample_issue_through_a_merged_pull_request() {
    let out = gt(&["demo", "--runner", "local", "--timeout", "120"], &[]).await;
    assert!(
        out.contains("done: 7 issues worked, 7 pull requests merged, 7 files on main"),
        "{out}"
    );
    for n in [1, 2, 3, 4, 5, 7, 8] {
        assert!(out.contains(&format!("#{n} merged from gt/gt-")), "{out}");
    }
    // The changelog's first draft fails the repository's gate and is reworked.
    for line in [
        "gates: no-todo failed",
        "rework bead",
        "sent back to a polecat",
        "gates: no-todo passed",
        // The fourth is slung with the bugfix formula: its steps are walked one by one.
        "molecule",
        "step reproduce closed: A check that fails while the typo is there",
        "step fix closed: Fix the typo in the greeting",
        // The fifth's first polecat crashes after pushing a draft: the patrol retries.
        "the patrol retries it after its backoff, from its pushed branch",
        // mara steers from comments: a command, then the Mayor splits an issue in two.
        "mara commented `/gt status` on #1; the bot answered ✅ `/gt status`: gt-",
        "the Mayor answered on #6: I opened two issues and slung them in a convoy",
        "- `gt_sling_batch`: slung [#7]",
        "its tracking issue lists the issues that land together",
        "the convoy landed: every tracked issue merged",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
}

/// With Docker (always in CI), the polecats run in the town container.
#[tokio::test]
async fn the_demo_uses_the_town_container_when_docker_is_there() {
    if runner::DockerRunner::connect().await.is_err() {
        assert!(std::env::var_os("CI").is_none(), "Docker is required in CI");
        eprintln!("skipping: Docker is not reachable");
        return;
    }
    let out = gt(&["demo", "--runner", "docker", "--timeout", "180"], &[]).await;
    assert!(
        out.contains("agents run in a Docker town container"),
        "{out}"
    );
    assert!(
        out.contains("done: 7 issues worked, 7 pull requests merged, 7 files on main"),
        "{out}"
    );
}

/// With a cluster on this machine (always in CI), the polecats run in a town pod.
#[tokio::test]
async fn the_demo_runs_its_town_as_a_pod_on_kubernetes() {
    let Some((kubeconfig, image)) = gastown_tests::kubernetes::cluster() else {
        return;
    };
    let namespace = format!("gastown-demo-{}", std::process::id());
    let out = gt(
        &["demo", "--runner", "kubernetes", "--timeout", "180"],
        &[
            ("KUBECONFIG", kubeconfig.as_str()),
            ("GT_RUNNER_IMAGE", image.as_str()),
            ("GT_RUNNER_K8S_NAMESPACE", namespace.as_str()),
            ("GT_RUNNER_K8S_PULL_POLICY", "Never"),
        ],
    )
    .await;
    assert!(
        out.contains(&format!(
            "agents run in a town pod in namespace {namespace}"
        )),
        "{out}"
    );
    assert!(
        out.contains("done: 7 issues worked, 7 pull requests merged, 7 files on main"),
        "{out}"
    );
}
