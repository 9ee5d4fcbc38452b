//! Work across issues, in order: an issue that `Depends on` another waits until that
//! one's work merged (its status comment says on what), starts then, and lands after
//! it. A dependency on an issue nobody slung holds the work until someone does; one
//! that would close a cycle is refused; a blocker that fails keeps its dependent
//! waiting and asks a person.

use std::time::Duration;

use bot::store::{Bead, BeadStatus, BeadType, CloseReason};
use forge_sim::SimHandle;
use gastown_tests::TestTown;
use gastown_tests::story;

const REPO: &str = "octo/hello";
const WAIT: Duration = Duration::from_secs(60);

fn plan(path: &str, deps: &str) -> String {
    format!(
        "{deps}\n\n```gastown-plan\nfiles:\n  - path: {path}\n    content: |\n      {path}\ncommit: Add {path}\n```\n"
    )
}

async fn world(env: &[(&str, &str)]) -> (SimHandle, TestTown) {
    story::github_town(REPO, Some("merge_strategy: direct\n"), env).await
}

fn task<'a>(beads: &'a [Bead], title: &str) -> &'a Bead {
    beads
        .iter()
        .find(|b| b.bead_type == BeadType::Task && b.title == title)
        .unwrap_or_else(|| panic!("no task {title}: {beads:#?}"))
}

/// The id of the event at which `bead` first reached `status`: events are numbered in
/// the order they happened, so two of them tell which came first.
async fn reached(town: &TestTown, bead: &str, status: &str) -> i64 {
    town.events(bead)
        .await
        .into_iter()
        .find(|e| e.to_status.as_deref() == Some(status))
        .unwrap_or_else(|| panic!("{bead} never {status}"))
        .id
}

/// Deliveries up to `n` have arrived and been worked.
async fn settled(sim: &SimHandle, town: &TestTown, n: usize) {
    sim.wait_for_deliveries(n, WAIT).await.unwrap();
    town.settle().await;
}

