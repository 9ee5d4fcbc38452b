//! The patrol keeps the town healthy with nobody watching: an agent that goes silent
//! is stopped and its bead retried, and work whose issue is closed stops at once.
//! Agents are real processes; the town's clock is the test's, so the patrol's
//! thresholds pass when the story says so, not after a sleep.

use std::time::Duration;

use bot::store::{BeadStatus, BeadType, CloseReason};
use forge_sim::SimHandle;
use gastown_tests::TestTown;

const REPO: &str = "octo/hello";
const WAIT: Duration = Duration::from_secs(60);

/// A plan whose polecat primes, then works (sleeps) far longer than any test waits,
/// saying nothing meanwhile.
fn slow_plan() -> String {
    "Slow work.\n\n```gastown-plan\nfiles:\n  - path: docs/slow.md\n    content: |\n      slow\ncommands:\n  - sleep 300\ncommit: Slow work\n```\n".into()
}

async fn task(town: &TestTown) -> bot::store::Bead {
    town.tasks().await.into_iter().next().expect("a task")
}

async fn working(town: &TestTown) {
    town.run_until(WAIT, "the polecat to be at work", |b| {
        b.iter()
            .any(|t| t.bead_type == BeadType::Task && t.status == BeadStatus::InProgress)
    })
    .await;
}

/// The task once its work is in review.
async fn in_review(town: &TestTown) -> bot::store::Bead {
    town.run_until(WAIT, "the work to reach review", |b| {
        b.iter()
            .any(|t| t.bead_type == BeadType::Task && t.status == BeadStatus::Review)
    })
    .await;
    task(town).await
}

/// The attempts of `bead` that failed, as its history keeps them.
async fn failed_attempts(town: &TestTown, bead: &str) -> Vec<bot::store::BeadEvent> {
    town.events(bead)
        .await
        .into_iter()
        .filter(|e| e.kind == "attempt_failed")
        .collect()
}

/// The agents the town still runs.
async fn running(town: &TestTown) -> usize {
    let town_id = runner::TownId(town.app.config.town.clone());
    let sessions = town.app.sessions.as_ref().expect("a runner");
    sessions
        .runner()
        .agents(&town_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.status == runner::AgentStatus::Running)
        .count()
}

async fn status(sim: &SimHandle, n: u64) -> String {
    gastown_tests::story::status_comment(sim, REPO, n).await
}

#[tokio::test]
async fn an_agent_that_stops_sending_heartbeats_is_stopped_and_its_bead_retried() {
    let (sim, town) =
        gastown_tests::story::github_town(REPO, None, &[("GT_PATROL_BACKOFF_SECS", "[60]")]).await;
    let n = gastown_tests::story::sling(&sim, REPO, "Slow", &slow_plan()).await;
    working(&town).await;
    assert_eq!(town.patrol().await, 0, "a fresh agent is left alone");
    assert_eq!(running(&town).await, 1);

    // 90 seconds without a heartbeat (the witness's default): dead.
    town.clock.advance(90_000);
    town.patrol().await;
    let t = task(&town).await;
    assert_eq!((t.status, t.attempts), (BeadStatus::Open, 1), "{t:#?}");
    assert_eq!(running(&town).await, 0, "its process was stopped");
    let failed = failed_attempts(&town, &t.id).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].payload["reason"],
        "the agent sent no heartbeat for 90 seconds and was stopped"
    );
    town.act().await;
    let body = status(&sim, n).await;
    assert!(
        body.contains("attempt 1 of 5 did not finish (the agent sent no heartbeat for 90 seconds"),
        "{body}"
    );
    // Its backoff over, a polecat starts on it again.
    assert_eq!(town.polecats().await, 0);
    town.clock.advance(60_000);
    working(&town).await;
    assert_eq!(task(&town).await.attempts, 2);
}

