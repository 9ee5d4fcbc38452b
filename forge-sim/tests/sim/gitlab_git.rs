//! Story: a developer clones a GitLab project that sits in a subgroup and pushes to a
//! merge request's source branch over smart HTTP; GitLab announces a `Push Hook` and an
//! MR `update` carrying `oldrev`.

use crate::common;
use crate::gitlab_common;

use std::path::Path;

use common::WAIT;
use gitlab_common::{PROJECT, gl_world};

async fn git(dir: &Path, args: &[&str]) {
    let out = tokio::process::Command::new("git")
        .args(["-c", "user.name=Devi", "-c", "user.email=devi@example.com"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .await
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_to_a_subgroup_projects_mr_branch_is_announced_gitlabs_way() {
    let w = gl_world().await;
    let sim = &w.sim;
    let old = sim
        .commit_file("devi", PROJECT, "greet", "hello.txt", "hi\n", "Add hello")
        .await
        .unwrap();
    let iid = sim
        .gl_open_mr("devi", PROJECT, "greet", "main", "Greet", "")
        .await
        .unwrap();
    let token = sim.user("devi").await.unwrap().token;
    let url = sim
        .git_url(PROJECT)
        .replacen("http://", &format!("http://oauth2:{token}@"), 1);
    let tmp = tempfile::tempdir().unwrap();
    git(
        tmp.path(),
        &["clone", "--quiet", "-b", "greet", &url, "work"],
    )
    .await;
    let work = tmp.path().join("work");
    std::fs::write(work.join("hello.txt"), "hello, world\n").unwrap();
    git(&work, &["commit", "--quiet", "-am", "Say more"]).await;
    git(&work, &["push", "--quiet", "origin", "greet"]).await;

    let new = sim.branch_sha(PROJECT, "greet").await.unwrap().unwrap();
    assert_ne!(new, old);
    sim.wait_for_deliveries(4, WAIT).await.unwrap();
    let d = sim.deliveries();
    assert_eq!(d[2].event, "Push Hook");
    assert_eq!(d[2].payload["before"], old.as_str());
    assert_eq!(d[2].payload["after"], new.as_str());
    assert_eq!(d[2].payload["commits"][0]["message"], "Say more");
    assert_eq!(d[2].payload["user_username"], "devi");
    assert_eq!(d[3].event, "Merge Request Hook");
    assert_eq!(d[3].payload["object_attributes"]["iid"], iid);
    assert_eq!(d[3].payload["object_attributes"]["action"], "update");
    assert_eq!(d[3].payload["object_attributes"]["oldrev"], old.as_str());
}
