//! Story: merging a pull request changes the real repository. The merge button makes a
//! merge commit (or a squash), the base branch moves, the PR and the issue it fixes
//! close, and the forge refuses merges that conflict or lack required checks.

use crate::common;

use common::{REPO, WAIT, world};
use forge_sim::MergeMethod;
use serde_json::json;

#[tokio::test]
async fn a_merge_commit_lands_on_main_and_closes_the_fixed_issue() {
    let w = world().await;
    let n = w
        .sim
        .open_issue("rita", REPO, "Say hello", "please")
        .await
        .unwrap();
    let head = w
        .sim
        .commit_file(
            "maria",
            REPO,
            "gt/hello",
            "hello.txt",
            "hello\n",
            "Add hello",
        )
        .await
        .unwrap();
    let old_main = w.sim.branch_sha(REPO, "main").await.unwrap().unwrap();
    let pr = w
        .sim
        .open_pull(
            "maria",
            REPO,
            "gt/hello",
            "main",
            "Say hello",
            &format!("Closes #{n}"),
        )
        .await
        .unwrap();
    assert_eq!(w.sim.pull_requests(REPO).await[0].mergeable, Some(true));
    w.sim.approve("octo", REPO, pr).await.unwrap();
    let merge = w
        .sim
        .merge_pr("maria", REPO, pr, MergeMethod::Merge)
        .await
        .unwrap();

    assert_eq!(
        w.sim.branch_sha(REPO, "main").await.unwrap().as_deref(),
        Some(merge.as_str())
    );
    assert_eq!(
        w.sim
            .read_file(REPO, "main", "hello.txt")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"hello\n"[..])
    );
    let commit = w.sim.commit(REPO, &merge).await.unwrap().unwrap();
    assert_eq!(commit.parents, [old_main, head]);

    let merged = &w.sim.pull_requests(REPO).await[0];
    assert!(merged.merged);
    assert_eq!(merged.merge_commit_sha.as_deref(), Some(merge.as_str()));
    assert_eq!(
        w.sim.issue(REPO, n).await.unwrap().state,
        forge_sim::world::IssueState::Closed
    );

    // opened(issue), push(branch), opened(pr), review, closed(pr), push(main), closed(issue)
    w.sim.wait_for_deliveries(7, WAIT).await.unwrap();
    let events: Vec<(String, Option<String>)> = w
        .sim
        .deliveries()
        .iter()
        .map(|d| (d.event.clone(), d.action.clone()))
        .collect();
    let closed = w
        .sim
        .deliveries()
        .into_iter()
        .find(|d| d.event == "pull_request" && d.action.as_deref() == Some("closed"))
        .unwrap();
    assert_eq!(closed.payload["pull_request"]["merged"], true, "{events:?}");
    let push = w
        .sim
        .deliveries()
        .into_iter()
        .rfind(|d| d.event == "push")
        .unwrap();
    assert_eq!(push.payload["ref"], "refs/heads/main");
    assert_eq!(push.payload["after"], merge.as_str());
}

