//! `gt bench agents`: what one real agent CLI costs in a Docker town. For each CLI the
//! town image is built with it (cached), and polecats run it through everything real —
//! the simulator's labelled issue, ingest, dispatcher, runner, the session's own uid in
//! the town container, the bot's model proxy — up to the CLI's first request to the
//! model. The model here takes the request and never answers, so each agent then waits
//! as a real one waits on a slow model: alive, idle, its memory settled.
//!
//! Figures: the image size the CLI adds; label → first model request, cold (the town
//! container starts) and warm, one at a time; the memory of one waiting agent (the
//! proportional set size of its uid's processes, so the binary's shared pages count
//! once across agents); and batches of agents labelled at once, how long until all
//! asked the model, the container's load and memory; then the CPU the waiting agents
//! use; from those, how many waiting agents the machine's free memory and its cores
//! hold.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use runner::agents::AgentCli;

use crate::harness::demo::{DemoRunner, REPO, Stage};

/// The longest a CLI may take to ask the model after its label, for one or a batch.
const PATIENCE: Duration = Duration::from_secs(180);

/// Session uids in the town (`runner::wrapper`: sessions from 20000, gates +10000).
const SESSION_UIDS: std::ops::Range<u32> = 20_000..30_000;

pub async fn run(agents: &[AgentCli], runs: usize, batches: &[usize]) -> anyhow::Result<()> {
    let cache = std::env::var_os("GT_AGENT_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(crate::cli::default_agent_cache);
    let docker = runner::DockerRunner::connect().await?;
    for &cli in agents {
        let name = cli.pin().name;
        let mut progress = |line: &str| eprintln!("  [{name}] {line}");
        let opts = runner::image::ImageOptions::default();
        let base = runner::image::build_town_image(&opts, &mut progress).await?;
        let image =
            runner::image::build_town_image_with_agents(&opts, &[cli], &cache, &mut progress)
                .await?;
        let added = image_bytes(&docker, &image)
            .await?
            .saturating_sub(image_bytes(&docker, &base).await?);
        println!(
            "agent={name} version={} image_added_mb={:.0}",
            cli.pin().version,
            added as f64 / 1e6
        );
        one_cli(cli, &image, runs.max(2), batches).await?;
    }
    Ok(())
}

async fn one_cli(cli: AgentCli, image: &str, runs: usize, batches: &[usize]) -> anyhow::Result<()> {
    let name = cli.pin().name;
    let model = SilentModel::start().await?;
    let dir = tempfile::tempdir()?;
    let cap = (runs + batches.iter().sum::<usize>() + 1).to_string();
    let extra = [
        ("GT_RUNNER_IMAGE", image),
        ("GT_POLECATS_RUNTIME", name),
        ("GT_POLECATS_CAP", cap.as_str()),
        ("GT_POLECATS_TOWN_CAP", cap.as_str()),
        ("GT_LLM_API_URL", model.url.as_str()),
        ("GT_LLM_MODEL", "bench-model"),
        ("GT_LLM_API_KEY", "sk-bench-never-in-the-town"),
        ("GT_LLM_TIMEOUT_SECS", "3600"),
        ("GT_REVIEW_AI", "false"),
        ("GT_LOG", "warn"),
    ];
    let quiet = |_: &str| {};
    let stage = Stage::start(DemoRunner::Docker, dir.path(), &extra, &quiet).await?;
    let container = runner::container_name(&runner::TownId(stage.town.clone()));
    let result = async {
        let mut issue = 0;
        let mut times = Vec::new();
        for _ in 0..runs {
            issue += 1;
            times.push(label_and_wait(&stage, &model, &[issue]).await?);
        }
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let mut warm: Vec<Duration> = times[1..].to_vec();
        warm.sort();
        println!(
            "agent={name} label_to_first_model_request_ms cold={:.0} warm_p50={:.0} warm_max={:.0}",
            ms(times[0]),
            ms(warm[warm.len() / 2]),
            ms(*warm.last().unwrap())
        );
        // The town container exists once the first agent ran.
        let docker = stage
            .docker
            .clone()
            .context("the bench's stage runs on Docker")?;
        let town = town_facts(&docker, &container).await?;
        let per_agent = pss_by_session(&town.id)?;
        let one = median(per_agent.values().copied().collect());
        println!(
            "agent={name} waiting_agents={} memory_per_agent_pss_mb={:.0}",
            per_agent.len(),
            one / 1e6
        );
        for &size in batches {
            let numbers: Vec<u64> = (issue + 1..=issue + size as u64).collect();
            issue += size as u64;
            let took = match label_and_wait(&stage, &model, &numbers).await {
                Ok(took) => took,
                // The town saturated (its memory limit kills agents, or the rig's
                // breaker then pauses it): that is the figure, said as such.
                Err(e) => {
                    let waiting = pss_by_session(&town.id)?.len();
                    println!(
                        "agent={name} batch={size} saturated labelled={issue} \
                         waiting_agents={waiting}: {e}"
                    );
                    break;
                }
            };
            let pss = pss_by_session(&town.id)?;
            println!(
                "agent={name} batch={size} all_asked_ms={:.0} labelled={issue} \
                 waiting_agents={} agents_pss_mb={:.0} load1={}",
                ms(took),
                pss.len(),
                pss.values().sum::<f64>().max(0.0) / 1e6,
                load1()
            );
        }
        // What fits: the town container's own limits (town.memory_mb, its CPUs) bound
        // it first; the machine's free memory says how far raising them would go.
        let waiting = pss_by_session(&town.id)?.len().max(1) as f64;
        let idle = cpu_cores_used(&town.id, Duration::from_secs(5)).await?;
        let memory_limit = town.memory_limit;
        let cores = town
            .cpus
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()) as f64);
        let available = mem_available_bytes()?;
        let per_agent = one.max(1.0);
        println!(
            "agent={name} waiting_agents={waiting} idle_cpu_cores={idle:.3} \
             town_memory_limit_mb={:.0} town_cpus={cores} fit_in_town_by_memory={:.0} \
             fit_in_town_by_idle_cpu={:.0} machine_mem_available_mb={:.0} \
             fit_on_machine_by_memory={:.0}",
            memory_limit / 1e6,
            (memory_limit / per_agent).floor(),
            (cores * waiting / idle.max(1e-6)).floor(),
            available / 1e6,
            waiting + (available / per_agent).floor(),
        );
        anyhow::Ok(())
    }
    .await;
    stage.stop(false).await?;
    result
}

