//! `gt demo`: the whole loop on one machine with nothing configured. It starts the
//! forge simulator (a GitHub that runs here) and the bot, creates a repository and
//! issues that carry plans, labels them as a maintainer would, and prints the town's
//! timeline until the refinery's pull requests are merged. Docker when it is there, else local
//! processes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use forge_sim::{ForgeSim, Permission, SimOptions};

use crate::app::server::{App, forges_from_config};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::store::{self, BeadStatus, BeadType};

pub const REPO: &str = "demo/hello";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoRunner {
    /// Docker if the daemon answers, else local processes.
    Auto,
    Docker,
    /// A pod per town in the cluster `KUBECONFIG` names, which must run on this
    /// machine (its pods reach the bot on loopback) and hold `gastown:latest` (`gt
    /// town-image build --with-gt`, imported into its nodes): see docs/kubernetes.md.
    Kubernetes,
    Local,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Leave the forge, the bot and the town running to explore (Ctrl-C ends it).
    #[arg(long)]
    pub keep: bool,
    #[arg(long, value_enum, default_value_t = DemoRunner::Auto)]
    pub runner: DemoRunner,
    /// Keep the demo's files here instead of a temporary directory.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 180)]
    pub timeout: u64,
}

/// The issues the demo files: each a small change with the plan the scripted
/// runtime follows. The second one's first draft leaves a TODO, which the demo
/// repository's quality gate refuses: it shows a rework.
const ISSUES: &[(&str, &str, &str, Option<&str>)] = &[
    (
        "Add a greeting",
        "docs/hello.md",
        "Hello from a Gastown polecat.",
        None,
    ),
    (
        "Start a changelog",
        "CHANGELOG.md",
        "# Changelog",
        Some("# Changelog (TODO: fill in)"),
    ),
    (
        "Say how to contribute",
        "CONTRIBUTING.md",
        "Label an issue gt:sling.",
        None,
    ),
];

/// An issue slung with the built-in `bugfix` formula: the polecat walks its steps
/// (a failing check first, then the fix), each shown as it closes, and the status
/// comment keeps the checklist.
const BUGFIX: (&str, &str) = ("Fix the greeting's typo", "docs/greeting.md");

fn bugfix_body() -> String {
    "The greeting says \"Helo\".\n\n```gastown-plan\nsteps:\n  reproduce:\n    files:\n      \
     - path: checks/greeting.sh\n        content: |\n          grep -q Hello docs/greeting.md\n    \
     commit: A check that fails while the typo is there\n  diagnose:\n    commit: The word \
     is misspelt in docs/greeting.md\n  fix:\n    files:\n      - path: docs/greeting.md\n        \
     content: |\n          Hello, world.\n    commands:\n      - sh checks/greeting.sh\n    \
     commit: Fix the typo in the greeting\n```\n"
        .to_string()
}

/// An issue whose first polecat pushes half its work and dies: the patrol counts the
/// failed attempt, waits out the backoff, and the retry starts from the pushed branch.
const CRASHY: (&str, &str) = ("Write the FAQ", "FAQ.md");

fn crashy_body() -> String {
    "An FAQ, in two commits.\n\n```gastown-plan\nfiles:\n  - path: FAQ.md\n    content: |\n      \
     # FAQ\ncommands:\n  - \"test -f FAQ-draft.md || { echo draft > FAQ-draft.md && git add \
     FAQ-draft.md && git -c user.name=polecat -c user.email=polecat@gastown.invalid commit -qm \
     'Draft the FAQ' && git push -q origin HEAD:$GT_BRANCH && echo 'the polecat crashes after \
     pushing its draft' && exit 1; }\"\ncommit: Write the FAQ\n```\n"
        .to_string()
}

/// The demo repository's `.gastown.yaml`: one gate, and the refinery merges approved PRs.
const GASTOWN_YAML: &str = "auto_merge: true\nquality_gates:\n  - name: no-todo\n    \
    run: \"! grep -rn TODO --include=*.md .\"\n    timeout_secs: 60\n";

fn issue_body(path: &str, text: &str, draft: Option<&str>) -> String {
    let first = draft.unwrap_or(text);
    let rework = match draft {
        Some(_) => format!(
            "rework:\n  - files:\n      - path: {path}\n        content: |\n          {text}\n    \
             commit: Finish {path}\n"
        ),
        None => String::new(),
    };
    format!(
        "A small change for the demo.\n\n```gastown-plan\nfiles:\n  - path: {path}\n    \
         content: |\n      {first}\ncommands:\n  - test -s {path}\ncommit: Add {path}\n{rework}```\n"
    )
}

