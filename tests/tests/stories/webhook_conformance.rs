//! Story: a town works an issue to a merged pull request on each simulated forge, and
//! every webhook the simulator sent on the way, those caused by people and those caused
//! by the bot's own writes (its status comment and labels, its branch, PR and merge), is
//! one the real forge could send: on GitHub each matches its event's and action's
//! definition in GitHub's published webhook schema; on GitLab each matches its real
//! sample both ways (GitLab publishes no schema). The bot is only ever tested against
//! deliveries that pass.

use std::time::Duration;

use bot::store::{Bead, BeadType, CloseReason};
use forge_sim::SimHandle;
use forge_sim::conformance::{SCHEMA_ENV, WebhookSchema, gitlab};
use gastown_tests::Fixtures;
use gastown_tests::story::{self, in_review};

const REPO: &str = "octo/hello";
const PROJECT: &str = "town/tools/hello";
const WAIT: Duration = Duration::from_secs(90);

const PLAN: &str = "Greet the world.\n\n```gastown-plan\nfiles:\n  - path: hello.md\n    content: \"hello\\n\"\ncommit: Add hello.md\nrework:\n  - files:\n      - path: hello.md\n        content: \"hello, world\\n\"\n    commit: Greet the whole world\n```\n";

/// Octokit's schema from [`SCHEMA_ENV`]; under CI its absence is a failure (`.ci/run`
/// downloads it), elsewhere the story is skipped with a note.
fn schema() -> Option<WebhookSchema> {
    let schema = WebhookSchema::from_env().expect("the webhook schema loads");
    if schema.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{SCHEMA_ENV} is not set and CI is set: .ci/run downloads the schema first"
        );
        eprintln!("skipping: {SCHEMA_ENV} is not set (see forge-sim/README.md, Webhooks)");
    }
    schema
}

fn merged(beads: &[Bead]) -> bool {
    beads.iter().any(|t| {
        t.bead_type == BeadType::Task
            && t.parent_id.is_none()
            && t.close_reason == Some(CloseReason::Merged)
    })
}

/// The first review sent the work back, and its rework is in review on the same PR.
fn reworked(beads: &[Bead]) -> bool {
    in_review(beads) == 1
        && beads
            .iter()
            .filter(|m| m.bead_type == BeadType::MergeRequest)
            .count()
            == 2
}

async fn all_sent(sim: &SimHandle) -> Vec<forge_sim::Delivery> {
    let sent = sim.deliveries().len();
    sim.wait_for_deliveries(sent, WAIT).await.unwrap();
    sim.deliveries()
}

#[tokio::test]
async fn every_github_delivery_of_a_town_at_work_matches_the_published_schema() {
    let Some(schema) = schema() else { return };
    let (sim, town) = story::github_town(REPO, Some("auto_merge: true\n"), &[]).await;
    let n = story::sling(&sim, REPO, "Greet", PLAN).await;
    town.run_until(WAIT, "the first PR", |b| in_review(b) == 1)
        .await;
    let pr = sim.pull_requests(REPO).await[0].number;
    sim.comment("mara", REPO, pr, "Looking.").await.unwrap();
    sim.review_comment("mara", REPO, pr, "hello.md", 1, "Greet everyone.")
        .await
        .unwrap();
    sim.request_changes("mara", REPO, pr, "Please greet the whole world.")
        .await
        .unwrap();
    town.run_until(WAIT, "the reworked PR back in review", reworked)
        .await;
    let head = sim.pull_requests(REPO).await[0].head_sha.clone();
    sim.set_status("mara", REPO, &head, "success", "ci/test")
        .await
        .unwrap();
    sim.approve("mara", REPO, pr).await.unwrap();
    town.run_until(WAIT, "the task to be merged", merged).await;
    town.act().await;
    assert_eq!(
        sim.issue(REPO, n).await.unwrap().state,
        forge_sim::world::IssueState::Closed
    );

    let report = schema.check(&all_sent(&sim).await).unwrap();
    for want in [
        "issues$opened",
        "issues$labeled",
        "issues$closed",
        "issue_comment$created",
        "issue_comment$edited",
        "pull_request$opened",
        "pull_request$synchronize",
        "pull_request$closed",
        "pull_request_review$submitted",
        "pull_request_review_comment$created",
        "status$event",
        "push$event",
    ] {
        assert!(
            report.checked.contains(want),
            "the story sent no {want}: {:?}",
            report.checked
        );
    }
    assert!(
        report.problems.is_empty(),
        "{} violations:\n{}",
        report.problems.len(),
        report.problems.join("\n")
    );
}

#[tokio::test]
async fn every_gitlab_hook_of_a_town_at_work_matches_the_real_samples() {
    let Some(fixtures) = Fixtures::find() else {
        return;
    };
    let (sim, town) = story::gitlab_town(PROJECT, Some("auto_merge: true\n")).await;
    story::gitlab_sling(&sim, PROJECT, "Greet", PLAN).await;
    town.run_until(WAIT, "the MR", |b| in_review(b) == 1).await;
    let iid = sim
        .deliveries()
        .iter()
        .find(|d| d.event == "Merge Request Hook")
        .and_then(|d| d.payload["object_attributes"]["iid"].as_u64())
        .expect("the MR was announced");
    sim.gl_comment("devi", PROJECT, iid, true, "Looking.")
        .await
        .unwrap();
    sim.gl_diff_note("devi", PROJECT, iid, "hello.md", 1, "Greet everyone.")
        .await
        .unwrap();
    town.run_until(WAIT, "the reworked MR back in review", reworked)
        .await;
    let branch = sim
        .sim()
        .world()
        .repo(PROJECT)
        .and_then(|r| r.pulls.values().next().map(|p| p.head_ref.clone()))
        .unwrap();
    let pipeline = sim.run_pipeline("devi", PROJECT, &branch).await.unwrap();
    sim.finish_pipeline(PROJECT, pipeline, "success")
        .await
        .unwrap();
    sim.gl_approve("devi", PROJECT, iid).await.unwrap();
    town.run_until(WAIT, "the task to be merged", merged).await;
    town.act().await;

    let report = gitlab::compare_with_fixtures(&fixtures.path("gitlab"), &all_sent(&sim).await);
    for want in [
        "issue.json",
        "merge_request.json",
        "note_issue.json",
        "note_merge_request.json",
        "pipeline.json",
        "push.json",
    ] {
        assert!(
            report.checked.contains(want),
            "nothing was checked against {want}: {:?}",
            report.checked
        );
    }
    assert!(
        report.problems.is_empty(),
        "{} differences:\n{}",
        report.problems.len(),
        report.problems.join("\n")
    );
}