#[tokio::test]
async fn squash_conflicts_and_required_checks_through_the_api() {
    let w = world().await;
    let maria = w.sim.user("maria").await.unwrap();
    let http = reqwest::Client::new();
    let api = w.sim.github_api_url();
    let merge = |n: u64, body: serde_json::Value| {
        http.put(format!("{api}/repos/{REPO}/pulls/{n}/merge"))
            .bearer_auth(&maria.token)
            .json(&body)
            .send()
    };

    // Two branches change the same file: the second conflicts after the first lands.
    w.sim
        .commit_file("maria", REPO, "a", "README.md", "# A\n", "A")
        .await
        .unwrap();
    w.sim
        .commit_file("maria", REPO, "b", "README.md", "# B\n", "B")
        .await
        .unwrap();
    let a = w
        .sim
        .open_pull("maria", REPO, "a", "main", "A", "")
        .await
        .unwrap();
    let b = w
        .sim
        .open_pull("maria", REPO, "b", "main", "B", "")
        .await
        .unwrap();
    let res = merge(a, json!({"merge_method": "squash"})).await.unwrap();
    assert_eq!(res.status(), 200);
    let main = w.sim.branch_sha(REPO, "main").await.unwrap().unwrap();
    let squash = w.sim.commit(REPO, &main).await.unwrap().unwrap();
    assert_eq!(squash.parents.len(), 1, "a squash has one parent");
    let res = merge(b, json!({})).await.unwrap();
    assert_eq!(res.status(), 405);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["message"], "Pull Request is not mergeable");
    let conflicted = w
        .sim
        .pull_requests(REPO)
        .await
        .into_iter()
        .find(|p| p.number == b)
        .unwrap();
    assert_eq!(
        conflicted.mergeable,
        Some(false),
        "the forge knows b conflicts now"
    );
    let shown: serde_json::Value = http
        .get(format!("{api}/repos/{REPO}/pulls/{b}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (shown["mergeable"].clone(), shown["mergeable_state"].clone()),
        (json!(false), json!("dirty"))
    );

    // A protected branch needs its checks green first.
    w.sim
        .protect_branch(REPO, "main", &["ci/test"])
        .await
        .unwrap();
    let head = w
        .sim
        .commit_file("maria", REPO, "c", "c.txt", "c\n", "C")
        .await
        .unwrap();
    let c = w
        .sim
        .open_pull("maria", REPO, "c", "main", "C", "")
        .await
        .unwrap();
    assert_eq!(merge(c, json!({"sha": head})).await.unwrap().status(), 405);
    w.sim
        .set_status("maria", REPO, &head, "success", "ci/test")
        .await
        .unwrap();
    let checks = http
        .get(format!(
            "{api}/repos/{REPO}/branches/main/protection/required_status_checks"
        ))
        .bearer_auth(&maria.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        checks.json::<serde_json::Value>().await.unwrap()["contexts"],
        json!(["ci/test"])
    );
    let unprotected = http
        .get(format!(
            "{api}/repos/{REPO}/branches/a/protection/required_status_checks"
        ))
        .bearer_auth(&maria.token)
        .send()
        .await
        .unwrap();
    assert_eq!(unprotected.status(), 404);
    assert_eq!(
        merge(c, json!({"sha": head, "merge_method": "rebase"}))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        w.sim
            .read_file(REPO, "main", "c.txt")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"c\n"[..])
    );

    // Readers cannot merge.
    let rita = w.sim.user("rita").await.unwrap();
    w.sim
        .commit_file("maria", REPO, "d", "d.txt", "d\n", "D")
        .await
        .unwrap();
    let d = w
        .sim
        .open_pull("maria", REPO, "d", "main", "D", "")
        .await
        .unwrap();
    let res = http
        .put(format!("{api}/repos/{REPO}/pulls/{d}/merge"))
        .bearer_auth(&rita.token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn a_rebase_merge_replays_each_commit_onto_main() {
    let w = world().await;
    let old_main = w.sim.branch_sha(REPO, "main").await.unwrap().unwrap();
    w.sim
        .commit_file("maria", REPO, "e", "e.txt", "one\n", "E1")
        .await
        .unwrap();
    w.sim
        .commit_file("maria", REPO, "e", "e.txt", "two\n", "E2")
        .await
        .unwrap();
    // main moves on meanwhile, so the replay has a new base.
    w.sim
        .commit_file("octo", REPO, "main", "other.txt", "x\n", "Other")
        .await
        .unwrap();
    let moved_main = w.sim.branch_sha(REPO, "main").await.unwrap().unwrap();
    assert_ne!(old_main, moved_main);
    let pr = w
        .sim
        .open_pull("maria", REPO, "e", "main", "E", "")
        .await
        .unwrap();
    let tip = w
        .sim
        .merge_pr("octo", REPO, pr, MergeMethod::Rebase)
        .await
        .unwrap();

    let e2 = w.sim.commit(REPO, &tip).await.unwrap().unwrap();
    assert_eq!(
        (e2.message.as_str(), e2.author_name.as_str()),
        ("E2", "maria")
    );
    let e1 = w.sim.commit(REPO, &e2.parents[0]).await.unwrap().unwrap();
    assert_eq!(e1.message, "E1");
    assert_eq!(e1.parents, [moved_main]);
    assert_eq!(
        w.sim
            .read_file(REPO, "main", "e.txt")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"two\n"[..])
    );
    assert_eq!(
        w.sim
            .read_file(REPO, "main", "other.txt")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"x\n"[..])
    );
}
