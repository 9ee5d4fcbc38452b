//! The core loop with local processes: a person labels an issue on the simulated
//! forge, a polecat is hooked and started, it works through the town's tools and git
//! endpoint, and its branch lands on the forge while the issue shows where it is.

use std::time::Duration;

use bot::store::{AgentStatus, Bead, BeadStatus, BeadType, Role};
use forge_sim::SimHandle;
use gastown_tests::TestTown;

const REPO: &str = "octo/hello";
const WAIT: Duration = Duration::from_secs(60);

fn plan(path: &str, text: &str) -> String {
    format!(
        "Please add {path}.\n\n```gastown-plan\nfiles:\n  - path: {path}\n    content: |\n      {text}\ncommands:\n  - test -s {path}\ncommit: Add {path}\n```\n"
    )
}

async fn world(cap: usize) -> (SimHandle, TestTown) {
    let cap = cap.to_string();
    gastown_tests::story::github_town(REPO, None, &[("GT_POLECATS_CAP", &cap)]).await
}

async fn sling(sim: &SimHandle, title: &str, body: &str) -> u64 {
    gastown_tests::story::sling(sim, REPO, title, body).await
}

fn tasks(beads: &[Bead]) -> Vec<&Bead> {
    beads
        .iter()
        .filter(|b| b.bead_type == BeadType::Task)
        .collect()
}

#[tokio::test]
async fn a_labelled_issue_becomes_a_branch_on_the_forge() {
    let (sim, town) = world(4).await;
    let n = sling(
        &sim,
        "Add a greeting",
        &plan("docs/hello.md", "Hello from a polecat."),
    )
    .await;

    let beads = town
        .run_until(WAIT, "the bead to reach review", |b| {
            tasks(b)
                .first()
                .is_some_and(|t| t.status == BeadStatus::Review)
        })
        .await;
    let task = tasks(&beads)[0].clone();
    let branch = task.branch.clone().unwrap();
    assert!(
        branch.starts_with(&format!("gt/{}-add-a-greeting", task.id)),
        "{branch}"
    );
    let content = sim.read_file(REPO, &branch, "docs/hello.md").await.unwrap();
    assert_eq!(
        String::from_utf8(content.expect("the planned file is on the branch")).unwrap(),
        "Hello from a polecat.\n"
    );
    let mr: Vec<_> = beads
        .iter()
        .filter(|b| b.bead_type == BeadType::MergeRequest)
        .collect();
    assert_eq!(mr.len(), 1);
    assert_eq!(mr[0].parent_id.as_deref(), Some(task.id.as_str()));

    // The issue shows one status comment, edited in place, and the review label.
    town.act().await;
    let comments: Vec<_> = sim
        .comments(REPO, n)
        .await
        .into_iter()
        .filter(|c| c.body.contains("<!-- gastown:status"))
        .collect();
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(
        comments[0].body.contains("is **in review**"),
        "{}",
        comments[0].body
    );
    assert!(
        comments[0].body.contains("| polecat | nux |"),
        "{}",
        comments[0].body
    );
    assert!(comments[0].body.contains(&branch), "{}", comments[0].body);
    let labels = sim.labels(REPO, n).await;
    assert!(labels.contains(&"gt:review".to_string()), "{labels:?}");
    assert!(
        !labels.iter().any(|l| l == "gt:hooked" || l == "gt:working"),
        "{labels:?}"
    );

    // The bead's history tells the story.
    let id = task.id.clone();
    let events = town
        .app
        .store
        .read(move |c| bot::store::bead_events(c, &id))
        .await
        .unwrap();
    let kinds: Vec<String> = events
        .iter()
        .map(|e| format!("{}:{}", e.kind, e.to_status.clone().unwrap_or_default()))
        .collect();
    for expected in [
        "status:hooked",
        "status:in_progress",
        "pushed:",
        "status:review",
    ] {
        assert!(kinds.contains(&expected.to_string()), "{kinds:?}");
    }
}

