//! The bot's own GitLab client (`GitlabForge`, on the gitlab crate's endpoint builders)
//! against the simulated GitLab: every `Forge` call it makes lands on a simulator route
//! that answers as GitLab does, so the client's paths, parameters and parsing are
//! exercised end to end over real HTTP.

use std::sync::Arc;

use bot::forge::config::{ForgeConfig, build_forge};
use bot::forge::{
    CheckState, CommitStatus, Forge, LabelSpec, MergeMethod, MergeOutcome, NewIssue,
    NewPullRequest, Permission, RepoPath, ReviewState, State,
};
use forge_sim::{ForgeSim, SimHandle, SimOptions};
use webhooks::ForgeKind;

const PROJECT: &str = "town/tools/hello";

/// A simulated GitLab with a nested project, the bot as a maintainer, a developer and a
/// guest, and the bot's client pointed at it.
async fn world() -> (SimHandle, Arc<dyn Forge>, RepoPath) {
    let sim = ForgeSim::start(SimOptions::default()).await.unwrap();
    sim.create_gitlab_project(PROJECT, "main").await.unwrap();
    let bot = sim.add_user("gastown-bot").await.unwrap();
    for (login, level) in [("gastown-bot", 40), ("devi", 30), ("rita", 10)] {
        if login != "gastown-bot" {
            sim.add_user(login).await.unwrap();
        }
        sim.add_member(PROJECT, login, level).unwrap();
    }
    let mut cfg = ForgeConfig::new(ForgeKind::GitLab, sim.addr().to_string(), "GT_GITLAB_TOKEN");
    cfg.api_base = Some(sim.gitlab_api_url());
    let token = bot.token.clone();
    let forge = build_forge(&cfg, &move |name: &str| {
        (name == "GT_GITLAB_TOKEN").then(|| token.clone())
    })
    .unwrap();
    (sim, forge, RepoPath::new(PROJECT))
}

