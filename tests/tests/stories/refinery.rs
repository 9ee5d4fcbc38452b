//! After a polecat is done, the refinery opens one pull request that closes the issue,
//! and the beads follow it: a person merging it closes them as merged.

use std::time::Duration;

use bot::store::{BeadStatus, BeadType, CloseReason};
use forge_sim::{MergeMethod, SimHandle};
use gastown_tests::TestTown;
use gastown_tests::story::{self, in_review, status_comment};

const REPO: &str = "octo/hello";
const WAIT: Duration = Duration::from_secs(60);

async fn world() -> (SimHandle, TestTown) {
    story::github_town(REPO, None, &[]).await
}

const PLAN: &str = "Add a greeting.\n\n```gastown-plan\nfiles:\n  - path: hello.md\n    content: |\n      hello\ncommit: Add hello.md\n```\n";

/// Turn the town until the refinery has opened the task's PR.
async fn pull_request_opened(town: &TestTown) {
    town.run_until(WAIT, "the refinery to open a pull request", |b| {
        in_review(b) > 0
    })
    .await;
}

/// Turn the town until the task is closed, and return it.
async fn task_closed(town: &TestTown) -> bot::store::Bead {
    let beads = town
        .run_until(WAIT, "the task to close", |b| {
            b.iter()
                .any(|t| t.bead_type == BeadType::Task && t.status == BeadStatus::Closed)
        })
        .await;
    beads
        .into_iter()
        .find(|b| b.bead_type == BeadType::Task)
        .unwrap()
}

/// The issue's task bead as it is now.
async fn the_task(town: &TestTown) -> bot::store::Bead {
    town.beads()
        .await
        .into_iter()
        .find(|b| b.bead_type == BeadType::Task)
        .expect("a task bead")
}

/// Label, and let the polecat finish: the task is in review with a merge request.
async fn worked_issue(sim: &SimHandle, town: &TestTown) -> u64 {
    let n = story::sling(sim, REPO, "Add a greeting", PLAN).await;
    town.run_until(WAIT, "the task to reach review", |b| {
        b.iter()
            .any(|t| t.bead_type == BeadType::Task && t.status == BeadStatus::Review)
    })
    .await;
    n
}

#[tokio::test]
async fn a_finished_bead_gets_one_pull_request_and_closes_when_it_is_merged() {
    let (sim, town) = world().await;
    let n = worked_issue(&sim, &town).await;

    // The refinery opens the PR; looking again (a restart, a second round) opens none.
    pull_request_opened(&town).await;
    town.refinery().await;
    let prs = sim.pull_requests(REPO).await;
    assert_eq!(prs.len(), 1, "{prs:#?}");
    let pr = &prs[0];
    let task = the_task(&town).await;
    assert_eq!(Some(pr.head_ref.clone()), task.branch);
    assert_eq!(pr.base_ref, "main");
    let body = sim
        .issue(REPO, pr.number)
        .await
        .unwrap()
        .body
        .unwrap_or_default();
    assert!(body.contains(&format!("Closes #{n}.")), "{body}");
    assert!(
        body.contains(&format!("bead `{}`", task.id)) && body.contains("**nux**"),
        "{body}"
    );

    // The refinery's status is on the PR's head commit.
    let statuses = sim.statuses(REPO, &pr.head_sha).await;
    let ours = statuses
        .iter()
        .find(|s| s.context == "gastown/refinery")
        .expect("a gastown/refinery status");
    assert_eq!(ours.state, "success");

    // The issue's status comment points at the PR.
    town.act().await;
    let status = status_comment(&sim, REPO, n).await;
    assert!(
        status.contains(&format!("| pull request | #{} |", pr.number)),
        "{status}"
    );

    // A maintainer merges it: the webhook closes the task and its merge request.
    sim.merge_pr("mara", REPO, pr.number, MergeMethod::Merge)
        .await
        .unwrap();
    let beads = town
        .run_until(WAIT, "the task to close", |b| {
            b.iter()
                .any(|t| t.bead_type == BeadType::Task && t.status == BeadStatus::Closed)
        })
        .await;
    // The steps closed as done along the way; the rest closed with the merge.
    for b in beads
        .iter()
        .filter(|b| !matches!(b.bead_type, BeadType::Message | BeadType::Step))
    {
        assert_eq!(
            (b.status, b.close_reason),
            (BeadStatus::Closed, Some(CloseReason::Merged)),
            "{b:#?}"
        );
    }
    town.act().await;
    let status = status_comment(&sim, REPO, n).await;
    assert!(status.contains("is **done**"), "{status}");
    let issue = sim.issue(REPO, n).await.unwrap();
    assert_eq!(
        issue.state,
        forge_sim::world::IssueState::Closed,
        "the PR closed the issue"
    );
}