#[tokio::test]
async fn with_a_cap_of_two_the_third_bead_waits_for_a_free_polecat() {
    let (sim, town) = world(2).await;
    for i in 1..=3 {
        sling(
            &sim,
            &format!("Note {i}"),
            &plan(&format!("notes/{i}.md"), "noted"),
        )
        .await;
    }
    // Deliveries arrive over HTTP; wait until all three beads exist.
    sim.wait_for_deliveries(6, WAIT).await.unwrap();
    town.drain().await;
    assert_eq!(tasks(&town.beads().await).len(), 3);

    // One round: two are hooked, to two distinct polecats on distinct branches.
    let started = town.polecats().await;
    assert_eq!(started, 2);
    let agents = town.app.store.read(bot::store::list_agents).await.unwrap();
    let working: Vec<_> = agents
        .iter()
        .filter(|a| a.status == AgentStatus::Working)
        .collect();
    assert_eq!(working.len(), 2, "{agents:#?}");
    assert_ne!(working[0].name, working[1].name);
    // What an operator sees.
    let listed =
        gastown_tests::process::gt(&["agents", "list"], &[("GT_DATABASE", &town.database())]).await;
    for a in &working {
        let line = listed
            .lines()
            .find(|l| l.starts_with(&a.name))
            .unwrap_or_default();
        assert!(
            line.contains("working") && line.contains("polecat-"),
            "{listed}"
        );
    }
    let beads = town.beads().await;
    let waiting: Vec<_> = tasks(&beads)
        .into_iter()
        .filter(|b| b.status == BeadStatus::Open)
        .collect();
    assert_eq!(waiting.len(), 1, "the third waits");

    // All three finish; the third started only after one of the first two ended.
    let beads = town
        .run_until(WAIT, "all three in review", |b| {
            tasks(b).iter().all(|t| t.status == BeadStatus::Review)
        })
        .await;
    let branches: std::collections::HashSet<_> = tasks(&beads)
        .iter()
        .map(|t| t.branch.clone().unwrap())
        .collect();
    assert_eq!(branches.len(), 3);
    for b in &branches {
        assert!(
            sim.branch_sha(REPO, b).await.unwrap().is_some(),
            "{b} on the forge"
        );
    }
}

