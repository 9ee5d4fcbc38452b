//! `gt bench patrol`: the patrol's tick over a big town, its SQLite reads and writes
//! included. A database on disk is filled with `beads` beads (most of them closed, as
//! in a town that has run for a while) and `agents` working agents with live sessions;
//! then ticks are timed while nothing is due (idle), and while a few sessions are due
//! for a nudge each tick (busy). The idle figure at two database sizes shows the cost
//! follows what is alive or due, not the database's size.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::{Clock, ManualClock, Millis, SharedClock};
use crate::config::Config;
use crate::loops::patrol::Patrol;
use crate::store::Store;

/// The town's clock when the bench starts: every session heartbeats at this time.
const T0: Millis = 1_795_622_257_000;

pub struct PatrolFigures {
    pub beads: usize,
    pub agents: usize,
    pub idle_p50_ms: f64,
    pub idle_p99_ms: f64,
    pub busy_p50_ms: f64,
    pub busy_p99_ms: f64,
    /// Forge writes queued by the idle ticks (the outbox is the only way to a forge).
    pub idle_forge_writes: i64,
    pub database_mb: f64,
}

pub async fn run(beads: usize, agents: usize, ticks: usize) -> anyhow::Result<PatrolFigures> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.db");
    let store = Store::open(&path)?;
    fill(&store, beads, agents).await?;
    let config = Arc::new(Config::load(None, &|_| None)?);
    let clock = ManualClock::new(T0);
    let shared: SharedClock = clock.clone();
    let patrol = Patrol::new(store.clone(), config.clone(), shared, None);
    let actions = |store: Store| async move {
        store
            .read(|c| Ok(c.query_row("SELECT count(*) FROM actions", [], |r| r.get::<_, i64>(0))?))
            .await
    };

    // Idle: every agent heartbeats and works; nothing is due.
    let before = actions(store.clone()).await?;
    let mut idle = Vec::with_capacity(ticks);
    for _ in 0..ticks.max(1) + 3 {
        clock.advance(1_000);
        touch_all(&store, clock.now_ms()).await?;
        let start = Instant::now();
        let n = patrol.tick().await?;
        idle.push(start.elapsed());
        anyhow::ensure!(n == 0, "an idle tick did {n} things");
    }
    idle.drain(..3);
    let idle_forge_writes = actions(store.clone()).await? - before;

    // Busy: each tick, 10 sessions have made no progress past the nudge threshold.
    let nudge_after = i64::try_from(config.patrol.nudge_after_secs * 1000)?;
    let mut busy = Vec::with_capacity(ticks);
    for i in 0..ticks.max(1) {
        clock.advance(1_000);
        let now = clock.now_ms();
        touch_all(&store, now).await?;
        stall(&store, i, 10, agents, now - nudge_after).await?;
        let start = Instant::now();
        let n = patrol.tick().await?;
        busy.push(start.elapsed());
        anyhow::ensure!(n >= 10, "a busy tick did {n} things, not 10");
    }
    let database_mb = std::fs::metadata(&path)?.len() as f64 / 1e6;
    let pct = |all: &mut Vec<Duration>, p: f64| {
        all.sort();
        let idx = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        all[idx].as_secs_f64() * 1000.0
    };
    Ok(PatrolFigures {
        beads,
        agents,
        idle_p50_ms: pct(&mut idle, 0.50),
        idle_p99_ms: pct(&mut idle, 0.99),
        busy_p50_ms: pct(&mut busy, 0.50),
        busy_p99_ms: pct(&mut busy, 0.99),
        idle_forge_writes,
        database_mb,
    })
}

/// A town that has run a while: `beads` task beads (all but the worked ones closed,
/// each with its history event), `agents` working polecats across 5 rigs, each hooked
/// to one in-progress bead with a live session.
async fn fill(store: &Store, beads: usize, agents: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        agents <= beads,
        "more agents ({agents}) than beads ({beads})"
    );
    store
        .write(move |c| {
            c.execute(
                "INSERT INTO towns (id, name, created_at) VALUES ('default', 'default', ?1)",
                [T0],
            )?;
            for r in 0..5 {
                c.execute(
                    "INSERT INTO rigs (id, town_id, forge, host, path, created_at)
                     VALUES (?1, 'default', 'github', 'github.com', ?2, ?3)",
                    rusqlite::params![format!("github:octo/r{r}"), format!("octo/r{r}"), T0],
                )?;
            }
            let mut bead = c.prepare(
                "INSERT INTO beads (id, type, status, close_reason, title, town_id, rig_id, hook,
                     forge_ref, created_by, created_at, updated_at, attempts)
                 VALUES (?1, 'task', ?2, ?3, ?4, 'default', ?5, ?6, ?7, 'bench', ?8, ?8, 1)",
            )?;
            let mut event = c.prepare(
                "INSERT INTO bead_events (bead_id, kind, actor, to_status, at)
                 VALUES (?1, 'created', 'bench', 'open', ?2)",
            )?;
            let mut agent = c.prepare(
                "INSERT INTO agents (id, town_id, rig_id, role, name, status, hooked_bead,
                     last_heartbeat_at, created_at)
                 VALUES (?1, 'default', ?2, 'polecat', ?3, 'working', ?4, ?5, ?5)",
            )?;
            let mut session = c.prepare(
                "INSERT INTO agent_sessions (id, agent_id, bead_id, token_sha256, state,
                     started_at, heartbeat_at, progress_at)
                 VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?5, ?5)",
            )?;
            for i in 0..beads {
                let id = format!("gt-b{i:06}");
                let rig = format!("github:octo/r{}", i % 5);
                let worked = i < agents;
                let (status, reason) = if worked {
                    ("in_progress", None)
                } else {
                    ("closed", Some("merged"))
                };
                let hook = worked.then(|| format!("{rig}/polecat/p{i}"));
                bead.execute(rusqlite::params![
                    id,
                    status,
                    reason,
                    format!("Bench bead {i}"),
                    rig,
                    hook,
                    format!("{rig}#{i}"),
                    T0 - 1_000_000 + i as i64
                ])?;
                event.execute(rusqlite::params![id, T0])?;
                if let Some(hook) = hook {
                    agent.execute(rusqlite::params![hook, rig, format!("p{i}"), id, T0])?;
                    // Started a day ago: long enough for the ladder to apply.
                    session.execute(rusqlite::params![
                        format!("s{i}"),
                        hook,
                        id,
                        format!("{i:064x}"),
                        T0 - 86_400_000
                    ])?;
                }
            }
            Ok(())
        })
        .await?;
    Ok(())
}

/// Every live session heartbeats and makes progress at `now`, as busy agents do.
async fn touch_all(store: &Store, now: Millis) -> anyhow::Result<()> {
    store
        .write(move |c| {
            c.execute(
                "UPDATE agent_sessions SET heartbeat_at = ?1, progress_at = ?1, ladder = 0,
                     nudge = NULL
                 WHERE ended_at IS NULL",
                [now],
            )?;
            Ok(())
        })
        .await?;
    Ok(())
}

/// `n` sessions (a different few each round) made their last progress at `at`.
async fn stall(
    store: &Store,
    round: usize,
    n: usize,
    agents: usize,
    at: Millis,
) -> anyhow::Result<()> {
    store
        .write(move |c| {
            for k in 0..n {
                c.execute(
                    "UPDATE agent_sessions SET progress_at = ?2 WHERE id = ?1",
                    rusqlite::params![format!("s{}", (round * n + k) % agents.max(1)), at],
                )?;
            }
            Ok(())
        })
        .await?;
    Ok(())
}
