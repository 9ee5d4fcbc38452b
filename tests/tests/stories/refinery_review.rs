//! People review the refinery's PR: changes requested send the work back to a polecat
//! on the same PR; an approval merges it once the branch's required checks are green,
//! and only if it was given on the commit the PR is at.

use std::time::Duration;

use bot::store::{BeadStatus, BeadType, CloseReason};
use gastown_tests::story::{self, in_review, status_comment};

const REPO: &str = "octo/hello";
const WAIT: Duration = Duration::from_secs(90);

const PLAN: &str = "Greet the world.\n\n```gastown-plan\nfiles:\n  - path: hello.md\n    content: \"hello\\n\"\ncommit: Add hello.md\nrework:\n  - files:\n      - path: hello.md\n        content: \"hello, world\\n\"\n    commit: Greet the whole world\n```\n";

#[tokio::test]
async fn changes_requested_rework_the_pr_and_an_approval_merges_it_once_checks_are_green() {
    let yaml = "auto_merge: true\nmerge_method: squash\n";
    let (sim, town) = story::github_town(REPO, Some(yaml), &[]).await;
    sim.protect_branch(REPO, "main", &["ci/test"])
        .await
        .unwrap();
    let n = story::sling(&sim, REPO, "Greet", PLAN).await;
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
    let status = status_comment(&sim, REPO, n).await;
    assert!(
        status.contains("| waiting for | required check `ci/test` (not reported yet) |"),
        "{status}"
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
    town.act().await;
    assert_eq!(
        sim.issue(REPO, n).await.unwrap().state,
        forge_sim::world::IssueState::Closed,
        "the merged PR closed the issue"
    );
    let status = status_comment(&sim, REPO, n).await;
    assert!(status.contains("is **done**"), "{status}");
}

/// The bot dies after the refinery opened the PR but before it recorded it, and again
/// before the merge: after each restart there is still exactly one PR, merged once.
#[tokio::test]
async fn a_bot_killed_between_pr_opened_and_merged_opens_one_pr_and_merges_it_once() {
    let (sim, town) = story::github_town(REPO, Some("auto_merge: true\n"), &[]).await;
    story::sling(&sim, REPO, "Greet", PLAN).await;
    let beads = town
        .run_until(WAIT, "the first PR", |b| in_review(b) == 1)
        .await;
    let mr = beads
        .iter()
        .find(|m| m.bead_type == BeadType::MergeRequest)
        .unwrap()
        .id
        .clone();

    // The crash window: the PR is on the forge, the database still says "in progress".
    let id = mr.clone();
    town.app
        .store
        .write(move |c| {
            c.execute(
                "UPDATE beads SET status = 'in_progress', forge_ref = NULL,
                        metadata = json_remove(metadata, '$.pull_request')
                 WHERE id = ?1",
                [&id],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let town = town.restart().await;
    story::hook_github(&sim, REPO, &town).await;
    town.run_until(WAIT, "the PR found again", |b| {
        b.iter()
            .any(|m| m.id == mr && m.status == BeadStatus::Review)
    })
    .await;
    assert_eq!(sim.pull_requests(REPO).await.len(), 1, "never a second PR");

    // Approved while the bot is down; it merges once when it is back.
    let pr = sim.pull_requests(REPO).await[0].number;
    let town = town.restart().await;
    sim.approve("mara", REPO, pr).await.unwrap();
    // The approval's webhook went to the old address and is never sent again: the
    // restarted refinery looks at every PR in review once anyway.
    story::hook_github(&sim, REPO, &town).await;
    town.run_until(WAIT, "the merge", |b| {
        b.iter()
            .any(|t| t.bead_type == BeadType::Task && t.close_reason == Some(CloseReason::Merged))
    })
    .await;
    for _ in 0..3 {
        town.refinery().await;
    }
    let prs = sim.pull_requests(REPO).await;
    assert_eq!(prs.len(), 1);
    assert!(prs[0].merged);
    let merges = town
        .beads()
        .await
        .into_iter()
        .filter(|b| {
            b.bead_type == BeadType::MergeRequest && b.close_reason == Some(CloseReason::Merged)
        })
        .count();
    assert_eq!(merges, 1, "merged once");
}

/// main moves after the gates ran: on approval the refinery rebases and tests again
/// before it merges, so what lands is what was tested.
#[tokio::test]
async fn an_approved_pr_whose_target_moved_is_rebased_and_tested_again_before_it_merges() {
    let yaml = "auto_merge: true\nquality_gates:\n  - name: both\n    run: test -f hello.md && test -f NEWS.md\n";
    let (sim, town) = story::github_town(REPO, Some(yaml), &[]).await;
    sim.commit_file("mara", REPO, "main", "NEWS.md", "news\n", "News")
        .await
        .unwrap();
    story::sling(&sim, REPO, "Greet", PLAN).await;
    town.run_until(WAIT, "the PR", |b| in_review(b) == 1).await;
    let pr = sim.pull_requests(REPO).await[0].clone();

    sim.commit_file("mara", REPO, "main", "LATER.md", "later\n", "Meanwhile")
        .await
        .unwrap();
    sim.approve("mara", REPO, pr.number).await.unwrap();
    // Rebased and tested again, the PR has a new head: mara's approval was of the old
    // one, so it waits for hers (or anyone's) of the new.
    town.run_until(WAIT, "a new approval to be asked for", |b| {
        b.iter().any(|t| {
            t.metadata["waiting_for"]
                .as_str()
                .is_some_and(|w| w.starts_with("a new approval"))
        })
    })
    .await;
    assert!(!sim.pull_requests(REPO).await[0].merged);
    sim.approve("mara", REPO, pr.number).await.unwrap();
    let beads = town
        .run_until(WAIT, "the merge", |b| {
            b.iter().any(|t| {
                t.bead_type == BeadType::Task && t.close_reason == Some(CloseReason::Merged)
            })
        })
        .await;
    let mr = beads
        .iter()
        .find(|m| m.bead_type == BeadType::MergeRequest)
        .unwrap();
    let events = town
        .app
        .store
        .read({
            let id = mr.id.clone();
            move |c| bot::store::bead_events(c, &id)
        })
        .await
        .unwrap();
    let runs = events.iter().filter(|e| e.kind == "refined").count();
    assert_eq!(runs, 2, "tested again after main moved: {events:#?}");
    let merged = sim.pull_requests(REPO).await;
    assert!(merged[0].merged);
    assert_ne!(
        merged[0].head_sha, pr.head_sha,
        "the PR carries the new rebase"
    );
    for f in ["hello.md", "NEWS.md", "LATER.md"] {
        assert!(
            sim.read_file(REPO, "main", f).await.unwrap().is_some(),
            "{f}"
        );
    }
}

/// Whether the task now waits for a new approval, as its status comment will say.
fn waits_for_a_new_approval(beads: &[bot::store::Bead]) -> bool {
    beads.iter().any(|t| {
        t.metadata["waiting_for"]
            .as_str()
            .is_some_and(|w| w.starts_with("a new approval"))
    })
}

/// mara approves, and comments on a line in the same review round: the work goes back.
/// The reworked branch is another commit, which she has not approved: it waits, the
/// issue says so, and it merges once she approves again.
#[tokio::test]
async fn an_approval_given_before_a_rework_does_not_merge_the_reworked_head() {
    let (sim, town) = story::github_town(REPO, Some("auto_merge: true\n"), &[]).await;
    let n = story::sling(&sim, REPO, "Greet", PLAN).await;
    town.run_until(WAIT, "the first PR", |b| in_review(b) == 1)
        .await;
    let first = sim.pull_requests(REPO).await[0].clone();

    sim.approve("mara", REPO, first.number).await.unwrap();
    sim.review_comment(
        "mara",
        REPO,
        first.number,
        "hello.md",
        1,
        "Please greet the whole world.",
    )
    .await
    .unwrap();
    town.run_until(
        WAIT,
        "the reworked head to wait for a new approval",
        waits_for_a_new_approval,
    )
    .await;
    for _ in 0..3 {
        town.refinery().await;
        town.settle().await;
    }
    let pr = sim.pull_requests(REPO).await[0].clone();
    assert_ne!(pr.head_sha, first.head_sha, "the rework moved the head");
    assert!(
        !pr.merged,
        "an approval of the old head does not merge the new one"
    );
    let status = status_comment(&sim, REPO, n).await;
    assert!(
        status.contains(&format!(
            "| waiting for | a new approval: mara approved an earlier commit, and the branch is now at `{}` |",
            &pr.head_sha[..12]
        )),
        "{status}"
    );

    sim.approve("mara", REPO, pr.number).await.unwrap();
    town.run_until(WAIT, "the merge", |b| {
        b.iter()
            .any(|t| t.bead_type == BeadType::Task && t.close_reason == Some(CloseReason::Merged))
    })
    .await;
    let main = sim
        .read_file(REPO, "main", "hello.md")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(String::from_utf8(main).unwrap(), "hello, world\n");
}

/// The same on GitLab, whose approvals say who but not on which commit: the bot keeps
/// the MR's head from the approval's webhook. After the rework, devi withdraws and gives
/// her approval again (GitLab counts one per person), and only then it merges.
#[tokio::test]
async fn on_gitlab_an_approval_of_an_earlier_head_waits_for_a_new_one() {
    const PROJECT: &str = "town/tools/hello";
    let (sim, town) = story::gitlab_town(PROJECT, Some("auto_merge: true\n")).await;
    let iid = story::gitlab_sling(&sim, PROJECT, "Greet", PLAN).await;
    let beads = town
        .run_until(WAIT, "the first MR", |b| in_review(b) == 1)
        .await;
    let mr = beads
        .iter()
        .find_map(|t| t.metadata["pull_request"].as_u64())
        .unwrap();

    sim.gl_approve("devi", PROJECT, mr).await.unwrap();
    sim.gl_diff_note(
        "devi",
        PROJECT,
        mr,
        "hello.md",
        1,
        "Please greet the whole world.",
    )
    .await
    .unwrap();
    town.run_until(
        WAIT,
        "the reworked head to wait for a new approval",
        waits_for_a_new_approval,
    )
    .await;
    for _ in 0..3 {
        town.refinery().await;
        town.settle().await;
    }
    assert!(sim.pull_requests(PROJECT).await.iter().all(|p| !p.merged));
    let status = status_comment(&sim, PROJECT, iid).await;
    assert!(
        status.contains("| waiting for | a new approval: devi approved an earlier commit"),
        "{status}"
    );

    sim.gl_unapprove("devi", PROJECT, mr).await.unwrap();
    sim.gl_approve("devi", PROJECT, mr).await.unwrap();
    town.run_until(WAIT, "the merge", |b| {
        b.iter()
            .any(|t| t.bead_type == BeadType::Task && t.close_reason == Some(CloseReason::Merged))
    })
    .await;
    let main = sim
        .read_file(PROJECT, "main", "hello.md")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(String::from_utf8(main).unwrap(), "hello, world\n");
}
