//! `gt bench`: figures measured against a real `gt serve` over loopback, from a
//! separate process, the way a forge would drive it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Subcommand;
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Signed GitHub deliveries per second, each acknowledged after its commit.
    Ingest {
        /// A running server to drive: another `gt serve`, or any webhook receiver (bors,
        /// a floor) to compare with on the same machine in the same run. Without it, a
        /// fresh `gt serve` is started as a child process on a temporary database and
        /// stopped afterwards.
        #[arg(long, visible_alias = "against")]
        url: Option<String>,
        /// The target's GitHub webhook secret (with --url).
        #[arg(long, env = "GT_BENCH_SECRET")]
        secret: Option<String>,
        /// Payload to send; defaults to the fixture issue_comment/created.1.json.
        #[arg(long)]
        payload: Option<PathBuf>,
        /// Comma-separated connection counts, one run each.
        #[arg(long, default_value = "1,16,64", value_delimiter = ',')]
        connections: Vec<usize>,
        /// Seconds per run.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
    /// From the `gt:sling` label on a (simulated) forge to the polecat's process
    /// running and to its first tool call; the first run starts the town cold.
    Sling {
        /// Runners to measure (comma-separated): local, docker, kubernetes (the cluster
        /// `KUBECONFIG` names, on this machine, holding gastown:latest).
        #[arg(
            long,
            value_enum,
            default_value = "local,docker",
            value_delimiter = ','
        )]
        runner: Vec<crate::harness::demo::DemoRunner>,
        /// Issues labelled per runner (at most 20: one polecat name each).
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
    /// Real agent CLIs in a Docker town: the image size each adds, label to its first
    /// model request (cold and warm), one waiting agent's memory, and batches labelled
    /// at once; from those, how many waiting agents fit. Needs Docker and, the first
    /// time, the npm registry (packages are cached, see `gt town-image build`).
    Agents {
        /// CLIs to measure (comma-separated: codex, claude, opencode, kilo).
        #[arg(long = "agent", value_delimiter = ',', value_parser = crate::cli::parse_agent,
              default_value = "codex,claude,opencode,kilo")]
        agents: Vec<runner::agents::AgentCli>,
        /// Agents labelled one at a time (the first starts the town).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Then batches of this many labelled at once (comma-separated).
        #[arg(long, default_value = "4,8", value_delimiter = ',')]
        batches: Vec<usize>,
    },
    /// From a `/gt help` comment on the simulated forge to the bot's reaction on it and
    /// to its answer in the thread.
    Commands {
        #[arg(long, default_value_t = 50)]
        runs: usize,
    },
    /// The patrol's tick over a town of `beads` beads and `agents` working agents (and,
    /// to compare, one a tenth its size), SQLite reads and writes included: idle
    /// (nothing due) and busy (10 sessions due for a nudge each tick).
    Patrol {
        #[arg(long, default_value_t = 100_000)]
        beads: usize,
        #[arg(long, default_value_t = 1_000)]
        agents: usize,
        #[arg(long, default_value_t = 100)]
        ticks: usize,
    },
    /// Many polecats at once in one town: `per_rig` issues on each of `rigs`
    /// repositories, all landed; the wall time, the bot's peak RSS and the database's
    /// size.
    Stress {
        #[arg(long, value_enum, default_value = "local")]
        runner: crate::harness::demo::DemoRunner,
        #[arg(long, default_value_t = 5)]
        rigs: usize,
        #[arg(long, default_value_t = 6)]
        per_rig: usize,
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
    },
    /// A town on the Kubernetes cluster `KUBECONFIG` names: a town pod's cold start, a
    /// bare exec round trip, and one pod filled with agents (start and read latency,
    /// memory per agent). Label to running through the whole bot is `bench sling
    /// --runner kubernetes`.
    Kubernetes {
        /// Town pods created from nothing, one after another.
        #[arg(long, default_value_t = 3)]
        pods: usize,
        #[arg(long, default_value_t = 50)]
        execs: usize,
        /// Agents in the pod at each measurement (comma-separated, increasing).
        #[arg(long, default_value = "10,25,50,100", value_delimiter = ',')]
        fill: Vec<usize>,
    },
    /// Expanding a 200-step formula into a molecule plan (in this process: parsing is
    /// done once, each run is `expand` alone), then storing the plan.
    Formula {
        /// Expansions measured (after 10 to warm up).
        #[arg(long, default_value_t = 1000)]
        runs: usize,
        /// Plans stored, each as a task, its molecule and 200 step beads with their
        /// dependencies in one transaction (SQLite on disk, committed and synced).
        #[arg(long, default_value_t = 50)]
        stores: usize,
    },
}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Formula { runs, stores } => {
            let r = formula_run(runs)?;
            let s = store_run(stores).await?;
            println!(
                "steps={} runs={runs} p50_ms={:.3} p99_ms={:.3} stores={stores} \
                 store_p50_ms={:.3} store_p99_ms={:.3} transactions_per_store=1",
                r.steps, r.p50_ms, r.p99_ms, s.p50_ms, s.p99_ms
            );
            Ok(())
        }
        BenchCommand::Patrol {
            beads,
            agents,
            ticks,
        } => {
            for size in [beads / 10, beads] {
                let f = crate::harness::bench_patrol::run(size, agents.min(size), ticks).await?;
                println!(
                    "beads={} agents={} idle_p50_ms={:.2} idle_p99_ms={:.2} busy_p50_ms={:.2} \
                     busy_p99_ms={:.2} idle_forge_writes={} database_mb={:.1}",
                    f.beads,
                    f.agents,
                    f.idle_p50_ms,
                    f.idle_p99_ms,
                    f.busy_p50_ms,
                    f.busy_p99_ms,
                    f.idle_forge_writes,
                    f.database_mb
                );
            }
            Ok(())
        }
        BenchCommand::Kubernetes { pods, execs, fill } => {
            crate::harness::bench_kubernetes::run(pods, execs, &fill).await
        }
        BenchCommand::Stress {
            runner,
            rigs,
            per_rig,
            timeout_secs,
        } => {
            let f = crate::harness::bench_stress::run(
                runner,
                rigs,
                per_rig,
                Duration::from_secs(timeout_secs),
            )
            .await?;
            println!(
                "polecats={} rigs={} runner={} wall_s={:.1} merged={} lost={} \
                 bot_peak_rss_mb={:.1} database_mb={:.2}",
                f.polecats,
                f.rigs,
                f.runner,
                f.wall_s,
                f.merged,
                f.lost,
                f.bot_peak_rss_mb,
                f.database_mb
            );
            Ok(())
        }
        BenchCommand::Commands { runs } => crate::harness::bench_commands::run(runs.max(2)).await,
        BenchCommand::Agents {
            agents,
            runs,
            batches,
        } => crate::harness::bench_agents::run(&agents, runs, &batches).await,
        BenchCommand::Sling { runner, runs } => {
            crate::harness::bench_sling::run(&runner, runs).await
        }
        BenchCommand::Ingest {
            url,
            secret,
            payload,
            connections,
            seconds,
        } => {
            let body = bytes::Bytes::from(read_payload(payload)?);
            let (target, secret, _server) = match url {
                Some(url) => {
                    let secret =
                        secret.context("--secret (or GT_BENCH_SECRET) is needed with --url")?;
                    (url, secret, None)
                }
                None => {
                    let server = BenchServer::spawn().await?;
                    (server.url.clone(), server.secret.clone(), Some(server))
                }
            };
            eprintln!(
                "driving {target} with a {} byte issue_comment payload, {seconds}s per run",
                body.len()
            );
            for n in connections {
                let r = ingest_run(
                    &target,
                    &secret,
                    body.clone(),
                    n,
                    Duration::from_secs_f64(seconds),
                )
                .await?;
                println!(
                    "connections={n} deliveries_per_s={:.0} p50_ms={:.2} p99_ms={:.2}",
                    r.per_second, r.p50_ms, r.p99_ms
                );
                // The tail beyond p99, for whoever tunes the store: not part of the line.
                eprintln!("  p99.9_ms={:.2} max_ms={:.2}", r.p999_ms, r.max_ms);
                if r.errors > 0 {
                    eprintln!("  {} requests were not answered 2xx", r.errors);
                }
                match wait_for_empty_inbox(&target).await? {
                    Some(drained) => eprintln!(
                        "  the inbox worker caught up {:.2}s after the run ended",
                        drained.as_secs_f64()
                    ),
                    None => eprintln!("  (the target reports no inbox to wait for)"),
                }
            }
            Ok(())
        }
    }
}

