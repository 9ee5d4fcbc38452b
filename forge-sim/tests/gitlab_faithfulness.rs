//! Story: everything the simulator sends for a GitLab project looks like what GitLab
//! sends. For every hook a session of ordinary work produces, each key path and JSON
//! type in the matching real fixture (`fixtures/gitlab/*.json`, mapped by
//! `X-Gitlab-Event` as `SOURCES.md` says) must appear in the simulator's payload.
//!
//! Rules of the walk: a `null` on either side only requires the key; arrays compare
//! their first elements when both have one; all numbers are one type; and under
//! `changes` only the fields that changed are required, since GitLab lists only those.

mod common;
mod gitlab_common;

use common::{WAIT, fixtures};
use gitlab_common::{PROJECT, gl_world};
use serde_json::Value;

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn missing(real: &Value, ours: &Value, path: &str, out: &mut Vec<String>) {
    if real.is_null() || ours.is_null() {
        return;
    }
    if kind(real) != kind(ours) {
        out.push(format!(
            "{path}: {} in the fixture, {} here",
            kind(real),
            kind(ours)
        ));
        return;
    }
    match (real, ours) {
        (Value::Object(r), Value::Object(o)) => {
            let is_changes = path.ends_with(".changes");
            for (k, rv) in r {
                let p = format!("{path}.{k}");
                match o.get(k) {
                    Some(ov) => missing(rv, ov, &p, out),
                    None if is_changes => {}
                    None => out.push(format!("{p}: missing")),
                }
            }
        }
        (Value::Array(r), Value::Array(o)) => {
            if let (Some(r0), Some(o0)) = (r.first(), o.first()) {
                missing(r0, o0, &format!("{path}[0]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_walker_only_requires_changes_that_happened() {
    let real = serde_json::json!({"changes": {"title": {"previous": "a"}, "labels": {"current": []}}, "x": 1});
    let ours = serde_json::json!({"changes": {"labels": {"current": "no"}}});
    let mut out = Vec::new();
    missing(&real, &ours, "$", &mut out);
    assert_eq!(
        out,
        vec![
            "$.changes.labels.current: array in the fixture, string here",
            "$.x: missing"
        ]
    );
}

/// The fixture file for a delivery.
fn fixture_for(event: &str, payload: &Value) -> Option<&'static str> {
    Some(match event {
        "Issue Hook" => "issue.json",
        "Merge Request Hook" => "merge_request.json",
        "Pipeline Hook" => "pipeline.json",
        "Push Hook" => "push.json",
        "Note Hook" => match payload["object_attributes"]["noteable_type"].as_str()? {
            "Issue" => "note_issue.json",
            "MergeRequest" => "note_merge_request.json",
            _ => return None,
        },
        _ => return None,
    })
}

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
    let mut checked = Vec::new();
    let mut problems = Vec::new();
    for d in sim.deliveries() {
        let Some(file) = fixture_for(&d.event, &d.payload) else {
            continue;
        };
        let path = fixtures.join("gitlab").join(file);
        if !path.exists() {
            continue;
        }
        let real: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let mut out = Vec::new();
        missing(&real, &d.payload, "$", &mut out);
        let action = d.action.clone().unwrap_or_default();
        problems.extend(out.into_iter().map(|p| format!("{file} ({action}): {p}")));
        checked.push(file);
    }
    checked.sort();
    checked.dedup();
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
                checked.contains(&want),
                "nothing was checked against {want}: {checked:?}"
            );
        }
    }
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
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
