//! Story: people clone and push over git smart HTTP with their API token as password.
//! A maintainer's push lands and is announced as `push` (and `synchronize` for the open
//! pull request on that branch); a reader can clone but not push; a bad token is
//! refused outright.

use crate::common;

use common::{REPO, WAIT, git, ok, url_with, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintainer_clones_and_pushes_and_the_forge_announces_it() {
    let w = world().await;
    let maria = w.sim.user("maria").await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    ok(
        tmp.path(),
        &["clone", "--quiet", &url_with(&w.sim, &maria.token), "work"],
    )
    .await;
    let work = tmp.path().join("work");
    assert_eq!(
        std::fs::read_to_string(work.join("README.md")).unwrap(),
        "# hello\n"
    );

    std::fs::write(work.join("hello.txt"), "hello\n").unwrap();
    ok(&work, &["checkout", "--quiet", "-b", "feature"]).await;
    ok(&work, &["add", "hello.txt"]).await;
    ok(&work, &["commit", "--quiet", "-m", "Add hello"]).await;
    ok(&work, &["push", "--quiet", "origin", "feature"]).await;
    let pushed = String::from_utf8(git(&work, &["rev-parse", "HEAD"]).await.stdout)
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(
        w.sim.branch_sha(REPO, "feature").await.unwrap().as_deref(),
        Some(pushed.as_str())
    );

    w.sim.wait_for_deliveries(1, WAIT).await.unwrap();
    let push = w.receiver.received()[0].json();
    assert_eq!(w.receiver.received()[0].header("x-github-event"), "push");
    assert_eq!(push["ref"], "refs/heads/feature");
    assert_eq!(push["after"], pushed.as_str());
    assert_eq!(push["created"], true);
    assert_eq!(push["commits"][0]["added"][0], "hello.txt");
    assert_eq!(push["pusher"]["name"], "maria");

    let pr = w
        .sim
        .open_pull("maria", REPO, "feature", "main", "Hello", "")
        .await
        .unwrap();
    std::fs::write(work.join("hello.txt"), "hello, world\n").unwrap();
    ok(&work, &["commit", "--quiet", "-am", "More hello"]).await;
    ok(&work, &["push", "--quiet", "origin", "feature"]).await;
    let head = String::from_utf8(git(&work, &["rev-parse", "HEAD"]).await.stdout)
        .unwrap()
        .trim()
        .to_owned();
    // push (feature created), pull_request opened, push (feature moved), synchronize
    w.sim.wait_for_deliveries(4, WAIT).await.unwrap();
    let sync = w.receiver.received()[3].json();
    assert_eq!(sync["action"], "synchronize");
    assert_eq!(sync["before"], pushed.as_str());
    assert_eq!(sync["after"], head.as_str());
    assert_eq!(sync["pull_request"]["head"]["sha"], head.as_str());
    assert_eq!(w.sim.pull_requests(REPO).await[0].head_sha, head);
    assert_eq!(w.sim.pull_requests(REPO).await[0].number, pr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_can_clone_but_not_push_and_a_bad_token_gets_nothing() {
    let w = world().await;
    let rita = w.sim.user("rita").await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    ok(
        tmp.path(),
        &["clone", "--quiet", &url_with(&w.sim, &rita.token), "work"],
    )
    .await;
    let work = tmp.path().join("work");
    std::fs::write(work.join("x.txt"), "x\n").unwrap();
    ok(&work, &["add", "x.txt"]).await;
    ok(&work, &["commit", "--quiet", "-m", "Sneak in"]).await;
    let push = git(&work, &["push", "origin", "HEAD:main"]).await;
    assert!(!push.status.success());
    assert!(
        String::from_utf8_lossy(&push.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
    let before = w.sim.refs(REPO).await.unwrap();
    assert_eq!(before.len(), 1, "nothing was pushed: {before:?}");

    let bad = git(
        tmp.path(),
        &["clone", "--quiet", &url_with(&w.sim, "ghp_wrong"), "nope"],
    )
    .await;
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("Authentication failed"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(w.sim.deliveries().is_empty());
}