#[tokio::test]
async fn the_bots_gitlab_client_works_issues_labels_notes_and_permissions() {
    let (sim, forge, repo) = world().await;
    let issue = forge
        .create_issue(
            &repo,
            &NewIssue {
                title: "Fix the flux".into(),
                body: "It is broken".into(),
                labels: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(issue.number, 1);
    assert_eq!(issue.author, "gastown-bot");
    let spec = LabelSpec {
        name: "gt:sling".into(),
        color: "#5319e7".into(),
        description: Some("sling it".into()),
    };
    forge
        .add_labels(&repo, 1, std::slice::from_ref(&spec))
        .await
        .unwrap();
    // The label exists now: a second add finds it instead of creating it.
    forge.add_labels(&repo, 1, &[spec]).await.unwrap();
    let labelled = forge.issues_with_label(&repo, "gt:sling").await.unwrap();
    assert_eq!(labelled.len(), 1);
    assert_eq!(labelled[0].labels, vec!["gt:sling".to_string()]);
    assert_eq!(
        forge
            .label_added_by(&repo, 1, "gt:sling")
            .await
            .unwrap()
            .as_deref(),
        Some("gastown-bot")
    );

    sim.gl_comment("rita", PROJECT, 1, false, "please")
        .await
        .unwrap();
    let c = forge
        .create_comment(&repo, 1, false, "on it")
        .await
        .unwrap();
    let c = forge.edit_comment(&repo, &c.at, "on it now").await.unwrap();
    assert_eq!(c.body, "on it now");
    let comments = forge.comments(&repo, 1, false).await.unwrap();
    let bodies: Vec<&str> = comments.iter().map(|c| c.body.as_str()).collect();
    assert_eq!(bodies, ["please", "on it now"], "system notes are skipped");

    forge.remove_label(&repo, 1, "gt:sling").await.unwrap();
    forge.remove_label(&repo, 1, "never-there").await.unwrap();
    assert!(forge.issue(&repo, 1).await.unwrap().labels.is_empty());
    forge
        .set_issue_state(&repo, 1, State::Closed)
        .await
        .unwrap();
    assert_eq!(forge.issue(&repo, 1).await.unwrap().state, State::Closed);

    for (user, want) in [
        ("gastown-bot", Permission::Maintain),
        ("devi", Permission::Write),
        ("rita", Permission::Read),
        ("nobody", Permission::None),
    ] {
        assert_eq!(forge.permission(&repo, user).await.unwrap(), want, "{user}");
    }
    assert_eq!(
        forge
            .file(&repo, "README.md", "main")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"# hello\n"[..])
    );
    assert_eq!(forge.file(&repo, "nope.md", "main").await.unwrap(), None);
}

#[tokio::test]
async fn the_bots_gitlab_client_reviews_checks_and_merges() {
    let (sim, forge, repo) = world().await;
    let head = sim
        .commit_file(
            "devi",
            PROJECT,
            "greet",
            "hello.txt",
            "hello\n",
            "Add hello",
        )
        .await
        .unwrap();
    let pr = forge
        .create_pull_request(
            &repo,
            &NewPullRequest {
                title: "Greet".into(),
                body: "Says hello".into(),
                head: "greet".into(),
                base: "main".into(),
                draft: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(pr.number, 1);
    assert_eq!(pr.head_sha, head);
    assert_eq!(forge.open_pull_requests(&repo).await.unwrap().len(), 1);

    sim.gl_approve("devi", PROJECT, 1).await.unwrap();
    sim.gl_comment("devi", PROJECT, 1, true, "nice")
        .await
        .unwrap();
    sim.gl_diff_note("devi", PROJECT, 1, "hello.txt", 1, "typo?")
        .await
        .unwrap();
    let reviews = forge.reviews(&repo, 1).await.unwrap();
    assert!(
        reviews
            .iter()
            .any(|r| r.author == "devi" && r.state == ReviewState::Approved)
    );
    assert!(
        reviews
            .iter()
            .any(|r| r.state == ReviewState::Commented && r.body == "nice")
    );
    let lines = forge.review_comments(&repo, 1).await.unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].path.as_deref(), Some("hello.txt"));
    assert_eq!(lines[0].line, Some(1));

    sim.set_pipelines_must_succeed(PROJECT, true).unwrap();
    assert_eq!(
        forge.required_checks(&repo, "main").await.unwrap(),
        ["pipeline"]
    );
    let status = CommitStatus {
        context: "gates".into(),
        state: CheckState::Success,
        description: "all green".into(),
        target_url: None,
    };
    forge.set_status(&repo, &head, &status).await.unwrap();
    let checks = forge.checks(&repo, &head).await.unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c.name == "gates" && c.state == CheckState::Success)
    );
    assert!(
        checks
            .iter()
            .any(|c| c.name == "pipeline" && c.state == CheckState::Success)
    );

    let stale = forge
        .merge(&repo, 1, MergeMethod::Merge, Some(&"0".repeat(40)))
        .await
        .unwrap();
    assert!(
        matches!(stale, MergeOutcome::NotMergeable { .. }),
        "{stale:?}"
    );
    let merged = forge
        .merge(&repo, 1, MergeMethod::Merge, Some(&head))
        .await
        .unwrap();
    let MergeOutcome::Merged { sha } = merged else {
        panic!("{merged:?}")
    };
    assert_eq!(sim.branch_sha(PROJECT, "main").await.unwrap(), Some(sha));
    let pr = forge.pull_request(&repo, 1).await.unwrap();
    assert!(pr.merged);
}

#[tokio::test]
async fn the_bots_gitlab_client_pages_through_more_than_a_hundred_notes() {
    let (sim, forge, repo) = world().await;
    let iid = sim
        .gl_open_issue("rita", PROJECT, "Chatty", "")
        .await
        .unwrap();
    for i in 0..130 {
        sim.gl_comment("rita", PROJECT, iid, false, &format!("note {i}"))
            .await
            .unwrap();
    }
    let comments = forge.comments(&repo, iid, false).await.unwrap();
    assert_eq!(comments.len(), 130);
    assert_eq!(comments[0].body, "note 0");
    assert_eq!(comments[129].body, "note 129");
}
