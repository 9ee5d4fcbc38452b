//! The `gt` command line. Each subcommand is a thin shell over the library so the
//! same operations can later be served to the dashboard and the Mayor.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::clock::format_utc;
use crate::config::Config;
use crate::store::{self, BeadStatus, InboxStatus, Store};

#[derive(Debug, Parser)]
#[command(
    name = "gt",
    version,
    about = "gastown-bot: a town of AI coding agents behind your forge"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Server configuration file (YAML, see schemas/server.schema.json).
    #[arg(long, global = true, env = "GT_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the bot: webhook ingest, inbox worker, town.
    Serve,
    /// See the whole loop here: a simulated forge, the bot and a town working issues.
    Demo(crate::harness::demo::DemoArgs),
    /// Inspect and retry stored webhook deliveries.
    #[command(subcommand)]
    Inbox(InboxCommand),
    /// Inspect beads (units of work).
    #[command(subcommand)]
    Beads(BeadsCommand),
    /// Sling an issue as the sling label does: `gt sling owner/repo#12`.
    Sling(crate::controls::SlingCommand),
    /// Pause or resume dispatch to a rig.
    #[command(subcommand)]
    Rig(crate::controls::RigCommand),
    /// Convoys: batches of issues that land together, tracked on a forge issue.
    #[command(subcommand)]
    Convoy(crate::controls::ConvoyCommand),
    /// Escalations: the town asking a person.
    #[command(subcommand)]
    Escalations(crate::controls::EscalationsCommand),
    /// Inspect the town's agents (polecats) and what they work on.
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Measure the product.
    #[command(subcommand)]
    Bench(crate::harness::bench::BenchCommand),
    /// The town at a glance: each rig and whether the bot can act on its forge (if not,
    /// why nothing slings there), beads and deliveries by status.
    Status {
        /// Where a progress note went before it moved to `gt agent status`; kept out of
        /// the help so an agent that still passes one is told where it went.
        #[arg(hide = true)]
        note: Vec<String>,
    },
    /// Inside the town: the commands an agent runs (prime, heartbeat, status, done) and
    /// the built-in runtimes.
    #[command(subcommand)]
    Agent(crate::agent::cli::AgentCommand),
    /// Formulas: check one, or expand it into the steps a molecule would have.
    #[command(subcommand)]
    Formula(crate::decisions::formula::cli::FormulaCommand),
    /// The town container image.
    #[command(subcommand, name = "town-image")]
    TownImage(TownImageCommand),
}

/// The agent commands that moved from the top level under `gt agent`.
const MOVED_UNDER_AGENT: [&str; 3] = ["prime", "heartbeat", "done"];

/// A parse error for an agent command at its old place (`gt prime`, `gt done …`) gets
/// a tip naming its new one, so an agent whose prompt predates the move can recover.
pub fn explain_moved(mut err: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() != ErrorKind::InvalidSubcommand {
        return err;
    }
    let Some(ContextValue::String(name)) = err.get(ContextKind::InvalidSubcommand) else {
        return err;
    };
    if !MOVED_UNDER_AGENT.contains(&name.as_str()) {
        return err;
    }
    let tip = format!("agent commands run under `gt agent` now: `gt agent {name}`");
    err.insert(
        ContextKind::Suggested,
        ContextValue::StyledStrs(vec![tip.into()]),
    );
    err
}

/// `gt status "note"`, the progress note's old form.
pub fn status_note_moved() -> anyhow::Error {
    anyhow::anyhow!(
        "`gt status` is the town summary and takes no note; inside the town a progress \
         note is `gt agent status \"…\"`"
    )
}