/// A forge simulator with one repository, and a bot serving it with a town: what the
/// demo shows and what `gt bench sling` measures.
pub struct Stage {
    pub sim: forge_sim::SimHandle,
    pub store: store::Store,
    pub running: crate::app::server::Running,
    pub town: String,
    pub docker: Option<Arc<runner::DockerRunner>>,
    pub kubernetes: Option<Arc<runner::KubernetesRunner>>,
    pub runner: Arc<dyn runner::Runner>,
}

impl Stage {
    /// `extra` settings (`GT_*`) go on top of the stage's own.
    pub async fn start(
        choice: DemoRunner,
        dir: &std::path::Path,
        extra: &[(&str, &str)],
        say: &Say<'_>,
    ) -> anyhow::Result<Stage> {
        let sim = ForgeSim::start(SimOptions {
            data_dir: Some(dir.join("forge")),
            ..SimOptions::default()
        })
        .await
        .context("cannot start the forge simulator")?;
        sim.create_repo(REPO, "main").await?;
        let bot = sim.add_user("gastown-bot").await?;
        sim.grant(REPO, "gastown-bot", Permission::Admin).await?;
        sim.add_user("mara").await?;
        sim.grant(REPO, "mara", Permission::Write).await?;
        sim.commit_file(
            "mara",
            REPO,
            "main",
            "README.md",
            "# hello\n",
            "Initial commit",
        )
        .await?;
        sim.commit_file(
            "mara",
            REPO,
            "main",
            ".gastown.yaml",
            GASTOWN_YAML,
            "Configure the refinery",
        )
        .await?;
        say(&format!(
            "forge simulator up at {} with {REPO}",
            sim.web_url()
        ));

        let Picked {
            runner,
            docker,
            kubernetes,
            image,
        } = pick_runner(choice, say).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let secret = crate::ids::random_bead_id(8);
        let mut env: HashMap<String, String> = HashMap::from([
            (
                "GT_DATABASE".into(),
                dir.join("gastown.db").display().to_string(),
            ),
            ("GT_DATA_DIR".into(), dir.join("data").display().to_string()),
            ("GT_PUBLIC_URL".into(), format!("http://{addr}")),
            ("GT_TOWN".into(), format!("demo-{}", std::process::id())),
            ("GT_GITHUB_HOST".into(), sim.addr().to_string()),
            ("GT_GITHUB_API_URL".into(), sim.github_api_url()),
            ("GT_GITHUB_WEBHOOK_SECRET".into(), secret.clone()),
            ("GT_GITHUB_TOKEN".into(), bot.token.clone()),
            ("GT_POLECATS_CAP".into(), "2".into()),
            ("GT_RUNNER".into(), runner.kind().into()),
            (
                "GT_RUNNER_IMAGE".into(),
                image.unwrap_or_else(|| "unused".into()),
            ),
        ]);
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        let lookup = |k: &str| env.get(k).cloned();
        let config = Config::load(None, &lookup)?;
        let town = config.town.clone();
        let (forges, _) = forges_from_config(&config, &lookup)?;
        let app = App::builder(config, Arc::new(SystemClock))
            .forges(forges)
            .runner(runner.clone())
            .build()?;
        let store = app.store.clone();
        let running = crate::app::server::start(app, listener);
        sim.set_hook(REPO, &format!("http://{addr}/webhooks/github"), &secret)
            .await?;
        say(&format!("bot up at http://{addr}, town {town}"));
        Ok(Stage {
            sim,
            store,
            running,
            town,
            docker,
            kubernetes,
            runner,
        })
    }