#[tokio::test]
async fn the_ui_waits_for_the_api_it_depends_on_and_lands_after_it() {
    let (sim, town) = world(&[]).await;
    let api = story::sling(&sim, REPO, "API", &plan("api.md", "The API.")).await;
    let ui = story::sling(
        &sim,
        REPO,
        "UI",
        &plan("ui.md", &format!("The UI.\n\nDepends on #{api}")),
    )
    .await;
    settled(&sim, &town, 4).await;
    town.polecats().await;
    let beads = town.beads().await;
    assert_eq!(task(&beads, "UI").status, BeadStatus::Open, "the UI waits");
    assert_ne!(
        task(&beads, "API").status,
        BeadStatus::Open,
        "the API is worked"
    );
    town.act().await;
    let said = story::status_comment(&sim, REPO, ui).await;
    assert!(
        said.contains(&format!("waiting for #{api} (API) to land first")),
        "{said}"
    );

    let beads = town
        .run_until(WAIT, "both to land", |b| {
            ["API", "UI"].iter().all(|t| {
                b.iter().any(|x| {
                    x.bead_type == BeadType::Task && x.title == *t && x.status == BeadStatus::Closed
                })
            })
        })
        .await;
    let (a, u) = (task(&beads, "API"), task(&beads, "UI"));
    assert_eq!(a.close_reason, Some(CloseReason::Merged));
    assert_eq!(u.close_reason, Some(CloseReason::Merged));
    // The UI was hooked only after the API's work merged.
    let api_closed = reached(&town, &a.id, "closed").await;
    let ui_hooked = reached(&town, &u.id, "hooked").await;
    assert!(
        ui_hooked > api_closed,
        "the UI started after the API landed"
    );
    for path in ["api.md", "ui.md"] {
        assert!(sim.read_file(REPO, "main", path).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn an_unslung_dependency_holds_the_work_until_it_is_slung_and_cycles_are_refused() {
    let (sim, town) = world(&[]).await;
    // #1 is opened but nobody slings it yet; #2 depends on it.
    let first = sim
        .open_issue("mara", REPO, "Schema", &plan("schema.md", "The schema."))
        .await
        .unwrap();
    let second = story::sling(
        &sim,
        REPO,
        "Migration",
        &plan("migration.md", &format!("Blocked by #{first}")),
    )
    .await;
    settled(&sim, &town, 3).await;
    let beads = town.beads().await;
    assert_eq!(task(&beads, "Migration").status, BeadStatus::Blocked);
    town.act().await;
    let said = story::status_comment(&sim, REPO, second).await;
    assert!(
        said.contains(&format!("waiting for #{first}, not slung yet")),
        "{said}"
    );

    // The schema's author adds "Depends on" the migration, then someone slings it:
    // linking the migration to it would close a cycle, so that link is refused, said on
    // the migration's issue, and the two are worked in the order the schema asks.
    sim.edit_issue_body(
        "mara",
        REPO,
        first,
        &plan("schema.md", &format!("Depends on #{second}")),
    )
    .await
    .unwrap();
    sim.add_label("mara", REPO, first, "gt:sling")
        .await
        .unwrap();
    settled(&sim, &town, 5).await;
    let beads = town.beads().await;
    assert_eq!(
        task(&beads, "Migration").status,
        BeadStatus::Open,
        "no longer waiting for a person to sling the schema"
    );
    town.act().await;
    let refused = sim
        .comments(REPO, second)
        .await
        .into_iter()
        .find(|c| c.body.contains("gastown:dependency-cycle"))
        .expect("the cycle is refused on the issue whose link would close it");
    assert!(
        refused
            .body
            .contains(&format!("#{second} cannot depend on #{first}")),
        "{}",
        refused.body
    );
    town.run_until(WAIT, "both to land", |b| {
        b.iter()
            .filter(|t| t.bead_type == BeadType::Task)
            .all(|t| t.status == BeadStatus::Closed)
    })
    .await;
}

#[tokio::test]
async fn a_blocker_that_fails_keeps_its_dependent_waiting_and_asks_a_person() {
    let (sim, town) = world(&[("GT_PATROL_MAX_ATTEMPTS", "1")]).await;
    // No plan: the scripted runtime gives up at once.
    let api = story::sling(&sim, REPO, "API", "Make an API somehow.").await;
    let ui = story::sling(
        &sim,
        REPO,
        "UI",
        &plan("ui.md", &format!("Depends on #{api}")),
    )
    .await;
    town.run_until(WAIT, "the API to fail", |b| {
        b.iter()
            .any(|t| t.title == "API" && t.status == BeadStatus::Failed)
    })
    .await;
    town.patrol().await;
    town.act().await;
    let beads = town.beads().await;
    assert_eq!(task(&beads, "UI").status, BeadStatus::Open, "still waiting");
    assert_eq!(town.polecats().await, 0, "and never started");
    let notice = sim
        .comments(REPO, ui)
        .await
        .into_iter()
        .find(|c| c.body.contains("<!-- gastown:escalation"))
        .expect("a person is asked on the dependent's issue")
        .body;
    assert!(
        notice.contains(&format!("#{api}, which this work depends on, failed")),
        "{notice}"
    );
    // Asked once, however often the patrol looks.
    town.patrol().await;
    town.act().await;
    let notices = sim
        .comments(REPO, ui)
        .await
        .into_iter()
        .filter(|c| c.body.contains("<!-- gastown:escalation"))
        .count();
    assert_eq!(notices, 1);
}

/// The same order on GitLab, in a nested project: `Depends on #N` names an issue of
/// the same project.
#[tokio::test]
async fn on_gitlab_the_ui_waits_for_the_api_and_lands_after_it() {
    const PROJECT: &str = "town/tools/hello";
    let (sim, town) = story::gitlab_town(PROJECT, Some("merge_strategy: direct\n")).await;
    let api = story::gitlab_sling(&sim, PROJECT, "API", &plan("api.md", "The API.")).await;
    story::gitlab_sling(
        &sim,
        PROJECT,
        "UI",
        &plan("ui.md", &format!("The UI.\n\nDepends on #{api}")),
    )
    .await;
    let beads = town
        .run_until(WAIT, "both to land", |b| {
            ["API", "UI"].iter().all(|t| {
                b.iter().any(|x| {
                    x.bead_type == BeadType::Task && x.title == *t && x.status == BeadStatus::Closed
                })
            })
        })
        .await;
    let (a, u) = (task(&beads, "API"), task(&beads, "UI"));
    let api_closed = reached(&town, &a.id, "closed").await;
    let ui_hooked = reached(&town, &u.id, "hooked").await;
    assert!(
        ui_hooked > api_closed,
        "the UI started after the API landed"
    );
    let deps = town
        .app
        .store
        .read({
            let id = u.id.clone();
            move |c| bot::store::deps_of(c, &id)
        })
        .await
        .unwrap();
    assert!(
        deps.iter()
            .any(|(b, t)| *b == a.id && *t == bot::store::DepType::Blocks),
        "{deps:#?}"
    );
}
