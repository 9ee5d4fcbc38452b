//! The refinery's run happens inside the town, among the agents whose work it checks,
//! so what it reports is checked before anything is built on it: its commits must be
//! where the bot's own mirror has them, and what the AI review approves is the diff the
//! bot computed itself, whole, or nothing.

use std::time::Duration;

use bot::store::{self, Bead, BeadStatus, BeadType, CloseReason};
use forge_sim::SimHandle;
use gastown_tests::TestTown;
use gastown_tests::model::{Behaviour, FakeModel};
use gastown_tests::story::{self, in_review};
use serde_json::{Value, json};

const REPO: &str = "octo/hello";
const WAIT: Duration = Duration::from_secs(90);

const PLAN: &str = "Greet the world.\n\n```gastown-plan\nfiles:\n  - path: hello.md\n    content: \"hello\\n\"\ncommit: Add hello.md\n```\n";

/// Turn the town without its refinery until `done` holds: the polecat works, and the
/// merge request waits for a run that the story starts itself.
async fn until_without_refinery(
    town: &TestTown,
    what: &str,
    done: impl Fn(&[Bead]) -> bool,
) -> Vec<Bead> {
    let start = std::time::Instant::now();
    loop {
        town.drain().await;
        town.polecats().await;
        town.act().await;
        let beads = town.beads().await;
        if done(&beads) {
            return beads;
        }
        assert!(
            start.elapsed() < WAIT,
            "timed out waiting for {what}: {beads:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The polecat's work is done and its merge request waits for the refinery; returns
/// the merge request and the task.
async fn work_waiting_for_the_refinery(town: &TestTown) -> (Bead, Bead) {
    let beads = until_without_refinery(town, "the merge request", |b| {
        b.iter()
            .any(|m| m.bead_type == BeadType::MergeRequest && m.status == BeadStatus::Open)
    })
    .await;
    let mr = beads
        .iter()
        .find(|m| m.bead_type == BeadType::MergeRequest)
        .unwrap()
        .clone();
    let task = beads
        .iter()
        .find(|t| Some(&t.id) == mr.parent_id.as_ref())
        .unwrap()
        .clone();
    (mr, task)
}

/// The merge request is hooked to the rig's refinery as a run would be, with a session
/// whose token the story holds: whatever the run inside the town could post, the story
/// can post. The run then reports `head_sha` and `base_sha` and ends.
async fn a_run_reports(town: &TestTown, mr: &Bead, head_sha: &str, base_sha: &str) -> (u16, Value) {
    let (id, rig, town_id) = (
        mr.id.clone(),
        mr.rig_id.clone().unwrap(),
        mr.town_id.clone().unwrap(),
    );
    let branch = mr.metadata["branch"].as_str().unwrap().to_string();
    let now = bot::clock::Clock::now_ms(&*town.clock);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let session = format!("refinery-main-{id}-{nanos}");
    let token = format!("gta_token-of-a-subverted-refinery-run-{nanos}");
    let digest = bot::ids::token_digest(&token);
    let s = session.clone();
    town.app
        .store
        .write(move |c| {
            bot::lifecycle::hook(
                c,
                &store::Hooking {
                    role: store::Role::Refinery,
                    bead_id: &id,
                    rig_id: &rig,
                    town_id: &town_id,
                    name: "main",
                    branch: &branch,
                    session_id: &s,
                    token_sha256: &digest,
                },
                now,
            )
            .map(|_| ())
        })
        .await
        .unwrap();
    let res = reqwest::Client::new()
        .post(town.url("/api/agent/v1/refinery/report"))
        .bearer_auth(&token)
        .json(&json!({ "head_sha": head_sha, "base_sha": base_sha, "gates": [] }))
        .send()
        .await
        .unwrap();
    let answer = (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    );
    town.app
        .store
        .write(move |c| {
            store::end_session(c, &session, store::SessionState::Exited, Some(0), now).map(|_| ())
        })
        .await
        .unwrap();
    answer
}

async fn events(town: &TestTown, id: &str) -> Vec<store::BeadEvent> {
    let id = id.to_string();
    town.app
        .store
        .read(move |c| store::bead_events(c, &id))
        .await
        .unwrap()
}

/// A commit nobody reviewed, in the bot's mirror: a branch an agent pushed through the
/// git gateway (a polecat may push `gt/<its bead>-*`) that deletes nothing but adds
/// `EVIL.md`. It is on the forge before the polecat starts, so the polecat's clone
/// brings it into the mirror, as the agent's own push would have. A subverted refinery
/// run reports it as the tested head: with `merge_strategy: direct`, today's bot
/// pushes it to main.
async fn an_unreviewed_commit(sim: &SimHandle) -> String {
    sim.commit_file(
        "mara",
        REPO,
        "gt/gt-0ld1-evil",
        "EVIL.md",
        "pwned\n",
        "Nothing to see",
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_forged_report_never_lands_and_the_honest_run_after_it_does() {
    let (sim, town) = story::github_town(REPO, Some("merge_strategy: direct\n"), &[]).await;
    let evil = an_unreviewed_commit(&sim).await;
    let n = story::sling(&sim, REPO, "Greet", PLAN).await;
    let (mr, task) = work_waiting_for_the_refinery(&town).await;
    let main = sim.branch_sha(REPO, "main").await.unwrap().unwrap();

    // The forged report is taken (the token is a live refinery session's) ...
    let (status, body) = a_run_reports(&town, &mr, &evil, &main).await;
    assert_eq!(status, 200, "{body}");
    town.refinery().await;
    town.act().await;

    // ... but nothing is built on it: main did not move, no status, no PR.
    assert_eq!(sim.branch_sha(REPO, "main").await.unwrap().unwrap(), main);
    assert!(
        sim.read_file(REPO, "main", "EVIL.md")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        sim.statuses(REPO, &evil).await.is_empty(),
        "no status on it"
    );
    assert!(sim.pull_requests(REPO).await.is_empty(), "no PR");
    // The merge request says why, with both commits, and runs again.
    let noted = events(&town, &mr.id).await;
    let untrusted = noted
        .iter()
        .find(|e| e.kind == "report_untrusted")
        .expect("the untrusted report is noted");
    assert_eq!(untrusted.payload["reported"]["head_sha"], evil.as_str());
    let head = sim
        .branch_sha(REPO, task.branch.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        untrusted.payload["why"].as_str().unwrap().contains(&head),
        "{untrusted:#?}"
    );
    let mr_now = town
        .beads()
        .await
        .into_iter()
        .find(|b| b.id == mr.id)
        .unwrap();
    assert_eq!(mr_now.status, BeadStatus::Open, "to be run again");

    // The refinery's own run, honest this time, lands the polecat's work.
    town.run_until(WAIT, "the work to land", |b| {
        b.iter()
            .any(|t| t.id == task.id && t.close_reason == Some(CloseReason::Merged))
    })
    .await;
    assert!(
        sim.read_file(REPO, "main", "hello.md")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        sim.read_file(REPO, "main", "EVIL.md")
            .await
            .unwrap()
            .is_none()
    );
    town.act().await;
    assert_eq!(
        sim.issue(REPO, n).await.unwrap().state,
        forge_sim::world::IssueState::Closed
    );
}

/// A run that keeps forging is not run forever: the second untrusted report gives the
/// work up to people, and nothing ever landed or went green.
#[tokio::test]
async fn a_refinery_that_forges_twice_is_escalated_and_nothing_goes_green() {
    let (sim, town) = story::github_town(REPO, None, &[]).await;
    let evil = an_unreviewed_commit(&sim).await;
    let n = story::sling(&sim, REPO, "Greet", PLAN).await;
    let (mr, task) = work_waiting_for_the_refinery(&town).await;
    let main = sim.branch_sha(REPO, "main").await.unwrap().unwrap();
    let head = sim
        .branch_sha(REPO, task.branch.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();

    // A head that is not the branch's, then the right head on a base main never had.
    let (status, _) = a_run_reports(&town, &mr, &evil, &main).await;
    assert_eq!(status, 200);
    town.refinery().await;
    let (status, _) = a_run_reports(&town, &mr, &head, &evil).await;
    assert_eq!(status, 200);
    town.refinery().await;
    town.act().await;

    let beads = town.beads().await;
    let (mr, task) = (
        beads.iter().find(|b| b.id == mr.id).unwrap(),
        beads.iter().find(|b| b.id == task.id).unwrap(),
    );
    assert_eq!(mr.close_reason, Some(CloseReason::Rejected), "{mr:#?}");
    assert_eq!(task.status, BeadStatus::Failed, "{task:#?}");
    assert!(
        !beads.iter().any(|b| b.metadata.get("rework_of").is_some()),
        "not the polecat's fault: no rework"
    );
    assert!(sim.pull_requests(REPO).await.is_empty(), "no PR");
    for sha in [&evil, &head] {
        assert!(
            sim.statuses(REPO, sha).await.is_empty(),
            "no status on {sha}"
        );
    }
    assert_eq!(sim.branch_sha(REPO, "main").await.unwrap().unwrap(), main);
    let said: Vec<_> = sim
        .comments(REPO, n)
        .await
        .into_iter()
        .filter(|c| c.body.contains("gastown:escalation"))
        .collect();
    assert_eq!(said.len(), 1, "{said:#?}");
    assert!(
        said[0].body.contains("@mara") && said[0].body.contains(&format!("{evil:?}")),
        "{}",
        said[0].body
    );
}

/// Anything but a commit id is refused at the door: it would reach git's argv.
#[tokio::test]
async fn a_report_whose_commits_are_not_commit_ids_is_refused() {
    let (sim, town) = story::github_town(REPO, None, &[]).await;
    story::sling(&sim, REPO, "Greet", PLAN).await;
    let (mr, _) = work_waiting_for_the_refinery(&town).await;
    let (status, body) = a_run_reports(&town, &mr, "--output=/tmp/x", "HEAD~1").await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("head_sha must be a full commit id"),
        "{body}"
    );
}

/// A diff over `review.max_diff_bytes` is not shown to the model in part and never
/// approved on its say: under `direct`, where nobody else would look, the work goes to
/// a PR that a person must approve, and the issue says so.
#[tokio::test]
async fn a_diff_too_big_for_the_ai_review_is_never_approved_by_it() {
    let model = FakeModel::start(Behaviour::Say(FakeModel::verdict("approve", "LGTM.", &[]))).await;
    let review = [
        ("GT_LLM_API_URL", model.url.as_str()),
        ("GT_LLM_MODEL", "test-model"),
        ("GT_REVIEW_MAX_DIFF_BYTES", "1000"),
    ];
    // A change of some 2 kB, over the limit of 1 kB.
    let plan = format!(
        "Greet the world, at length.\n\n```gastown-plan\nfiles:\n  - path: hello.md\n    content: \"{}\"\ncommit: Add hello.md\n```\n",
        "hello, world\\n".repeat(150)
    );
    let yaml = "merge_strategy: direct\n";
    let (sim, town) = story::github_town(REPO, Some(yaml), &review).await;
    let main = sim.branch_sha(REPO, "main").await.unwrap().unwrap();
    let n = story::sling(&sim, REPO, "Greet", &plan).await;

    town.run_until(WAIT, "the PR a person must review", |b| in_review(b) == 1)
        .await;
    assert!(model.requests().is_empty(), "the model saw none of it");
    assert_eq!(
        sim.branch_sha(REPO, "main").await.unwrap().unwrap(),
        main,
        "not pushed to main on anyone's say"
    );
    let prs = sim.pull_requests(REPO).await;
    assert_eq!(prs.len(), 1);
    let body = sim.issue(REPO, prs[0].number).await.unwrap().body.unwrap();
    assert!(
        body.contains("**A person must review this change**"),
        "{body}"
    );
    assert!(!body.contains("Approved by the review model"), "{body}");
    town.act().await;
    let said: Vec<_> = sim
        .comments(REPO, n)
        .await
        .into_iter()
        .filter(|c| c.body.contains("gastown:review-too-big"))
        .collect();
    assert_eq!(said.len(), 1, "said once: {said:#?}");
    assert!(
        said[0].body.contains("a person needs to review it"),
        "{}",
        said[0].body
    );

    // A person approves: that, not the model, lets it land (auto_merge is off, so a
    // person merges it too).
    sim.approve("mara", REPO, prs[0].number).await.unwrap();
    town.run_until(WAIT, "the PR to wait for a person to merge", |b| {
        b.iter().any(|t| {
            t.metadata["waiting_for"]
                .as_str()
                .is_some_and(|w| w.contains("auto_merge is off"))
        })
    })
    .await;
    assert!(model.requests().is_empty());
}