#[tokio::test]
async fn closing_the_issue_stops_its_polecat_and_slinging_it_again_reopens_the_bead() {
    let (sim, town) = gastown_tests::story::github_town(REPO, None, &[]).await;
    let n = gastown_tests::story::sling(&sim, REPO, "Slow", &slow_plan()).await;
    working(&town).await;

    sim.close_issue("mara", REPO, n).await.unwrap();
    gastown_tests::story::settled(&sim, &town).await;
    let t = task(&town).await;
    assert_eq!(
        (t.status, t.close_reason),
        (BeadStatus::Closed, Some(CloseReason::Wontfix))
    );
    assert!(
        status(&sim, n)
            .await
            .contains("the issue was closed by @mara: the polecat was stopped")
    );
    // Its session ended with the delivery; the patrol reaps the process.
    town.patrol().await;
    assert_eq!(running(&town).await, 0);

    // Reopened with its label on: the same bead, its attempts counted afresh.
    sim.reopen_issue("mara", REPO, n).await.unwrap();
    gastown_tests::story::settled(&sim, &town).await;
    let again = task(&town).await;
    assert_eq!(again.id, t.id);
    assert_eq!((again.status, again.attempts), (BeadStatus::Open, 0));
    assert_eq!(town.tasks().await.len(), 1, "no second bead");
}

/// A person pauses a rig from the CLI: queued work waits (and its issue says why),
/// `gt status` shows the pause, and resuming lets it start.
#[tokio::test]
async fn a_person_pauses_a_rig_and_resumes_it_from_the_cli() {
    use gastown_tests::process::gt;
    let (sim, town) = gastown_tests::story::github_town(REPO, None, &[]).await;
    let n = gastown_tests::story::sling(&sim, REPO, "Slow", &slow_plan()).await;
    // The issue opened and labelled: two deliveries, then worked.
    sim.wait_for_deliveries(2, WAIT).await.unwrap();
    town.settle().await;
    let db = town.database();
    let env = [("GT_DATABASE", db.as_str())];
    let rig = task(&town).await.rig_id.expect("a rig");
    let said = gt(&["rig", "pause", &rig], &env).await;
    assert!(said.contains("paused"), "{said}");
    assert_eq!(town.polecats().await, 0, "a paused rig gets no new work");
    // The CLI writes at the wall clock's time; bring the town's clock there.
    town.catch_up_to_wall_clock();
    town.act().await;
    assert!(
        status(&sim, n)
            .await
            .contains("dispatch to this repository is paused"),
        "{}",
        status(&sim, n).await
    );
    let summary = gt(&["status"], &env).await;
    assert!(
        summary.contains(&format!("paused    {rig} until resumed"))
            && summary.contains("agents    0 working")
            && summary.contains("escalations none waiting"),
        "{summary}"
    );

    let said = gt(&["rig", "resume", &rig], &env).await;
    assert!(said.contains("resumed"), "{said}");
    working(&town).await;
    // Stopped from the CLI: the task closes and the patrol reaps its process.
    let id = task(&town).await.id;
    let said = gt(&["beads", "stop", &id], &env).await;
    assert!(said.contains("stopped"), "{said}");
    town.patrol().await;
    assert_eq!(running(&town).await, 0);
    assert_eq!(task(&town).await.status, BeadStatus::Closed);
    let said = gt(&["beads", "retry", &id], &env).await;
    assert!(said.contains("open again"), "{said}");
    assert_eq!(task(&town).await.status, BeadStatus::Open);
}

