//! From a label on the forge to a bead in the town, through the inbox worker.

use forge_sim::{ForgeSim, SimOptions};
use gastown_tests::forge::github_com;
use gastown_tests::process::gt;
use gastown_tests::{Fixtures, TestTown};

#[tokio::test]
async fn labelling_an_issue_gt_sling_makes_exactly_one_bead() {
    let Some(fx) = Fixtures::find() else { return };
    let repo = "octo/hello";
    let (github, bot) = github_com(&[repo], &["mara"]).await;
    let town = TestTown::builder().github_com(&github, &bot).start().await;

    let labeled =
        |labels: &[&str]| fx.github_issue_label("labeled", repo, 12, "gt:sling", labels, "mara");
    assert_eq!(
        town.github("issues", "l-1", labeled(&["gt:sling"]))
            .await
            .status,
        202
    );
    // GitHub redelivers the same delivery: nothing new.
    assert_eq!(
        town.github("issues", "l-1", labeled(&["gt:sling"]))
            .await
            .status,
        200
    );
    // The label is taken off and put back: two new deliveries, still one bead.
    let unlabeled = fx.github_issue_label("unlabeled", repo, 12, "gt:sling", &[], "mara");
    assert_eq!(town.github("issues", "l-2", unlabeled).await.status, 202);
    assert_eq!(
        town.github("issues", "l-3", labeled(&["gt:sling"]))
            .await
            .status,
        202
    );
    // Another label on the same issue changes nothing.
    let bug = fx.github_issue_label("labeled", repo, 12, "bug", &["gt:sling", "bug"], "ana");
    assert_eq!(town.github("issues", "l-4", bug).await.status, 202);

    assert_eq!(town.drain().await, 4);

    let beads = town.tasks().await;
    assert_eq!(beads.len(), 1, "{beads:#?}");
    let bead = &beads[0];
    assert_eq!(bead.forge_ref.as_deref(), Some("github:octo/hello#12"));
    assert_eq!(bead.rig_id.as_deref(), Some("github:octo/hello"));
    assert_eq!(bead.status.as_str(), "open");
    assert_eq!(bead.created_by, "mara");
    let issue = fx.json("github/issues/labeled.1.json");
    assert_eq!(bead.title, issue["issue"]["title"].as_str().unwrap());
    assert!(bot::ids::is_bead_id(&bead.id), "{}", bead.id);
    assert!(
        town.inbox()
            .await
            .iter()
            .all(|r| r.status.as_str() == "processed")
    );
}

#[tokio::test]
async fn a_gitlab_label_change_slings_the_issue() {
    let Some(fx) = Fixtures::find() else { return };
    let mut issue = fx.json("gitlab/issue.json");
    // The GitLab the delivery comes from, where its author is a developer.
    let path = issue["project"]["path_with_namespace"].as_str().unwrap();
    let user = issue["user"]["username"].as_str().unwrap();
    let gitlab = ForgeSim::start(SimOptions::default()).await.unwrap();
    gitlab.create_gitlab_project(path, "main").await.unwrap();
    let bot = gitlab.add_user("gastown-bot").await.unwrap();
    gitlab.add_member(path, "gastown-bot", 40).unwrap();
    gitlab.add_user(user).await.unwrap();
    gitlab.add_member(path, user, 30).unwrap();
    let town = TestTown::builder()
        .gitlab_forge(&gitlab.gitlab_api_url(), "example.com", &bot.token)
        .start()
        .await;
    issue["object_attributes"]["action"] = "update".into();
    let label = serde_json::json!({ "id": 1, "title": "gt:sling", "color": "#00ff00" });
    let before = issue["labels"].clone();
    let mut after = before.as_array().cloned().unwrap_or_default();
    after.push(label);
    issue["labels"] = after.clone().into();
    issue["changes"] = serde_json::json!({ "labels": { "previous": before, "current": after } });
    let body = serde_json::to_vec(&issue).unwrap();

    assert_eq!(town.gitlab("Issue Hook", "g-1", body).await.status, 202);
    assert_eq!(town.drain().await, 1);

    let beads = town.tasks().await;
    assert_eq!(beads.len(), 1, "{beads:#?}");
    let path = issue["project"]["path_with_namespace"].as_str().unwrap();
    let iid = issue["object_attributes"]["iid"].as_u64().unwrap();
    assert_eq!(
        beads[0].forge_ref.as_deref(),
        Some(format!("gitlab:example.com/{path}#{iid}").as_str())
    );
    assert_eq!(
        beads[0].created_by,
        issue["user"]["username"].as_str().unwrap()
    );
}

