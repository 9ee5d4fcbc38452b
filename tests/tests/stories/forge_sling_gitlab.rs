//! Slinging on a forge that behaves like GitLab: a developer labels an issue in a
//! nested project, the `Issue Hook` (an `update` with `changes.labels`) reaches the bot
//! with its token, the bot checks the member's access level and answers with a note.

use std::time::Duration;

use forge_sim::{ForgeSim, SimHandle, SimOptions};
use gastown_tests::TestTown;
use gastown_tests::town::GITLAB_TOKEN;

const PROJECT: &str = "town/tools/hello";
const WAIT: Duration = Duration::from_secs(20);

async fn world() -> (SimHandle, TestTown) {
    let sim = ForgeSim::start(SimOptions::default())
        .await
        .expect("simulator");
    sim.create_gitlab_project(PROJECT, "main").await.unwrap();
    let bot = sim.add_user("gastown-bot").await.unwrap();
    sim.add_member(PROJECT, "gastown-bot", 40).unwrap();
    sim.add_user("devi").await.unwrap();
    sim.add_member(PROJECT, "devi", 30).unwrap();
    sim.add_user("rita").await.unwrap();
    sim.add_member(PROJECT, "rita", 20).unwrap();
    let host = sim.addr().to_string();
    let town = TestTown::builder()
        .gitlab_forge(&sim.gitlab_api_url(), &host, &bot.token)
        .start()
        .await;
    sim.set_gitlab_hook(PROJECT, &town.url("/webhooks/gitlab"), GITLAB_TOKEN)
        .unwrap();
    (sim, town)
}

async fn bot_notes(sim: &SimHandle, iid: u64) -> Vec<String> {
    sim.comments(PROJECT, iid)
        .await
        .into_iter()
        .filter(|c| c.body.contains("<!-- gastown:"))
        .map(|c| c.body)
        .collect()
}

#[tokio::test]
async fn a_developer_labels_a_gitlab_issue_and_the_bot_answers_with_one_note() {
    let (sim, town) = world().await;
    let iid = sim
        .gl_open_issue("devi", PROJECT, "Fix the flux", "It is broken")
        .await
        .unwrap();
    sim.gl_add_label("devi", PROJECT, iid, "gt:sling")
        .await
        .unwrap();
    sim.wait_for_deliveries(2, WAIT).await.unwrap();
    town.settle().await;

    let beads = town.tasks().await;
    assert_eq!(beads.len(), 1, "{beads:#?}");
    assert_eq!(beads[0].created_by, "devi");
    assert_eq!(
        beads[0].forge_ref.as_deref(),
        Some(format!("gitlab:{}/{PROJECT}#{iid}", sim.addr()).as_str())
    );
    let notes = bot_notes(&sim, iid).await;
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert!(
        notes[0].contains(&format!("bead `{}` is **queued**", beads[0].id)),
        "{}",
        notes[0]
    );
}

#[tokio::test]
async fn a_reporter_cannot_sling_and_is_told_once() {
    let (sim, town) = world().await;
    let iid = sim
        .gl_open_issue("devi", PROJECT, "Rename the thing", "")
        .await
        .unwrap();
    sim.gl_add_label("rita", PROJECT, iid, "gt:sling")
        .await
        .unwrap();
    sim.gl_remove_label("rita", PROJECT, iid, "gt:sling")
        .await
        .unwrap();
    sim.gl_add_label("rita", PROJECT, iid, "gt:sling")
        .await
        .unwrap();
    sim.wait_for_deliveries(4, WAIT).await.unwrap();
    town.settle().await;

    assert!(town.tasks().await.is_empty());
    let notes = bot_notes(&sim, iid).await;
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert!(
        notes[0].contains("@rita, only people with write access"),
        "{}",
        notes[0]
    );
}