    /// Stop the bot; remove the town container unless it should stay.
    pub async fn stop(self, keep_town: bool) -> anyhow::Result<()> {
        self.running.stop().await?;
        if let Some(docker) = self.docker
            && !keep_town
        {
            let _ = docker.remove_town(&runner::TownId(self.town.clone())).await;
        }
        if let Some(kubernetes) = self.kubernetes
            && !keep_town
        {
            let _ = kubernetes.remove_town(&runner::TownId(self.town)).await;
        }
        Ok(())
    }
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let say = |what: &str| println!("{:>7.2}s  {what}", started.elapsed().as_secs_f64());
    // The patrol's backoff in seconds, so the demo shows a retry without the wait; the
    // Mayor's model a scripted stand-in (no provider is reachable from a demo).
    let stand_in = crate::harness::demo_mayor::start_stand_in().await?;
    let stage = Stage::start(
        args.runner,
        &dir,
        &[
            ("GT_PATROL_BACKOFF_SECS", "[2]"),
            ("GT_LLM_API_URL", stand_in.url.as_str()),
            ("GT_LLM_MODEL", "demo-stand-in"),
            ("GT_REVIEW_AI", "false"),
        ],
        &say,
    )
    .await?;
    let (sim, store) = (stage.sim.clone(), stage.store.clone());
    let addr = stage.running.addr;

    let mut titles: HashMap<u64, String> = HashMap::new();
    for (title, path, text, draft) in ISSUES {
        let n = sim
            .open_issue("mara", REPO, title, &issue_body(path, text, *draft))
            .await?;
        sim.add_label("mara", REPO, n, "gt:sling").await?;
        titles.insert(n, title.to_string());
        say(&format!("mara labelled #{n} {title:?} gt:sling"));
    }
    let (title, _) = BUGFIX;
    let n = sim.open_issue("mara", REPO, title, &bugfix_body()).await?;
    sim.add_label("mara", REPO, n, "gt:formula:bugfix").await?;
    titles.insert(n, title.to_string());
    say(&format!(
        "mara labelled #{n} {title:?} gt:formula:bugfix: a molecule of the bugfix formula's steps"
    ));
    let (title, _) = CRASHY;
    let n = sim.open_issue("mara", REPO, title, &crashy_body()).await?;
    sim.add_label("mara", REPO, n, "gt:sling").await?;
    titles.insert(n, title.to_string());
    say(&format!(
        "mara labelled #{n} {title:?} gt:sling: its first polecat will crash after pushing a draft"
    ));
    let first = titles.keys().min().copied().unwrap_or(1);
    comments(&sim, first, &say).await?;

    let outcome = follow(
        &sim,
        &store,
        &mut titles,
        started,
        Duration::from_secs(args.timeout),
    )
    .await;
    let result = match outcome {
        Ok(branches) => {
            let main = sim.branch_sha(REPO, "main").await?.unwrap_or_default();
            let mut landed = 0;
            let paths = ISSUES.iter().map(|(_, path, _, _)| *path);
            let mayors = crate::harness::demo_mayor::PATHS;
            for path in paths.chain([BUGFIX.1, CRASHY.1]).chain(mayors) {
                if sim.read_file(REPO, "main", path).await?.is_some() {
                    landed += 1;
                }
            }
            for (n, branch) in &branches {
                say(&format!("#{n} merged from {branch}; the issue is closed"));
            }
            say(&format!(
                "done: {} issues worked, {} pull requests merged, {landed} files on main at {}",
                titles.len(),
                branches.len(),
                &main[..main.len().min(12)]
            ));
            Ok(())
        }
        Err(e) => Err(e),
    };
    if args.keep {
        println!(
            "\nleft running (Ctrl-C ends it):\n  forge  {}/{REPO}\n  bot    http://{addr}\n  \
             files  {}\n  try    GT_DATABASE={} gt beads list",
            sim.web_url(),
            dir.display(),
            dir.join("gastown.db").display()
        );
        let _ = tokio::signal::ctrl_c().await;
    }
    stage.stop(args.keep).await?;
    drop(stand_in);
    drop(tmp);
    result
}

/// mara steers the town from comments: a command on the first issue, then a request to
/// the Mayor on a new one, which opens and slings two issues in a convoy.
async fn comments(sim: &forge_sim::SimHandle, first: u64, say: &Say<'_>) -> anyhow::Result<()> {
    use crate::harness::demo_mayor::{ask, gist};
    let said = ask(sim, first, "/gt status").await?;
    for line in gist(&said) {
        say(&format!(
            "mara commented `/gt status` on #{first}; the bot answered {line}"
        ));
    }
    let n = sim
        .open_issue(
            "mara",
            REPO,
            "Document the commands",
            "People should learn to steer the town from comments.",
        )
        .await?;
    let ask_mayor =
        "@gastown-bot Split this into a usage guide and a commands FAQ, the FAQ after the guide.";
    say(&format!("mara asked the Mayor on #{n}: {ask_mayor:?}"));
    let said = ask(sim, n, ask_mayor).await?;
    for line in gist(&said) {
        say(&format!("the Mayor answered on #{n}: {line}"));
    }
    Ok(())
}

