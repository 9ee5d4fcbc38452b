//! Steering the town from comments, with no model configured: a writer's `/gt` lines
//! run in order and are answered in the thread, the 👀 on their comment turning into
//! ✅ or ❌; mistakes are answered with the right form; readers, bots, quoted commands,
//! edits and redeliveries do only what they should. On simulated GitHub and GitLab.

use std::time::Duration;

use bot::store::{BeadStatus, BeadType, CloseReason};
use forge_sim::SimHandle;
use gastown_tests::{TestTown, story};

const REPO: &str = "octo/hello";
const PROJECT: &str = "acme/platform/api";
const WAIT: Duration = Duration::from_secs(60);

/// Work that keeps its polecat busy far longer than any test waits.
fn slow_plan() -> String {
    "Slow work.\n\n```gastown-plan\nfiles:\n  - path: docs/slow.md\n    content: |\n      slow\ncommands:\n  - sleep 300\ncommit: Slow work\n```\n".into()
}

/// The bot's answers on issue `n`, oldest first.
async fn answers(sim: &SimHandle, repo: &str, n: u64) -> Vec<String> {
    sim.comments(repo, n)
        .await
        .into_iter()
        .map(|c| c.body)
        .filter(|b| b.contains("<!-- gastown:answer") || b.contains("<!-- gastown:refused"))
        .collect()
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

#[tokio::test]
async fn a_writers_commands_run_in_order_and_are_answered_with_a_reaction() {
    let (sim, town) = story::github_town(REPO, None, &[]).await;
    let n = story::sling(&sim, REPO, "Slow", &slow_plan()).await;
    working(&town).await;

    let c = sim
        .comment(
            "mara",
            REPO,
            n,
            "Enough for today.\n\n/gt status\n/gt stop\n",
        )
        .await
        .unwrap();
    story::settled(&sim, &town).await;

    let t = task(&town).await;
    assert_eq!(
        (t.status, t.close_reason),
        (BeadStatus::Closed, Some(CloseReason::Wontfix))
    );
    let said = answers(&sim, REPO, n).await;
    assert_eq!(said.len(), 1, "{said:#?}");
    let status_at = said[0].find("✅ `/gt status`").expect("status answered");
    let stop_at = said[0].find("✅ `/gt stop`").expect("stop answered");
    assert!(status_at < stop_at, "in the order written: {}", said[0]);
    assert!(
        said[0].contains(&format!("{} is in_progress", t.id)),
        "{}",
        said[0]
    );
    assert_eq!(
        story::bots_reactions(&sim, REPO, c).await,
        ["rocket"],
        "👀 swapped for ✅"
    );

    // Stopped work runs again when asked.
    sim.comment("mara", REPO, n, "/gt retry").await.unwrap();
    story::settled(&sim, &town).await;
    let t = task(&town).await;
    assert_eq!((t.status, t.attempts), (BeadStatus::Open, 0));
}

#[tokio::test]
async fn mistakes_are_answered_with_the_right_form_and_a_cross() {
    let (sim, town) = story::github_town(REPO, None, &[]).await;
    let n = sim
        .open_issue("mara", REPO, "Idea", "Later.")
        .await
        .unwrap();
    let c = sim
        .comment(
            "mara",
            REPO,
            n,
            "/gt sling priority=9\n/gt frobnicate\n/gt help",
        )
        .await
        .unwrap();
    story::settled(&sim, &town).await;

    let said = answers(&sim, REPO, n).await;
    assert_eq!(said.len(), 1, "{said:#?}");
    assert!(
        said[0].contains(
            "❌ `/gt sling priority=9`: priority is 0 (highest) to 4, not `9`. The form is \
         `/gt sling [formula=<name>] [rig=<owner/repo>] [priority=<0-4>] [key=value…]`."
        ),
        "{}",
        said[0]
    );
    assert!(said[0].contains("❌ `/gt frobnicate`: `/gt frobnicate` is not a command"));
    assert!(
        said[0].contains("| `/gt convoy create <title> #1 #2 …` |"),
        "the commands listed"
    );
    assert!(town.tasks().await.is_empty(), "nothing slung");
    assert_eq!(story::bots_reactions(&sim, REPO, c).await, ["confused"]);
}

#[tokio::test]
async fn commands_in_code_or_quotes_and_comments_by_bots_do_nothing() {
    let (sim, town) = story::github_town(REPO, None, &[]).await;
    let n = story::sling(&sim, REPO, "Slow", &slow_plan()).await;
    working(&town).await;
    sim.add_user("ci-helper[bot]").await.unwrap();

    let quoted = sim
        .comment(
            "mara",
            REPO,
            n,
            "To stop it, write:\n\n```\n/gt stop\n```\n\n> /gt stop\n\n`/gt stop`",
        )
        .await
        .unwrap();
    sim.comment("gastown-bot", REPO, n, "/gt stop")
        .await
        .unwrap();
    sim.comment("ci-helper[bot]", REPO, n, "/gt stop")
        .await
        .unwrap();
    story::settled(&sim, &town).await;

    assert_eq!(task(&town).await.status, BeadStatus::InProgress);
    assert!(answers(&sim, REPO, n).await.is_empty());
    assert!(story::bots_reactions(&sim, REPO, quoted).await.is_empty());
}

#[tokio::test]
async fn a_reader_is_told_once_what_access_is_needed_and_nothing_happens() {
    let (sim, town) = story::github_town(REPO, None, &[]).await;
    sim.add_user("ana").await.unwrap();
    sim.grant(REPO, "ana", forge_sim::Permission::Read)
        .await
        .unwrap();
    let n = story::sling(&sim, REPO, "Slow", &slow_plan()).await;
    working(&town).await;

    let c = sim.comment("ana", REPO, n, "/gt stop").await.unwrap();
    story::settled(&sim, &town).await;
    sim.edit_comment("ana", REPO, c, "/gt stop\n/gt retry")
        .await
        .unwrap();
    sim.comment("ana", REPO, n, "@gastown-bot please stop this")
        .await
        .unwrap();
    story::settled(&sim, &town).await;

    assert_eq!(task(&town).await.status, BeadStatus::InProgress);
    let said = answers(&sim, REPO, n).await;
    assert_eq!(said.len(), 2, "one per comment: {said:#?}");
    assert!(said[0].contains("@ana, only people with write access to this repository"));
    assert!(
        story::bots_reactions(&sim, REPO, c).await.is_empty(),
        "no 👀 for a refusal"
    );
}

#[tokio::test]
async fn an_edit_runs_only_the_lines_it_added_and_a_redelivery_runs_nothing() {
    let (sim, town) = story::github_town(REPO, None, &[]).await;
    let n = story::sling(&sim, REPO, "Slow", &slow_plan()).await;
    working(&town).await;

    let c = sim.comment("mara", REPO, n, "/gt status").await.unwrap();
    story::settled(&sim, &town).await;
    let created = sim.deliveries().last().unwrap().guid.clone();
    sim.edit_comment("mara", REPO, c, "/gt status\n/gt stop")
        .await
        .unwrap();
    story::settled(&sim, &town).await;
    assert!(sim.redeliver(&created));
    story::settled(&sim, &town).await;

    let said = answers(&sim, REPO, n).await;
    assert_eq!(said.len(), 2, "{said:#?}");
    assert!(said[1].contains("✅ `/gt stop`"), "{}", said[1]);
    assert!(
        !said[1].contains("/gt status"),
        "status ran once: {}",
        said[1]
    );
    assert_eq!(task(&town).await.status, BeadStatus::Closed);
}

#[tokio::test]
async fn gt_sling_slings_an_unlabelled_issue_with_its_options() {
    let (sim, town) = story::github_town(REPO, None, &[]).await;
    let n = sim
        .open_issue("mara", REPO, "Slow", &slow_plan())
        .await
        .unwrap();
    sim.comment(
        "mara",
        REPO,
        n,
        "/gt sling priority=1 rig=octo/elsewhere\n/gt sling priority=1",
    )
    .await
    .unwrap();
    story::settled(&sim, &town).await;

    let t = task(&town).await;
    assert_eq!((t.priority, t.created_by.as_str()), (1, "mara"));
    let said = answers(&sim, REPO, n).await;
    assert!(
        said[0].contains(
            "❌ `/gt sling priority=1 rig=octo/elsewhere`: work lands in its issue's repository"
        ),
        "{}",
        said[0]
    );
    assert!(said[0].contains(&format!("✅ `/gt sling priority=1`: slung as {}", t.id)));
    assert!(story::status_comment(&sim, REPO, n).await.contains(&t.id));
    working(&town).await;
}

#[tokio::test]
async fn a_convoy_is_made_and_grown_from_comments() {
    let (sim, town) = story::github_town(REPO, None, &[]).await;
    let a = story::sling(&sim, REPO, "API", &slow_plan()).await;
    let b = story::sling(&sim, REPO, "UI", &slow_plan()).await;
    let c = story::sling(&sim, REPO, "Docs", &slow_plan()).await;
    story::settled(&sim, &town).await;

    sim.comment(
        "mara",
        REPO,
        a,
        &format!("/gt convoy create Release 2 #{a} #{b}"),
    )
    .await
    .unwrap();
    story::settled(&sim, &town).await;
    let said = answers(&sim, REPO, a).await;
    assert!(
        said[0].contains("✅ `/gt convoy create Release 2"),
        "{}",
        said[0]
    );
    let convoy = town
        .beads()
        .await
        .into_iter()
        .find(|b| b.bead_type == BeadType::Convoy)
        .expect("a convoy");
    assert_eq!(convoy.title, "Release 2");
    let tracking = bot::store::ForgeRef::issue_number(convoy.forge_ref.as_deref().unwrap())
        .expect("its tracking issue");

    sim.comment(
        "mara",
        REPO,
        tracking,
        &format!("/gt convoy add #{c}\n/gt convoy status"),
    )
    .await
    .unwrap();
    story::settled(&sim, &town).await;
    let said = answers(&sim, REPO, tracking).await;
    assert!(said[0].contains("now tracks"), "{}", said[0]);
    assert!(
        said[0].contains("Docs"),
        "the status lists the added issue: {}",
        said[0]
    );
}

/// The same commands on GitLab: award emoji instead of reactions, notes for answers.
#[tokio::test]
async fn on_gitlab_commands_are_acknowledged_with_award_emoji() {
    let (sim, town) = story::gitlab_town(PROJECT, None).await;
    sim.add_user("rea").await.unwrap();
    sim.add_member(PROJECT, "rea", 20).unwrap();
    let n = story::gitlab_sling(&sim, PROJECT, "Slow", &slow_plan()).await;
    working(&town).await;

    let note = sim
        .gl_comment("devi", PROJECT, n, false, "/gt status\n/gt stop now")
        .await
        .unwrap();
    let reader = sim
        .gl_comment("rea", PROJECT, n, false, "/gt stop")
        .await
        .unwrap();
    story::settled(&sim, &town).await;

    assert_eq!(task(&town).await.status, BeadStatus::InProgress);
    let said = answers(&sim, PROJECT, n).await;
    assert_eq!(said.len(), 2, "{said:#?}");
    assert!(said[0].contains("✅ `/gt status`"), "{}", said[0]);
    assert!(said[0].contains("❌ `/gt stop now`: `/gt stop` takes no arguments"));
    assert!(said[1].contains("@rea, only people with write access"));
    assert_eq!(story::bots_reactions(&sim, PROJECT, note).await, ["x"]);
    assert!(
        story::bots_reactions(&sim, PROJECT, reader)
            .await
            .is_empty()
    );

    sim.gl_comment("devi", PROJECT, n, false, "/gt stop")
        .await
        .unwrap();
    story::settled(&sim, &town).await;
    assert_eq!(task(&town).await.status, BeadStatus::Closed);
}

#[tokio::test]
async fn free_text_without_a_model_gets_the_commands() {
    let (sim, town) = story::github_town(REPO, None, &[]).await;
    let n = sim
        .open_issue("mara", REPO, "Idea", "Later.")
        .await
        .unwrap();
    let c = sim
        .comment("mara", REPO, n, "@gastown-bot what is the town doing?")
        .await
        .unwrap();
    story::settled(&sim, &town).await;
    let said = answers(&sim, REPO, n).await;
    assert_eq!(said.len(), 1, "{said:#?}");
    assert!(said[0].contains("this town has no model configured"));
    assert!(said[0].contains("| `/gt status` |"));
    assert_eq!(story::bots_reactions(&sim, REPO, c).await, ["confused"]);
}

/// The operator's equivalents: `gt sling` reads the issue from the forge and slings it
/// as the label would, `gt beads approve` and `gt beads rework` as their commands do.
#[tokio::test]
async fn the_gt_cli_slings_an_issue_as_the_command_does() {
    use gastown_tests::process::{gt, gt_fails};
    let (sim, bot) = gastown_tests::forge::github_with_repo(REPO).await;
    let town = TestTown::builder()
        .github_forge(&sim.github_api_url(), &sim.addr().to_string(), &bot.token)
        .start()
        .await;
    story::hook_github(&sim, REPO, &town).await;
    let n = sim
        .open_issue("mara", REPO, "Slow", &slow_plan())
        .await
        .unwrap();
    story::settled(&sim, &town).await;

    let db = town.database();
    let api = sim.github_api_url();
    let host = sim.addr().to_string();
    let env = [
        ("GT_DATABASE", db.as_str()),
        ("GT_GITHUB_API_URL", api.as_str()),
        ("GT_GITHUB_HOST", host.as_str()),
        ("GT_GITHUB_TOKEN", bot.token.as_str()),
    ];
    let said = gt(&["sling", &format!("{REPO}#{n}"), "--priority", "1"], &env).await;
    assert!(said.contains("slung as gt-"), "{said}");
    let t = task(&town).await;
    assert_eq!(t.priority, 1);
    assert_eq!(t.metadata["slung_via"], "the gt CLI");
    let again = gt_fails(&["sling", &format!("{REPO}#{n}")], &env).await;
    assert!(again.contains("is already slung"), "{again}");
    let approve = gt_fails(&["beads", "approve", &t.id], &env).await;
    assert!(approve.contains("no step of"), "{approve}");
}

/// Work that failed for good asks a person; `/gt ack` answers the escalation and
/// `/gt retry` runs it again.
#[tokio::test]
async fn a_failed_issue_is_acknowledged_and_retried_from_comments() {
    let (sim, town) = story::github_town(REPO, None, &[("GT_PATROL_MAX_ATTEMPTS", "1")]).await;
    // No plan: the scripted runtime refuses and exits non-zero.
    let n = story::sling(&sim, REPO, "Vague wish", "Make it better somehow.").await;
    town.run_until(WAIT, "the work to fail", |b| {
        b.iter()
            .any(|t| t.bead_type == BeadType::Task && t.status == BeadStatus::Failed)
    })
    .await;
    assert_eq!(town.escalations(false).await.len(), 1);

    sim.comment("mara", REPO, n, "/gt ack\n/gt ack\n/gt retry")
        .await
        .unwrap();
    story::settled(&sim, &town).await;
    assert!(town.escalations(false).await.is_empty(), "acknowledged");
    let said = answers(&sim, REPO, n).await;
    assert!(
        said[0].contains("✅ `/gt ack`: 1 escalation(s) acknowledged"),
        "{}",
        said[0]
    );
    assert!(said[0].contains("❌ `/gt ack`: no escalation about this work waits for anyone"));
    assert!(said[0].contains("is open again, its attempts counted from zero"));
    let t = task(&town).await;
    assert_eq!((t.status, t.attempts), (BeadStatus::Open, 0));
}

/// On the refinery's pull request, `/gt rework` sends the work back with the words.
#[tokio::test]
async fn gt_rework_on_the_pull_request_sends_the_work_back_with_the_words() {
    const PLAN: &str = "Add a greeting.\n\n```gastown-plan\nfiles:\n  - path: hello.md\n    content: |\n      hello\ncommit: Add hello.md\n```\n";
    let (sim, town) = story::github_town(REPO, None, &[]).await;
    let issue = story::sling(&sim, REPO, "Greet", PLAN).await;
    let beads = town
        .run_until(WAIT, "a pull request in review", |b| {
            story::in_review(b) == 1
        })
        .await;
    let mr = beads
        .iter()
        .find(|b| b.bead_type == BeadType::MergeRequest)
        .unwrap();
    let pr = bot::store::ForgeRef::merge_request_number(mr.forge_ref.as_deref().unwrap()).unwrap();

    // A command on a line of the diff is answered in the conversation.
    let on_line = sim
        .review_comment("mara", REPO, pr, "hello.md", 1, "/gt status")
        .await
        .unwrap();
    story::settled(&sim, &town).await;
    let said = answers(&sim, REPO, pr).await;
    assert_eq!(said.len(), 1, "{said:#?}");
    assert!(
        said[0].contains(&format!("its pull request is #{pr}")),
        "{}",
        said[0]
    );
    assert_eq!(story::bots_reactions(&sim, REPO, on_line).await, ["rocket"]);

    let c = sim
        .comment(
            "mara",
            REPO,
            pr,
            "/gt status\n/gt rework Say hello to the world, not just hello.",
        )
        .await
        .unwrap();
    story::settled(&sim, &town).await;
    let said = answers(&sim, REPO, pr).await;
    assert_eq!(said.len(), 2, "{said:#?}");
    let said = &said[1..];
    assert!(
        said[0].contains(&format!("its pull request is #{pr}")),
        "{}",
        said[0]
    );
    assert!(said[0].contains("✅ `/gt rework Say hello"), "{}", said[0]);
    assert!(
        said[0].contains("sent back to a polecat as gt-"),
        "{}",
        said[0]
    );
    let rework = town
        .tasks()
        .await
        .into_iter()
        .find(|t| t.title.starts_with("Rework 1:"))
        .expect("a rework");
    assert_eq!(
        rework.metadata["details"],
        "Say hello to the world, not just hello."
    );
    town.act().await;
    let notes: Vec<String> = sim
        .comments(REPO, issue)
        .await
        .into_iter()
        .map(|c| c.body)
        .collect();
    assert!(
        notes
            .iter()
            .any(|b| b.contains("this work was sent back (rework 1): @mara asked for changes")),
        "{notes:#?}"
    );
    assert_eq!(story::bots_reactions(&sim, REPO, c).await, ["rocket"]);
}

/// A comment names only its own repository's issues: its author's access was checked
/// there, not elsewhere in the town.
#[tokio::test]
async fn a_comment_cannot_reach_into_another_repository() {
    let (sim, town) = story::github_town(REPO, None, &[]).await;
    let a = story::sling(&sim, REPO, "API", &slow_plan()).await;
    story::settled(&sim, &town).await;
    sim.comment(
        "mara",
        REPO,
        a,
        &format!("/gt convoy create Mixed #{a} octo/secret#1"),
    )
    .await
    .unwrap();
    story::settled(&sim, &town).await;
    let said = answers(&sim, REPO, a).await;
    assert!(
        said[0].contains("octo/secret#1 is in another repository"),
        "{}",
        said[0]
    );
    assert!(
        town.beads()
            .await
            .iter()
            .all(|b| b.bead_type != BeadType::Convoy),
        "no convoy made"
    );
}

/// Never 👀 then nothing: an answer the forge will not take, after every retry, leaves
/// ❌ on the comment instead of a 👀 that says the bot is still at it.
#[tokio::test]
async fn an_answer_the_forge_refuses_for_good_leaves_a_cross() {
    let (sim, town) = story::github_town(REPO, None, &[("GT_WORKER_MAX_ATTEMPTS", "1")]).await;
    let n = sim
        .open_issue("mara", REPO, "Idea", "Later.")
        .await
        .unwrap();
    let c = sim.comment("mara", REPO, n, "/gt help").await.unwrap();
    sim.wait_for_all_deliveries(WAIT).await.unwrap();
    town.drain().await;
    // The thread's comments cannot be read or written for the client's every attempt.
    sim.fail_next(5, 502, Some(&format!("/repos/{REPO}/issues/{n}/comments")));
    town.act().await;

    assert!(answers(&sim, REPO, n).await.is_empty());
    assert_eq!(story::bots_reactions(&sim, REPO, c).await, ["confused"]);
}

/// The rest of the commands on GitLab: a sling with its options, help, a convoy made
/// and grown, a retry, each good and bad, answered in notes.
#[tokio::test]
async fn on_gitlab_sling_convoy_retry_and_help_work_from_notes() {
    let (sim, town) = story::gitlab_town(PROJECT, None).await;
    let a = sim
        .gl_open_issue("devi", PROJECT, "API", &slow_plan())
        .await
        .unwrap();
    let b = story::gitlab_sling(&sim, PROJECT, "UI", &slow_plan()).await;
    sim.gl_comment(
        "devi",
        PROJECT,
        a,
        false,
        "/gt sling priority=0\n/gt sling priority=0\n/gt help",
    )
    .await
    .unwrap();
    story::settled(&sim, &town).await;
    let said = answers(&sim, PROJECT, a).await;
    assert!(
        said[0].contains("✅ `/gt sling priority=0`: slung as gt-"),
        "{}",
        said[0]
    );
    assert!(
        said[0].contains("❌ `/gt sling priority=0`: this issue is already slung"),
        "{}",
        said[0]
    );
    assert!(said[0].contains("| `/gt ack` |"), "{}", said[0]);

    sim.gl_comment(
        "devi",
        PROJECT,
        b,
        false,
        &format!("/gt convoy create Platform #{a} #{b}\n/gt convoy add #999\n/gt convoy status"),
    )
    .await
    .unwrap();
    story::settled(&sim, &town).await;
    let said = answers(&sim, PROJECT, b).await;
    assert!(
        said[0].contains("✅ `/gt convoy create Platform"),
        "{}",
        said[0]
    );
    assert!(
        said[0].contains("❌ `/gt convoy add #999`: name the convoy"),
        "{}",
        said[0]
    );
    assert!(said[0].contains("✅ `/gt convoy status`"), "{}", said[0]);

    sim.gl_comment(
        "devi",
        PROJECT,
        b,
        false,
        "/gt stop\n/gt retry\n/gt retry now",
    )
    .await
    .unwrap();
    story::settled(&sim, &town).await;
    let said = answers(&sim, PROJECT, b).await;
    assert!(said[1].contains("✅ `/gt retry`: gt-"), "{}", said[1]);
    assert!(
        said[1].contains("❌ `/gt retry now`: `/gt retry` takes no arguments"),
        "{}",
        said[1]
    );
    let tasks = town.tasks().await;
    let ui = tasks.iter().find(|t| t.title == "UI").unwrap();
    assert_eq!(ui.status, BeadStatus::Open);
    assert_eq!(tasks.iter().find(|t| t.title == "API").unwrap().priority, 0);
}