/// Open and label `issues` (bench numbers, each named in its issue's body) at once;
/// the time until the model has heard from the agent of every one.
async fn label_and_wait(
    stage: &Stage,
    model: &SilentModel,
    issues: &[u64],
) -> anyhow::Result<Duration> {
    let mut numbers = Vec::new();
    for i in issues {
        let body = format!("{MARK}{i}).");
        numbers.push(
            stage
                .sim
                .open_issue("mara", REPO, &format!("Bench {i}"), &body)
                .await?,
        );
    }
    let started = Instant::now();
    for &n in &numbers {
        stage.sim.add_label("mara", REPO, n, "gt:sling").await?;
    }
    loop {
        let missing = issues.iter().filter(|i| !model.heard_from(**i)).count();
        if missing == 0 {
            return Ok(started.elapsed());
        }
        if started.elapsed() > PATIENCE {
            bail!(
                "{missing} of {} agents did not ask the model within {} s",
                issues.len(),
                PATIENCE.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What each bench issue's body says, before its number: the prompt carries it to the
/// model, so a request tells whose agent sent it (the proxy forwards the town's key,
/// not the agent's token), and a CLI's side requests (a title) count once.
const MARK: &str = "Measure me (";

/// A model that takes each request and never answers: agents wait on it.
struct SilentModel {
    url: String,
    heard: Arc<Mutex<std::collections::HashSet<u64>>>,
    _server: tokio::task::JoinHandle<()>,
}

impl SilentModel {
    async fn start() -> anyhow::Result<Self> {
        let heard = Arc::new(Mutex::new(std::collections::HashSet::new()));
        let seen = heard.clone();
        let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let text = String::from_utf8_lossy(&body);
                let numbers = text.split(MARK).skip(1).filter_map(|rest| {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    digits.parse::<u64>().ok()
                });
                seen.lock().unwrap().extend(numbers);
                std::future::pending::<()>().await;
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/v1", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url,
            heard,
            _server: server,
        })
    }

    fn heard_from(&self, issue: u64) -> bool {
        self.heard.lock().unwrap().contains(&issue)
    }
}

/// The host's `/proc/<pid>` of every process in the container. The bench runs beside
/// dockerd and reads the host's view: the town's own root may not read another uid's
/// `smaps_rollup`, by design.
fn container_processes(id: &str) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").context("reading /proc")? {
        let dir = entry?.path();
        if std::fs::read_to_string(dir.join("cgroup")).is_ok_and(|c| c.contains(id)) {
            found.push(dir);
        }
    }
    Ok(found)
}

