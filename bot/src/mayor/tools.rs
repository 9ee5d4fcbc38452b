//! The Mayor's tools: the functions the CLI and the commands use, behind JSON
//! declarations the model calls. Each checks its arguments strictly (unknown fields,
//! wrong types and out-of-range values are errors the model can act on), acts only in
//! the thread's repository with the asker's permission, and is atomic: one store write
//! (a batch is all of its issues or none).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Mayor;
pub use super::schema::declarations;
use super::schema::{
    Batch, BatchTask, Empty, ListBeads, Mail, OneBead, OneConvoy, OneEscalation, SLING_FIELDS,
    SlingOneFields, TASK_FIELDS, args, check_fields,
};
use crate::decisions::command::SlingArgs;
use crate::decisions::comments::ActionTaken;
use crate::forge::{Forge, Issue, NewIssue, Permission, RepoPath};
use crate::llm::ToolCall;
use crate::store::{self, Bead, BeadType, Rig};

/// What one tool call came to: its result for the model, and what it changed.
pub struct Called {
    pub result: Value,
    pub action: Option<ActionTaken>,
}

fn err(e: impl std::fmt::Display) -> Called {
    Called {
        result: json!({ "error": e.to_string() }),
        action: None,
    }
}

fn ok(result: Value) -> Called {
    Called {
        result,
        action: None,
    }
}

/// Where the tools act, and as whom.
pub struct Toolbox<'a> {
    pub mayor: &'a Mayor,
    pub rig: &'a Rig,
    pub forge: &'a dyn Forge,
    pub asker: &'a webhooks::Actor,
    pub permission: Permission,
    pub turn: i64,
}