pub type Say<'a> = dyn Fn(&str) + 'a;

/// A Kubernetes runner for a bot running on this machine, outside the cluster, as the
/// environment configures it (`KUBECONFIG`, `GT_RUNNER_IMAGE`, `GT_RUNNER_K8S_*`,
/// read and checked as `gt serve` reads them), in `namespace` unless one is set, its
/// pods on the node's network (they reach the bot on loopback). Returns the runner,
/// its namespace made, and the town image.
pub(crate) async fn kubernetes_here(
    namespace: &str,
    adjust: impl FnOnce(&mut runner::KubernetesOptions),
) -> anyhow::Result<(runner::KubernetesRunner, String)> {
    let config = Config::load(None, &|k| std::env::var(k).ok())?;
    let mut opts = config.runner.kubernetes.clone();
    if std::env::var_os("GT_RUNNER_K8S_NAMESPACE").is_none() {
        opts.namespace = namespace.into();
    }
    opts.host_network = true;
    adjust(&mut opts);
    let image = config
        .runner
        .image_name
        .clone()
        .unwrap_or_else(|| "gastown:latest".into());
    let k8s = runner::KubernetesRunner::connect(opts).await?;
    k8s.create_namespace().await?;
    Ok((k8s, image))
}

/// The runner a stage runs its town with, and what cleans up after it.
struct Picked {
    runner: Arc<dyn runner::Runner>,
    docker: Option<Arc<runner::DockerRunner>>,
    kubernetes: Option<Arc<runner::KubernetesRunner>>,
    image: Option<String>,
}

async fn pick_runner(choice: DemoRunner, say: &Say<'_>) -> anyhow::Result<Picked> {
    if choice == DemoRunner::Kubernetes {
        let (k8s, image) = kubernetes_here("gastown-demo", |opts| {
            // A demo's town is small: reserve little of the node, so it schedules
            // beside whatever else runs there (the limits stay the town's defaults).
            opts.cpu_request.get_or_insert_with(|| "100m".into());
            opts.memory_request.get_or_insert_with(|| "256Mi".into());
        })
        .await
        .context("gt demo --runner kubernetes needs a cluster (KUBECONFIG)")?;
        let namespace = k8s.namespace().to_owned();
        say(&format!(
            "agents run in a town pod in namespace {namespace} from {image}: no service \
             account token, every capability dropped but four, each session under a uid of \
             its own"
        ));
        let k8s = Arc::new(k8s);
        return Ok(Picked {
            runner: k8s.clone(),
            docker: None,
            kubernetes: Some(k8s),
            image: Some(image),
        });
    }
    let docker = match choice {
        DemoRunner::Local => None,
        DemoRunner::Docker => Some(runner::DockerRunner::connect().await?),
        DemoRunner::Kubernetes => unreachable!("picked above"),
        DemoRunner::Auto => match runner::DockerRunner::connect().await {
            Ok(d) => Some(d),
            Err(e) => {
                say(&format!(
                    "Docker is not available ({e}); agents run as local processes"
                ));
                None
            }
        },
    };
    let Some(docker) = docker else {
        return Ok(Picked {
            runner: Arc::new(runner::LocalRunner::new()),
            docker: None,
            kubernetes: None,
            image: None,
        });
    };
    say("building the town image if needed (once; about a minute)");
    let mut progress = |line: &str| println!("           {line}");
    let image =
        runner::image::build_town_image(&runner::image::ImageOptions::default(), &mut progress)
            .await?;
    say(&format!(
        "agents run in a Docker town container from {image}, each session under a uid of \
         its own (no capabilities, a 0700 home), the gates under another with no token"
    ));
    let docker = Arc::new(docker);
    Ok(Picked {
        runner: docker.clone(),
        docker: Some(docker),
        kubernetes: None,
        image: Some(image),
    })
}