/// The first number after `key` in a `/proc` file's lines.
fn proc_field(dir: &std::path::Path, file: &str, key: &str) -> Option<f64> {
    std::fs::read_to_string(dir.join(file))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
}

/// Each session uid's processes' PSS in the town container, in bytes.
fn pss_by_session(container_id: &str) -> anyhow::Result<std::collections::BTreeMap<u32, f64>> {
    let mut by_uid = std::collections::BTreeMap::new();
    for dir in container_processes(container_id)? {
        let (Some(uid), Some(pss_kb)) = (
            proc_field(&dir, "status", "Uid:"),
            proc_field(&dir, "smaps_rollup", "Pss:"),
        ) else {
            continue;
        };
        let uid = uid as u32;
        if SESSION_UIDS.contains(&uid) {
            *by_uid.entry(uid).or_insert(0.0) += pss_kb * 1024.0;
        }
    }
    Ok(by_uid)
}

/// CPU the town container's processes used over `window`, in cores: their user and
/// system time from `/proc/<pid>/stat` (cgroup v1 or v2 alike).
async fn cpu_cores_used(container_id: &str, window: Duration) -> anyhow::Result<f64> {
    let ticks_per_s: f64 = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0);
    let busy = || -> anyhow::Result<std::collections::HashMap<std::path::PathBuf, f64>> {
        let mut ticks = std::collections::HashMap::new();
        for dir in container_processes(container_id)? {
            let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else {
                continue;
            };
            // After the command (which may hold spaces) come fields 3 on; utime and
            // stime are fields 14 and 15.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let parse = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
            if let (Some(user), Some(system)) = (parse(11), parse(12)) {
                ticks.insert(dir, user + system);
            }
        }
        Ok(ticks)
    };
    let before = busy()?;
    tokio::time::sleep(window).await;
    let used: f64 = busy()?
        .iter()
        .map(|(dir, t)| t - before.get(dir).copied().unwrap_or(0.0))
        .filter(|d| *d > 0.0)
        .sum();
    Ok(used / ticks_per_s / window.as_secs_f64())
}

/// The town container as Docker reports it: its id (its processes name it in their
/// cgroup on the host) and its limits.
struct TownFacts {
    id: String,
    memory_limit: f64,
    cpus: Option<f64>,
}

async fn town_facts(docker: &runner::DockerRunner, container: &str) -> anyhow::Result<TownFacts> {
    let inspect = docker
        .docker()
        .inspect_container(container, None)
        .await
        .with_context(|| format!("inspecting the town container {container}"))?;
    let host = inspect.host_config.unwrap_or_default();
    Ok(TownFacts {
        id: inspect.id.context("the town container has no id")?,
        memory_limit: host.memory.unwrap_or(0) as f64,
        cpus: host.nano_cpus.filter(|n| *n > 0).map(|n| n as f64 / 1e9),
    })
}

async fn image_bytes(docker: &runner::DockerRunner, image: &str) -> anyhow::Result<u64> {
    let inspect = docker
        .docker()
        .inspect_image(image)
        .await
        .with_context(|| format!("inspecting image {image}"))?;
    Ok(inspect.size.unwrap_or(0).max(0) as u64)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn load1() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn mem_available_bytes() -> anyhow::Result<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").context("reading /proc/meminfo")?;
    let kb = info
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .context("no MemAvailable in /proc/meminfo")?;
    Ok(kb * 1024.0)
}
