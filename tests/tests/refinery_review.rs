//! People review the refinery's PR: changes requested send the work back to a polecat
//! on the same PR; an approval merges it once the branch's required checks are green.

use std::time::Duration;

use bot::store::{BeadStatus, BeadType, CloseReason};
use gastown_tests::TestTown;
use gastown_tests::town::GITHUB_SECRET;

const REPO: &str = "octo/hello";
const WAIT: Duration = Duration::from_secs(90);

const PLAN: &str = "Greet the world.\n\n```gastown-plan\nfiles:\n  - path: hello.md\n    content: \"hello\\n\"\ncommit: Add hello.md\nrework:\n  - files:\n      - path: hello.md\n        content: \"hello, world\\n\"\n    commit: Greet the whole world\n```\n";

#[tokio::test]
async fn changes_requested_rework_the_pr_and_an_approval_merges_it_once_checks_are_green() {
    let (sim, bot) = gastown_tests::forge::github_with_repo(REPO).await;
    sim.commit_file(
        "mara",
        REPO,
        "main",
        ".gastown.yaml",
        "auto_merge: true\nmerge_method: squash\n",
        "Let gastown merge",
    )
    .await
    .unwrap();
    sim.protect_branch(REPO, "main", &["ci/test"])
        .await
        .unwrap();
    let town = TestTown::builder()
        .github_forge(&sim.github_api_url(), &sim.addr().to_string(), &bot.token)
        .local_runner()
        .start()
        .await;
    sim.set_hook(REPO, &town.url("/webhooks/github"), GITHUB_SECRET)
        .await
        .unwrap();
    let n = sim.open_issue("mara", REPO, "Greet", PLAN).await.unwrap();
    sim.add_label("mara", REPO, n, "gt:sling").await.unwrap();
    let in_review = |b: &[bot::store::Bead]| {
        b.iter()
            .filter(|m| m.bead_type == BeadType::MergeRequest && m.status == BeadStatus::Review)
            .count()
    };
    town.run_until(WAIT, "the first PR", |b| in_review(b) == 1)
        .await;
    let pr = sim.pull_requests(REPO).await[0].number;

    // A maintainer asks for changes: the work goes back, on the same PR.
    sim.request_changes("mara", REPO, pr, "Please greet the whole world.")
        .await
        .unwrap();
    let beads = town
        .run_until(WAIT, "the reworked branch back in review", |b| {
            b.iter().any(|m| {
                m.bead_type == BeadType::MergeRequest
                    && m.status == BeadStatus::Review
                    && m.metadata["source_bead"] != m.parent_id.clone().unwrap().as_str()
            })
        })
        .await;
    let rework = beads
        .iter()
        .find(|b| b.metadata.get("rework_of").is_some())
        .expect("a rework bead");
    assert!(
        rework.metadata["details"]
            .as_str()
            .unwrap()
            .contains("Please greet the whole world."),
        "{rework:#?}"
    );
    assert_eq!(sim.pull_requests(REPO).await.len(), 1, "still one PR");

    // Approved, but the required check has not reported: the issue says so.
    sim.approve("mara", REPO, pr).await.unwrap();
    town.run_until(WAIT, "the task to wait for the check", |b| {
        b.iter().any(|t| {
            t.metadata["waiting_for"]
                .as_str()
                .is_some_and(|w| w.contains("ci/test"))
        })
    })
    .await;
    town.act().await;
    let status = sim
        .comments(REPO, n)
        .await
        .into_iter()
        .find(|c| c.body.contains("<!-- gastown:status"))
        .unwrap();
    assert!(
        status
            .body
            .contains("| waiting for | required check `ci/test` (not reported yet) |"),
        "{}",
        status.body
    );
    assert!(
        sim.pull_requests(REPO).await.iter().all(|p| !p.merged),
        "not merged while a required check is missing"
    );

    // CI goes green on the tested head: the refinery merges, once.
    let head = sim
        .branch_sha(REPO, &sim.pull_requests(REPO).await[0].head_ref)
        .await
        .unwrap()
        .unwrap();
    sim.set_status("mara", REPO, &head, "success", "ci/test")
        .await
        .unwrap();
    let beads = town
        .run_until(WAIT, "the task to be merged", |b| {
            b.iter().any(|t| {
                t.bead_type == BeadType::Task
                    && t.parent_id.is_none()
                    && t.close_reason == Some(CloseReason::Merged)
            })
        })
        .await;
    assert!(
        beads
            .iter()
            .filter(|b| matches!(b.bead_type, BeadType::Task | BeadType::MergeRequest))
            .all(|b| b.status == BeadStatus::Closed),
        "{beads:#?}"
    );
    let main = sim
        .read_file(REPO, "main", "hello.md")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(String::from_utf8(main).unwrap(), "hello, world\n");
}
