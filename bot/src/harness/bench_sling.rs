//! `gt bench sling`: from the label on the forge to the polecat's process running,
//! through everything real in between — the simulator's signed webhook over HTTP,
//! ingest, the inbox worker, the permission check, the dispatcher and the runner —
//! and on to the agent's first tool call (after its clone and worktree).

use std::time::{Duration, Instant};

use anyhow::bail;

use crate::harness::demo::{DemoRunner, REPO, Stage};
use crate::store;

/// An agent that says it is working, then idles: what is measured is getting there.
const IDLE: &str =
    r#"{"idle":{"command":["sh","-c","gt agent prime >/dev/null && exec sleep 600"]}}"#;

pub async fn run(runners: &[DemoRunner], runs: usize) -> anyhow::Result<()> {
    for &choice in runners {
        let dir = tempfile::tempdir()?;
        let quiet = |_: &str| {};
        let cap = (runs + 1).min(20).to_string();
        let extra = [
            ("GT_RUNTIMES", IDLE),
            ("GT_POLECATS_RUNTIME", "idle"),
            ("GT_POLECATS_CAP", cap.as_str()),
            ("GT_LOG", "warn"),
        ];
        let stage = Stage::start(choice, dir.path(), &extra, &quiet).await?;
        let kind = stage.runner.kind();
        let mut to_running = Vec::new();
        let mut to_primed = Vec::new();
        // The first run starts the town (for Docker: creates the container), later
        // ones find it warm.
        for i in 0..runs.min(20) {
            let (running, primed) = one(&stage, i).await?;
            to_running.push(running);
            to_primed.push(primed);
        }
        stage.stop(false).await?;
        let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
        println!(
            "runner={kind} cold label_to_running_ms={:.0} label_to_primed_ms={:.0}",
            ms(&to_running[0]),
            ms(&to_primed[0])
        );
        let (warm_r, warm_p) = (&mut to_running[1..], &mut to_primed[1..]);
        warm_r.sort();
        warm_p.sort();
        if let (Some(r50), Some(p50)) = (warm_r.get(warm_r.len() / 2), warm_p.get(warm_p.len() / 2))
        {
            println!(
                "runner={kind} warm runs={} label_to_running_ms p50={:.0} max={:.0} \
                 label_to_primed_ms p50={:.0} max={:.0}",
                warm_r.len(),
                ms(r50),
                ms(warm_r.last().unwrap()),
                ms(p50),
                ms(warm_p.last().unwrap())
            );
        }
    }
    Ok(())
}

/// Label one new issue; time until its session runs and until the agent primed.
async fn one(stage: &Stage, i: usize) -> anyhow::Result<(Duration, Duration)> {
    let n = stage
        .sim
        .open_issue("mara", REPO, &format!("Bench {i}"), "measure me")
        .await?;
    let rig = store::rig_id(
        webhooks::ForgeKind::GitHub,
        &stage.sim.addr().to_string(),
        REPO,
    );
    let forge_ref = store::ForgeRef::issue(&rig, n).to_string();
    let started = Instant::now();
    stage.sim.add_label("mara", REPO, n, "gt:sling").await?;
    let mut running = None;
    loop {
        let r = forge_ref.clone();
        let (bead, sessions) = stage
            .store
            .read(move |c| {
                let Some(bead) = store::find_task_for_forge_ref(c, &r)? else {
                    return Ok((None, Vec::new()));
                };
                let sessions = store::sessions_of_bead(c, &bead.id)?;
                Ok((Some(bead), sessions))
            })
            .await?;
        if running.is_none()
            && sessions
                .iter()
                .any(|s| s.state == store::SessionState::Running)
        {
            running = Some(started.elapsed());
        }
        if let (Some(r), Some(b)) = (running, &bead)
            && b.status == store::BeadStatus::InProgress
        {
            return Ok((r, started.elapsed()));
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("issue #{n} was not worked within 120 s (bead: {bead:?})");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
