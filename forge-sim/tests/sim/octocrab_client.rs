//! Story: the bot's own GitHub client, octocrab, pointed at the simulator, works the
//! way it does against GitHub: its models deserialize every answer, pagination follows
//! real `Link` headers, labels and pull requests round-trip, and a merge lands.

use crate::common;

use common::{REPO, world};
use octocrab::Octocrab;
use octocrab::params;

fn client(sim: &forge_sim::SimHandle, token: &str) -> Octocrab {
    Octocrab::builder()
        .base_uri(sim.github_api_url())
        .unwrap()
        .personal_token(token.to_owned())
        .build()
        .unwrap()
}

#[tokio::test]
async fn octocrab_reads_issues_and_pages_through_comments() {
    let w = world().await;
    let maria = w.sim.user("maria").await.unwrap();
    let n = w
        .sim
        .open_issue("maria", REPO, "Many words", "A long thread.")
        .await
        .unwrap();
    for i in 0..130 {
        w.sim
            .comment("rita", REPO, n, &format!("comment {i}"))
            .await
            .unwrap();
    }
    let gh = client(&w.sim, &maria.token);

    let issue = gh.issues("octo", "hello").get(n).await.unwrap();
    assert_eq!(issue.number, n);
    assert_eq!(issue.title, "Many words");
    assert_eq!(issue.user.login, "maria");
    assert_eq!(issue.comments, 130);

    let first = gh
        .issues("octo", "hello")
        .list_comments(n)
        .per_page(100)
        .send()
        .await
        .unwrap();
    assert_eq!(first.items.len(), 100);
    assert!(first.next.is_some(), "a Link rel=next is sent");
    assert_eq!(first.number_of_pages(), Some(2));
    let all = gh.all_pages(first).await.unwrap();
    assert_eq!(all.len(), 130);
    assert_eq!(all[129].body.as_deref(), Some("comment 129"));

    let edited = gh
        .issues("octo", "hello")
        .update_comment(all[0].id, "edited")
        .await
        .unwrap();
    assert_eq!(edited.body.as_deref(), Some("edited"));

    // Issue lists page too, newest first, and filter by state.
    for i in 0..4 {
        w.sim
            .open_issue("rita", REPO, &format!("more {i}"), "")
            .await
            .unwrap();
    }
    w.sim.close_issue("maria", REPO, n).await.unwrap();
    let page = gh
        .issues("octo", "hello")
        .list()
        .state(params::State::Open)
        .per_page(3)
        .send()
        .await
        .unwrap();
    assert_eq!(page.number_of_pages(), Some(2));
    assert_eq!(page.items[0].title, "more 3");
    let second = gh
        .get_page::<octocrab::models::issues::Issue>(&page.next)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.items.len(), 1);
    assert!(second.prev.is_some() && second.next.is_none());
    let closed = gh
        .issues("octo", "hello")
        .list()
        .state(params::State::Closed)
        .send()
        .await
        .unwrap();
    assert_eq!(closed.items.len(), 1);
    let missing = gh.issues("octo", "hello").remove_label(n, "nope").await;
    assert!(
        matches!(missing, Err(octocrab::Error::GitHub { ref source, .. }) if source.status_code == 404 && source.message == "Label does not exist"),
        "{missing:?}"
    );
}

