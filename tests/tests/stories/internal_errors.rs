//! The bot's own failures reach agents and `/healthz` as an error id, never as the
//! database's error: no SQL, no table, no database file, no host path. The full error
//! is in the bot's log under the same id.

use gastown_tests::TestTown;
use serde_json::{Value, json};

const NUX: &str = "gta_token-of-nux";

async fn call(town: &TestTown, tool: &str, body: Value) -> (u16, String) {
    let res = reqwest::Client::new()
        .post(town.url(&format!("/api/agent/v1/{tool}")))
        .bearer_auth(NUX)
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Nothing of the bot's insides is in `answer`.
fn assert_no_internals(town: &TestTown, answer: &str) {
    let data_dir = town.app.config.data_dir.display().to_string();
    let database = town.database();
    let tmp = std::path::Path::new(&database)
        .parent()
        .unwrap()
        .display()
        .to_string();
    for internal in [
        database.as_str(),
        data_dir.as_str(),
        tmp.as_str(),
        "gastown.db",
        "SELECT",
        "INSERT",
        "no such table",
        "bead_events",
    ] {
        assert!(
            !answer.contains(internal),
            "{internal:?} in the answer: {answer}"
        );
    }
    assert!(answer.contains("error err-"), "an error id: {answer}");
}

#[tokio::test]
async fn a_tool_call_that_hits_a_store_error_answers_an_error_id_only() {
    let town = TestTown::builder().start().await;
    town.hooked_bead("octo/hello", "nux", NUX).await;

    // The bead's rig is unknown: priming looks it up and does not find it.
    town.app
        .store
        .write(|c| {
            c.execute("UPDATE beads SET rig_id = NULL", [])?;
            Ok(())
        })
        .await
        .unwrap();
    let (status, answer) = call(&town, "prime", json!({})).await;
    assert_eq!(status, 500, "{answer}");
    assert_no_internals(&town, &answer);
    assert!(!answer.contains("no rig"), "{answer}");

    // A broken database: the SQL error would name the statement and the table.
    town.app
        .store
        .write(|c| {
            c.execute_batch("DROP TABLE bead_events")?;
            Ok(())
        })
        .await
        .unwrap();
    let (status, answer) = call(&town, "status", json!({ "message": "still here" })).await;
    assert_eq!(status, 500, "{answer}");
    assert_no_internals(&town, &answer);
}

#[tokio::test]
async fn healthz_with_a_broken_database_says_so_without_its_insides() {
    let town = TestTown::builder().start().await;
    town.app
        .store
        .write(|c| {
            c.execute_batch("DROP TABLE inbox")?;
            Ok(())
        })
        .await
        .unwrap();
    let res = reqwest::get(town.url("/healthz")).await.unwrap();
    assert_eq!(res.status().as_u16(), 503);
    let answer = res.text().await.unwrap();
    assert!(answer.contains("unavailable"), "{answer}");
    assert_no_internals(&town, &answer);
    assert!(!answer.contains("inbox"), "{answer}");
}
