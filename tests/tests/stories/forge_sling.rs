//! Slinging through a forge that behaves like GitHub: a person labels an issue in the
//! simulator, the signed webhook reaches the bot over real HTTP, the bot checks the
//! person's permission through the REST API and answers on the issue.

use std::time::Duration;

use forge_sim::{ForgeSim, Permission, SimHandle, SimOptions};
use gastown_tests::TestTown;
use gastown_tests::town::GITHUB_SECRET;

const REPO: &str = "octo/hello";
const WAIT: Duration = Duration::from_secs(20);

/// A simulated GitHub with a repository, a bot account, a writer and a triager, and a
/// town whose webhooks and API both point at it.
async fn world() -> (SimHandle, TestTown) {
    world_with(None).await
}

/// The same, with the repository's own `.gastown.yaml` on main when given.
async fn world_with(gastown_yaml: Option<&str>) -> (SimHandle, TestTown) {
    let sim = ForgeSim::start(SimOptions::default())
        .await
        .expect("simulator");
    sim.create_repo(REPO, "main").await.unwrap();
    let bot = sim.add_user("gastown-bot").await.unwrap();
    sim.grant(REPO, "gastown-bot", Permission::Admin)
        .await
        .unwrap();
    sim.add_user("mara").await.unwrap();
    sim.grant(REPO, "mara", Permission::Write).await.unwrap();
    sim.add_user("tess").await.unwrap();
    sim.grant(REPO, "tess", Permission::Triage).await.unwrap();
    if let Some(yaml) = gastown_yaml {
        gastown_tests::story::configure(&sim, "mara", REPO, yaml).await;
    }
    let host = sim.addr().to_string();
    let town = TestTown::builder()
        .github_forge(&sim.github_api_url(), &host, &bot.token)
        .start()
        .await;
    sim.set_hook(REPO, &town.url("/webhooks/github"), GITHUB_SECRET)
        .await
        .unwrap();
    (sim, town)
}

fn bot_comments(comments: &[forge_sim::world::Comment]) -> Vec<String> {
    comments
        .iter()
        .filter(|c| c.body.contains("<!-- gastown:"))
        .map(|c| c.body.clone())
        .collect()
}

#[tokio::test]
async fn a_writer_labels_an_issue_and_the_bot_answers_with_one_status_comment() {
    let (sim, town) = world().await;
    let n = sim
        .open_issue("mara", REPO, "Fix the flux", "It is broken")
        .await
        .unwrap();
    sim.add_label("mara", REPO, n, "gt:sling").await.unwrap();
    sim.wait_for_deliveries(2, WAIT).await.unwrap();
    town.settle().await;

    let beads = town.tasks().await;
    assert_eq!(beads.len(), 1, "{beads:#?}");
    assert_eq!(beads[0].created_by, "mara");
    let comments = bot_comments(&sim.comments(REPO, n).await);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(
        comments[0].contains(&format!("bead `{}` is **queued**", beads[0].id)),
        "{}",
        comments[0]
    );

    // The bot's own comment is delivered back to it (3); then GitHub redelivers the
    // label event (4). Neither changes anything on the issue.
    sim.wait_for_deliveries(3, WAIT).await.unwrap();
    let labeled = sim
        .deliveries()
        .into_iter()
        .find(|d| d.event == "issues" && d.action.as_deref() == Some("labeled"))
        .unwrap();
    assert!(sim.redeliver(&labeled.guid));
    sim.wait_for_deliveries(4, WAIT).await.unwrap();
    town.settle().await;
    assert_eq!(bot_comments(&sim.comments(REPO, n).await).len(), 1);
    assert_eq!(town.tasks().await.len(), 1);
}

#[tokio::test]
async fn a_label_from_someone_without_write_access_slings_nothing_and_gets_one_reply() {
    let (sim, town) = world().await;
    let n = sim
        .open_issue("mara", REPO, "Rename the thing", "")
        .await
        .unwrap();
    sim.add_label("tess", REPO, n, "gt:sling").await.unwrap();
    sim.remove_label("tess", REPO, n, "gt:sling").await.unwrap();
    sim.add_label("tess", REPO, n, "gt:sling").await.unwrap();
    sim.wait_for_deliveries(4, WAIT).await.unwrap();
    town.settle().await;

    assert!(town.tasks().await.is_empty());
    let comments = bot_comments(&sim.comments(REPO, n).await);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(
        comments[0].contains("@tess, only people with write access"),
        "{}",
        comments[0]
    );
}

