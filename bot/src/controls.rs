//! A person's controls over the patrol, from the operator's `gt`: a failed bead run
//! again, a bead stopped, a rig paused and resumed, escalations listed and
//! acknowledged. Each is one transaction through the lifecycle, on the same database
//! `gt serve` uses (its loops pick the change up: the dispatcher, the patrol reaping a
//! stopped agent's process).

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::clock::{Clock, Millis, SystemClock, format_utc};
use crate::config::Config;
use crate::store::{self, RigPause, Store};

#[derive(Debug, Subcommand)]
pub enum RigCommand {
    /// Give a rig no new work (what runs finishes); `gt rig resume` ends it.
    Pause {
        /// The rig's id, as `gt status` lists it (`github:octo/hello`).
        rig: String,
    },
    /// Dispatch to the rig again (a tripped breaker closes too).
    Resume { rig: String },
}

#[derive(Debug, Subcommand)]
pub enum EscalationsCommand {
    /// Escalations waiting for a person, newest first.
    List {
        /// Acknowledged ones too.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge one: it is not said again.
    Ack { id: String },
}

#[derive(Debug, Subcommand)]
pub enum ConvoyCommand {
    /// Track issues that must land together: `gt convoy create "Release 2" octo/hello#12
    /// octo/hello#13` (a slung issue's `<repo>#<n>`, its forge ref, or its bead id).
    Create {
        title: String,
        #[arg(required = true)]
        issues: Vec<String>,
    },
    /// Track more issues (a landed convoy opens again).
    Add {
        convoy: String,
        #[arg(required = true)]
        issues: Vec<String>,
    },
    /// Every convoy, with where it is.
    List,
    /// One convoy and its tracked issues.
    Show { convoy: String },
}

/// Who a CLI change is recorded as.
fn operator() -> String {
    format!(
        "{} (gt CLI)",
        std::env::var("USER").unwrap_or_else(|_| "operator".into())
    )
}

fn now() -> Millis {
    SystemClock.now_ms()
}

/// `gt beads retry <id>`: a failed or stopped task opens again with its attempts
/// counted afresh; one waiting out its backoff starts now.
pub async fn retry(store: &Store, id: String) -> anyhow::Result<String> {
    let (by, now) = (operator(), now());
    store
        .write(move |c| {
            let bead = store::get_bead(c, &id)?;
            crate::lifecycle::withdraw::retry(c, &bead, &by, now)
        })
        .await?
        .map_err(anyhow::Error::msg)
}

/// `gt beads stop <id>`: its polecats stop and the task closes `wontfix`.
pub async fn stop(store: &Store, id: String) -> anyhow::Result<String> {
    let (by, now) = (operator(), now());
    store
        .write(move |c| {
            let bead = store::get_bead(c, &id)?;
            let why = "the work was stopped with `gt beads stop`";
            crate::lifecycle::withdraw::stop(c, &bead, why, &by, now)
        })
        .await?
        .map_err(anyhow::Error::msg)
}

pub async fn run_rig(config: &Config, store: &Store, cmd: RigCommand) -> anyhow::Result<()> {
    let _ = config;
    let (by, now) = (operator(), now());
    let said = match cmd {
        RigCommand::Pause { rig } => {
            store
                .write(move |c| {
                    if store::find_rig(c, &rig)?.is_none() {
                        return Ok(Err(format!("no rig {rig} (gt status lists them)")));
                    }
                    store::pause_rig(
                        c,
                        &RigPause {
                            rig_id: rig.clone(),
                            reason: by.clone(),
                            paused_by: by.clone(),
                            paused_at: now,
                            until: None,
                        },
                    )?;
                    crate::lifecycle::attempts::show_pause(c, &rig, now)?;
                    Ok(Ok(format!(
                        "{rig} paused: it gets no new work until `gt rig resume {rig}`"
                    )))
                })
                .await?
        }
        RigCommand::Resume { rig } => {
            store
                .write(move |c| {
                    if !store::resume_rig(c, &rig)? {
                        return Ok(Err(format!("{rig} is not paused")));
                    }
                    crate::lifecycle::attempts::show_pause(c, &rig, now)?;
                    c.wake(store::Wake::Dispatcher);
                    Ok(Ok(format!("{rig} resumed")))
                })
                .await?
        }
    };
    println!("{}", said.map_err(anyhow::Error::msg)?);
    Ok(())
}

pub async fn run_escalations(store: &Store, cmd: EscalationsCommand) -> anyhow::Result<()> {
    match cmd {
        EscalationsCommand::List { all, json } => {
            let rows = store
                .read(move |c| {
                    let mut out = Vec::new();
                    for e in store::list_escalations(c, all)? {
                        let bead = store::get_bead(c, &e.bead_id)?;
                        out.push((e, bead.title));
                    }
                    Ok(out)
                })
                .await?;
            if json {
                let v: Vec<_> = rows
                    .iter()
                    .map(|(e, t)| serde_json::json!({ "escalation": e, "reason": t }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            if rows.is_empty() {
                println!("no escalations waiting for a person");
            }
            for (e, reason) in rows {
                let state = match (&e.acked_by, e.acked_at) {
                    (Some(by), Some(at)) => format!("acknowledged by {by} at {}", format_utc(at)),
                    _ => format!("said {} time(s)", e.renotified + 1),
                };
                println!(
                    "{}  {:<8}  {}  about {}  from {}  {state}\n    {reason}",
                    e.bead_id,
                    e.severity,
                    format_utc(e.notified_at),
                    e.about.as_deref().unwrap_or("-"),
                    e.source,
                );
            }
        }
        EscalationsCommand::Ack { id } => {
            let (by, now) = (operator(), now());
            let i = id.clone();
            let acked = store
                .write(move |c| {
                    if store::escalation(c, &i)?.is_none() {
                        return Ok(None);
                    }
                    Ok(Some(crate::lifecycle::escalation::ack(c, &i, &by, now)?))
                })
                .await?
                .with_context(|| format!("no escalation {id} (gt escalations list)"))?;
            if !acked {
                bail!("{id} was already acknowledged");
            }
            println!("{id} acknowledged");
        }
    }
    Ok(())
}

/// The patrol's part of `gt status`: agents at work, paused rigs, escalations waiting.
pub fn status_lines(c: &rusqlite::Connection) -> store::Result<Vec<String>> {
    let mut out = Vec::new();
    let agents = store::list_agents(c)?;
    let working = agents
        .iter()
        .filter(|a| a.status == store::AgentStatus::Working)
        .count();
    let live = store::live_sessions(c)?.len();
    out.push(format!(
        "agents    {working} working, {} idle, {live} live session(s)",
        agents.len() - working
    ));
    for p in store::rig_pauses(c)? {
        let until = p.until.map_or("until resumed".to_string(), |t| {
            format!("until {}", format_utc(t))
        });
        out.push(format!("paused    {} {until}: {}", p.rig_id, p.reason));
    }
    let waiting = store::list_escalations(c, false)?;
    let mut by_severity: std::collections::BTreeMap<String, usize> = Default::default();
    for e in &waiting {
        *by_severity.entry(e.severity.clone()).or_default() += 1;
    }
    let list: Vec<String> = by_severity
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    out.push(format!(
        "escalations {}",
        if list.is_empty() {
            "none waiting".into()
        } else {
            list.join(", ")
        }
    ));
    let spent = store::mayor_spend(c, None)?;
    if spent.turns > 0 {
        out.push(format!(
            "mayor     {} turn(s), {} tokens in, {} out, cost {:.4}",
            spent.turns,
            spent.tokens_in,
            spent.tokens_out,
            spent.cost_micros as f64 / 1e6
        ));
    }
    Ok(out)
}

/// The task a person names on the CLI: its bead id, its forge ref, or `<repo>#<n>`.
fn task_named(c: &rusqlite::Connection, name: &str) -> store::Result<Result<store::Bead, String>> {
    if let Ok(b) = store::get_bead(c, name) {
        return Ok(Ok(b));
    }
    if let Some(b) = store::find_task_for_forge_ref(c, name)? {
        return Ok(Ok(b));
    }
    if let Some((path, n)) = name.rsplit_once('#')
        && let Ok(n) = n.parse::<u64>()
    {
        for rig in store::list_rigs(c)? {
            if rig.path == path {
                let forge_ref = store::ForgeRef::issue(&rig.id, n).to_string();
                if let Some(b) = store::find_task_for_forge_ref(c, &forge_ref)? {
                    return Ok(Ok(b));
                }
            }
        }
    }
    Ok(Err(format!(
        "{name} is not a slung issue (give its bead id, its forge ref, or <repo>#<n>)"
    )))
}

pub async fn run_convoy(store: &Store, cmd: ConvoyCommand) -> anyhow::Result<()> {
    let (by, now) = (operator(), now());
    let said: Result<String, String> = match cmd {
        ConvoyCommand::Create { title, issues } => {
            store
                .write(move |c| {
                    let mut tasks = Vec::new();
                    for i in &issues {
                        match task_named(c, i)? {
                            Ok(t) => tasks.push(t),
                            Err(e) => return Ok(Err(e)),
                        }
                    }
                    let convoy = crate::lifecycle::convoy::create(c, &title, &tasks, &by, now)?;
                    Ok(Ok(format!(
                        "convoy {} tracks {} issue(s); its tracking issue opens on the forge",
                        convoy.id,
                        tasks.len()
                    )))
                })
                .await?
        }
        ConvoyCommand::Add { convoy, issues } => {
            store
                .write(move |c| {
                    for i in &issues {
                        match task_named(c, i)? {
                            Ok(t) => {
                                crate::lifecycle::convoy::add(c, &convoy, &t, &by, now)?;
                            }
                            Err(e) => return Ok(Err(e)),
                        }
                    }
                    Ok(Ok(format!("convoy {convoy} tracks {} more", issues.len())))
                })
                .await?
        }
        ConvoyCommand::List => {
            let lines = store
                .read(|c| {
                    let mut out = Vec::new();
                    for b in store::list_beads(c, None)? {
                        if b.bead_type == store::BeadType::Convoy {
                            let n = crate::lifecycle::convoy::tracked(c, &b)?.len();
                            out.push(format!(
                                "{}  {:<8} {} issue(s)  {}{}",
                                b.id,
                                b.status,
                                n,
                                b.title,
                                b.forge_ref.map(|f| format!("  ({f})")).unwrap_or_default()
                            ));
                        }
                    }
                    Ok(out)
                })
                .await?;
            Ok(if lines.is_empty() {
                "no convoys".into()
            } else {
                lines.join("\n")
            })
        }
        ConvoyCommand::Show { convoy } => {
            store
                .read(move |c| {
                    let b = store::get_bead(c, &convoy)?;
                    if b.bead_type != store::BeadType::Convoy {
                        return Ok(Err(format!("{convoy} is not a convoy")));
                    }
                    crate::lifecycle::convoy::status_comment(c, &b).map(Ok)
                })
                .await?
        }
    };
    println!("{}", said.map_err(anyhow::Error::msg)?);
    Ok(())
}

/// `gt beads approve <id>`: approve the `human` step the task's molecule waits for.
pub async fn approve(store: &Store, id: String) -> anyhow::Result<String> {
    let (by, now) = (operator(), now());
    store
        .write(move |c| {
            let bead = store::get_bead(c, &id)?;
            Ok(
                match crate::lifecycle::molecule::approve(c, &bead, &by, now)? {
                    Some(step) => Ok(format!("step {step} of {id} approved")),
                    None => Err(format!("no step of {id} waits for an approval")),
                },
            )
        })
        .await?
        .map_err(anyhow::Error::msg)
}

/// `gt beads rework <id> <words>`: the task's pull request in review goes back to a
/// polecat with these words (as `/gt rework` on the PR does).
pub async fn rework(
    config: &Config,
    store: &Store,
    id: String,
    words: String,
) -> anyhow::Result<String> {
    let (by, now) = (operator(), now());
    let d = crate::decisions::patrol::Durations::from(&config.patrol);
    store
        .write(move |c| {
            let in_review = store::children(c, &id)?.into_iter().find(|b| {
                b.bead_type == store::BeadType::MergeRequest
                    && b.status == store::BeadStatus::Review
            });
            let Some(mr) = in_review else {
                return Ok(Err(format!("{id} has no pull request in review")));
            };
            let reason = format!("{by} asked for changes");
            let problem = crate::lifecycle::rework::Problem {
                reason: &reason,
                details: &words,
                actor: &by,
            };
            Ok(
                match crate::lifecycle::rework::send_back(
                    c,
                    &mr.id,
                    &problem,
                    crate::decisions::comments::PERSONS_REWORK,
                    &d,
                    now,
                )? {
                    crate::lifecycle::rework::SentBack::Rework(b) => {
                        Ok(format!("{} sent back to a polecat as {}", mr.id, b.id))
                    }
                    _ => Err(format!("{} is not waiting in review", mr.id)),
                },
            )
        })
        .await?
        .map_err(anyhow::Error::msg)
}

/// What `gt sling` slings.
#[derive(Debug, clap::Args)]
pub struct SlingCommand {
    /// The issue: `owner/repo#12` (`group/sub/project#12` on GitLab), of a rig.
    pub issue: String,
    #[arg(long)]
    pub formula: Option<String>,
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=4))]
    pub priority: Option<u8>,
    /// A formula var, `key=value` (repeatable).
    #[arg(long = "var")]
    pub vars: Vec<String>,
}

/// `gt sling owner/repo#12`: what the sling label or `/gt sling` does, as the
/// operator: the issue read from the forge, its formula planned, the bead made.
pub async fn sling(config: Config, cmd: SlingCommand) -> anyhow::Result<String> {
    let (path, number) = cmd
        .issue
        .rsplit_once('#')
        .and_then(|(p, n)| Some((p.to_string(), n.parse::<u64>().ok()?)))
        .ok_or_else(|| anyhow::anyhow!("give the issue as owner/repo#12, not {}", cmd.issue))?;
    let mut vars = std::collections::BTreeMap::new();
    for v in &cmd.vars {
        let (k, val) = v
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--var {v}: write key=value"))?;
        vars.insert(k.to_string(), val.to_string());
    }
    let (forges, _) = crate::app::server::forges_from_config(&config, &|k| std::env::var(k).ok())?;
    let app = crate::app::App::builder(config, std::sync::Arc::new(SystemClock))
        .forges(forges)
        .build()?;
    let rig = app
        .store
        .read(move |c| {
            Ok(store::list_rigs(c)?
                .into_iter()
                .find(|r| r.path.eq_ignore_ascii_case(&path)))
        })
        .await?
        .ok_or_else(|| anyhow::anyhow!("{} is not a rig of the town", cmd.issue))?;
    let forge = app
        .forges
        .for_rig(&rig)
        .ok_or_else(|| anyhow::anyhow!("no forge client for {}:{}", rig.forge, rig.host))?;
    let repo = crate::forge::RepoPath::new(rig.path.clone());
    let issue = forge.issue(&repo, number).await?;
    let repo_ref = webhooks::RepoRef {
        forge: rig.forge,
        host: rig.host.clone(),
        path: rig.path.clone(),
        id: None,
        default_branch: None,
    };
    let args = crate::decisions::command::SlingArgs {
        formula: cmd.formula,
        rig: None,
        priority: cmd.priority,
        vars,
    };
    let by = webhooks::Actor::person(operator());
    let prepared = app
        .worker
        .prepare_slings(
            forge.as_ref(),
            &repo_ref,
            &by,
            crate::forge::Permission::Admin,
            &[(issue, args)],
        )
        .await?;
    let config = app.config.clone();
    let slung = app
        .store
        .write(move |c| {
            crate::loops::worker::apply_slings(c, &config, &rig, &prepared, "the gt CLI", now())
        })
        .await?;
    match slung.into_iter().next() {
        Some(Ok(b)) => Ok(format!("{} slung as {}", cmd.issue, b.id)),
        Some(Err(why)) => Err(anyhow::anyhow!(why)),
        None => Err(anyhow::anyhow!("nothing slung")),
    }
}
