//! Formulas on the forge: an issue slung with a formula becomes a molecule whose steps
//! polecats walk one by one (a gate that refuses a step sends it back, a `human` step
//! waits for a person's approval), convoy legs are worked in parallel and merged by
//! the bot, and the whole lands through the refinery as one pull request.

use std::time::Duration;

use bot::store::{Bead, BeadStatus, BeadType, CloseReason};
use forge_sim::SimHandle;
use gastown_tests::story;

const REPO: &str = "octo/hello";
const WAIT: Duration = Duration::from_secs(120);

/// The repository's own formula: three steps, the middle one gated.
const GREET: &str = r#"formula: greet
description: Write a greeting in three steps.
version: 1
type: workflow
vars:
  issue: { type: string, required: true }
steps:
  - id: draft
    title: "Draft: {{ issue }}"
    description: Write a first draft of hello.md.
  - id: polish
    title: Polish the greeting
    description: hello.md must say exactly "hello, world".
    needs: [draft]
    gate: ["grep -qx 'hello, world' hello.md || { echo 'hello.md must say: hello, world'; exit 3; }"]
  - id: sign
    title: Sign it
    description: Add signed.md.
    needs: [polish]
"#;

/// What the scripted polecat does at each step: the first polish fails its gate.
const GREET_PLAN: &str = "Greet the world.\n\n```gastown-plan\nsteps:\n  draft:\n    files:\n      - path: hello.md\n        content: \"hello\\n\"\n    commit: Draft the greeting\n  polish:\n    files:\n      - path: hello.md\n        content: \"hello world\\n\"\n    commit: Polish the greeting\n    rework:\n      - files:\n          - path: hello.md\n            content: \"hello, world\\n\"\n        commit: Polish the greeting properly\n  sign:\n    files:\n      - path: signed.md\n        content: \"a polecat\\n\"\n    commit: Sign the greeting\n```\n";

/// mara commits `formula` as the repository's `.gastown/formulas/<name>.yaml`, opens an
/// issue and labels it `gt:formula:<name>`.
async fn sling_with(sim: &SimHandle, name: &str, formula: &str, title: &str, body: &str) -> u64 {
    let path = format!(".gastown/formulas/{name}.yaml");
    sim.commit_file("mara", REPO, "main", &path, formula, "A formula")
        .await
        .unwrap();
    let n = sim.open_issue("mara", REPO, title, body).await.unwrap();
    sim.add_label("mara", REPO, n, &format!("gt:formula:{name}"))
        .await
        .unwrap();
    n
}

fn one(beads: &[Bead], t: BeadType) -> Vec<&Bead> {
    beads.iter().filter(|b| b.bead_type == t).collect()
}

fn step<'a>(beads: &'a [Bead], id: &str) -> &'a Bead {
    beads
        .iter()
        .find(|b| b.bead_type == BeadType::Step && b.metadata["step"] == id)
        .unwrap_or_else(|| panic!("no step {id}: {beads:#?}"))
}

async fn file(sim: &SimHandle, repo: &str, branch: &str, path: &str) -> Option<String> {
    sim.read_file(repo, branch, path)
        .await
        .unwrap()
        .map(|b| String::from_utf8(b).unwrap())
}