/// A repository whose `.gastown.yaml` names its own sling label: someone without write
/// access adds that label, and the one reply names the label they used, not the town's.
#[tokio::test]
async fn a_refused_sling_names_the_label_the_repository_uses() {
    let (sim, town) = world_with(Some("labels:\n  sling: work-please\n")).await;
    let n = sim
        .open_issue("mara", REPO, "Rename the thing", "")
        .await
        .unwrap();
    sim.add_label("tess", REPO, n, "work-please").await.unwrap();
    sim.wait_for_deliveries(2, WAIT).await.unwrap();
    town.settle().await;

    assert!(town.tasks().await.is_empty());
    let comments = bot_comments(&sim.comments(REPO, n).await);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    let reply = comments[0].replace(&sim.addr().to_string(), "[sim]");
    insta::assert_snapshot!(reply, @r"
    <!-- gastown:refused github:[sim]/octo/hello#1:refused:tess -->
    @tess, only people with write access to this repository can sling work to Gastown, so the `work-please` label was not acted on. A maintainer can add it instead.
    ");
}

/// `.gastown.yaml` is read per branch: two branches with different files each give
/// their own, and a push to one branch makes only that branch's file read again.
#[tokio::test]
async fn each_branch_has_its_own_gastown_yaml_and_a_push_renews_that_branchs_copy() {
    let (sim, town) = world_with(Some("labels:\n  sling: work-please\n")).await;
    let host = sim.addr().to_string();
    let rig = bot::store::rig_id(webhooks::ForgeKind::GitHub, &host, REPO);
    let forge = town
        .app
        .forges
        .get(webhooks::ForgeKind::GitHub, &host)
        .expect("a client for the simulator");
    let repo = bot::forge::RepoPath::new(REPO);
    let label = async |branch: &str| {
        let read = town
            .app
            .settings
            .read(&rig, forge.as_ref(), &repo, branch)
            .await
            .expect("the forge answers")
            .expect("the file reads");
        read.labels.sling.clone().unwrap_or_default()
    };
    let commit = async |branch: &str, yaml: &str| {
        sim.commit_file("mara", REPO, branch, ".gastown.yaml", yaml, "Configure")
            .await
            .unwrap();
    };

    commit("release", "labels:\n  sling: ship-it\n").await;
    sim.wait_for_deliveries(1, WAIT).await.unwrap();
    town.settle().await;
    assert_eq!(label("main").await, "work-please");
    assert_eq!(label("release").await, "ship-it");
    assert_eq!(
        label("main").await,
        "work-please",
        "each branch keeps its own copy"
    );

    commit("release", "labels:\n  sling: ship-it-now\n").await;
    sim.wait_for_deliveries(2, WAIT).await.unwrap();
    town.settle().await;
    assert_eq!(
        label("release").await,
        "ship-it-now",
        "the push renews release's copy"
    );
    assert_eq!(label("main").await, "work-please");

    commit("main", "labels:\n  sling: do-it\n").await;
    sim.wait_for_deliveries(3, WAIT).await.unwrap();
    town.settle().await;
    assert_eq!(
        label("main").await,
        "do-it",
        "the push to the base branch renews its copy"
    );
    assert_eq!(label("release").await, "ship-it-now");
}

#[tokio::test]
async fn a_dropped_delivery_is_recovered_by_catch_up_after_a_restart() {
    let (sim, town) = world().await;
    let n = sim
        .open_issue("mara", REPO, "Lost in transit", "")
        .await
        .unwrap();
    sim.wait_for_deliveries(1, WAIT).await.unwrap();
    sim.drop_deliveries(1);
    sim.add_label("mara", REPO, n, "gt:sling").await.unwrap();
    sim.wait_for_deliveries(2, WAIT).await.unwrap();
    town.settle().await;
    assert!(
        town.tasks().await.is_empty(),
        "the label's delivery was lost"
    );

    let town = town.restart().await;
    let report = town.app.catch_up.pass().await.unwrap();
    assert_eq!(
        report.recovered,
        vec![format!("github:{}/{REPO}#{n}", sim.addr())]
    );
    town.act().await;
    let beads = town.tasks().await;
    assert_eq!(beads.len(), 1);
    assert_eq!(beads[0].created_by, "mara");
    assert_eq!(bot_comments(&sim.comments(REPO, n).await).len(), 1);
}
