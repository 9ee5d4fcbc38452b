//! `gt bench kubernetes`: what a town costs on the cluster `KUBECONFIG` names, through
//! the runner the bot uses: a town pod's cold start (created, running, its supervisor
//! set up), a bare `exec` round trip (the floor under every runner operation there),
//! and how the runner fares as one pod fills with agents (each start, each read of
//! every record, and the pod's memory per agent, wrapper included).
//!
//! The label-to-running figure, through the whole bot, is `gt bench sling --runner
//! kubernetes`.

use std::time::{Duration, Instant};

use anyhow::Context;
use runner::{AgentId, AgentSpec, KubernetesRunner, Limits, Runner, TownId};

pub async fn run(pods: usize, execs: usize, fill: &[usize]) -> anyhow::Result<()> {
    let (k8s, image) = crate::harness::demo::kubernetes_here("gastown-bench", |_| {})
        .await
        .context("gt bench kubernetes needs a cluster (KUBECONFIG)")?;
    let dir = tempfile::tempdir()?;
    let spec = |i: usize| runner::TownSpec {
        id: TownId(format!("bench-{}-{i}", std::process::id())),
        root: dir.path().join(format!("town-{i}")),
        image: image.clone(),
        gt_binary: "/usr/local/bin/gt".into(),
        limits: Limits {
            memory_bytes: Some(4 << 30),
            nano_cpus: None,
            pids: None,
        },
    };

    let mut cold = Vec::new();
    for i in 0..pods.max(1) {
        let town = spec(i);
        let started = Instant::now();
        k8s.ensure_town(&town).await?;
        cold.push(started.elapsed());
        if i + 1 < pods.max(1) {
            k8s.remove_town(&town.id).await?;
        }
    }
    let town = spec(pods.max(1) - 1);
    let (c50, c_max) = summary(&mut cold);
    println!(
        "town_pod_cold_start runs={} p50_ms={c50:.0} max_ms={c_max:.0}",
        cold.len()
    );

    let mut trips = Vec::new();
    for _ in 0..execs {
        trips.push(k8s.exec_round_trip(&town.id).await?);
    }
    let (e50, e_max) = summary(&mut trips);
    let e99 = percentile(&trips, 0.99);
    println!("exec_round_trip runs={execs} p50_ms={e50:.0} p99_ms={e99:.0} max_ms={e_max:.0}");

    let base = memory_bytes(&k8s, &town.id).await?;
    let mut started = 0;
    for &n in fill {
        let mut starts = Vec::new();
        while started < n {
            let agent = AgentSpec {
                town: town.id.clone(),
                agent: AgentId::new(format!("bench-agent-{started}"))?,
                command: vec!["sleep".into(), "3600".into()],
                env: Default::default(),
                env_files: Vec::new(),
                workspace: None,
                checks: Vec::new(),
            };
            let t = Instant::now();
            k8s.start_agent(&agent).await?;
            starts.push(t.elapsed());
            started += 1;
        }
        let t = Instant::now();
        let listed = k8s.agents(&town.id).await?;
        let read = t.elapsed();
        let running = listed
            .iter()
            .filter(|a| a.status == runner::AgentStatus::Running)
            .count();
        let memory = memory_bytes(&k8s, &town.id).await?;
        let (s50, s_max) = summary(&mut starts);
        println!(
            "agents_in_pod={n} running={running} start_p50_ms={s50:.0} start_max_ms={s_max:.0} \
             read_all_ms={:.0} pod_memory_mb={:.1} per_agent_kb={:.0}",
            ms(&read),
            memory as f64 / 1e6,
            memory.saturating_sub(base) as f64 / 1e3 / n as f64,
        );
    }
    k8s.remove_town(&town.id).await?;
    Ok(())
}

/// The pod's memory use as its cgroup counts it (v1 or v2), page cache included.
async fn memory_bytes(k8s: &KubernetesRunner, town: &TownId) -> anyhow::Result<u64> {
    let script = "cat /sys/fs/cgroup/memory/memory.usage_in_bytes 2>/dev/null \
                  || cat /sys/fs/cgroup/memory.current";
    let (_, out) = k8s
        .run_in_town(town, vec!["sh".into(), "-c".into(), script.into()])
        .await?;
    Ok(String::from_utf8_lossy(&out).trim().parse().unwrap_or(0))
}

fn ms(d: &Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
        .map(ms)
        .unwrap_or(0.0)
}

/// Sorts `runs`; returns the median and the maximum in ms.
fn summary(runs: &mut [Duration]) -> (f64, f64) {
    runs.sort();
    (percentile(runs, 0.5), runs.last().map(ms).unwrap_or(0.0))
}
