//! A town that has run for months: settled deliveries age out of the inbox, while what
//! a person may still act on stays, and pruning never turns into a second bead.

use bot::loops::retention;
use bot::store;
use gastown_tests::process::gt;
use gastown_tests::{Fixtures, TestTown};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

#[tokio::test]
async fn a_month_old_settled_delivery_is_pruned_and_a_failed_one_stays_for_a_person() {
    let Some(fx) = Fixtures::find() else { return };
    let (github, bot) = gastown_tests::forge::github_com(&["octo/hello"], &["mara"]).await;
    let town = TestTown::builder().github_com(&github, &bot).start().await;
    let sling = |issue| fx.github_sling("octo/hello", issue, "mara");

    town.github("issues", "old-1", sling(5)).await;
    town.github("issues", "bad-1", b"{\"action\": ".to_vec())
        .await;
    town.drain().await;
    town.clock.advance(31 * DAY_MS);
    town.github("issues", "new-1", sling(6)).await;
    town.drain().await;

    let now = bot::clock::Clock::now_ms(&*town.clock);
    let pruned = retention::prune(&town.app.store, retention::cutoff(now, 30))
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    let kept: Vec<String> = town
        .inbox()
        .await
        .into_iter()
        .map(|r| r.delivery_id)
        .collect();
    assert_eq!(kept, ["new-1", "bad-1"], "newest first");
    let bad = town.inbox().await.pop().unwrap();
    let body = town
        .app
        .store
        .read(move |c| store::delivery_body(c, bad.id))
        .await
        .unwrap();
    assert_eq!(
        body.as_deref(),
        Some(&b"{\"action\": "[..]),
        "a failed delivery keeps its body"
    );
    let orphans: i64 = town
        .app
        .store
        .read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM inbox_bodies WHERE inbox_id NOT IN (SELECT id FROM inbox)",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(orphans, 0, "bodies go with their deliveries");

    // Within the window a redelivery is still a duplicate; past it, the delivery is
    // new to the inbox, and the sling it carries finds the bead it made a month ago.
    assert_eq!(town.github("issues", "new-1", sling(6)).await.status, 200);
    assert_eq!(town.github("issues", "old-1", sling(5)).await.status, 202);
    town.drain().await;
    let beads = town.beads().await;
    let for_issue_5 = beads
        .iter()
        .filter(|b| b.forge_ref.as_deref() == Some("github:octo/hello#5"))
        .count();
    assert_eq!(for_issue_5, 1, "{beads:#?}");
}

#[tokio::test]
async fn a_person_prunes_the_inbox_from_the_cli() {
    let Some(fx) = Fixtures::find() else { return };
    let town = TestTown::builder().start().await;
    let db = town.database();
    let env = [
        ("GT_DATABASE", db.as_str()),
        ("GT_INBOX_KEEP_DAYS", "36500"),
    ];
    let sling = fx.github_sling("octo/hello", 5, "mara");
    town.github("issues", "ok-1", sling).await;
    town.github("issues", "bad-1", b"[]".to_vec()).await;
    town.drain().await;

    // By default the CLI keeps what `inbox.keep_days` keeps: a century here.
    let default = gt(&["inbox", "prune"], &env).await;
    assert!(default.starts_with("pruned 0 "), "{default}");

    let all = gt(&["inbox", "prune", "--older-than-days", "0"], &env).await;
    assert!(
        all.starts_with("pruned 1 processed or ignored deliveries received before "),
        "{all}"
    );
    let left = gt(&["inbox", "list"], &env).await;
    assert_eq!(left.lines().count(), 1, "{left}");
    assert!(left.contains("failed"), "{left}");
}