#[derive(Debug, Subcommand)]
pub enum TownImageCommand {
    /// Build the town image from Debian packages (debootstrap + docker import), no
    /// registry needed. Cached by content: a second build with the same recipe is instant.
    Build {
        /// Debian suite.
        #[arg(long, default_value = "bookworm")]
        suite: String,
        /// Debian mirror.
        #[arg(long, default_value = "http://deb.debian.org/debian")]
        mirror: String,
        /// Extra Debian packages for your agents' tools (comma-separated).
        #[arg(long, value_delimiter = ',')]
        packages: Vec<String>,
        /// Agent CLIs to add (comma-separated: codex, claude, opencode, kilo): each
        /// pinned binary from its npm package, checksum-verified, no Node in the image.
        #[arg(long = "agent", value_delimiter = ',', value_parser = parse_agent)]
        agents: Vec<runner::agents::AgentCli>,
        /// Where downloaded agent packages are kept, so a second build is instant.
        #[arg(long, env = "GT_AGENT_CACHE")]
        cache: Option<PathBuf>,
        /// Also build the bot's image, `gastown:latest`: the town image with this `gt`
        /// binary in it. The bot runs from it on Kubernetes, and so do its towns.
        #[arg(long)]
        with_gt: bool,
    },
    /// Fetch agent CLIs (pinned, checksum-verified) into a directory laid out as the
    /// image holds them, for `runner/town-image/Dockerfile` to `COPY agents/ /`.
    Fetch {
        #[arg(long = "agent", value_delimiter = ',', value_parser = parse_agent, required = true)]
        agents: Vec<runner::agents::AgentCli>,
        /// The directory to fill (e.g. runner/town-image/agents).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, env = "GT_AGENT_CACHE")]
        cache: Option<PathBuf>,
    },
}

pub(crate) fn parse_agent(name: &str) -> Result<runner::agents::AgentCli, String> {
    runner::agents::AgentCli::parse(name).ok_or_else(|| {
        let all: Vec<&str> = runner::agents::AgentCli::ALL
            .iter()
            .map(|a| a.pin().name)
            .collect();
        format!("unknown agent {name:?}: use one of {}", all.join(", "))
    })
}

/// `$XDG_CACHE_HOME/gastown/agents`, else `~/.cache/gastown/agents`.
pub(crate) fn default_agent_cache() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("gastown").join("agents")
}

