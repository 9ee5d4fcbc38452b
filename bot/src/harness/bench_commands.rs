//! `gt bench commands`: from a `/gt` comment on a (simulated) forge to the bot's
//! acknowledgement on it (the first reaction it puts there) and to its answer in the
//! thread, through everything real in between: the simulator's signed webhook over
//! HTTP, ingest, the inbox worker with its permission look-up, the command's
//! transaction and the outbox's forge calls.

use std::time::{Duration, Instant};

use anyhow::bail;

use crate::harness::demo::{DemoRunner, REPO, Stage};

pub async fn run(runs: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let quiet = |_: &str| {};
    let stage = Stage::start(DemoRunner::Local, dir.path(), &[("GT_LOG", "warn")], &quiet).await?;
    let n = stage
        .sim
        .open_issue("mara", REPO, "Commands", "Answer me.")
        .await?;
    let (mut acked, mut answered) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let (a, b) = one(&stage, n, i).await?;
        acked.push(a);
        answered.push(b);
    }
    stage.stop(false).await?;
    // The first comment also pays for the permission look-up and the rig joining.
    let first = (acked[0], answered[0]);
    let (acked, answered) = (&mut acked[1..], &mut answered[1..]);
    acked.sort();
    answered.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let pct = |v: &[Duration], p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "first comment_to_ack_ms={:.1} comment_to_answer_ms={:.1}",
        ms(&first.0),
        ms(&first.1)
    );
    if !acked.is_empty() {
        println!(
            "runs={} comment_to_ack_ms p50={:.1} p99={:.1} comment_to_answer_ms p50={:.1} p99={:.1}",
            acked.len(),
            ms(&pct(acked, 0.5)),
            ms(&pct(acked, 0.99)),
            ms(&pct(answered, 0.5)),
            ms(&pct(answered, 0.99)),
        );
    }
    Ok(())
}

/// Comment `/gt help` and time the bot's first reaction and its answer.
async fn one(stage: &Stage, n: u64, i: usize) -> anyhow::Result<(Duration, Duration)> {
    let started = Instant::now();
    let id = stage
        .sim
        .comment("mara", REPO, n, &format!("Run {i}.\n\n/gt help"))
        .await?;
    let marker = format!(":{id}:");
    let mut acked = None;
    loop {
        if acked.is_none()
            && stage
                .sim
                .reactions(REPO, id)
                .await
                .iter()
                .any(|(who, _)| who == "gastown-bot")
        {
            acked = Some(started.elapsed());
        }
        let answered = stage
            .sim
            .comments(REPO, n)
            .await
            .iter()
            .any(|c| c.body.starts_with("<!-- gastown:answer") && c.body.contains(&marker));
        if let (Some(a), true) = (acked, answered) {
            return Ok((a, started.elapsed()));
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("comment {id} was not answered within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