/// An agent that pushed its work and then crashed: the retry starts from its pushed
/// branch, so nothing it pushed is lost, and the work lands in one pull request.
#[tokio::test]
async fn a_retry_starts_from_the_branch_the_crashed_agent_pushed() {
    let (sim, town) =
        gastown_tests::story::github_town(REPO, None, &[("GT_PATROL_BACKOFF_SECS", "[0]")]).await;
    // The first attempt commits wip.md, pushes it and dies; a retry finds it there.
    let plan = "Crashy.\n\n```gastown-plan\nfiles:\n  - path: docs/done.md\n    content: |\n      done\ncommands:\n  - \"test -f wip.md || { echo wip > wip.md && git add wip.md && git -c user.name=p -c user.email=p@example.com commit -qm 'Work in progress' && git push -q origin HEAD:$GT_BRANCH && exit 1; }\"\ncommit: Finish\n```\n";
    gastown_tests::story::sling(&sim, REPO, "Crashy", plan).await;
    let t = in_review(&town).await;
    assert_eq!(t.attempts, 2, "one crash, one retry");
    let branch = t.branch.clone().unwrap();
    for file in ["wip.md", "docs/done.md"] {
        assert!(
            sim.read_file(REPO, &branch, file).await.unwrap().is_some(),
            "{file} on {branch}"
        );
    }
    let events = town.events(&t.id).await;
    let pushes = events.iter().filter(|e| e.kind == "pushed").count();
    assert!(
        pushes >= 2,
        "the crashed attempt's push and the retry's: {events:#?}"
    );
}

/// Every attempt on a rig fails (its polecats cannot even check out the base branch):
/// the bead fails after its attempts and escalates, the rig's breaker pauses it (said
/// on the next issue and in `gt status`), and after the cool-down dispatch resumes.
#[tokio::test]
async fn a_rig_whose_attempts_keep_failing_trips_its_breaker_until_the_cool_down() {
    let (sim, town) = gastown_tests::story::github_town(
        REPO,
        None,
        &[
            ("GT_POLECATS_BASE_BRANCH", "no-such-branch"),
            ("GT_PATROL_BACKOFF_SECS", "[0]"),
            ("GT_PATROL_MAX_ATTEMPTS", "3"),
            ("GT_PATROL_BREAKER_THRESHOLD", "3"),
        ],
    )
    .await;
    gastown_tests::story::sling(&sim, REPO, "First", &slow_plan()).await;
    let beads = town
        .run_until(WAIT, "the first bead to fail", |b| {
            b.iter()
                .any(|t| t.bead_type == BeadType::Task && t.status == BeadStatus::Failed)
        })
        .await;
    let first = beads
        .iter()
        .find(|b| b.bead_type == BeadType::Task)
        .unwrap();
    assert_eq!(first.attempts, 3);
    let pauses = town.app.store.read(bot::store::rig_pauses).await.unwrap();
    assert_eq!(pauses.len(), 1, "the breaker tripped");
    assert_eq!(pauses[0].reason, "3 attempts failed within 30 minutes");

    let n = gastown_tests::story::sling(&sim, REPO, "Second", &slow_plan()).await;
    sim.wait_for_deliveries(4, WAIT).await.unwrap();
    town.settle().await;
    assert_eq!(town.polecats().await, 0, "no new work while paused");
    town.act().await;
    assert!(
        status(&sim, n)
            .await
            .contains("dispatch to this repository is paused until"),
        "{}",
        status(&sim, n).await
    );
    // The cool-down over, the patrol closes the breaker and the second is worked.
    town.clock.advance(15 * 60_000);
    town.patrol().await;
    assert!(
        town.app
            .store
            .read(bot::store::rig_pauses)
            .await
            .unwrap()
            .is_empty()
    );
    town.run_until(WAIT, "the second bead to be hooked", |b| {
        b.iter().any(|t| t.title == "Second" && t.attempts > 0)
    })
    .await;
}