fn read_payload(path: Option<PathBuf>) -> anyhow::Result<Vec<u8>> {
    let path = path.unwrap_or_else(|| {
        let root = std::env::var("GT_FIXTURES").unwrap_or_else(|_| "../shared/fixtures".into());
        PathBuf::from(root).join("github/issue_comment/created.1.json")
    });
    std::fs::read(&path).with_context(|| {
        format!(
            "cannot read the payload {} (pass --payload FILE or set GT_FIXTURES)",
            path.display()
        )
    })
}

/// A `gt serve` child on a free port and a temporary database. Dropping it kills the
/// server and removes the database.
struct BenchServer {
    child: tokio::process::Child,
    dir: PathBuf,
    url: String,
    secret: String,
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        // The child may still hold the files for a moment; removal is best effort.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl BenchServer {
    async fn spawn() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("gt-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let secret = format!("bench-{}", crate::ids::random_bead_id(8));
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("serve")
            .env("GT_LISTEN", "127.0.0.1:0")
            .env("GT_DATABASE", dir.join("bench.db"))
            .env("GT_DATA_DIR", dir.join("data"))
            // Ingest is measured; no agents run.
            .env("GT_RUNNER", "none")
            .env("GT_GITHUB_WEBHOOK_SECRET", &secret)
            .env("GT_LOG", "error")
            .env_remove("RUST_LOG")
            .env_remove("GT_CONFIG")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start gt serve")?;
        let stdout = child.stdout.take().expect("piped");
        let server = BenchServer {
            child,
            dir,
            url: String::new(),
            secret,
        };
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("listening on ") {
                    return Ok(url.to_string());
                }
            }
            bail!("gt serve exited before listening")
        })
        .await
        .context("gt serve did not start within 30 s")??;
        let mut server = server;
        server.url = url;
        Ok(server)
    }
}