#[tokio::test]
async fn with_rigs_listed_other_repositories_are_stored_and_ignored() {
    let Some(fx) = Fixtures::find() else { return };
    let (github, bot) = github_com(&["octo/hello", "else/where"], &["m"]).await;
    let town = TestTown::builder()
        .github_com(&github, &bot)
        .env("GT_RIGS", "github:octo/hello")
        .start()
        .await;
    let listed = fx.github_sling("octo/hello", 1, "m");
    let other = fx.github_sling("else/where", 1, "m");
    town.github("issues", "r-1", listed).await;
    town.github("issues", "r-2", other).await;
    assert_eq!(town.drain().await, 2);

    let inbox = town.inbox().await;
    let status_of = |id: &str| {
        let row = inbox.iter().find(|r| r.delivery_id == id).unwrap();
        (
            row.status.as_str(),
            row.last_error.clone().unwrap_or_default(),
        )
    };
    assert_eq!(status_of("r-1").0, "processed");
    let (status, why) = status_of("r-2");
    assert_eq!(status, "ignored");
    assert!(why.contains("else/where is not a rig"), "{why}");
    assert_eq!(town.tasks().await.len(), 1);
}

/// One poisoned delivery is retried with backoff, then given up on, and the deliveries
/// behind it in the same repository go on; another repository is never held up.
#[tokio::test]
async fn a_poisoned_delivery_never_blocks_its_repository() {
    let Some(fx) = Fixtures::find() else { return };
    let (github, bot) = github_com(&["octo/hello", "octo/other"], &["m"]).await;
    let town = TestTown::builder()
        .github_com(&github, &bot)
        .env("GT_WORKER_MAX_ATTEMPTS", "3")
        .env("GT_WORKER_RETRY_BASE_MS", "1000")
        .start()
        .await;
    // A real failure inside processing: the database refuses this one bead.
    town.app
        .store
        .write(|c| {
            c.execute_batch(
                "CREATE TRIGGER poison BEFORE INSERT ON beads WHEN NEW.forge_ref LIKE '%#66'
                 BEGIN SELECT RAISE(ABORT, 'disk says no'); END;",
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let sling = |repo: &str, n: u64| fx.github_sling(repo, n, "m");
    town.github("issues", "x-1", sling("octo/hello", 66)).await;
    town.github("issues", "x-2", sling("octo/hello", 67)).await;
    town.github("issues", "x-3", sling("octo/other", 1)).await;

    // First pass: the poison fails once; its repository waits, the other goes on.
    assert_eq!(town.drain().await, 2);
    let refs = |beads: Vec<bot::store::Bead>| {
        let mut v: Vec<String> = beads.into_iter().filter_map(|b| b.forge_ref).collect();
        v.sort();
        v
    };
    assert_eq!(refs(town.tasks().await), vec!["github:octo/other#1"]);
    let poison = |inbox: Vec<bot::store::InboxRow>| {
        inbox.into_iter().find(|r| r.delivery_id == "x-1").unwrap()
    };
    let row = poison(town.inbox().await);
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 1));
    assert!(row.last_error.unwrap().contains("disk says no"));
    // #67 could go, but waits behind the retry: the worker sleeps until the retry is
    // due instead of looking again and again.
    let now = bot::clock::Clock::now_ms(&*town.clock);
    assert_eq!(
        town.app.worker.step().await.unwrap(),
        bot::loops::worker::Outcome::Idle {
            next_due: Some(now + 1_000)
        }
    );

    // Retries come after 1 s, then 2 s; the third attempt is the last.
    town.clock.advance(999);
    assert_eq!(town.drain().await, 0, "not due yet");
    town.clock.advance(1);
    assert_eq!(town.drain().await, 1);
    town.clock.advance(2_000);
    assert_eq!(
        town.drain().await,
        2,
        "third attempt fails for good, then #67 goes on"
    );

    let row = poison(town.inbox().await);
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 3));
    assert_eq!(
        refs(town.tasks().await),
        vec!["github:octo/hello#67", "github:octo/other#1"]
    );

    // Once the cause is fixed, a person retries it.
    town.app
        .store
        .write(|c| Ok(c.execute_batch("DROP TRIGGER poison")?))
        .await
        .unwrap();
    let now = bot::clock::Clock::now_ms(&*town.clock);
    town.app
        .store
        .write(move |c| bot::store::retry_delivery(c, row.id, now))
        .await
        .unwrap();
    assert_eq!(town.drain().await, 1);
    assert_eq!(refs(town.tasks().await).len(), 3);
}