/// The forge declines a push (a push rule, a protected branch): the polecat's push
/// fails through the town's gateway, its attempt fails, and the retry pushes and
/// lands; nothing is half-pushed in between.
#[tokio::test]
async fn a_push_the_forge_declines_costs_an_attempt_and_the_retry_lands() {
    let (sim, town) =
        gastown_tests::story::github_town(REPO, None, &[("GT_PATROL_BACKOFF_SECS", "[0]")]).await;
    sim.decline_pushes(1);
    let plan = "Add a note.\n\n```gastown-plan\nfiles:\n  - path: NOTE.md\n    content: |\n      noted\ncommit: Add a note\n```\n";
    gastown_tests::story::sling(&sim, REPO, "Note", plan).await;
    let t = in_review(&town).await;
    assert_eq!(t.attempts, 2, "the declined push cost one attempt");
    let failed = failed_attempts(&town, &t.id).await;
    assert_eq!(failed.len(), 1, "{failed:#?}");
    let branch = t.branch.as_deref().unwrap();
    assert!(
        sim.read_file(REPO, branch, "NOTE.md")
            .await
            .unwrap()
            .is_some()
    );
}

/// A polecat escalates with `gt agent escalate --severity critical`: the issue gets the
/// notice naming the owners `.gastown.yaml` lists, and the label; the escalation also
/// opens an issue of its own. Its work goes on.
#[tokio::test]
async fn a_critical_escalation_from_an_agent_names_the_owners_and_opens_an_issue() {
    let (sim, town) =
        gastown_tests::story::github_town(REPO, Some("owners: [ops-lead]\n"), &[]).await;
    let plan = "Needs a key.\n\n```gastown-plan\nfiles:\n  - path: KEY.md\n    content: |\n      asked\ncommands:\n  - gt agent escalate 'the build needs a license key nobody gave me' --severity critical\ncommit: Ask for the key\n```\n";
    let n = gastown_tests::story::sling(&sim, REPO, "Key", plan).await;
    in_review(&town).await;
    town.act().await;
    let notice = sim
        .comments(REPO, n)
        .await
        .into_iter()
        .find(|c| c.body.contains("<!-- gastown:escalation"))
        .expect("the escalation's notice")
        .body;
    assert!(
        notice.contains("escalation · **critical**")
            && notice.contains("the build needs a license key nobody gave me")
            && notice.contains("@ops-lead"),
        "{notice}"
    );
    assert!(
        sim.labels(REPO, n)
            .await
            .contains(&"gt:escalated".to_string())
    );
    let mut opened = Vec::new();
    for m in (1..n + 10).filter(|m| *m != n) {
        if let Some(issue) = sim.issue(REPO, m).await
            && issue.title.starts_with("Gastown escalation: Key")
        {
            opened.push(issue);
        }
    }
    assert_eq!(opened.len(), 1, "one issue of its own");
    assert!(opened[0].labels.contains(&"gt:escalated".to_string()));
}

/// A polecat that cannot finish leaves a HANDOFF on its bead before it stops: the
/// retried polecat's prime carries it, and it finishes. (The plan looks for the mail's
/// line in its prime with a pattern built at run time, so the issue's own text, which
/// the prime also holds, cannot match it.)
#[tokio::test]
async fn a_handoff_left_by_a_polecat_that_stops_reaches_the_next_one() {
    let (sim, town) =
        gastown_tests::story::github_town(REPO, None, &[("GT_PATROL_BACKOFF_SECS", "[0]")]).await;
    let plan = "Find the flux.\n\n```gastown-plan\nfiles:\n  - path: FLUX.md\n    content: |\n      found\ncommands:\n  - \"gt agent prime --json | grep -q \\\"$(printf HAND)OFF] where the flux\\\" || { gt agent mail send --kind HANDOFF --subject 'where the flux is' 'the flux lives in src/flux.rs'; exit 1; }\"\ncommit: Find the flux\n```\n";
    gastown_tests::story::sling(&sim, REPO, "Flux", plan).await;
    let t = in_review(&town).await;
    assert_eq!(
        t.attempts, 2,
        "the first stopped with a handoff, the second finished"
    );
    let messages: Vec<_> = town
        .beads()
        .await
        .into_iter()
        .filter(|b| b.bead_type == BeadType::Message)
        .collect();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert_eq!(messages[0].metadata["kind"], "HANDOFF");
    assert_eq!(messages[0].parent_id.as_deref(), Some(t.id.as_str()));
}
