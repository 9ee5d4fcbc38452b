//! The refinery rebases a finished branch, runs the repository's quality gates in the
//! town, and sends failing work back to a polecat until it passes or people are asked.

use std::time::Duration;

use bot::store::{Bead, BeadStatus, BeadType, CloseReason};
use forge_sim::SimHandle;
use gastown_tests::TestTown;
use gastown_tests::story::{self, in_review};

const REPO: &str = "octo/hello";
const WAIT: Duration = Duration::from_secs(90);

async fn world(gastown_yaml: &str) -> (SimHandle, TestTown) {
    story::github_town(REPO, Some(gastown_yaml), &[]).await
}

const GREETING_GATE: &str = "quality_gates:\n  - name: greeting\n    run: \"grep -qx 'hello, world' hello.md || { echo 'hello.md must say: hello, world'; exit 3; }\"\n    timeout_secs: 60\n";

/// A plan whose first attempt writes `first` and whose reworks write `fixed`.
fn plan(file: &str, first: &str, fixed: &str) -> String {
    format!(
        "Write {file}.\n\n```gastown-plan\nfiles:\n  - path: {file}\n    content: \"{first}\\n\"\ncommit: Write {file}\nrework:\n  - files:\n      - path: {file}\n        content: \"{fixed}\\n\"\n    commit: Fix {file}\n```\n"
    )
}

async fn sling(sim: &SimHandle, title: &str, body: &str) -> u64 {
    story::sling(sim, REPO, title, body).await
}

fn tasks(beads: &[Bead]) -> Vec<&Bead> {
    beads
        .iter()
        .filter(|b| b.bead_type == BeadType::Task && b.parent_id.is_none())
        .collect()
}

#[tokio::test]
async fn a_failing_gate_sends_the_work_back_and_the_rework_lands_in_a_pr() {
    let (sim, town) = world(GREETING_GATE).await;
    let n = sling(&sim, "Greet", &plan("hello.md", "hello", "hello, world")).await;

    let beads = town
        .run_until(WAIT, "a merge request in review", |b| in_review(b) == 1)
        .await;

    // The first merge request failed its gate and went back; the rework is done.
    let rejected: Vec<_> = beads
        .iter()
        .filter(|b| b.close_reason == Some(CloseReason::Rejected))
        .collect();
    assert_eq!(rejected.len(), 1, "{beads:#?}");
    let rework = beads
        .iter()
        .find(|b| b.metadata.get("rework_of").is_some())
        .expect("a rework bead");
    assert_eq!(rework.close_reason, Some(CloseReason::Done));
    let details = rework.metadata["details"].as_str().unwrap();
    assert!(
        details.contains("hello.md must say: hello, world") && details.contains("exit 3"),
        "the rework sees the gate's output: {details}"
    );

    // One PR, with the gate passed on the reworked branch.
    let prs = sim.pull_requests(REPO).await;
    assert_eq!(prs.len(), 1, "{prs:#?}");
    let body = sim.issue(REPO, prs[0].number).await.unwrap().body.unwrap();
    assert!(body.contains("| greeting | passed |"), "{body}");
    let file = sim
        .read_file(REPO, &prs[0].head_ref, "hello.md")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(String::from_utf8(file).unwrap(), "hello, world\n");
    let head = sim
        .branch_sha(REPO, &prs[0].head_ref)
        .await
        .unwrap()
        .unwrap();
    let statuses = sim.statuses(REPO, &head).await;
    assert!(
        statuses
            .iter()
            .any(|s| s.context == "gastown/refinery" && s.state == "success"),
        "{statuses:#?}"
    );

    // The issue heard why the work went back.
    town.act().await;
    let said = sim.comments(REPO, n).await;
    assert!(
        said.iter().any(|c| c
            .body
            .contains("rework 1 of 3): quality gate `greeting` failed")),
        "{said:#?}"
    );
}

