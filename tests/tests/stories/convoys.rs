//! A convoy: issues that land together. Its tracking issue's checklist follows every
//! move of the tracked beads (one that lands, one closed and reopened, one added late),
//! and the convoy lands exactly once, after the last, closing the tracking issue.

use std::time::Duration;

use bot::store::{BeadStatus, BeadType, CloseReason};
use forge_sim::SimHandle;
use gastown_tests::TestTown;
use gastown_tests::process::gt;
use gastown_tests::story;

const REPO: &str = "octo/hello";
const WAIT: Duration = Duration::from_secs(60);

fn plan(path: &str, command: &str) -> String {
    format!(
        "Part of a release.\n\n```gastown-plan\nfiles:\n  - path: {path}\n    content: |\n      {path}\ncommands:\n  - \"{command}\"\ncommit: Add {path}\n```\n"
    )
}

/// A person makes a convoy of `issues` with `gt convoy create`; the town's clock is
/// brought to theirs. Returns the convoy's bead.
async fn convoy_created(town: &TestTown, title: &str, issues: &[String]) -> bot::store::Bead {
    let db = town.database();
    let mut args = vec!["convoy", "create", title];
    args.extend(issues.iter().map(String::as_str));
    let said = gt(&args, &[("GT_DATABASE", db.as_str())]).await;
    assert!(
        said.contains(&format!("tracks {} issue(s)", issues.len())),
        "{said}"
    );
    town.catch_up_to_wall_clock();
    town.beads()
        .await
        .into_iter()
        .find(|c| c.bead_type == BeadType::Convoy && c.title == title)
        .expect("a convoy bead")
}

async fn closed_as(town: &TestTown, title: &str) -> Option<(BeadStatus, Option<CloseReason>)> {
    town.tasks()
        .await
        .into_iter()
        .find(|t| t.title == title)
        .map(|t| (t.status, t.close_reason))
}

async fn tracking(sim: &SimHandle, n: u64) -> String {
    story::status_comment(sim, REPO, n).await
}