#[tokio::test]
async fn octocrab_adds_labels_opens_and_merges_a_pull_request() {
    let w = world().await;
    let maria = w.sim.user("maria").await.unwrap();
    let gh = client(&w.sim, &maria.token);
    let issues = gh.issues("octo", "hello");

    let issue = issues
        .create("Greet")
        .body("Say hello")
        .send()
        .await
        .unwrap();
    let labels = issues
        .add_labels(issue.number, &["gt:sling".to_owned(), "bug".to_owned()])
        .await
        .unwrap();
    assert_eq!(
        labels.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        ["gt:sling", "bug"]
    );
    issues.remove_label(issue.number, "bug").await.unwrap();
    assert_eq!(w.sim.labels(REPO, issue.number).await, ["gt:sling"]);
    let listed = issues
        .list()
        .labels(&["gt:sling".to_owned()])
        .state(params::State::Open)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);

    let label = gh
        .issues("octo", "hello")
        .create_label("gt:done", "00ff00", "")
        .await
        .unwrap();
    assert_eq!(label.name, "gt:done");
    let again = gh
        .issues("octo", "hello")
        .create_label("gt:done", "00ff00", "")
        .await;
    assert!(
        matches!(again, Err(octocrab::Error::GitHub { ref source, .. }) if source.status_code == 422),
        "{again:?}"
    );

    let head = w
        .sim
        .commit_file(
            "maria",
            REPO,
            "gt/greet",
            "hello.txt",
            "hello\n",
            "Add hello",
        )
        .await
        .unwrap();
    let pr = gh
        .pulls("octo", "hello")
        .create("Greet", "gt/greet", "main")
        .body(format!("Fixes #{}", issue.number))
        .send()
        .await
        .unwrap();
    assert_eq!(pr.head.sha, head);
    let open = gh
        .pulls("octo", "hello")
        .list()
        .state(params::State::Open)
        .send()
        .await
        .unwrap();
    assert_eq!(open.items.len(), 1);
    assert!(
        gh.pulls("octo", "hello")
            .list_reviews(pr.number)
            .send()
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let _: serde_json::Value = gh
        .post(
            format!("/repos/{REPO}/pulls/{}/comments", pr.number),
            Some(&serde_json::json!({"body": "Typo?", "path": "hello.txt", "line": 1})),
        )
        .await
        .unwrap();
    let review_comments = gh
        .pulls("octo", "hello")
        .list_comments(Some(pr.number))
        .send()
        .await
        .unwrap();
    assert_eq!(review_comments.items.len(), 1);
    assert_eq!(review_comments.items[0].body, "Typo?");

    let stale = gh
        .pulls("octo", "hello")
        .merge(pr.number)
        .sha("0".repeat(40))
        .send()
        .await;
    assert!(
        matches!(stale, Err(octocrab::Error::GitHub { ref source, .. }) if source.status_code == 409),
        "{stale:?}"
    );
    let merged = gh
        .pulls("octo", "hello")
        .merge(pr.number)
        .method(params::pulls::MergeMethod::Squash)
        .sha(head.clone())
        .send()
        .await
        .unwrap();
    assert!(merged.merged);
    let main = w.sim.branch_sha(REPO, "main").await.unwrap().unwrap();
    assert_eq!(merged.sha.as_deref(), Some(main.as_str()));
    let pr = gh.pulls("octo", "hello").get(pr.number).await.unwrap();
    assert!(pr.merged_at.is_some());
    // "Fixes #n" closed the issue.
    let issue = issues.get(issue.number).await.unwrap();
    assert_eq!(issue.state, octocrab::models::IssueState::Closed);

    let readme = gh
        .repos("octo", "hello")
        .get_content()
        .path("hello.txt")
        .r#ref("main")
        .send()
        .await
        .unwrap();
    assert_eq!(
        readme.items[0].decoded_content().as_deref(),
        Some("hello\n")
    );
    w.sim
        .commit_file("maria", REPO, "main", "docs/guide.md", "# Guide\n", "Docs")
        .await
        .unwrap();
    let docs = gh
        .repos("octo", "hello")
        .get_content()
        .path("docs")
        .send()
        .await
        .unwrap();
    assert_eq!(docs.items.len(), 1);
    assert_eq!(
        (docs.items[0].r#type.as_str(), docs.items[0].path.as_str()),
        ("file", "docs/guide.md")
    );
    assert!(docs.items[0].content.is_none(), "listings carry no content");
    let root = gh
        .repos("octo", "hello")
        .get_content()
        .send()
        .await
        .unwrap();
    let mut names: Vec<&str> = root.items.iter().map(|i| i.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["README.md", "docs", "hello.txt"]);
    let missing = gh
        .repos("octo", "hello")
        .get_content()
        .path("nope.txt")
        .send()
        .await;
    assert!(
        matches!(missing, Err(octocrab::Error::GitHub { ref source, .. }) if source.status_code == 404)
    );
    let repo = gh.repos("octo", "hello").get().await.unwrap();
    assert_eq!(repo.default_branch.as_deref(), Some("main"));
}

#[tokio::test]
async fn octocrab_sees_permissions_statuses_and_bad_credentials() {
    let w = world().await;
    let maria = w.sim.user("maria").await.unwrap();
    let gh = client(&w.sim, &maria.token);
    let perm: serde_json::Value = gh
        .get(
            "/repos/octo/hello/collaborators/rita/permission",
            None::<&()>,
        )
        .await
        .unwrap();
    assert_eq!(perm["permission"], "read");
    assert_eq!(perm["role_name"], "read");
    let perm: serde_json::Value = gh
        .get(
            "/repos/octo/hello/collaborators/maria/permission",
            None::<&()>,
        )
        .await
        .unwrap();
    assert_eq!(
        (perm["permission"].as_str(), perm["role_name"].as_str()),
        (Some("write"), Some("maintain"))
    );
    let nobody = gh
        .get::<serde_json::Value, _, _>(
            "/repos/octo/hello/collaborators/nobody/permission",
            None::<&()>,
        )
        .await;
    assert!(
        matches!(nobody, Err(octocrab::Error::GitHub { ref source, .. }) if source.status_code == 404)
    );

    let main = w.sim.branch_sha(REPO, "main").await.unwrap().unwrap();
    let status = gh
        .repos("octo", "hello")
        .create_status(main.clone(), octocrab::models::StatusState::Success)
        .context("ci/test".to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(status.context.as_deref(), Some("ci/test"));
    let combined = gh
        .repos("octo", "hello")
        .combined_status_for_ref(&params::repos::Reference::Branch("main".into()))
        .await
        .unwrap();
    assert_eq!(combined.state, octocrab::models::StatusState::Success);
    assert_eq!(combined.total_count, 1);
    let run = gh
        .checks("octo", "hello")
        .create_check_run("gates", main.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(run.name, "gates");
    let runs = gh
        .checks("octo", "hello")
        .list_check_runs_for_git_ref(params::repos::Commitish(main.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(runs.total_count, 1);
    let bad = client(&w.sim, "ghp_not_a_token");
    let err = bad.issues("octo", "hello").get(1).await.unwrap_err();
    assert!(
        matches!(err, octocrab::Error::GitHub { ref source, .. } if source.status_code == 401 && source.message == "Bad credentials"),
        "{}",
        format!("{err:?}").chars().take(300).collect::<String>()
    );
}