/// How long after a run the worker needs to work off the backlog (ingest acknowledges
/// faster than deliveries are worked; the difference queues durably in the inbox).
/// `None` when the target is not a `gt serve`: its `/healthz` reports no inbox.
async fn wait_for_empty_inbox(base: &str) -> anyhow::Result<Option<Duration>> {
    let start = Instant::now();
    let url = format!("{base}/healthz");
    loop {
        let answer = reqwest::get(&url).await?;
        let Ok(health) = answer.json::<serde_json::Value>().await else {
            return Ok(None);
        };
        let Some(pending) = health["inbox_pending"].as_i64() else {
            return Ok(None);
        };
        if pending == 0 {
            return Ok(Some(start.elapsed()));
        }
        if start.elapsed() > Duration::from_secs(600) {
            bail!("the inbox did not drain within 10 minutes: {health}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct RunResult {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
    errors: usize,
}

async fn ingest_run(
    base: &str,
    secret: &str,
    body: bytes::Bytes,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<RunResult> {
    let addr = base
        .strip_prefix("http://")
        .context("gt bench ingest drives plain http:// URLs")?
        .trim_end_matches('/')
        .to_string();
    let mut headers = http::HeaderMap::new();
    headers.insert("host", addr.parse()?);
    headers.insert("content-type", "application/json".parse()?);
    headers.insert("x-github-event", "issue_comment".parse()?);
    headers.insert(
        "x-hub-signature-256",
        webhooks::sign_github(secret.as_bytes(), &body).parse()?,
    );
    let load = Load {
        addr,
        headers,
        body,
        run_id: crate::ids::random_bead_id(6),
        connections,
        duration,
    };
    // The load comes from one thread, as `wrk -t1` would: on a small machine the client
    // shares the cores with the server it measures, so it should take as little as it
    // can, and a second runtime thread would only add switching.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("gt-bench-load".into())
        .spawn(move || {
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(load.run()));
            let _ = tx.send(result);
        })?;
    let (mut all, errors, elapsed) = rx.await.context("the load thread stopped")??;
    let elapsed = elapsed.as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        if all.is_empty() {
            return 0.0;
        }
        let idx = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        all[idx].as_secs_f64() * 1000.0
    };
    Ok(RunResult {
        per_second: all.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        p999_ms: pct(0.999),
        max_ms: pct(1.0),
        errors,
    })
}

/// Requests over `connections` kept-alive HTTP/1.1 connections, each sent when the
/// previous answer arrived, every one with its own delivery id.
struct Load {
    addr: String,
    headers: http::HeaderMap,
    body: bytes::Bytes,
    run_id: String,
    connections: usize,
    duration: Duration,
}

impl Load {
    async fn run(self) -> anyhow::Result<(Vec<Duration>, usize, Duration)> {
        let load = std::sync::Arc::new(self);
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for conn in 0..load.connections {
            let load = load.clone();
            tasks.spawn(async move { load.connection(conn, start).await });
        }
        let mut all = Vec::new();
        let mut errors = 0;
        while let Some(done) = tasks.join_next().await {
            let (latencies, e) = done??;
            all.extend(latencies);
            errors += e;
        }
        Ok((all, errors, start.elapsed()))
    }

    async fn connection(
        &self,
        conn: usize,
        start: Instant,
    ) -> anyhow::Result<(Vec<Duration>, usize)> {
        use http_body_util::{BodyExt, Full};
        let stream = tokio::net::TcpStream::connect(&self.addr)
            .await
            .with_context(|| format!("cannot connect to {}", self.addr))?;
        stream.set_nodelay(true)?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let mut latencies = Vec::new();
        let mut errors = 0usize;
        let mut i = 0u64;
        while start.elapsed() < self.duration {
            let mut request =
                http::Request::post("/webhooks/github").body(Full::new(self.body.clone()))?;
            *request.headers_mut() = self.headers.clone();
            let id = format!("{}-{}-{conn}-{i}", self.run_id, self.connections);
            request
                .headers_mut()
                .insert("x-github-delivery", id.parse()?);
            i += 1;
            let sent = Instant::now();
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            // gt answers 202; other receivers (bors) answer 200.
            let accepted = response.status().is_success();
            // Read the answer to its end so the connection can carry the next request.
            response.into_body().collect().await?;
            if accepted {
                latencies.push(sent.elapsed());
            } else {
                errors += 1;
            }
        }
        Ok((latencies, errors))
    }
}

/// A workflow of 200 steps as a large real formula would be: each step needs the one
/// before it and, every few steps, one further back; titles and descriptions use the
/// vars (see [`two_hundred_steps_vars`]). Shared by `gt bench formula` and whoever
/// measures storing a plan.
pub fn two_hundred_steps() -> crate::decisions::formula::Formula {
    let mut text = String::from(
        "formula: bench-200\nversion: 1\ntype: workflow\nvars:\n  issue: {required: true}\n  \
         area: {default: core, enum: [core, cli, docs]}\nsteps:\n",
    );
    for i in 1..=200 {
        let mut needs = Vec::new();
        if i > 1 {
            needs.push(format!("s{}", i - 1));
        }
        if i > 7 && i % 3 == 0 {
            needs.push(format!("s{}", i - 7));
        }
        text.push_str(&format!(
            "  - id: s{i}\n    title: 'Step {i} of {{{{ issue }}}}'\n    description: 'Work \
             on {{{{ area }}}} for {{{{ issue }}}}, part {i}. Leave the tests green.'\n    \
             needs: [{}]\n    acceptance: Show the diff.\n",
            needs.join(", ")
        ));
    }
    crate::decisions::formula::parse(&text, "bench-200.yaml")
        .expect("the generated 200-step formula is valid")
}

/// The vars [`two_hundred_steps`] is expanded with.
pub fn two_hundred_steps_vars() -> std::collections::BTreeMap<String, serde_json::Value> {
    std::collections::BTreeMap::from([(
        "issue".to_string(),
        serde_json::json!("Make the flux capacitor configurable"),
    )])
}

struct FormulaResult {
    steps: usize,
    p50_ms: f64,
    p99_ms: f64,
}

fn formula_run(runs: usize) -> anyhow::Result<FormulaResult> {
    let formula = two_hundred_steps();
    let vars = two_hundred_steps_vars();
    let mut steps = 0;
    for _ in 0..10 {
        steps = crate::decisions::formula::expand(&formula, &vars)?
            .steps
            .len();
    }
    let mut all = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        let plan = crate::decisions::formula::expand(&formula, &vars)?;
        all.push(start.elapsed());
        std::hint::black_box(plan);
    }
    all.sort();
    let pct = |p: f64| {
        let idx = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        all[idx].as_secs_f64() * 1000.0
    };
    Ok(FormulaResult {
        steps,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    })
}

/// Store the 200-step plan `stores` times into a fresh database on disk, each a task
/// and its molecule poured in one transaction, as a sling does.
async fn store_run(stores: usize) -> anyhow::Result<FormulaResult> {
    let plan = crate::decisions::formula::expand(&two_hundred_steps(), &two_hundred_steps_vars())?;
    let dir = tempfile::tempdir()?;
    let store = crate::store::Store::open(dir.path().join("bench.db"))?;
    let mut all = Vec::with_capacity(stores);
    for i in 0..stores.max(1) + 3 {
        let plan = plan.clone();
        let start = Instant::now();
        store
            .write(move |c| {
                let new = crate::store::NewBead::task(&format!("Bench {i}"), "bench");
                let task = crate::lifecycle::create(c, &new, 0)?;
                crate::lifecycle::molecule::pour(c, &task, &plan, "built-in", 0)?;
                Ok(())
            })
            .await?;
        // The first few warm the connection's statement cache.
        if i >= 3 {
            all.push(start.elapsed());
        }
    }
    all.sort();
    let pct = |p: f64| {
        let idx = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        all[idx].as_secs_f64() * 1000.0
    };
    Ok(FormulaResult {
        steps: plan.steps.len(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    })
}