/// Nobody can check a labeller's write access on a forge the bot has no client for (no
/// token, or a GitLab delivery naming another host than the configured one), so
/// nothing slings: the delivery is kept, ignored, with the reason, and `gt status`
/// says why for the rig. Trusting the label instead would let anyone who can label an
/// issue start agents.
#[tokio::test]
async fn without_a_forge_client_nothing_slings_and_the_town_says_why() {
    let Some(fx) = Fixtures::find() else { return };
    // A GitLab client for its configured host only; no GitHub token at all.
    let gitlab = ForgeSim::start(SimOptions::default()).await.unwrap();
    let bot = gitlab.add_user("gastown-bot").await.unwrap();
    let town = TestTown::builder()
        .gitlab_forge(&gitlab.gitlab_api_url(), "gitlab.example.org", &bot.token)
        .start()
        .await;

    town.github("issues", "gh-1", fx.github_sling("octo/hello", 12, "eve"))
        .await;
    // The fixture's project says its web_url is on example.com.
    let mut issue = fx.json("gitlab/issue.json");
    issue["object_attributes"]["action"] = "open".into();
    issue["labels"] = serde_json::json!([{ "id": 1, "title": "gt:sling" }]);
    let path = issue["project"]["path_with_namespace"]
        .as_str()
        .unwrap()
        .to_string();
    town.gitlab("Issue Hook", "gl-1", serde_json::to_vec(&issue).unwrap())
        .await;
    assert_eq!(town.drain().await, 2);

    assert!(town.tasks().await.is_empty(), "nothing slung");
    let inbox = town.inbox().await;
    let why = |id: &str| {
        let row = inbox.iter().find(|r| r.delivery_id == id).unwrap();
        assert_eq!(row.status.as_str(), "ignored", "{row:?}");
        row.last_error.clone().unwrap()
    };
    assert_eq!(
        why("gh-1"),
        "no GitHub client for github.com: GT_GITHUB_TOKEN (or github.app_id) is not set; \
         eve's sling of github:octo/hello#12 was not acted on, because nobody can check \
         that they may write to octo/hello"
    );
    assert!(
        why("gl-1").starts_with(
            "no GitLab client for example.com: the bot's GitLab is gitlab.example.org (gitlab.host)"
        ),
        "{}",
        why("gl-1")
    );

    // What a person runs to see why nothing happens.
    let db = town.database();
    let env = [
        ("GT_DATABASE", db.as_str()),
        ("GT_GITLAB_HOST", "gitlab.example.org"),
        ("GT_GITLAB_TOKEN", "glpat-x"),
    ];
    let listed = gt(&["inbox", "list", "--status", "ignored"], &env).await;
    assert!(
        listed.contains("error: no GitHub client for github.com"),
        "{listed}"
    );
    let status = gt(&["status"], &env).await;
    let rig = |id: &str| {
        status
            .lines()
            .find(|l| l.trim_start().starts_with(id))
            .unwrap_or_else(|| panic!("{id} in {status}"))
            .to_string()
    };
    assert!(
        rig("github:octo/hello").contains(
            "nothing slings here: no GitHub client for github.com: GT_GITHUB_TOKEN (or github.app_id) is not set"
        ),
        "{status}"
    );
    assert!(
        rig(&format!("gitlab:example.com/{path}")).contains(
            "nothing slings here: no GitLab client for example.com: the bot's GitLab is gitlab.example.org"
        ),
        "{status}"
    );
    assert!(
        status.contains("1 sling(s) not acted on") && status.contains("inbox     2 ignored"),
        "{status}"
    );
}
