//! The refinery's AI review against a fake OpenAI-compatible model: a reject sends
//! the work back with the review's comments, an approval lets it land, and a model
//! that times out or fails is said on the issue and never counts as a pass.

use std::time::Duration;

use bot::store::{Bead, BeadStatus, BeadType, CloseReason};
use forge_sim::SimHandle;
use gastown_tests::TestTown;
use gastown_tests::model::{Behaviour, FakeModel};
use gastown_tests::story;

const REPO: &str = "octo/hello";
const WAIT: Duration = Duration::from_secs(90);

const PLAN: &str = "Greet the world.\n\n```gastown-plan\nfiles:\n  - path: hello.md\n    content: \"hello\\n\"\ncommit: Add hello.md\nrework:\n  - files:\n      - path: hello.md\n        content: \"hello, world\\n\"\n    commit: Greet the whole world\n```\n";

async fn world(model: &FakeModel) -> (SimHandle, TestTown, u64) {
    let review = [
        ("GT_LLM_API_URL", model.url.as_str()),
        ("GT_LLM_MODEL", "test-model"),
        ("GT_LLM_TIMEOUT_SECS", "1"),
    ];
    let (sim, town) = story::github_town(REPO, None, &review).await;
    let n = story::sling(&sim, REPO, "Greet", PLAN).await;
    (sim, town, n)
}

fn pr_opened(b: &[Bead]) -> bool {
    story::in_review(b) > 0
}

#[tokio::test]
async fn a_rejecting_review_sends_its_comments_to_the_rework_and_an_approval_lands() {
    let model = FakeModel::start(Behaviour::Say(FakeModel::verdict(
        "reject",
        "It greets only part of the world.",
        &[("hello.md", 1, "Say hello, world.")],
    )))
    .await;
    let (sim, town, _) = world(&model).await;

    let beads = town
        .run_until(WAIT, "the review's rework", |b| {
            b.iter().any(|r| r.metadata.get("rework_of").is_some())
        })
        .await;
    let rework = beads
        .iter()
        .find(|r| r.metadata.get("rework_of").is_some())
        .unwrap();
    assert!(
        rework.metadata["reason"]
            .as_str()
            .unwrap()
            .contains("the AI review rejected it: It greets only part of the world."),
        "{rework:#?}"
    );
    assert!(
        rework.metadata["details"]
            .as_str()
            .unwrap()
            .contains("hello.md:1: Say hello, world."),
        "{rework:#?}"
    );
    // The model saw the diff, with the issue as data.
    let first = &model.requests()[0];
    let user = first["messages"][1]["content"].as_str().unwrap();
    assert!(
        user.starts_with("<<<ISSUE_")
            && user.contains("\nGreet\n\nGreet the world.")
            && user.contains("+hello"),
        "{user}"
    );
    assert_eq!(first["model"], "test-model");

    model.behave(Behaviour::Say(FakeModel::verdict(
        "approve",
        "Greets the whole world.",
        &[],
    )));
    town.run_until(WAIT, "the approved PR", pr_opened).await;
    let prs = sim.pull_requests(REPO).await;
    assert_eq!(prs.len(), 1);
    let body = sim.issue(REPO, prs[0].number).await.unwrap().body.unwrap();
    assert!(
        body.contains("### AI review") && body.contains("> Greets the whole world."),
        "{body}"
    );
}

#[tokio::test]
async fn a_model_that_times_out_or_fails_is_reported_and_never_a_pass() {
    let model = FakeModel::start(Behaviour::Slow(
        Duration::from_secs(3),
        FakeModel::verdict("approve", "Fine.", &[]),
    ))
    .await;
    let (sim, town, n) = world(&model).await;

    let said = |needle: &'static str| {
        let sim = sim.clone();
        async move {
            sim.comments(REPO, n)
                .await
                .into_iter()
                .any(|c| c.body.contains("gastown:review-failed") && c.body.contains(needle))
        }
    };
    town.run_until(WAIT, "the failed review", |b| {
        b.iter()
            .any(|m| m.bead_type == BeadType::MergeRequest && m.status == BeadStatus::InProgress)
    })
    .await;
    for _ in 0..200 {
        // The run ends once the town has recorded its gates; then it is judged.
        town.polecats().await;
        town.refinery().await;
        town.act().await;
        if said("did not answer within 1 s").await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        said("did not answer within 1 s").await,
        "the timeout is said on the issue"
    );
    assert!(
        sim.pull_requests(REPO).await.is_empty(),
        "no PR without a review"
    );

    // The refinery looks again a minute later.
    model.behave(Behaviour::Fail(503));
    town.clock.advance(60_000);
    town.refinery().await;
    town.act().await;
    assert!(said("HTTP 503").await, "the error is said on the issue");
    assert!(
        sim.pull_requests(REPO).await.is_empty(),
        "no PR without a review"
    );
    let beads = town.beads().await;
    assert!(
        !beads
            .iter()
            .any(|b| b.close_reason == Some(CloseReason::Rejected)),
        "a failed review is not a rejection either: {beads:#?}"
    );

    model.behave(Behaviour::Say(FakeModel::verdict("approve", "Fine.", &[])));
    town.clock.advance(60_000);
    town.run_until(WAIT, "the PR once the model answers", pr_opened)
        .await;
}
