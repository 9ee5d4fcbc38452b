//! Real agent CLIs in the town image: a CLI's binary comes from its pinned npm package
//! (fetched from the registry, checksum-verified, no Node in the image) in a layer on
//! top of the town image, and a second build finds everything cached.
//!
//! Needs Docker and the npm registry; without Docker it prints a skip line, except
//! under CI, where that is a failure.

mod common;

use runner::agents::AgentCli;
use runner::image::{ImageOptions, build_town_image_with_agents};

fn docker(args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn codex_comes_from_its_pinned_package_and_a_second_build_finds_it_cached() {
    if common::docker::docker_runner().await.is_none() {
        return;
    }
    // Whatever an earlier run left, this build starts from nothing: its tag untagged,
    // an empty cache.
    let build = |cache: std::path::PathBuf| async move {
        let mut lines = Vec::new();
        let tag = build_town_image_with_agents(
            &ImageOptions::default(),
            &[AgentCli::Codex, AgentCli::Codex],
            &cache,
            &mut |line: &str| lines.push(line.to_string()),
        )
        .await
        .expect("the town image with codex builds");
        (tag, lines)
    };
    let earlier = tempfile::tempdir().unwrap();
    let (tag, _) = build(earlier.path().to_path_buf()).await;
    docker(&["rmi", &tag]);
    let cache = tempfile::tempdir().unwrap();
    let (built, first) = build(cache.path().to_path_buf()).await;
    assert_eq!(built, tag, "the tag is the recipe's");
    for said in ["downloaded", "checksum verified", "built with codex"] {
        assert!(first.iter().any(|l| l.contains(said)), "{said}: {first:#?}");
    }

    let run = |cmd: &str| docker(&["run", "--rm", "--network", "host", &tag, "sh", "-c", cmd]);
    assert!(run("codex --version").contains("codex-cli 0.169.0"));
    assert_eq!(
        run("command -v node || echo none").trim(),
        "none",
        "no Node"
    );

    let (same, again) = build(cache.path().to_path_buf()).await;
    assert_eq!(same, tag);
    assert!(
        again.iter().any(|l| l.contains("already exists")),
        "{again:#?}"
    );
    assert!(
        !again.iter().any(|l| l.contains("downloaded")),
        "{again:#?}"
    );
}