#[tokio::test]
async fn a_three_step_formula_is_walked_step_by_step_and_lands_as_one_pull_request() {
    let (sim, town) = story::github_town(REPO, None, &[]).await;
    let n = sling_with(&sim, "greet", GREET, "Greet the world", GREET_PLAN).await;

    let beads = town
        .run_until(WAIT, "a pull request in review", |b| {
            story::in_review(b) == 1
        })
        .await;

    // One molecule of three steps, each closed with what its polecat said.
    let molecule = one(&beads, BeadType::Molecule);
    assert_eq!(molecule.len(), 1, "{beads:#?}");
    assert_eq!(molecule[0].metadata["formula"], "greet");
    assert_eq!(molecule[0].metadata["source"], "repo");
    let steps = one(&beads, BeadType::Step);
    assert_eq!(steps.len(), 3);
    assert!(
        steps
            .iter()
            .all(|s| s.close_reason == Some(CloseReason::Done)),
        "{steps:#?}"
    );
    assert_eq!(step(&beads, "draft").title, "Draft: Greet the world");
    assert_eq!(
        step(&beads, "sign").metadata["summary"],
        "Sign the greeting"
    );

    // The gate refused the first polish, with its output, and passed the second.
    let polish = step(&beads, "polish");
    let history = town.events(&polish.id).await;
    let refused = history
        .iter()
        .find(|e| e.to_status.as_deref() == Some("in_progress") && e.payload.get("gate").is_some())
        .expect("the gate sent the step back");
    let output = refused.payload["gate"][0]["output_tail"].as_str().unwrap();
    assert!(
        output.contains("hello.md must say: hello, world"),
        "{output}"
    );
    assert_eq!(polish.metadata["summary"], "Polish the greeting properly");

    // One pull request with every step's work.
    let prs = sim.pull_requests(REPO).await;
    assert_eq!(prs.len(), 1, "{prs:#?}");
    let head = &prs[0].head_ref;
    assert_eq!(
        file(&sim, REPO, head, "hello.md").await.unwrap(),
        "hello, world\n"
    );
    assert_eq!(
        file(&sim, REPO, head, "signed.md").await.unwrap(),
        "a polecat\n"
    );

    // The issue shows the molecule as a checklist, every step ticked.
    town.act().await;
    let status = story::status_comment(&sim, REPO, n).await;
    for line in [
        "- [x] `draft` Draft: Greet the world",
        "- [x] `polish` Polish the greeting",
        "- [x] `sign` Sign it",
    ] {
        assert!(status.contains(line), "{line} in {status}");
    }
}

/// A step only a person can close.
const REVIEWED: &str = r#"formula: reviewed
description: Write, have a person look, finish.
version: 1
type: workflow
steps:
  - id: write
    title: Write it
    description: Write hello.md.
  - id: look
    title: A person looks at the draft
    role: human
    needs: [write]
  - id: finish
    title: Finish it
    description: Add the signature.
    needs: [look]
"#;

const REVIEWED_PLAN: &str = "```gastown-plan\nsteps:\n  write:\n    files:\n      - path: hello.md\n        content: \"hello\\n\"\n    commit: Write hello\n  finish:\n    files:\n      - path: signed.md\n        content: \"signed\\n\"\n    commit: Sign\n```\n";

#[tokio::test]
async fn a_human_step_waits_until_a_person_with_write_access_approves_it() {
    let (sim, town) = story::github_town(REPO, None, &[]).await;
    let n = sling_with(&sim, "reviewed", REVIEWED, "Hello", REVIEWED_PLAN).await;

    let tasks = |b: &[Bead]| -> Vec<Bead> {
        b.iter()
            .filter(|b| b.bead_type == BeadType::Task)
            .cloned()
            .collect()
    };
    let beads = town
        .run_until(WAIT, "the task to wait for approval", |b| {
            tasks(b).iter().any(|t| t.status == BeadStatus::Blocked)
        })
        .await;
    assert_eq!(step(&beads, "write").status, BeadStatus::Closed);
    assert_eq!(step(&beads, "look").status, BeadStatus::Open);
    town.act().await;
    let status = story::status_comment(&sim, REPO, n).await;
    assert!(
        status.contains("is **waiting for approval**: step `look` waits for a person"),
        "{status}"
    );
    // Nothing moves while nobody approves: more rounds leave it waiting.
    for _ in 0..5 {
        town.polecats().await;
    }
    assert!(sim.pull_requests(REPO).await.is_empty());

    sim.add_label("mara", REPO, n, "gt:approved").await.unwrap();
    let beads = town
        .run_until(WAIT, "a pull request in review", |b| {
            story::in_review(b) == 1
        })
        .await;
    let look = step(&beads, "look");
    assert_eq!(look.metadata["closed_by"], "mara");
    assert_eq!(step(&beads, "finish").status, BeadStatus::Closed);
    town.act().await;
    // The bot took its label off again, and said who approved.
    assert!(
        !sim.labels(REPO, n)
            .await
            .contains(&"gt:approved".to_string())
    );
    let said = sim.comments(REPO, n).await;
    assert!(
        said.iter()
            .any(|c| c.body.contains("@mara approved step `look`")),
        "{said:#?}"
    );
    let prs = sim.pull_requests(REPO).await;
    assert_eq!(prs.len(), 1);
    assert_eq!(
        file(&sim, REPO, &prs[0].head_ref, "signed.md")
            .await
            .unwrap(),
        "signed\n"
    );
}