/// Print the town's events as they happen, approve and merge the refinery's pull
/// requests as the maintainer, until every demo issue's bead is closed; returns the
/// issue numbers and their branches.
async fn follow(
    sim: &forge_sim::SimHandle,
    store: &store::Store,
    titles: &mut HashMap<u64, String>,
    started: Instant,
    timeout: Duration,
) -> anyhow::Result<Vec<(u64, String)>> {
    let mut after = 0;
    let mut approved = std::collections::HashSet::new();
    loop {
        let events = store.read(move |c| store::events_since(c, after)).await?;
        for e in &events {
            after = e.id;
            let id = e.bead_id.clone();
            let (bead, task) = store
                .read(move |c| {
                    let bead = store::get_bead(c, &id)?;
                    let task = match (bead.bead_type, &bead.parent_id) {
                        (BeadType::Step, _) => {
                            store::get_bead(c, &crate::decisions::meta::step(&bead).task)?
                        }
                        (BeadType::Molecule, _) => {
                            store::get_bead(c, &crate::decisions::meta::molecule(&bead).task)?
                        }
                        (_, Some(p)) => store::get_bead(c, p)?,
                        (_, None) => bead.clone(),
                    };
                    Ok((bead, task))
                })
                .await?;
            let Some(n) = crate::lifecycle::outbox::issue_number(&task) else {
                continue;
            };
            // Issues the Mayor opened join the timeline as their tasks appear.
            if task.bead_type == BeadType::Task {
                titles.entry(n).or_insert_with(|| task.title.clone());
            }
            let what = match convoy_line(&bead, e)
                .or_else(|| molecule_line(&bead, e))
                .or_else(|| refinery_line(&bead, e))
            {
                Some(line) if line.is_empty() => continue,
                Some(line) => line,
                None => match (e.kind.as_str(), e.to_status.as_deref()) {
                    ("created", _) => "bead created, waiting for a polecat".to_string(),
                    ("status", Some("hooked")) => format!(
                        "hooked to {} on {}",
                        e.payload["agent"]
                            .as_str()
                            .and_then(|a| a.rsplit('/').next())
                            .unwrap_or("?"),
                        e.payload["branch"].as_str().unwrap_or("?")
                    ),
                    ("status", Some("in_progress")) => "the polecat is working".into(),
                    ("status_note", _) => {
                        format!("note: {}", e.payload["message"].as_str().unwrap_or(""))
                    }
                    ("pushed", _) => format!(
                        "pushed {} through the town's git endpoint",
                        e.payload["sha"]
                            .as_str()
                            .map(|s| &s[..s.len().min(12)])
                            .unwrap_or("?")
                    ),
                    ("attempt_failed", _) => format!(
                        "the polecat ended without finishing ({}); the patrol retries it after \
                         its backoff, from its pushed branch",
                        e.payload["reason"].as_str().unwrap_or("?")
                    ),
                    ("status", Some("open")) if e.payload.get("attempts").is_some() => {
                        String::new()
                    }
                    ("status", Some("review")) => {
                        "gt_done: in review, merge request bead made".into()
                    }
                    ("status", Some("closed")) => {
                        format!("closed: {}", e.payload["reason"].as_str().unwrap_or("done"))
                    }
                    ("status", Some(s)) => {
                        format!("now {s}: {}", e.payload["reason"].as_str().unwrap_or(""))
                    }
                    (k, _) => k.to_string(),
                },
            };
            if what.is_empty() {
                continue;
            }
            println!(
                "{:>7.2}s  #{n} {:<24} {}  {what}",
                started.elapsed().as_secs_f64(),
                titles.get(&n).map_or("", String::as_str),
                bead.id
            );
        }
        let beads = store.read(|c| store::list_beads(c, None)).await?;
        let tasks: Vec<_> = beads
            .iter()
            .filter(|b| b.bead_type == BeadType::Task && b.parent_id.is_none())
            .collect();
        if let Some(failed) = tasks.iter().find(|b| b.status == BeadStatus::Failed) {
            bail!(
                "bead {} failed; see `gt beads show {}`",
                failed.id,
                failed.id
            );
        }
        // The maintainer approves each pull request the refinery opened, and again
        // when a new rebase moved its head (an approval is of one commit); with
        // `auto_merge` the refinery merges it.
        for t in tasks.iter().filter(|t| t.status == BeadStatus::Review) {
            let (Some(pr), Some(n)) = (
                crate::decisions::meta::task(t).pull_request,
                crate::lifecycle::outbox::issue_number(t),
            ) else {
                continue;
            };
            let head = crate::decisions::meta::task(t)
                .review_heads
                .last()
                .cloned()
                .unwrap_or_default();
            if approved.insert((pr, head)) {
                println!(
                    "{:>7.2}s  #{n} {:<24} {}  the refinery put PR #{pr} up for review; mara approves it",
                    started.elapsed().as_secs_f64(),
                    titles.get(&n).map_or("", String::as_str),
                    t.id
                );
                sim.approve("mara", REPO, pr).await?;
            }
        }
        if tasks.len() == titles.len() && tasks.iter().all(|b| b.status == BeadStatus::Closed) {
            return Ok(tasks
                .iter()
                .filter_map(|b| {
                    Some((
                        crate::lifecycle::outbox::issue_number(b)?,
                        b.branch.clone()?,
                    ))
                })
                .collect());
        }
        if started.elapsed() > timeout {
            bail!("the demo did not finish within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How the demo tells a convoy: made, and landed; `None` is not a convoy's.
fn convoy_line(bead: &store::Bead, e: &store::BeadEvent) -> Option<String> {
    (bead.bead_type == BeadType::Convoy).then(|| match (e.kind.as_str(), e.to_status.as_deref()) {
        ("created", _) => format!(
            "convoy {} {:?}: its tracking issue lists the issues that land together",
            bead.id, bead.title
        ),
        ("status", Some("closed")) => "the convoy landed: every tracked issue merged".into(),
        _ => String::new(),
    })
}

/// How the demo tells a molecule's walk: each step as it starts, waits for its gate or
/// closes with what the polecat said; `Some("")` hides an event, `None` is not a
/// molecule's.
fn molecule_line(bead: &store::Bead, e: &store::BeadEvent) -> Option<String> {
    match bead.bead_type {
        BeadType::Task if matches!(e.kind.as_str(), "dep_added" | "molecule_poured") => {
            Some(String::new())
        }
        BeadType::Molecule => Some(match e.kind.as_str() {
            "created" => format!("molecule {} poured: {}", bead.id, bead.title),
            _ => String::new(),
        }),
        BeadType::Step => {
            let step = crate::decisions::meta::step(bead).step;
            Some(match (e.kind.as_str(), e.to_status.as_deref()) {
                ("status", Some("in_progress")) if e.payload.get("gate").is_some() => {
                    format!("step {step}: its gate failed; back to the polecat")
                }
                ("status", Some("in_progress")) => format!("step {step} started"),
                ("status", Some("review")) => format!("step {step}: its gate runs in the town"),
                ("status", Some("closed")) => format!(
                    "step {step} closed: {}",
                    e.payload["summary"].as_str().unwrap_or("its gate passed")
                ),
                _ => String::new(),
            })
        }
        _ => None,
    }
}

/// How the demo tells what the refinery and reworks did; `None` for the polecat's
/// own events, which read the same on every bead.
fn refinery_line(bead: &store::Bead, e: &store::BeadEvent) -> Option<String> {
    if bead.bead_type == BeadType::Task && bead.parent_id.is_some() {
        return match (e.kind.as_str(), e.to_status.as_deref()) {
            ("created", _) => Some(format!(
                "rework bead {} made: {}",
                bead.id,
                crate::decisions::meta::task(bead)
                    .rework_of
                    .map(|r| r.reason)
                    .unwrap_or_default()
            )),
            _ => None,
        };
    }
    if bead.bead_type != BeadType::MergeRequest {
        return None;
    }
    Some(match (e.kind.as_str(), e.to_status.as_deref()) {
        ("created", _) => format!("merge request {} queued for the refinery", bead.id),
        ("status", Some("hooked")) => "the refinery rebases the branch and runs the gates".into(),
        // The gates as the town's wrapper recorded them, once the refinery's run ended.
        ("refined", _) => return None,
        ("gated", _) => {
            let gates: Vec<String> = e.payload["gates"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|g| {
                    let ok = if g["passed"].as_bool() == Some(true) {
                        "passed"
                    } else {
                        "failed"
                    };
                    format!("{} {ok}", g["name"].as_str().unwrap_or("?"))
                })
                .collect();
            format!("gates: {}", gates.join(", "))
        }
        ("status", Some("closed")) => match bead.close_reason {
            Some(store::CloseReason::Rejected) => "sent back to a polecat".into(),
            _ => "merged".into(),
        },
        ("pushed", _) => format!(
            "the refinery pushed the branch rebased onto main ({})",
            e.payload["sha"]
                .as_str()
                .map(|s| &s[..s.len().min(12)])
                .unwrap_or("?")
        ),
        ("status", Some(s)) => format!("merge request {s}"),
        (k, _) => k.to_string(),
    })
}
