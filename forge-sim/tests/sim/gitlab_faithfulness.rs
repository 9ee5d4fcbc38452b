//! Story: everything the simulator sends for a GitLab project looks like what GitLab
//! sends. GitLab publishes no schema, so for every hook a session of ordinary work
//! produces, the matching real fixture (`fixtures/gitlab/*.json`, mapped by
//! `X-Gitlab-Event` as `SOURCES.md` says) is compared both ways: each of its key paths
//! and JSON types must appear in the simulator's payload, and the payload may carry no
//! key the fixture lacks unless GitLab documents it for that hook (listed in
//! `forge_sim::conformance::gitlab`: the samples are from an older GitLab). A REST
//! field leaking into a hook fails here.
//!
//! The walk's rules are [`forge_sim::conformance::compare`]'s.

use crate::common;
use crate::gitlab_common;

use common::{WAIT, fixtures};
use forge_sim::conformance::gitlab::compare_with_fixtures;
use gitlab_common::{PROJECT, gl_world};

#[tokio::test]
async fn every_gitlab_hook_has_the_real_payloads_key_paths_and_types() {
    let Some(fixtures) = fixtures() else { return };
    let w = gl_world().await;
    let sim = &w.sim;
    // An issue's life: open, label, comment, relabel, close.
    let issue = sim
        .gl_open_issue("rita", PROJECT, "Greet", "Say hello")
        .await
        .unwrap();
    sim.gl_add_label("maria", PROJECT, issue, "gt:sling")
        .await
        .unwrap();
    sim.gl_comment("rita", PROJECT, issue, false, "on it")
        .await
        .unwrap();
    sim.gl_remove_label("maria", PROJECT, issue, "gt:sling")
        .await
        .unwrap();
    // A merge request's life: push, open, push, CI, notes, approve, merge.
    sim.commit_file("devi", PROJECT, "greet", "hello.txt", "hi\n", "Add hello")
        .await
        .unwrap();
    let mr = sim
        .gl_open_mr(
            "devi",
            PROJECT,
            "greet",
            "main",
            "Greet",
            &format!("Closes #{issue}"),
        )
        .await
        .unwrap();
    sim.commit_file("devi", PROJECT, "greet", "hello.txt", "hello\n", "More")
        .await
        .unwrap();
    let p = sim.run_pipeline("devi", PROJECT, "greet").await.unwrap();
    sim.finish_pipeline(PROJECT, p, "success").await.unwrap();
    sim.gl_comment("maria", PROJECT, mr, true, "Looks good")
        .await
        .unwrap();
    sim.gl_diff_note("maria", PROJECT, mr, "hello.txt", 1, "Nice.")
        .await
        .unwrap();
    sim.gl_approve("maria", PROJECT, mr).await.unwrap();
    sim.gl_merge("maria", PROJECT, mr, false).await.unwrap();
    assert_eq!(
        sim.sim().world().repo(PROJECT).unwrap().issues[&1].state,
        forge_sim::world::IssueState::Closed,
        "`Closes #1` closed issue iid 1"
    );

    let expected = sim.deliveries().len();
    sim.wait_for_deliveries(expected, WAIT).await.unwrap();
    let report = compare_with_fixtures(&fixtures.join("gitlab"), &sim.deliveries());
    for want in [
        "issue.json",
        "merge_request.json",
        "note_issue.json",
        "note_merge_request.json",
        "pipeline.json",
        "push.json",
    ] {
        if fixtures.join("gitlab").join(want).exists() {
            assert!(
                report.checked.contains(want),
                "nothing was checked against {want}: {:?}",
                report.checked
            );
        }
    }
    assert!(
        report.problems.is_empty(),
        "{} differences:\n{}",
        report.problems.len(),
        report.problems.join("\n")
    );
    let actions: Vec<String> = sim
        .deliveries()
        .iter()
        .filter(|d| d.event == "Merge Request Hook")
        .filter_map(|d| d.action.clone())
        .collect();
    assert_eq!(actions, ["open", "update", "approved", "merge"]);
    assert_eq!(w.receiver.received().len(), expected);
}