/// An agent that exits without `gt_done` costs an attempt: the bead waits out its
/// backoff (said on the issue), is tried again, and once `patrol.max_attempts` are
/// spent it fails and a person is asked, with the label that acknowledges it.
#[tokio::test]
async fn an_agent_that_exits_without_done_is_retried_after_its_backoff_then_escalated() {
    let (sim, town) = gastown_tests::story::github_town(
        REPO,
        None,
        &[
            ("GT_PATROL_MAX_ATTEMPTS", "2"),
            ("GT_PATROL_BACKOFF_SECS", "[60]"),
        ],
    )
    .await;
    // No plan: the scripted runtime refuses and exits non-zero.
    let n = sling(&sim, "Vague wish", "Make it better somehow.").await;
    let beads = town
        .run_until(WAIT, "the first attempt to fail", |b| {
            tasks(b)
                .first()
                .is_some_and(|t| t.status == BeadStatus::Open && t.attempts == 1)
        })
        .await;
    let id = tasks(&beads)[0].id.clone();
    // Nothing starts before the backoff is over, and the issue says when it will.
    assert_eq!(town.polecats().await, 0, "waiting out the backoff");
    town.act().await;
    let status = |sim: SimHandle| async move {
        sim.comments(REPO, n)
            .await
            .into_iter()
            .find(|c| c.body.contains("<!-- gastown:status"))
            .unwrap()
            .body
    };
    let body = status(sim.clone()).await;
    assert!(
        body.contains("attempt 1 of 2 did not finish") && body.contains("the next starts after"),
        "{body}"
    );
    town.clock.advance(60_000);
    let beads = town
        .run_until(WAIT, "the bead to fail", |b| {
            tasks(b)
                .first()
                .is_some_and(|t| t.status == BeadStatus::Failed)
        })
        .await;
    let task = tasks(&beads)[0];
    assert_eq!(task.attempts, 2, "started once and retried once");
    let agents = town.app.store.read(bot::store::list_agents).await.unwrap();
    assert!(
        agents.iter().all(|a| a.status == AgentStatus::Idle),
        "names are freed: {agents:#?}"
    );
    // Why, in the bead's history: the end of the agent's own output.
    let events = town.events(&id).await;
    let failed = events
        .iter()
        .find(|e| e.to_status.as_deref() == Some("failed"))
        .unwrap();
    let tail = failed.payload["output_tail"].as_str().unwrap_or_default();
    assert!(
        tail.contains("no ```gastown-plan block"),
        "{:#?}",
        failed.payload
    );
    town.act().await;
    assert!(status(sim.clone()).await.contains("is **failed**"));
    // A person is asked: one escalation, its notice naming who slung it, the label.
    let escalations = town.escalations(false).await;
    assert_eq!(escalations.len(), 1, "{escalations:#?}");
    assert_eq!(escalations[0].severity, "high");
    let notices: Vec<String> = sim
        .comments(REPO, n)
        .await
        .into_iter()
        .map(|c| c.body)
        .filter(|b| b.contains("<!-- gastown:escalation"))
        .collect();
    assert_eq!(notices.len(), 1, "{notices:#?}");
    assert!(
        notices[0].contains("escalation · **high**"),
        "{}",
        notices[0]
    );
    assert!(
        sim.labels(REPO, n)
            .await
            .contains(&"gt:escalated".to_string()),
        "the issue carries the escalation's label"
    );
    // Unacknowledged, it is said again 4 hours later (a reminder, once).
    town.clock.advance(4 * 60 * 60_000);
    town.patrol().await;
    town.act().await;
    let reminders = sim
        .comments(REPO, n)
        .await
        .into_iter()
        .filter(|c| {
            c.body
                .contains("reminder 1: nobody has acknowledged it yet")
        })
        .count();
    assert_eq!(reminders, 1);
    // mara takes the label off: acknowledged, and never said again.
    sim.remove_label("mara", REPO, n, "gt:escalated")
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        town.settle().await;
        let open = town.escalations(false).await;
        if open.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never acknowledged: {open:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = town.escalations(true).await;
    assert_eq!(all[0].acked_by.as_deref(), Some("mara"));
    assert!(
        town.app
            .store
            .read(|c| bot::store::due_escalations(c, i64::MAX))
            .await
            .unwrap()
            .is_empty(),
        "nothing left to say"
    );
}

/// The same loop on GitLab: a developer labels an issue in a nested project.
#[tokio::test]
async fn a_labelled_gitlab_issue_becomes_a_branch_on_the_forge() {
    const PROJECT: &str = "town/tools/hello";
    let (sim, bot) = gastown_tests::forge::gitlab_with_project(PROJECT).await;
    let town = TestTown::builder()
        .gitlab_forge(&sim.gitlab_api_url(), &sim.addr().to_string(), &bot.token)
        .local_runner()
        .start()
        .await;
    sim.set_gitlab_hook(
        PROJECT,
        &town.url("/webhooks/gitlab"),
        gastown_tests::town::GITLAB_TOKEN,
    )
    .unwrap();
    let iid = gastown_tests::story::gitlab_sling(
        &sim,
        PROJECT,
        "Add a greeting",
        &plan("hello.txt", "hi from gitlab"),
    )
    .await;

    let beads = town
        .run_until(WAIT, "the bead to reach review", |b| {
            tasks(b)
                .first()
                .is_some_and(|t| t.status == BeadStatus::Review)
        })
        .await;
    let branch = tasks(&beads)[0].branch.clone().unwrap();
    let file = sim.read_file(PROJECT, &branch, "hello.txt").await.unwrap();
    assert_eq!(
        String::from_utf8(file.unwrap()).unwrap(),
        "hi from gitlab\n"
    );
    town.act().await;
    let note = sim
        .comments(PROJECT, iid)
        .await
        .into_iter()
        .find(|c| c.body.contains("<!-- gastown:status"))
        .expect("a status note");
    assert!(note.body.contains("is **in review**"), "{}", note.body);
}

/// A repository's own `.gastown.yaml` names its sling label and caps its polecats,
/// over the town's settings: its label slings, the town's does nothing there, and
/// one polecat works at a time.
#[tokio::test]
async fn a_repositorys_gastown_yaml_sets_its_sling_label_and_polecat_cap() {
    let yaml = "polecat_cap: 1\nlabels:\n  sling: work-please\n";
    let (sim, town) = gastown_tests::story::github_town(REPO, Some(yaml), &[]).await;
    for i in 1..=2 {
        let n = sim
            .open_issue(
                "mara",
                REPO,
                &format!("Note {i}"),
                &plan(&format!("notes/{i}.md"), "noted"),
            )
            .await
            .unwrap();
        sim.add_label("mara", REPO, n, "work-please").await.unwrap();
    }
    let ignored = sim
        .open_issue("mara", REPO, "Not this way", &plan("notes/x.md", "x"))
        .await
        .unwrap();
    sim.add_label("mara", REPO, ignored, "gt:sling")
        .await
        .unwrap();
    sim.wait_for_deliveries(6, WAIT).await.unwrap();
    town.drain().await;
    let beads = town.beads().await;
    assert_eq!(
        tasks(&beads).len(),
        2,
        "only the repository's label slings: {beads:#?}"
    );

    assert_eq!(town.polecats().await, 1, "polecat_cap: 1");
    let working = town
        .app
        .store
        .read(bot::store::list_agents)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.status == AgentStatus::Working)
        .count();
    assert_eq!(working, 1);
}