#[tokio::test]
async fn out_of_rework_attempts_the_refinery_asks_people() {
    let yaml = format!("{GREETING_GATE}max_rework_attempts: 1\n");
    let (sim, town) = world(&yaml).await;
    let n = sling(&sim, "Greet", &plan("hello.md", "hello", "still wrong")).await;

    let beads = town
        .run_until(WAIT, "the task to fail", |b| {
            tasks(b).iter().any(|t| t.status == BeadStatus::Failed)
        })
        .await;
    let reworks = beads
        .iter()
        .filter(|b| b.metadata.get("rework_of").is_some())
        .count();
    assert_eq!(reworks, 1, "one rework, then an escalation: {beads:#?}");
    assert!(sim.pull_requests(REPO).await.is_empty());
    town.act().await;
    let escalation: Vec<_> = sim
        .comments(REPO, n)
        .await
        .into_iter()
        .filter(|c| c.body.contains("gastown:escalation"))
        .collect();
    assert_eq!(escalation.len(), 1, "{escalation:#?}");
    assert!(
        escalation[0].body.contains("@mara"),
        "{}",
        escalation[0].body
    );
}

#[tokio::test]
async fn direct_lands_on_main_without_a_pr_and_both_of_two_polecats_on_one_file_land() {
    let (sim, town) = world("merge_strategy: direct\nquality_gates:\n  - name: lines\n    run: test $(wc -l < shared.md) -eq 9\n").await;
    let lines = |first: &str, last: &str| format!("{first}\\n2\\n3\\n4\\n5\\n6\\n7\\n8\\n{last}");
    sim.commit_file(
        "mara",
        REPO,
        "main",
        "shared.md",
        "1\n2\n3\n4\n5\n6\n7\n8\n9\n",
        "Add shared.md",
    )
    .await
    .unwrap();
    let a = sling(&sim, "Top", &plan("shared.md", &lines("top", "9"), "-")).await;
    let b = sling(
        &sim,
        "Bottom",
        &plan("shared.md", &lines("1", "bottom"), "-"),
    )
    .await;

    let beads = town
        .run_until(WAIT, "both tasks to land", |b| {
            let t = tasks(b);
            t.len() == 2 && t.iter().all(|t| t.status == BeadStatus::Closed)
        })
        .await;
    for t in tasks(&beads) {
        assert_eq!(t.close_reason, Some(CloseReason::Merged), "{t:#?}");
    }
    assert!(
        sim.pull_requests(REPO).await.is_empty(),
        "direct opens no PR"
    );
    let main = sim
        .read_file(REPO, "main", "shared.md")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        String::from_utf8(main).unwrap(),
        "top\n2\n3\n4\n5\n6\n7\n8\nbottom\n",
        "the second branch was rebased onto the first"
    );
    town.act().await;
    // Their work merged, the town's branches are deleted from the forge.
    for t in tasks(&beads) {
        let branch = t.branch.as_deref().unwrap();
        assert_eq!(
            sim.branch_sha(REPO, branch).await.unwrap(),
            None,
            "{branch}"
        );
    }
    for n in [a, b] {
        let issue = sim.issue(REPO, n).await.unwrap();
        assert_eq!(issue.state, forge_sim::world::IssueState::Closed);
        assert!(
            sim.comments(REPO, n)
                .await
                .iter()
                .any(|c| c.body.contains("landed this work on `main`")),
            "issue #{n}"
        );
    }
}

/// A town with two rigs: each merge request is rebased, gated and landed against its
/// own repository, with that repository's gates (Cloud Gastown shipped this as #657).
#[tokio::test]
async fn in_a_town_of_two_rigs_each_bead_is_refined_against_its_own_repository() {
    const OTHER: &str = "octo/other";
    let (sim, town) =
        world("quality_gates:\n  - name: hello-gate\n    run: test -f hello.md\n").await;
    gastown_tests::forge::add_github_repo(&sim, OTHER).await;
    let other_gate =
        "quality_gates:\n  - name: other-gate\n    run: test -f other.md && ! test -f hello.md\n";
    story::configure(&sim, "mara", OTHER, other_gate).await;
    story::hook_github(&sim, OTHER, &town).await;
    sling(&sim, "Hello", &plan("hello.md", "hello", "-")).await;
    story::sling(&sim, OTHER, "Other", &plan("other.md", "other", "-")).await;

    let beads = town
        .run_until(WAIT, "both PRs", |b| in_review(b) == 2)
        .await;
    assert!(
        !beads
            .iter()
            .any(|b| b.close_reason == Some(CloseReason::Rejected)),
        "no gate failed on the wrong repository: {beads:#?}"
    );
    for (repo, file, gate) in [
        (REPO, "hello.md", "hello-gate"),
        (OTHER, "other.md", "other-gate"),
    ] {
        let prs = sim.pull_requests(repo).await;
        assert_eq!(prs.len(), 1, "{repo}: {prs:#?}");
        let body = sim.issue(repo, prs[0].number).await.unwrap().body.unwrap();
        assert!(
            body.contains(&format!("| {gate} | passed |")),
            "{repo}: {body}"
        );
        assert!(
            sim.read_file(repo, &prs[0].head_ref, file)
                .await
                .unwrap()
                .is_some(),
            "{repo} has {file} on its PR branch"
        );
    }
}