#[tokio::test]
async fn a_broken_gastown_yaml_is_named_on_the_issue_and_nothing_lands() {
    let (sim, town) = world().await;
    story::configure(
        &sim,
        "mara",
        REPO,
        "merge_strategy: pr\nauto_merge: sometimes\n",
    )
    .await;
    let n = worked_issue(&sim, &town).await;
    for _ in 0..2 {
        assert_eq!(town.app.refinery.step().await.unwrap(), 0);
        town.act().await;
    }
    assert!(
        sim.pull_requests(REPO).await.is_empty(),
        "no PR while the config is broken"
    );
    let said: Vec<_> = sim
        .comments(REPO, n)
        .await
        .into_iter()
        .filter(|c| c.body.contains("gastown:config-invalid"))
        .collect();
    assert_eq!(said.len(), 1, "said once: {said:#?}");
    assert!(
        said[0]
            .body
            .contains(".gastown.yaml@main:2: field 'auto_merge'"),
        "{}",
        said[0].body
    );

    // Fixed on the target branch: the refinery goes on.
    sim.commit_file(
        "mara",
        REPO,
        "main",
        ".gastown.yaml",
        "auto_merge: false\n",
        "Fix",
    )
    .await
    .unwrap();
    pull_request_opened(&town).await;
    assert_eq!(sim.pull_requests(REPO).await.len(), 1);
}

/// The same on GitLab: a merge request in a nested project, merged by a developer.
#[tokio::test]
async fn on_gitlab_the_refinery_opens_a_merge_request_and_its_merge_closes_the_beads() {
    const PROJECT: &str = "town/tools/hello";
    let (sim, town) = story::gitlab_town(PROJECT, None).await;
    story::gitlab_sling(&sim, PROJECT, "Add a greeting", PLAN).await;
    town.run_until(WAIT, "the task to reach review", |b| {
        b.iter()
            .any(|t| t.bead_type == BeadType::Task && t.status == BeadStatus::Review)
    })
    .await;

    pull_request_opened(&town).await;
    let task = the_task(&town).await;
    let mr = task.metadata["pull_request"]
        .as_u64()
        .expect("the MR's iid is recorded");
    sim.gl_merge("devi", PROJECT, mr, false).await.unwrap();
    let task = task_closed(&town).await;
    assert_eq!(task.close_reason, Some(CloseReason::Merged));
    let file = sim.read_file(PROJECT, "main", "hello.md").await.unwrap();
    assert_eq!(String::from_utf8(file.unwrap()).unwrap(), "hello\n");
    // The merged MR's source branch is deleted by the town.
    town.act().await;
    let branch = task.branch.as_deref().unwrap();
    assert_eq!(
        sim.branch_sha(PROJECT, branch).await.unwrap(),
        None,
        "{branch}"
    );
}

#[tokio::test]
async fn a_pull_request_closed_without_merging_rejects_the_work() {
    let (sim, town) = world().await;
    let n = worked_issue(&sim, &town).await;
    pull_request_opened(&town).await;
    let pr = sim.pull_requests(REPO).await[0].number;
    sim.close_issue("mara", REPO, pr).await.unwrap();
    let beads = town
        .run_until(WAIT, "the task to close", |b| {
            b.iter()
                .any(|t| t.bead_type == BeadType::Task && t.status == BeadStatus::Closed)
        })
        .await;
    for b in beads.iter().filter(|b| b.bead_type != BeadType::Step) {
        assert_eq!(b.close_reason, Some(CloseReason::Rejected), "{b:#?}");
    }
    assert_eq!(
        sim.issue(REPO, n).await.unwrap().state,
        forge_sim::world::IssueState::Open,
        "the issue stays open for another try"
    );
    town.act().await;
    let status = story::status_comment(&sim, REPO, n).await;
    assert!(
        status.contains("the pull request was closed by @mara"),
        "{status}"
    );
}

/// GitLab end to end: a developer's approval merges the MR once the pipeline the
/// project requires has passed; the MR closes the issue and the status comment ends.
/// (The refinery's own commit status counts as a pipeline on GitLab, as there, so CI's
/// pipeline is started after it.)
#[tokio::test]
async fn on_gitlab_an_approval_merges_the_mr_once_its_pipeline_passed() {
    const PROJECT: &str = "town/tools/hello";
    let (sim, town) = story::gitlab_town(PROJECT, Some("auto_merge: true\n")).await;
    sim.set_pipelines_must_succeed(PROJECT, true).unwrap();
    let iid = story::gitlab_sling(&sim, PROJECT, "Add a greeting", PLAN).await;
    pull_request_opened(&town).await;
    let task = the_task(&town).await;
    let mr = task.metadata["pull_request"].as_u64().unwrap();

    // CI starts on the branch; a developer approves while it runs.
    let branch = task.branch.clone().unwrap();
    let pipeline = sim.run_pipeline("devi", PROJECT, &branch).await.unwrap();
    sim.gl_approve("devi", PROJECT, mr).await.unwrap();
    town.run_until(WAIT, "the MR to wait for its pipeline", |b| {
        b.iter().any(|t| {
            t.metadata["waiting_for"]
                .as_str()
                .is_some_and(|w| w.contains("`pipeline`"))
        })
    })
    .await;
    assert!(
        sim.pull_requests(PROJECT).await.iter().all(|p| !p.merged),
        "not merged before the pipeline passed"
    );

    sim.finish_pipeline(PROJECT, pipeline, "success")
        .await
        .unwrap();
    let task = task_closed(&town).await;
    assert_eq!(task.close_reason, Some(CloseReason::Merged));
    town.act().await;
    let issue = sim.issue(PROJECT, iid).await.unwrap();
    assert_eq!(issue.state, forge_sim::world::IssueState::Closed);
    let status = status_comment(&sim, PROJECT, iid).await;
    assert!(status.contains("is **done**"), "{status}");
}