/// Two rigs in one town, each allowed 3 polecats (6 together), and a town cap of 4
/// with a merge request waiting for its refinery: one round starts 3 polecats across
/// both rigs, keeping the refinery's place; the refinery run takes it, and then the
/// town is full for anyone, a refinery run included.
#[tokio::test]
async fn the_town_cap_holds_across_rigs_whose_caps_add_up_to_more() {
    use bot::store::{self, NewBead};

    let town = gastown_tests::TestTown::builder()
        .local_runner()
        .env("GT_POLECATS_CAP", "3")
        .env("GT_POLECATS_TOWN_CAP", "4")
        .start()
        .await;
    let now = 1_795_622_257_000;
    let mr = town
        .app
        .store
        .write(move |c| {
            let t = store::ensure_town(c, "default", now)?;
            let mut mr = None;
            for path in ["octo/one", "octo/two"] {
                let (rig, _) =
                    store::ensure_rig(c, &t, webhooks::ForgeKind::GitHub, "github.com", path, now)?;
                for (i, bead_type) in [BeadType::Task, BeadType::Task, BeadType::Task]
                    .into_iter()
                    .chain((path == "octo/one").then_some(BeadType::MergeRequest))
                    .enumerate()
                {
                    let bead = store::create_bead(
                        c,
                        &NewBead {
                            bead_type,
                            title: format!("Work {i} of {path}"),
                            body: String::new(),
                            priority: 2,
                            town_id: Some(t.clone()),
                            rig_id: Some(rig.id.clone()),
                            parent_id: None,
                            forge_ref: None,
                            created_by: "test".into(),
                            metadata: serde_json::json!({}),
                        },
                        now,
                        |_| format!("gt-{i}{}", &path[5..]),
                    )?;
                    if bead_type == BeadType::MergeRequest {
                        mr = Some(bead);
                    }
                }
            }
            Ok(mr.expect("a merge request bead"))
        })
        .await
        .unwrap();

    assert_eq!(town.polecats().await, 3, "three of six ready tasks start");
    let agents = town.app.store.read(bot::store::list_agents).await.unwrap();
    let working: Vec<_> = agents
        .iter()
        .filter(|a| a.status == AgentStatus::Working)
        .collect();
    assert_eq!(working.len(), 3, "{agents:#?}");
    for rig in ["one", "two"] {
        let n = working
            .iter()
            .filter(|a| a.rig_id.as_deref().is_some_and(|r| r.ends_with(rig)))
            .count();
        assert!((1..=2).contains(&n), "rig {rig}: {n} working");
    }

    // The refinery run takes the place kept for it: the town holds 4.
    let sessions = town.app.sessions.as_ref().unwrap();
    let plan = |target: &str| bot::loops::sessions::SessionPlan {
        role: Role::Refinery,
        name: target.into(),
        branch: "gt/gt-3one-work".into(),
        base_branch: target.into(),
        command: Some(vec!["sleep".into(), "5".into()]),
        checks: Vec::new(),
    };
    sessions.start(&mr, &plan("main")).await.unwrap();
    let agents = town.app.store.read(bot::store::list_agents).await.unwrap();
    let working = agents
        .iter()
        .filter(|a| a.status == AgentStatus::Working)
        .count();
    assert_eq!(working, 4, "{agents:#?}");

    // Full: another start, a refinery run's included, is refused and waits.
    let refused = sessions.start(&mr, &plan("release")).await.unwrap_err();
    let why = refused.to_string();
    assert!(
        matches!(refused, bot::loops::sessions::SessionError::TownFull { .. }),
        "{refused:?}"
    );
    assert!(
        why.contains("already working") && why.contains("polecats.town_cap"),
        "{why}"
    );
}