#[tokio::test]
async fn a_convoy_lands_once_after_its_last_issue_whatever_happened_on_the_way() {
    let (sim, town) = story::github_town(REPO, Some("merge_strategy: direct\n"), &[]).await;
    let gate = tempfile::tempdir().unwrap();
    let flag = gate.path().join("go");
    let wait = format!("while [ ! -f {} ]; do sleep 0.1; done", flag.display());
    let a = story::sling(&sim, REPO, "Schema", &plan("schema.md", "true")).await;
    let b = story::sling(&sim, REPO, "API", &plan("api.md", &wait)).await;
    sim.wait_for_deliveries(4, WAIT).await.unwrap();
    town.settle().await;
    let issues = [format!("{REPO}#{a}"), format!("{REPO}#{b}")];
    let convoy_id = convoy_created(&town, "Release 2", &issues).await.id;
    town.act().await;
    let db = town.database();
    let env = [("GT_DATABASE", db.as_str())];
    let convoy_bead = || town.bead(&convoy_id);
    let issue = bot::store::ForgeRef::issue_number(
        convoy_bead()
            .await
            .forge_ref
            .as_deref()
            .expect("its tracking issue"),
    )
    .unwrap();
    let opened = sim.issue(REPO, issue).await.unwrap();
    assert!(opened.title.starts_with("Convoy: Release 2"));
    assert!(opened.labels.contains(&"gt:convoy".to_string()));

    // The schema lands; the API is still worked: the convoy waits.
    town.run_until(WAIT, "the schema to land", |b| {
        b.iter()
            .any(|t| t.title == "Schema" && t.status == BeadStatus::Closed)
    })
    .await;
    town.act().await;
    let list = tracking(&sim, issue).await;
    assert!(
        list.contains(&format!("- [x] #{a} Schema"))
            && list.contains(&format!("- [ ] #{b} API"))
            && list.contains(&format!("waiting for #{b}")),
        "{list}"
    );

    // The API's issue is closed (its work stops) and reopened: the convoy is held,
    // then waits again; a third issue joins late.
    sim.close_issue("mara", REPO, b).await.unwrap();
    sim.wait_for_deliveries(0, WAIT).await.unwrap();
    town.run_until(WAIT, "the API to be withdrawn", |_| true)
        .await;
    let deadline = std::time::Instant::now() + WAIT;
    while closed_as(&town, "API").await != Some((BeadStatus::Closed, Some(CloseReason::Wontfix))) {
        assert!(std::time::Instant::now() < deadline, "the API never closed");
        town.settle().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    town.patrol().await;
    town.act().await;
    assert!(
        tracking(&sim, issue).await.contains("**held**"),
        "{}",
        tracking(&sim, issue).await
    );
    sim.reopen_issue("mara", REPO, b).await.unwrap();
    let c = story::sling(&sim, REPO, "Docs", &plan("docs.md", "true")).await;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        town.settle().await;
        let tasks = town.tasks().await;
        if tasks.iter().any(|t| t.title == "Docs")
            && tasks
                .iter()
                .any(|t| t.title == "API" && t.status != BeadStatus::Closed)
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{tasks:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let said = gt(&["convoy", "add", &convoy_id, &format!("{REPO}#{c}")], &env).await;
    assert!(said.contains("tracks 1 more"), "{said}");
    town.catch_up_to_wall_clock();

    // The API may finish now: everything lands, and the convoy with it, once.
    std::fs::write(&flag, "go").unwrap();
    town.run_until(WAIT, "every tracked issue to land", |b| {
        ["Schema", "API", "Docs"].iter().all(|t| {
            b.iter().any(|x| {
                x.bead_type == BeadType::Task
                    && x.title == *t
                    && x.status == BeadStatus::Closed
                    && x.close_reason == Some(CloseReason::Merged)
            })
        })
    })
    .await;
    town.act().await;
    let convoy = convoy_bead().await;
    assert_eq!(
        (convoy.status, convoy.close_reason),
        (BeadStatus::Closed, Some(CloseReason::Done))
    );
    let landed = sim
        .comments(REPO, issue)
        .await
        .into_iter()
        .filter(|c| c.body.contains("gastown:convoy-landed"))
        .count();
    assert_eq!(landed, 1, "the convoy lands exactly once");
    assert!(sim.issue(REPO, issue).await.unwrap().closed_at.is_some());
    let list = tracking(&sim, issue).await;
    for (n, title) in [(a, "Schema"), (b, "API"), (c, "Docs")] {
        assert!(list.contains(&format!("- [x] #{n} {title}")), "{list}");
    }
}

/// On GitLab, in a nested project: the tracking issue is opened there, and a convoy
/// whose tracked issue fails does not land and says which one holds it.
#[tokio::test]
async fn on_gitlab_a_convoy_held_by_a_failed_issue_says_so_and_does_not_land() {
    const PROJECT: &str = "town/tools/hello";
    let (sim, town) = story::gitlab_town_with(
        PROJECT,
        Some("merge_strategy: direct\n"),
        &[("GT_PATROL_MAX_ATTEMPTS", "1")],
    )
    .await;
    let ok = story::gitlab_sling(&sim, PROJECT, "Docs", &plan("docs.md", "true")).await;
    // No plan: its polecat gives up, and with one attempt allowed the bead fails.
    let bad = story::gitlab_sling(&sim, PROJECT, "Vague", "Make it better somehow.").await;
    sim.wait_for_deliveries(4, WAIT).await.unwrap();
    town.settle().await;
    let issues = [format!("{PROJECT}#{ok}"), format!("{PROJECT}#{bad}")];
    let convoy = convoy_created(&town, "Docs release", &issues).await;
    town.run_until(WAIT, "the docs to land and the vague one to fail", |b| {
        b.iter()
            .any(|t| t.title == "Docs" && t.status == BeadStatus::Closed)
            && b.iter()
                .any(|t| t.title == "Vague" && t.status == BeadStatus::Failed)
    })
    .await;
    town.act().await;
    let convoy = town.bead(&convoy.id).await;
    assert_eq!(
        convoy.status,
        BeadStatus::Open,
        "a failed issue holds the convoy"
    );
    let issue = bot::store::ForgeRef::issue_number(convoy.forge_ref.as_deref().unwrap()).unwrap();
    let list = story::status_comment(&sim, PROJECT, issue).await;
    assert!(
        list.contains(&format!(
            "**held**: #{bad} failed or closed without landing"
        )) && list.contains(&format!("- [x] #{ok} Docs")),
        "{list}"
    );
    assert!(sim.issue(PROJECT, issue).await.unwrap().closed_at.is_none());
}