#[tokio::test]
async fn a_formula_that_does_not_expand_is_said_on_the_issue_and_nothing_is_slung() {
    let (sim, town) = story::github_town(REPO, None, &[]).await;
    let broken = "formula: broken\nversion: 1\ntype: workflow\nsteps:\n  - id: a\n    title: A\n    needs: [b]\n";
    let before = sim.deliveries().len();
    let n = sling_with(&sim, "broken", broken, "Hello", "text").await;
    // The push of the formula, the issue, its label.
    sim.wait_for_deliveries(before + 3, WAIT).await.unwrap();
    town.settle().await;
    assert!(
        town.beads()
            .await
            .iter()
            .all(|b| b.bead_type != BeadType::Task),
        "nothing slung"
    );
    let said = sim.comments(REPO, n).await;
    let refusal = said
        .iter()
        .find(|c| c.body.contains("could not expand the formula `broken`"))
        .unwrap_or_else(|| panic!("{said:#?}"));
    assert!(
        refusal
            .body
            .contains(".gastown/formulas/broken.yaml@main:7:")
            && refusal.body.contains("steps[0].needs[0]"),
        "{}",
        refusal.body
    );
}

const PROJECT: &str = "group/sub/hello";

/// Two legs in parallel, then a synthesis that needs both.
const PAIR: &str = r#"formula: pair
description: Two halves in parallel, then the whole.
version: 1
type: convoy
legs:
  - id: left
    title: The left half
    description: Write left.md.
  - id: right
    title: The right half
    description: Write right.md.
synthesis:
  id: whole
  title: Put them together
  description: Write whole.md from both halves.
"#;

const PAIR_PLAN: &str = "```gastown-plan\nsteps:\n  left:\n    files:\n      - path: left.md\n        content: \"left\\n\"\n    commit: The left half\n  right:\n    files:\n      - path: right.md\n        content: \"right\\n\"\n    commit: The right half\n  whole:\n    commands:\n      - test -f left.md && test -f right.md\n    files:\n      - path: whole.md\n        content: \"left and right\\n\"\n    commit: The whole\n```\n";

#[tokio::test]
async fn a_two_leg_convoy_on_gitlab_is_worked_in_parallel_merged_and_landed() {
    let (sim, town) = story::gitlab_town(PROJECT, None).await;
    sim.commit_file(
        "devi",
        PROJECT,
        "main",
        ".gastown/formulas/pair.yaml",
        PAIR,
        "A formula",
    )
    .await
    .unwrap();
    let iid = sim
        .gl_open_issue("devi", PROJECT, "Both halves", PAIR_PLAN)
        .await
        .unwrap();
    sim.gl_add_label("devi", PROJECT, iid, "gt:formula:pair")
        .await
        .unwrap();

    // Both legs are hooked at once, to different polecats.
    let beads = town
        .run_until(WAIT, "both legs hooked", |b| {
            one(b, BeadType::Step)
                .iter()
                .filter(|s| s.hook.is_some() || s.status == BeadStatus::Closed)
                .count()
                >= 2
        })
        .await;
    let left = step(&beads, "left");
    let right = step(&beads, "right");
    if let (Some(l), Some(r)) = (&left.hook, &right.hook) {
        assert_ne!(l, r, "two polecats");
    }

    let beads = town
        .run_until(WAIT, "a merge request in review", |b| {
            story::in_review(b) == 1
        })
        .await;
    for id in ["left", "right", "whole"] {
        assert_eq!(
            step(&beads, id).close_reason,
            Some(CloseReason::Done),
            "{id}"
        );
    }
    assert_eq!(
        step(&beads, "left").branch.as_deref(),
        Some(
            format!(
                "gt/{}-left",
                step(&beads, "left").metadata["task"].as_str().unwrap()
            )
            .as_str()
        )
    );
    let mrs = sim.pull_requests(PROJECT).await;
    assert_eq!(mrs.len(), 1, "one merge request: {mrs:#?}");
    let head = &mrs[0].head_ref;
    for (path, text) in [
        ("left.md", "left\n"),
        ("right.md", "right\n"),
        ("whole.md", "left and right\n"),
    ] {
        assert_eq!(
            file(&sim, PROJECT, head, path).await.as_deref(),
            Some(text),
            "{path}"
        );
    }
}

