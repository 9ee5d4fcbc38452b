//! A person inspecting the town with the `gt` CLI while the bot runs.

use gastown_tests::process::gt;
use gastown_tests::{Fixtures, TestTown};

#[tokio::test]
async fn a_person_finds_a_failed_delivery_retries_it_and_reads_the_bead() {
    let Some(fx) = Fixtures::find() else { return };
    let (github, bot) = gastown_tests::forge::github_com(&["octo/hello"], &["mara"]).await;
    let town = TestTown::builder().github_com(&github, &bot).start().await;
    let db = town.database();
    let env = [("GT_DATABASE", db.as_str())];

    town.github("issues", "bad-1", b"{\"action\": \"labeled\", ".to_vec())
        .await;
    let sling = fx.github_sling("octo/hello", 5, "mara");
    town.github("issues", "ok-1", sling).await;
    town.drain().await;

    let failed = gt(&["inbox", "list", "--failed"], &env).await;
    assert_eq!(failed.lines().count(), 1, "{failed}");
    assert!(
        failed.contains("failed") && failed.contains("issues"),
        "{failed}"
    );
    assert!(
        failed.contains("error: issues: body is not a JSON object"),
        "{failed}"
    );
    let id = failed.split_whitespace().next().unwrap().to_string();

    let shown = gt(&["inbox", "show", &id], &env).await;
    assert!(shown.contains("\"delivery_id\": \"bad-1\""), "{shown}");
    assert!(
        shown.contains("{\"action\": \"labeled\", "),
        "the raw payload: {shown}"
    );

    let retried = gt(&["inbox", "retry", &id], &env).await;
    assert!(retried.contains("is pending again"), "{retried}");
    let pending = gt(&["inbox", "list", "--status", "pending"], &env).await;
    assert!(pending.trim_start().starts_with(&id), "{pending}");

    let ready = gt(&["beads", "list", "--ready"], &env).await;
    assert!(ready.contains("github:octo/hello#5"), "{ready}");
    let bead_id = ready
        .lines()
        .find(|l| l.contains("github:octo/hello#5"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap();
    let shown = gt(&["beads", "show", bead_id], &env).await;
    assert!(shown.contains("status    open"), "{shown}");
    assert!(
        shown.contains("created") && shown.contains("by mara"),
        "{shown}"
    );
}
