//! What comes from the town reaches the forge without the bot's secrets: gate output
//! in rework and escalation comments, an agent's summary in the pull request body.
//! The town is not trusted, so whatever it prints is redacted before it is published.

use std::time::Duration;

use bot::store::{BeadStatus, BeadType};
use gastown_tests::story;
use gastown_tests::town::GITHUB_SECRET;

const REPO: &str = "octo/hello";
const WAIT: Duration = Duration::from_secs(90);

fn plan(commit: &str) -> String {
    format!(
        "Greet.\n\n```gastown-plan\nfiles:\n  - path: hello.md\n    content: \"hello\\n\"\n\
         commit: \"{commit}\"\nrework:\n  - files:\n      - path: hello.md\n        \
         content: \"hello again\\n\"\n    commit: Again\n```\n"
    )
}

/// A gate that prints the bot's forge token and webhook secret (as a polecat that found
/// them would make it): the rework and the escalation say what failed, without either.
#[tokio::test]
async fn gate_output_with_the_forge_token_is_redacted_in_every_comment() {
    let (sim, town) = story::github_town(REPO, None, &[]).await;
    let token = sim.user("gastown-bot").await.unwrap().token;
    let yaml = format!(
        "quality_gates:\n  - name: leak\n    run: \"echo 'found {token}'; echo \\\"and {GITHUB_SECRET}\\\"; exit 3\"\n    timeout_secs: 60\nmax_rework_attempts: 1\n"
    );
    story::configure(&sim, "mara", REPO, &yaml).await;
    let n = story::sling(&sim, REPO, "Greet", &plan("Greet")).await;

    let beads = town
        .run_until(WAIT, "the task to fail", |b| {
            b.iter().any(|t| {
                t.bead_type == BeadType::Task
                    && t.parent_id.is_none()
                    && t.status == BeadStatus::Failed
            })
        })
        .await;
    town.act().await;

    let said = sim.comments(REPO, n).await;
    let town_said: Vec<_> = said
        .iter()
        .filter(|c| c.body.contains("gastown:rework") || c.body.contains("gastown:escalation"))
        .collect();
    assert_eq!(town_said.len(), 2, "a rework and an escalation: {said:#?}");
    for c in &said {
        assert!(
            !c.body.contains(&token) && !c.body.contains(GITHUB_SECRET),
            "a secret reached the forge: {}",
            c.body
        );
    }
    for c in town_said {
        assert!(
            c.body.contains("found [REDACTED]") && c.body.contains("and [REDACTED]"),
            "the output is shown, redacted: {}",
            c.body
        );
    }
    // The rework's prompt (its details) never held them either.
    let rework = beads
        .iter()
        .find(|b| b.metadata.get("rework_of").is_some())
        .expect("a rework bead");
    let details = rework.metadata["details"].as_str().unwrap();
    assert!(
        details.contains("found [REDACTED]") && !details.contains(&token),
        "{details}"
    );
}

/// The polecat's summary (here its commit message, which the scripted agent gives as
/// its `gt_done` summary) holds the webhook secret, which has no token shape: the pull
/// request quotes the summary without it.
#[tokio::test]
async fn a_summary_with_a_secret_value_is_redacted_in_the_pull_request() {
    let (sim, town) = story::github_town(REPO, None, &[]).await;
    story::sling(
        &sim,
        REPO,
        "Greet",
        &plan(&format!("Greet, knowing {GITHUB_SECRET}")),
    )
    .await;
    town.run_until(WAIT, "a pull request", |b| story::in_review(b) == 1)
        .await;
    let prs = sim.pull_requests(REPO).await;
    assert_eq!(prs.len(), 1, "{prs:#?}");
    let body = sim.issue(REPO, prs[0].number).await.unwrap().body.unwrap();
    assert!(!body.contains(GITHUB_SECRET), "{body}");
    assert!(body.contains("> Greet, knowing [REDACTED]"), "{body}");
}