/// Two steps that only read.
const LOOK: &str = r#"formula: look
description: Look into something and report.
version: 1
type: workflow
steps:
  - id: read
    title: Read the code
  - id: report
    title: Report what was found
    needs: [read]
"#;

#[tokio::test]
async fn a_formula_that_changes_no_file_ends_with_a_comment_not_a_pull_request() {
    let (sim, town) = story::github_town(REPO, None, &[]).await;
    let plan = "```gastown-plan\nsteps:\n  read:\n    commit: The flux is fine\n  report:\n    commit: Nothing to change\n```\n";
    let n = sling_with(&sim, "look", LOOK, "Is the flux fine?", plan).await;
    let beads = town
        .run_until(WAIT, "the task to close", |b| {
            b.iter()
                .any(|t| t.bead_type == BeadType::Task && t.status == BeadStatus::Closed)
        })
        .await;
    let molecule = one(&beads, BeadType::Molecule);
    assert_eq!(
        molecule[0].close_reason,
        Some(CloseReason::Done),
        "{beads:#?}"
    );
    town.act().await;
    assert!(sim.pull_requests(REPO).await.is_empty(), "no pull request");
    let said = sim.comments(REPO, n).await;
    let done = said
        .iter()
        .find(|c| c.body.contains("changed no file"))
        .unwrap_or_else(|| panic!("{said:#?}"));
    assert!(
        done.body.contains("- `read` The flux is fine")
            && done.body.contains("- `report` Nothing to change"),
        "{}",
        done.body
    );
    assert_eq!(
        sim.issue(REPO, n).await.unwrap().state,
        forge_sim::world::IssueState::Closed
    );
}

#[tokio::test]
async fn a_writers_gt_approve_comment_approves_the_waiting_step_and_a_readers_does_not() {
    let (sim, town) = story::github_town(REPO, None, &[]).await;
    sim.add_user("ana").await.unwrap();
    sim.grant(REPO, "ana", forge_sim::Permission::Read)
        .await
        .unwrap();
    let n = sling_with(&sim, "reviewed", REVIEWED, "Hello", REVIEWED_PLAN).await;
    town.run_until(WAIT, "the task to wait for approval", |b| {
        b.iter()
            .any(|t| t.bead_type == BeadType::Task && t.status == BeadStatus::Blocked)
    })
    .await;

    // Someone with read access only, and a quoted command: nothing is approved.
    let before = sim.deliveries().len();
    sim.comment("ana", REPO, n, "/gt approve").await.unwrap();
    sim.comment("mara", REPO, n, "> /gt approve\n\nnot yet")
        .await
        .unwrap();
    sim.wait_for_deliveries(before + 2, WAIT).await.unwrap();
    town.settle().await;
    assert_eq!(step(&town.beads().await, "look").status, BeadStatus::Open);

    sim.comment("mara", REPO, n, "Looks right.\n\n/gt approve")
        .await
        .unwrap();
    let beads = town
        .run_until(WAIT, "a pull request in review", |b| {
            story::in_review(b) == 1
        })
        .await;
    assert_eq!(step(&beads, "look").metadata["closed_by"], "mara");
    town.act().await;
    let said = sim.comments(REPO, n).await;
    assert!(
        said.iter()
            .any(|c| c.body.contains("✅ `/gt approve`: step `look` approved")),
        "{said:#?}"
    );
    // ana was told why nothing happened, once.
    let refused = said
        .iter()
        .filter(|c| c.body.contains("@ana, only people with write access"))
        .count();
    assert_eq!(refused, 1, "{said:#?}");
}