impl Toolbox<'_> {
    fn repo(&self) -> RepoPath {
        RepoPath::new(self.rig.path.clone())
    }

    fn repo_ref(&self) -> webhooks::RepoRef {
        webhooks::RepoRef {
            forge: self.rig.forge,
            host: self.rig.host.clone(),
            path: self.rig.path.clone(),
            id: None,
            default_branch: None,
        }
    }

    fn now(&self) -> crate::clock::Millis {
        self.mayor.clock.now_ms()
    }

    fn by(&self) -> String {
        format!("{} (via the Mayor)", self.asker.login)
    }

    pub async fn call(&self, call: &ToolCall) -> Called {
        let done = match call.name.as_str() {
            "gt_list_rigs" => self.list_rigs(call).await,
            "gt_list_beads" => self.list_beads(call).await,
            "gt_bead_status" => self.bead_status(call).await,
            "gt_sling" => self.sling(call).await,
            "gt_sling_batch" => self.sling_batch(call).await,
            "gt_list_convoys" => self.list_convoys(call).await,
            "gt_convoy_status" => self.convoy_status(call).await,
            "gt_retry" | "gt_stop" => self.retry_or_stop(call).await,
            "gt_list_escalations" => self.list_escalations(call).await,
            "gt_ack_escalation" => self.ack(call).await,
            "gt_mail_send" => self.mail(call).await,
            other => Err(format!("there is no tool {other}")),
        };
        let called = done.unwrap_or_else(err);
        tracing::info!(tool = %call.name, ok = called.result.get("error").is_none(), "mayor tool called");
        called
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection, &str) -> store::Result<T> + Send + 'static,
    ) -> Result<T, String> {
        let rig = self.rig.id.clone();
        self.mayor
            .store
            .read(move |c| f(c, &rig))
            .await
            .map_err(|e| e.to_string())
    }

    async fn list_rigs(&self, call: &ToolCall) -> Result<Called, String> {
        args::<Empty>(call)?;
        let paused = self
            .read(|c, rig| {
                Ok(store::rig_pauses(c)?
                    .into_iter()
                    .find(|p| p.rig_id == rig)
                    .map(|p| p.reason))
            })
            .await?;
        Ok(ok(
            json!([{ "rig": self.rig.id, "repository": self.rig.path,
                        "paused": paused }]),
        ))
    }

    async fn list_beads(&self, call: &ToolCall) -> Result<Called, String> {
        let a: ListBeads = args(call)?;
        let status = a.status;
        let beads = self
            .read(move |c, rig| {
                Ok(store::list_beads(c, None)?
                    .into_iter()
                    .filter(|b| b.rig_id.as_deref() == Some(rig) && b.bead_type == BeadType::Task)
                    .filter(|b| status.as_deref().is_none_or(|s| b.status.to_string() == s))
                    .take(100)
                    .collect::<Vec<_>>())
            })
            .await?;
        Ok(ok(Value::Array(beads.iter().map(summary).collect())))
    }

    /// A task of this repository, by bead id or `#n`.
    async fn task(&self, name: &str) -> Result<Bead, String> {
        let name = name.trim().to_string();
        self.read(move |c, rig| {
            let found = match name.strip_prefix('#').and_then(|n| n.parse::<u64>().ok()) {
                Some(n) => {
                    store::find_task_for_forge_ref(c, &store::ForgeRef::issue(rig, n).to_string())?
                }
                None => store::get_bead(c, &name).ok(),
            };
            Ok(found.filter(|b| b.rig_id.as_deref() == Some(rig)))
        })
        .await?
        .ok_or_else(|| "no such task in this repository (give gt-… or #12)".to_string())
    }

    async fn bead_status(&self, call: &ToolCall) -> Result<Called, String> {
        let a: OneBead = args(call)?;
        let task = self.task(&a.bead).await?;
        let max = self.mayor.config.patrol.max_attempts;
        let mut s = summary(&task);
        s["said"] = crate::decisions::comments::task_status(&task, max, None, None).into();
        Ok(ok(s))
    }

    /// The issue a sling names, or a new one opened for it (before any write).
    async fn issue_for(&self, s: &SlingOneFields, extra: &str) -> Result<Issue, String> {
        match (&s.issue, &s.title) {
            (Some(i), None) => {
                let n = i
                    .trim()
                    .trim_start_matches('#')
                    .parse::<u64>()
                    .map_err(|_| format!("`{i}` is not an issue of this repository (#12)"))?;
                self.forge
                    .issue(&self.repo(), n)
                    .await
                    .map_err(|e| format!("#{n}: {e}"))
            }
            (None, Some(title)) => {
                let body = format!(
                    "{}{extra}\n\n_Opened by the Gastown Mayor for @{}._",
                    s.body.as_deref().unwrap_or_default().trim(),
                    self.asker.login
                );
                let new = NewIssue {
                    title: title.chars().take(200).collect(),
                    body,
                    labels: Vec::new(),
                };
                self.forge
                    .create_issue(&self.repo(), &new)
                    .await
                    .map_err(|e| format!("opening `{title}`: {e}"))
            }
            _ => Err("give either `issue` (an existing one) or `title` (a new one)".into()),
        }
    }

    fn sling_args(s: &SlingOneFields) -> Result<SlingArgs, String> {
        if s.priority.is_some_and(|p| p > 4) {
            return Err("priority is 0 (highest) to 4".into());
        }
        Ok(SlingArgs {
            formula: s.formula.clone(),
            rig: None,
            priority: s.priority,
            vars: s.vars.clone(),
        })
    }

    async fn sling(&self, call: &ToolCall) -> Result<Called, String> {
        let raw: Value = args(call)?;
        check_fields("gt_sling", &raw, &SLING_FIELDS)?;
        let s: SlingOneFields =
            serde_json::from_value(raw).map_err(|e| format!("gt_sling: bad arguments: {e}"))?;
        let sling_args = Self::sling_args(&s)?;
        let issue = self.issue_for(&s, "").await?;
        let slung = self.slings(vec![(issue.clone(), sling_args)], None).await?;
        let bead = slung.into_iter().next().ok_or("nothing slung")??;
        Ok(Called {
            result: summary(&bead),
            action: Some(ActionTaken {
                tool: "gt_sling".into(),
                summary: format!("slung #{} as {}", issue.number, bead.id),
                link: Some(issue.url),
            }),
        })
    }

    /// Sling prepared issues in one write, with a convoy over them when `convoy` is
    /// named: every one of them, or (the first refusal) none.
    async fn slings(
        &self,
        issues: Vec<(Issue, SlingArgs)>,
        convoy: Option<String>,
    ) -> Result<Vec<Result<Bead, String>>, String> {
        let prepared = self
            .mayor
            .worker
            .prepare_slings(
                self.forge,
                &self.repo_ref(),
                self.asker,
                self.permission,
                &issues,
            )
            .await
            .map_err(|e| e.to_string())?;
        let (config, rig, now) = (self.mayor.config.clone(), self.rig.clone(), self.now());
        let (via, by) = (format!("the Mayor (turn {})", self.turn), self.by());
        self.mayor
            .store
            .write(move |c| {
                c.execute_batch("SAVEPOINT batch")?;
                let slung =
                    crate::loops::worker::apply_slings(c, &config, &rig, &prepared, &via, now)?;
                let refused: Vec<String> = slung.iter().filter_map(|r| r.clone().err()).collect();
                if convoy.is_some() && !refused.is_empty() {
                    c.execute_batch("ROLLBACK TO batch; RELEASE batch")?;
                    return Ok(Err(format!("nothing was slung: {}", refused.join("; "))));
                }
                if let Some(title) = convoy {
                    let tasks: Vec<Bead> = slung.iter().filter_map(|r| r.clone().ok()).collect();
                    crate::lifecycle::convoy::create(c, &title, &tasks, &by, now)?;
                }
                c.execute_batch("RELEASE batch")?;
                Ok(Ok(slung))
            })
            .await
            .map_err(|e| e.to_string())?
    }

    async fn sling_batch(&self, call: &ToolCall) -> Result<Called, String> {
        let a: Batch = args(call)?;
        let tasks = a
            .tasks
            .iter()
            .map(|t| {
                check_fields("gt_sling_batch: a task", t, &TASK_FIELDS)?;
                serde_json::from_value::<BatchTask>(t.clone())
                    .map_err(|e| format!("gt_sling_batch: bad task: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let order = super::batch::order(
            &tasks
                .iter()
                .map(|t| (t.key.clone(), t.depends_on.clone()))
                .collect::<Vec<_>>(),
        )?;
        for t in &tasks {
            Self::sling_args(&t.sling)?;
            if t.sling.issue.is_some() == t.sling.title.is_some() {
                return Err(format!("task `{}`: give either `issue` or `title`", t.key));
            }
        }
        // Issues are opened blockers first, so a dependent's body names its blockers'
        // numbers; the slings then happen together.
        let mut numbers: BTreeMap<String, u64> = BTreeMap::new();
        let mut issues = Vec::new();
        for i in order {
            let t = &tasks[i];
            let extra: String = t
                .depends_on
                .iter()
                .map(|k| format!("\n\nDepends on #{}", numbers[k]))
                .collect();
            let issue = self.issue_for(&t.sling, &extra).await?;
            numbers.insert(t.key.clone(), issue.number);
            issues.push((issue, Self::sling_args(&t.sling)?));
        }
        let links: Vec<(u64, String)> = issues
            .iter()
            .map(|(i, _)| (i.number, i.url.clone()))
            .collect();
        let slung = self.slings(issues, Some(a.convoy_title.clone())).await?;
        let beads: Vec<Bead> = slung.into_iter().collect::<Result<_, _>>()?;
        let listed: Vec<String> = links
            .iter()
            .zip(&beads)
            .map(|((n, url), b)| format!("[#{n}]({url}) as {}", b.id))
            .collect();
        Ok(Called {
            result: Value::Array(beads.iter().map(summary).collect()),
            action: Some(ActionTaken {
                tool: "gt_sling_batch".into(),
                summary: format!(
                    "slung {} in a convoy, {}, whose tracking issue opens shortly",
                    listed.join(", "),
                    crate::decisions::comments::quoted(&a.convoy_title)
                ),
                link: None,
            }),
        })
    }

    async fn list_convoys(&self, call: &ToolCall) -> Result<Called, String> {
        args::<Empty>(call)?;
        let convoys = self
            .read(|c, rig| {
                Ok(store::list_beads(c, None)?
                    .into_iter()
                    .filter(|b| b.rig_id.as_deref() == Some(rig) && b.bead_type == BeadType::Convoy)
                    .collect::<Vec<_>>())
            })
            .await?;
        Ok(ok(Value::Array(convoys.iter().map(summary).collect())))
    }

    async fn convoy_status(&self, call: &ToolCall) -> Result<Called, String> {
        let a: OneConvoy = args(call)?;
        let said = self
            .read(move |c, rig| {
                let Ok(b) = store::get_bead(c, &a.convoy) else {
                    return Ok(None);
                };
                if b.bead_type != BeadType::Convoy || b.rig_id.as_deref() != Some(rig) {
                    return Ok(None);
                }
                crate::lifecycle::convoy::status_comment(c, &b).map(Some)
            })
            .await?
            .ok_or("no such convoy in this repository")?;
        Ok(ok(
            json!({ "status": crate::decisions::comments::without_markers(&said) }),
        ))
    }

    async fn retry_or_stop(&self, call: &ToolCall) -> Result<Called, String> {
        let a: OneBead = args(call)?;
        let task = self.task(&a.bead).await?;
        let (stop, by, now) = (call.name == "gt_stop", self.by(), self.now());
        let why = format!("@{} stopped the work through the Mayor", self.asker.login);
        let id = task.id.clone();
        let said = self
            .mayor
            .store
            .write(move |c| match stop {
                true => crate::lifecycle::withdraw::stop(c, &task, &why, &by, now),
                false => crate::lifecycle::withdraw::retry(c, &task, &by, now),
            })
            .await
            .map_err(|e| e.to_string())??;
        tracing::info!(bead = %id, tool = %call.name, "the Mayor changed a task");
        Ok(Called {
            result: json!({ "done": said }),
            action: Some(ActionTaken {
                tool: call.name.clone(),
                summary: said,
                link: None,
            }),
        })
    }

    async fn list_escalations(&self, call: &ToolCall) -> Result<Called, String> {
        args::<Empty>(call)?;
        let list = self
            .read(|c, rig| {
                let mut out = Vec::new();
                for e in store::list_escalations(c, false)? {
                    let bead = store::get_bead(c, &e.bead_id)?;
                    if bead.rig_id.as_deref() == Some(rig) {
                        out.push(json!({ "escalation": e.bead_id, "about": e.about,
                            "severity": e.severity, "title": bead.title }));
                    }
                }
                Ok(out)
            })
            .await?;
        Ok(ok(Value::Array(list)))
    }

    async fn ack(&self, call: &ToolCall) -> Result<Called, String> {
        let a: OneEscalation = args(call)?;
        let (rig, by, now) = (self.rig.id.clone(), self.by(), self.now());
        let id = a.escalation.clone();
        let acked = self
            .mayor
            .store
            .write(move |c| {
                match store::get_bead(c, &id) {
                    Ok(b)
                        if b.bead_type == BeadType::Escalation
                            && b.rig_id.as_deref() == Some(&rig) => {}
                    _ => return Ok(Err("no such escalation in this repository".to_string())),
                }
                Ok(Ok(crate::lifecycle::escalation::ack(c, &id, &by, now)?))
            })
            .await
            .map_err(|e| e.to_string())??;
        if !acked {
            return Err(format!("{} was already acknowledged", a.escalation));
        }
        Ok(Called {
            result: json!({ "acknowledged": a.escalation }),
            action: Some(ActionTaken {
                tool: "gt_ack_escalation".into(),
                summary: format!("acknowledged {}", a.escalation),
                link: None,
            }),
        })
    }

    async fn mail(&self, call: &ToolCall) -> Result<Called, String> {
        let a: Mail = args(call)?;
        let task = self.task(&a.bead).await?;
        let (by, now) = (self.by(), self.now());
        let (subject, body) = (a.subject.clone(), a.body.clone());
        let sent = self
            .mayor
            .store
            .write(move |c| {
                let letter = crate::lifecycle::mail::Letter {
                    kind: "free",
                    to: "polecat",
                    subject: &subject,
                    body: &body,
                };
                crate::lifecycle::mail::send(c, &task, &by, &letter, now)
            })
            .await
            .map_err(|e| e.to_string())?;
        Ok(Called {
            result: json!({ "sent": sent.id }),
            action: Some(ActionTaken {
                tool: "gt_mail_send".into(),
                summary: format!(
                    "sent a message to the agents of {}",
                    a.bead.replace('`', "")
                ),
                link: None,
            }),
        })
    }
}

/// A bead as tools return it.
fn summary(b: &Bead) -> Value {
    json!({
        "bead": b.id,
        "issue": b.forge_ref.as_deref().and_then(store::ForgeRef::issue_number),
        "title": b.title,
        "status": b.status.to_string(),
        "close_reason": b.close_reason.map(|r| r.to_string()),
        "attempts": b.attempts,
    })
}
