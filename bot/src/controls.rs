//! A person's controls over the patrol, from the operator's `gt`: a failed bead run
//! again, a bead stopped, a rig paused and resumed, escalations listed and
//! acknowledged. Each is one transaction through the lifecycle, on the same database
//! `gt serve` uses (its loops pick the change up: the dispatcher, the patrol reaping a
//! stopped agent's process).

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::clock::{Clock, Millis, SystemClock, format_utc};
use crate::config::Config;
use crate::store::{self, BeadStatus, BeadType, RigPause, Store};

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
            Ok(match bead.status {
                BeadStatus::Failed | BeadStatus::Closed if bead.bead_type == BeadType::Task => {
                    crate::lifecycle::withdraw::reopen(c, &bead, &by, now)?;
                    Ok(format!("{id} is open again, its attempts counted from zero"))
                }
                BeadStatus::Open => {
                    store::set_retry_at(c, &id, None)?;
                    c.wake(store::Wake::Dispatcher);
                    Ok(format!("{id} is ready now"))
                }
                s => Err(format!(
                    "{id} is {s}: only a failed or closed task, or one waiting to retry, can be retried"
                )),
            })
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
            if bead.bead_type != BeadType::Task {
                return Ok(Err(format!("{id} is a {}; stop its task", bead.bead_type)));
            }
            let why = "the work was stopped with `gt beads stop`";
            Ok(
                match crate::lifecycle::withdraw::withdraw(c, &bead, why, &by, now)? {
                    true => Ok(format!("{id} stopped and closed")),
                    false => Err(format!("{id} is {}: nothing to stop", bead.status)),
                },
            )
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
    Ok(out)
}