/// Build the image and print its tag; progress goes to stderr as it happens.
pub async fn run_town_image(cmd: TownImageCommand) -> anyhow::Result<()> {
    match cmd {
        TownImageCommand::Build {
            suite,
            mirror,
            packages,
            agents,
            cache,
            with_gt,
        } => {
            let opts = runner::image::ImageOptions {
                suite,
                mirror,
                extra_packages: packages,
                ..Default::default()
            };
            let started = std::time::Instant::now();
            let mut progress = |line: &str| eprintln!("  {line}");
            let cache = cache.unwrap_or_else(default_agent_cache);
            let mut tag =
                runner::image::build_town_image_with_agents(&opts, &agents, &cache, &mut progress)
                    .await?;
            if with_gt {
                let gt = std::env::current_exe()?;
                tag = runner::image::build_with_gt(&tag, &gt, "gastown", &mut progress).await?;
            }
            eprintln!(
                "town image ready in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            println!("{tag}");
            Ok(())
        }
        TownImageCommand::Fetch { agents, out, cache } => {
            let cache = cache.unwrap_or_else(default_agent_cache);
            let mut progress = |line: &str| eprintln!("  {line}");
            runner::image::stage_agents(&agents, &cache, &out, &mut progress).await?;
            println!("{}", out.display());
            Ok(())
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum InboxCommand {
    /// List deliveries, newest first.
    List {
        /// Only deliveries that failed for good.
        #[arg(long)]
        failed: bool,
        /// Only deliveries with this status (pending, processed, failed, ignored).
        #[arg(long, conflicts_with = "failed")]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Show one delivery: its headers as stored, its state and its JSON payload.
    Show { id: i64 },
    /// Put a failed or ignored delivery back in the queue; a running `gt serve` picks it up.
    Retry { id: i64 },
    /// Delete processed and ignored deliveries received more than N days ago (default:
    /// `inbox.keep_days`); failed and pending ones stay. `gt serve` does this hourly.
    Prune {
        /// 0 prunes every settled delivery received until now.
        #[arg(long, value_name = "N")]
        older_than_days: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Every agent with its state, hooked bead, last heartbeat and live session.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BeadsCommand {
    /// List beads by priority and age.
    List {
        /// Only beads ready to be worked (open, every blocker closed).
        #[arg(long)]
        ready: bool,
        #[arg(long, conflicts_with = "ready")]
        status: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one bead and its history.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Run a failed or stopped task again (its attempts counted afresh), or one
    /// waiting out its retry's backoff now.
    Retry { id: String },
    /// Stop a task's polecats and close it `wontfix`.
    Stop { id: String },
    /// Approve the `human` formula step the task waits for.
    Approve { id: String },
    /// Send the task's pull request in review back to a polecat with these words.
    Rework {
        id: String,
        #[arg(required = true, num_args = 1..)]
        words: Vec<String>,
    },
}

pub fn load_config(global: &GlobalArgs) -> anyhow::Result<Config> {
    Ok(Config::load(global.config.as_deref(), &|k| {
        std::env::var(k).ok()
    })?)
}

/// The database `gt serve` uses, which must exist.
pub fn open_store(config: &Config) -> anyhow::Result<Store> {
    if !config.database.exists() {
        bail!(
            "no database at {} (set GT_DATABASE or `database:` to the file gt serve uses)",
            config.database.display()
        );
    }
    Store::open(&config.database)
        .with_context(|| format!("cannot open {}", config.database.display()))
}

pub async fn run_inbox(config: &Config, cmd: InboxCommand) -> anyhow::Result<()> {
    let store = open_store(config)?;
    match cmd {
        InboxCommand::List {
            failed,
            status,
            limit,
            json,
        } => {
            let status = match (failed, status) {
                (true, _) => Some(InboxStatus::Failed),
                (false, Some(s)) => Some(parse_inbox_status(&s)?),
                (false, None) => None,
            };
            let rows = store
                .read(move |c| store::list_inbox(c, status, limit))
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            if rows.is_empty() {
                println!("no deliveries");
            }
            for r in rows {
                println!(
                    "{:>6}  {:<9}  {}  {:<6} {:<28} {:<40} tries={}{}",
                    r.id,
                    r.status.as_str(),
                    format_utc(r.received_at),
                    r.forge,
                    format!(
                        "{}{}",
                        r.event,
                        r.action.map(|a| format!(".{a}")).unwrap_or_default()
                    ),
                    r.repo.unwrap_or_else(|| "-".into()),
                    r.attempts,
                    r.last_error
                        .map(|e| format!("  error: {e}"))
                        .unwrap_or_default(),
                );
            }
        }
        InboxCommand::Show { id } => {
            let (row, body) = store
                .read(move |c| Ok((store::get_delivery(c, id)?, store::delivery_body(c, id)?)))
                .await?;
            println!("{}", serde_json::to_string_pretty(&row)?);
            // Raw bytes as the forge sent them; pretty-printed when they are JSON.
            match body {
                None => println!("(its body was not kept: it was settled when it arrived)"),
                Some(body) => match serde_json::from_slice::<serde_json::Value>(&body) {
                    Ok(v) => println!("{}", serde_json::to_string_pretty(&v)?),
                    Err(_) => println!("{}", String::from_utf8_lossy(&body)),
                },
            }
        }
        InboxCommand::Retry { id } => {
            let now = crate::clock::Clock::now_ms(&crate::clock::SystemClock);
            let row = store
                .write(move |c| store::retry_delivery(c, id, now))
                .await?;
            println!(
                "delivery {} ({} {}) is pending again; a running gt serve will work it",
                row.id, row.forge, row.event
            );
        }
        InboxCommand::Prune { older_than_days } => {
            let days = older_than_days.unwrap_or(config.inbox.keep_days);
            if older_than_days.is_none() && days == 0 {
                bail!(
                    "inbox.keep_days is 0, so nothing is pruned by default; \
                     pass --older-than-days N to prune anyway"
                );
            }
            let now = crate::clock::Clock::now_ms(&crate::clock::SystemClock);
            let before = crate::loops::retention::cutoff(now, days);
            let pruned = crate::loops::retention::prune(&store, before).await?;
            println!(
                "pruned {pruned} processed or ignored deliveries received before {}",
                format_utc(before)
            );
        }
    }
    Ok(())
}

fn parse_inbox_status(s: &str) -> anyhow::Result<InboxStatus> {
    s.parse().map_err(|_| {
        anyhow::anyhow!("unknown status {s:?}: use pending, processed, failed or ignored")
    })
}

pub async fn run_agents(config: &Config, cmd: AgentsCommand) -> anyhow::Result<()> {
    let store = open_store(config)?;
    let AgentsCommand::List { json } = cmd;
    let (agents, sessions) = store
        .read(|c| Ok((store::list_agents(c)?, store::live_sessions(c)?)))
        .await?;
    if json {
        let rows: Vec<_> = agents
            .iter()
            .map(|a| {
                let session = sessions.iter().find(|s| s.agent_id == a.id);
                serde_json::json!({ "agent": a, "session": session })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if agents.is_empty() {
        println!("no agents yet: they are named when a bead is first hooked");
    }
    for a in agents {
        let session = sessions.iter().find(|s| s.agent_id == a.id);
        println!(
            "{:<10} {:<9} {:<8} {:<11} {:<24} {}",
            a.name,
            a.role,
            a.status,
            a.hooked_bead.as_deref().unwrap_or("-"),
            a.last_heartbeat_at
                .map(format_utc)
                .unwrap_or_else(|| "no heartbeat".into()),
            session
                .map(|s| format!("{} ({})", s.id, s.state))
                .unwrap_or_else(|| a.rig_id.clone().unwrap_or_default())
        );
    }
    Ok(())
}

pub async fn run_beads(config: &Config, cmd: BeadsCommand) -> anyhow::Result<()> {
    let store = open_store(config)?;
    match cmd {
        BeadsCommand::List {
            ready,
            status,
            json,
        } => {
            let status = status
                .map(|s| {
                    s.parse::<BeadStatus>().map_err(|_| {
                        let all: Vec<_> = BeadStatus::ALL.iter().map(|s| s.as_str()).collect();
                        anyhow::anyhow!("unknown status {s:?}: use one of {}", all.join(", "))
                    })
                })
                .transpose()?;
            let beads = store
                .read(move |c| {
                    if ready {
                        store::ready_beads(
                            c,
                            crate::clock::Clock::now_ms(&crate::clock::SystemClock),
                        )
                    } else {
                        store::list_beads(c, status)
                    }
                })
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&beads)?);
                return Ok(());
            }
            if beads.is_empty() {
                println!("no beads");
            }
            for b in beads {
                println!(
                    "{:<11} {:<11} P{} {:<14} {:<36} {}",
                    b.id,
                    b.status.as_str(),
                    b.priority,
                    b.bead_type.as_str(),
                    b.forge_ref.unwrap_or_else(|| "-".into()),
                    b.title
                );
            }
        }
        BeadsCommand::Retry { id } => println!("{}", crate::controls::retry(&store, id).await?),
        BeadsCommand::Stop { id } => println!("{}", crate::controls::stop(&store, id).await?),
        BeadsCommand::Approve { id } => {
            println!("{}", crate::controls::approve(&store, id).await?)
        }
        BeadsCommand::Rework { id, words } => println!(
            "{}",
            crate::controls::rework(config, &store, id, words.join(" ")).await?
        ),
        BeadsCommand::Show { id, json } => {
            let (bead, events) = store
                .read(move |c| Ok((store::get_bead(c, &id)?, store::bead_events(c, &id)?)))
                .await?;
            if json {
                let v = serde_json::json!({ "bead": bead, "events": events });
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            println!("{}  {}", bead.id, bead.title);
            println!("  type      {}", bead.bead_type);
            println!(
                "  status    {}{}",
                bead.status,
                bead.close_reason
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
            println!("  priority  P{}", bead.priority);
            if let Some(r) = &bead.rig_id {
                println!("  rig       {r}");
            }
            if let Some(f) = &bead.forge_ref {
                println!("  forge     {f}");
            }
            println!(
                "  created   {} by {}",
                format_utc(bead.created_at),
                bead.created_by
            );
            println!("  history");
            for e in events {
                let change = match (&e.from_status, &e.to_status) {
                    (Some(a), Some(b)) => format!("{a} -> {b}"),
                    (None, Some(b)) => format!("-> {b}"),
                    _ => String::new(),
                };
                println!(
                    "    {}  {:<10} {:<22} by {}",
                    format_utc(e.at),
                    e.kind,
                    change,
                    e.actor
                );
            }
        }
    }
    Ok(())
}

/// `gt status` outside the town: a short summary from the database. Whether a rig has
/// a forge client is decided as `gt serve` decides it, from this configuration and
/// environment (run it with the server's).
pub async fn run_status(config: &Config) -> anyhow::Result<()> {
    let env = |k: &str| std::env::var(k).ok();
    let store = open_store(config).map_err(|e| match std::env::var_os("GT_TOKEN") {
        // An agent after its bead: say where that went.
        Some(_) => e.context(
            "`gt status` is the town summary, read from the bot's database; inside the \
             town, `gt agent status` shows your bead",
        ),
        None => e,
    })?;
    let text = town_summary(config, &store, &env).await?;
    print!("{text}");
    Ok(())
}

/// The text of `gt status`.
pub async fn town_summary(
    config: &Config,
    store: &Store,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<String> {
    use std::fmt::Write as _;
    let (rigs, beads, inbox, unchecked, patrol) = store
        .read(|c| {
            let counts = |sql: &str| -> store::Result<Vec<(String, i64)>> {
                let mut stmt = c.prepare(sql)?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            };
            Ok((
                store::list_rigs(c)?,
                counts("SELECT status, count(*) FROM beads GROUP BY status ORDER BY status")?,
                counts("SELECT status, count(*) FROM inbox GROUP BY status ORDER BY status")?,
                // Slings the worker could not check (see worker::apply_issue).
                counts(
                    "SELECT repo, count(*) FROM inbox WHERE status = 'ignored'
                     AND last_error LIKE '%was not acted on, because nobody can check%'
                     GROUP BY repo",
                )?,
                crate::controls::status_lines(c)?,
            ))
        })
        .await?;
    let list = |counts: &[(String, i64)]| {
        if counts.is_empty() {
            return "none".to_string();
        }
        counts
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = String::new();
    writeln!(out, "rigs")?;
    if rigs.is_empty() {
        writeln!(
            out,
            "  none yet: a repository joins when its first delivery arrives"
        )?;
    }
    for rig in &rigs {
        let forge = match crate::forge::registry::missing_client(config, rig.forge, &rig.host, env)
        {
            None => "forge client ok".to_string(),
            Some(why) => format!("nothing slings here: {why}"),
        };
        writeln!(out, "  {:<40} town {:<12} {forge}", rig.id, rig.town_id)?;
        if let Some((_, n)) = unchecked.iter().find(|(r, _)| *r == rig.id) {
            writeln!(
                out,
                "  {:<40} {n} sling(s) not acted on: nobody could check the labeller may write",
                ""
            )?;
        }
    }
    writeln!(out, "beads     {}", list(&beads))?;
    writeln!(out, "inbox     {}", list(&inbox))?;
    for line in patrol {
        writeln!(out, "{line}")?;
    }
    Ok(out)
}
