//! A span entered with `span.enter()` and held over an `.await` stays entered on the
//! thread while its task is parked, so whatever else that thread runs meanwhile logs
//! under it. Each future here is polled by hand on the test's thread: after every poll
//! that leaves it pending, no span may still be entered.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bot::edge::ingest::{IngestState, VerifiedDelivery};
use bot::store::{NewDelivery, StoredBody};
use gastown_tests::TestTown;
use gastown_tests::town::GITHUB_SECRET;

const REPO: &str = "octo/hello";
const WAIT: Duration = Duration::from_secs(20);

/// Poll `fut` to completion; returns its output and the names of the spans still
/// entered on this thread after each poll that left it pending.
async fn watch<F: Future>(fut: F) -> (F::Output, Vec<&'static str>) {
    let mut fut = pin!(fut);
    let mut left = Vec::new();
    let out = poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Pending => {
            if let Some(meta) = tracing::Span::current().metadata() {
                left.push(meta.name());
            }
            Poll::Pending
        }
        ready => ready,
    })
    .await;
    (out, left)
}

/// A subscriber that tracks which span is entered on each thread, for this test only.
fn record_spans() -> tracing::subscriber::DefaultGuard {
    tracing::subscriber::set_default(tracing_subscriber::registry())
}

#[tokio::test]
async fn storing_a_delivery_leaves_no_span_entered_while_it_waits_for_the_writer() {
    let _spans = record_spans();
    let town = TestTown::builder().start().await;
    // Hold the writer so the delivery's write is sure to wait.
    let (release, held) = std::sync::mpsc::channel::<()>();
    let mut hold = Box::pin(town.app.store.write(move |_| {
        let _ = held.recv();
        Ok(())
    }));
    // The first poll hands the job to the writer thread.
    assert!(poll_fn(|cx| Poll::Ready(hold.as_mut().poll(cx).is_pending())).await);

    let state = Arc::new(IngestState {
        store: town.app.store.clone(),
        config: (*town.app.config).clone(),
        clock: town.app.clock.clone(),
    });
    let delivery = NewDelivery {
        forge: webhooks::ForgeKind::GitHub,
        forge_host: "github.com".into(),
        delivery_id: "d-1".into(),
        event: "ping".into(),
        action: None,
        repo: Some("github:octo/hello".into()),
        body: Some(StoredBody::compress(b"{}")),
        received_at: 0,
        settled: None,
    };
    let receive =
        bot::edge::ingest::receive(axum::extract::State(state), VerifiedDelivery(delivery));
    let released = async {
        tokio::task::yield_now().await;
        release.send(()).unwrap();
        hold.await.unwrap();
    };
    let ((response, left), ()) = tokio::join!(watch(receive), released);
    assert_eq!(response.map(|r| r.status().as_u16()).ok(), Some(202));
    assert_eq!(left, Vec::<&str>::new(), "spans left entered by ingest");
}

#[tokio::test]
async fn catch_up_and_forge_actions_leave_no_span_entered_while_they_wait_on_the_forge() {
    let _spans = record_spans();
    let (sim, bot) = gastown_tests::forge::github_com(&[REPO], &["mara"]).await;
    let town = TestTown::builder()
        .github_forge(&sim.github_api_url(), &sim.addr().to_string(), &bot.token)
        .start()
        .await;
    sim.set_hook(REPO, &town.url("/webhooks/github"), GITHUB_SECRET)
        .await
        .unwrap();
    let n = sim.open_issue("mara", REPO, "Lost", "").await.unwrap();
    sim.wait_for_deliveries(1, WAIT).await.unwrap();
    town.settle().await;
    // The label's delivery is lost: catch-up finds the issue on the forge.
    sim.drop_deliveries(1);
    sim.add_label("mara", REPO, n, "gt:sling").await.unwrap();
    sim.wait_for_deliveries(2, WAIT).await.unwrap();

    let (report, left_by_catch_up) = watch(town.app.catch_up.pass()).await;
    let report = report.unwrap();
    assert_eq!(report.recovered.len(), 1, "{report:?}");

    let (acted, left_by_actions) = watch(town.app.actions.drain()).await;
    assert!(acted.unwrap() > 0, "the status comment was queued");
    assert_eq!(
        (left_by_catch_up, left_by_actions),
        (vec![], vec![]),
        "spans left entered (catch-up, forge actions)"
    );
}