/// A refinery run that cannot work at all (here: its target branch does not exist) is
/// retried until `patrol.max_attempts`, then people are asked with the run's output; it is not the polecat's
/// work to redo.
#[tokio::test]
async fn a_refinery_run_that_keeps_failing_asks_people_with_its_output() {
    let (sim, town) = world("target_branch: release\n").await;
    let n = sling(&sim, "Greet", &plan("hello.md", "hello", "-")).await;
    let beads = town
        .run_until(WAIT, "the task to fail", |b| {
            tasks(b).iter().any(|t| t.status == BeadStatus::Failed)
        })
        .await;
    assert!(
        !beads.iter().any(|b| b.metadata.get("rework_of").is_some()),
        "no rework for the refinery's own failure: {beads:#?}"
    );
    town.act().await;
    let escalation = sim
        .comments(REPO, n)
        .await
        .into_iter()
        .find(|c| c.body.contains("gastown:escalation"))
        .expect("an escalation");
    assert!(
        escalation
            .body
            .contains("the refinery's run failed 5 times")
            && escalation.body.contains("release")
            && escalation.body.contains("@mara"),
        "{}",
        escalation.body
    );
}

/// A repository that chose `direct` and lets agents change its workflows still gets a
/// workflow change as a pull request: main stays as it was, and nothing merges until a
/// maintainer approves, `auto_merge` or not.
#[tokio::test]
async fn a_workflow_change_lands_through_a_pr_a_person_approves_even_under_direct() {
    let (sim, town) = world(
        "merge_strategy: direct\nauto_merge: true\nallow_protected_changes:\n  - .github/workflows\n",
    )
    .await;
    let workflow = ".github/workflows/ci.yml";
    sling(&sim, "Speed up CI", &plan(workflow, "on: push", "-")).await;

    town.run_until(WAIT, "a PR in review", |b| in_review(b) == 1)
        .await;
    let prs = sim.pull_requests(REPO).await;
    assert_eq!(prs.len(), 1, "a PR, not a direct landing: {prs:#?}");
    let body = sim.issue(REPO, prs[0].number).await.unwrap().body.unwrap();
    assert!(
        body.contains("### Protected files") && body.contains(&format!("- `{workflow}`")),
        "{body}"
    );
    assert!(
        body.contains("`merge_strategy: direct`, which never applies"),
        "{body}"
    );
    assert_eq!(
        sim.read_file(REPO, "main", workflow).await.unwrap(),
        None,
        "main is untouched"
    );

    // Green gates and auto_merge are not enough: it waits for a person.
    for _ in 0..3 {
        town.refinery().await;
    }
    assert!(!sim.pull_requests(REPO).await[0].merged);
    sim.approve("mara", REPO, prs[0].number).await.unwrap();
    let beads = town
        .run_until(WAIT, "the merge", |b| {
            tasks(b)
                .iter()
                .any(|t| t.close_reason == Some(CloseReason::Merged))
        })
        .await;
    assert_eq!(tasks(&beads).len(), 1);
    assert!(sim.pull_requests(REPO).await[0].merged);
    assert!(
        sim.read_file(REPO, "main", workflow)
            .await
            .unwrap()
            .is_some()
    );
}
