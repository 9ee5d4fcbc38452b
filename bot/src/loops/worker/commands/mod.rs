//! Comments addressed to the bot, worked inside their delivery's transaction: the
//! commands run there and then (each is a store change, atomic with the delivery), the
//! 👀 and the answer are queued in the outbox beside them, and free text is queued for
//! the Mayor. What each comment ran is recorded, so a redelivery runs nothing and an
//! edit runs only the command lines it added.
//!
//! Who may: the author must have write access (asked of the forge before the batch,
//! like a sling); anyone else gets one reply saying so. Bots — this one included — are
//! never listened to.

use webhooks::{CommentAction, CommentEvent, CommentTarget, IssueAction, IssueEvent};

use super::{Lookups, apply_issue, issue_key, permission_key};
use crate::clock::Millis;
use crate::config::Config;
use crate::decisions::command::{self, Addressed, Command, Line};
use crate::decisions::comments::{self, Outcome, Refusal};
use crate::decisions::deps::IssueRef;
use crate::forge::{CommentRef, Reaction};
use crate::lifecycle::rework::{self, SentBack};
use crate::store::{self, Bead, BeadStatus, BeadType, ForgeAction, Rig, StoreError, Tx};

mod status;
use status::{convoy_status, status};

/// What `comment` asks of the town, if anything: a person's comment (not the bot's
/// own, not another bot's), on an issue or a PR/MR, addressed to the bot.
pub(super) fn asked(config: &Config, comment: &CommentEvent) -> Option<Addressed> {
    let name = config.bot_name(comment.repo.forge);
    let login = &comment.actor.login;
    let own =
        login.eq_ignore_ascii_case(name) || login.eq_ignore_ascii_case(&format!("{name}[bot]"));
    if comment.actor.bot || own || matches!(comment.target, CommentTarget::Other { .. }) {
        return None;
    }
    command::parse(&comment.body, &[name])
}

/// The issue a comment's `/gt sling` would sling, as if its author had labelled it:
/// what the look-ups fetch from the forge and plan before the batch.
pub(super) fn wants_sling<'a>(
    addressed: &'a Addressed,
    comment: &CommentEvent,
) -> Option<&'a Line> {
    let CommentTarget::Issue { .. } = comment.target else {
        return None;
    };
    match addressed {
        Addressed::Commands(lines) => lines
            .iter()
            .find(|l| matches!(l.command, Ok(Command::Sling(_)))),
        Addressed::Mayor(_) => None,
    }
}

/// The sling event `/gt sling` stands for: the issue as the forge has it, labelled
/// by the commenter with the rig's sling label (and the formula asked for).
pub(super) fn sling_event(
    comment: &CommentEvent,
    issue: &crate::forge::Issue,
    sling_label: &str,
    formula: Option<&str>,
) -> IssueEvent {
    let mut labels = issue.labels.clone();
    if let Some(f) = formula {
        labels.retain(|l| !crate::decisions::pick::is_formula_label(l));
        labels.insert(0, format!("{}{f}", crate::decisions::pick::FORMULA_LABEL));
    }
    labels.push(sling_label.to_string());
    IssueEvent {
        repo: comment.repo.clone(),
        actor: comment.actor.clone(),
        number: issue.number,
        title: issue.title.clone(),
        body: Some(issue.body.clone()),
        url: Some(issue.url.clone()),
        author: Some(issue.author.clone()),
        labels,
        state: match issue.state {
            crate::forge::State::Open => webhooks::IssueState::Open,
            crate::forge::State::Closed => webhooks::IssueState::Closed,
        },
        action: IssueAction::Labeled {
            label: sling_label.to_string(),
        },
    }
}

/// Where a comment was written.
struct Here<'a> {
    tx: &'a Tx<'a>,
    config: &'a Config,
    rig: &'a Rig,
    comment: &'a CommentEvent,
    number: u64,
    on_pull_request: bool,
    lookups: &'a Lookups,
    now: Millis,
}

impl Here<'_> {
    fn by(&self) -> &str {
        &self.comment.actor.login
    }

    /// The task this thread is about: the issue's, or the one a refinery PR is for.
    fn task(&self) -> Result<Option<Bead>, StoreError> {
        if !self.on_pull_request {
            let issue = store::ForgeRef::issue(&self.rig.id, self.number).to_string();
            return store::find_task_for_forge_ref(self.tx, &issue);
        }
        let Some(mr) = self.merge_request()? else {
            return Ok(None);
        };
        mr.parent_id
            .map(|id| store::get_bead(self.tx, &id))
            .transpose()
    }

    fn merge_request(&self) -> Result<Option<Bead>, StoreError> {
        let pr = store::ForgeRef::merge_request(&self.rig.id, self.number).to_string();
        store::find_by_forge_ref(self.tx, &pr, BeadType::MergeRequest)
    }

    /// The convoy whose tracking issue this thread is.
    fn convoy(&self) -> Result<Option<Bead>, StoreError> {
        if self.on_pull_request {
            return Ok(None);
        }
        let issue = store::ForgeRef::issue(&self.rig.id, self.number).to_string();
        store::find_by_forge_ref(self.tx, &issue, BeadType::Convoy)
    }

    fn task_or_refuse(&self) -> Result<Result<Bead, Refusal>, StoreError> {
        Ok(self.task()?.ok_or_else(|| {
            Refusal::new(if self.on_pull_request {
                "this pull request is not one the refinery opened".to_string()
            } else {
                "nothing was slung from this issue (`/gt sling` slings it)".to_string()
            })
        }))
    }

    /// The task slung from an issue a command names. Only this repository's: the
    /// commenter's access was checked here, not in the town's other repositories
    /// (whose titles a convoy's status would show).
    fn named_task(&self, r: &IssueRef) -> Result<Result<Bead, Refusal>, StoreError> {
        if let Some(path) = &r.repo
            && !path.eq_ignore_ascii_case(&self.rig.path)
        {
            return Ok(Err(Refusal::new(format!(
                "{r} is in another repository: a comment names issues of this one (the \
                 operator's `gt convoy` can track others)"
            ))));
        }
        let forge_ref = store::ForgeRef::issue(&self.rig.id, r.number).to_string();
        Ok(
            store::find_task_for_forge_ref(self.tx, &forge_ref)?.ok_or_else(|| {
                Refusal::new(format!(
                    "{r} is not slung (sling it first: `/gt sling` on it)"
                ))
            }),
        )
    }
}

/// Work a comment addressed to the bot: run its new commands or queue it for the
/// Mayor, and queue the 👀 and the answer; or refuse its author, once.
pub(super) fn on_comment(
    tx: &Tx<'_>,
    config: &Config,
    rig: &Rig,
    comment: &CommentEvent,
    on_diff: bool,
    lookups: &Lookups,
    now: Millis,
) -> Result<(), StoreError> {
    let Some(addressed) = asked(config, comment) else {
        return Ok(());
    };
    let (number, on_pull_request) = match comment.target {
        CommentTarget::Issue { number } => (number, false),
        CommentTarget::PullRequest { number } => (number, true),
        CommentTarget::Other { .. } => return Ok(()),
    };
    let id = comment.comment_id;
    let span = tracing::info_span!("comment", rig = %rig.id, comment = id, number);
    let _enter = span.enter();
    if comment.action == CommentAction::Deleted {
        tracing::info!("a deleted comment undoes nothing it asked");
        return Ok(());
    }
    let seen = store::seen_comment(tx, &rig.id, id)?;
    let new: Vec<&Line> = match (&addressed, &seen) {
        // A redelivery, or an edit of a request the Mayor already has.
        (Addressed::Mayor(_), Some(_)) => return Ok(()),
        (Addressed::Mayor(_), None) => Vec::new(),
        (Addressed::Commands(lines), seen) => {
            let mut ran = seen.as_ref().map(|s| s.lines.clone()).unwrap_or_default();
            lines
                .iter()
                .filter(|l| match ran.iter().position(|r| *r == l.text) {
                    Some(i) => {
                        ran.remove(i);
                        false
                    }
                    None => true,
                })
                .collect()
        }
    };
    if matches!(addressed, Addressed::Commands(_)) && new.is_empty() {
        tracing::debug!("no command the comment did not already run");
        return Ok(());
    }
    let asker = CommentRef {
        number,
        on_pull_request,
        on_diff,
        id,
    };
    let mut record = seen.clone().unwrap_or_default();
    let round = record.lines.len();
    let key = format!("{}{round}", store::answer_key_prefix(&rig.id, id));
    let author = comment.actor.login.as_str();
    let permission = lookups
        .permissions
        .get(&permission_key(&comment.repo, author))
        .copied();
    let Some(permission) = permission else {
        tracing::warn!(%author, "nobody could check the commenter's access: nothing runs");
        return Ok(());
    };
    if !permission.can_command() {
        tracing::info!(%author, "a comment to the bot refused: no write access");
        if !record.refused {
            let marker = comments::marker("refused", &key);
            let body = comments::needs_write_access(author, &marker);
            answer(tx, rig, &key, asker, body, marker, None, now)?;
            record.refused = true;
            store::record_comment(tx, &rig.id, id, author, &record, now)?;
        }
        return Ok(());
    }
    let seen_key = format!("react:{}:{id}:{round}", rig.id);
    let react = ForgeAction::React {
        asker: asker.clone(),
        reaction: Reaction::Seen,
    };
    store::enqueue_action(tx, &seen_key, &rig.id, None, &react, now)?;
    let marker = comments::marker("answer", &key);
    match &addressed {
        Addressed::Commands(_) => {
            let here = Here {
                tx,
                config,
                rig,
                comment,
                number,
                on_pull_request,
                lookups,
                now,
            };
            let mut outcomes = Vec::new();
            for line in &new {
                let result = match &line.command {
                    Ok(c) => run(&here, c)?,
                    Err(e) => Err(Refusal {
                        problem: e.problem.clone(),
                        usage: e.usage,
                        show_help: e.usage.is_none(),
                    }),
                };
                tracing::info!(command = %line.text, ok = result.is_ok(), "command run");
                outcomes.push(Outcome {
                    line: line.text.clone(),
                    result,
                });
                record.lines.push(line.text.clone());
            }
            let outcome = match outcomes.iter().all(|o| o.result.is_ok()) {
                true => Reaction::Done,
                false => Reaction::Failed,
            };
            let body = comments::command_answer(author, &outcomes, &marker);
            answer(tx, rig, &key, asker, body, marker, Some(outcome), now)?;
        }
        Addressed::Mayor(text) => {
            if config.llm.api_url.is_none() {
                let body = comments::mayor_off(author, &marker);
                answer(
                    tx,
                    rig,
                    &key,
                    asker,
                    body,
                    marker,
                    Some(Reaction::Failed),
                    now,
                )?;
            } else {
                let thread = store::Thread {
                    rig_id: rig.id.clone(),
                    forge_ref: thread_ref(rig, number, on_pull_request),
                    number,
                    on_pull_request,
                    on_diff,
                    comment_id: id,
                };
                store::queue_turn(tx, &rig.town_id, &thread, author, text, now)?;
                tracing::info!("queued for the Mayor");
            }
        }
    }
    store::record_comment(tx, &rig.id, id, author, &record, now)
}

/// The forge ref of an issue or PR thread: its conversation's key.
pub fn thread_ref(rig: &Rig, number: u64, on_pull_request: bool) -> String {
    match on_pull_request {
        true => store::ForgeRef::merge_request(&rig.id, number).to_string(),
        false => store::ForgeRef::issue(&rig.id, number).to_string(),
    }
}

#[allow(clippy::too_many_arguments)]
fn answer(
    tx: &Tx<'_>,
    rig: &Rig,
    key: &str,
    asker: CommentRef,
    body: String,
    marker: String,
    outcome: Option<Reaction>,
    now: Millis,
) -> Result<(), StoreError> {
    let action = ForgeAction::Answer {
        asker,
        body,
        marker,
        outcome,
    };
    store::enqueue_action(tx, key, &rig.id, None, &action, now)?;
    Ok(())
}

/// Run one command. `Err` only when the store fails (the delivery is retried, and
/// nothing of it stays).
fn run(here: &Here<'_>, command: &Command) -> Result<Result<String, Refusal>, StoreError> {
    let (tx, by, now) = (here.tx, here.by(), here.now);
    let refuse = |s: String| Ok(Err(Refusal::new(s)));
    Ok(match command {
        Command::Help => Ok(comments::help_answer()),
        Command::Sling(args) => return sling(here, args),
        Command::Status => return status(here),
        Command::Stop => {
            let task = match here.task_or_refuse()? {
                Ok(t) => t,
                Err(r) => return Ok(Err(r)),
            };
            let why = format!("@{} stopped the work with `/gt stop`", by);
            crate::lifecycle::withdraw::stop(tx, &task, &why, by, now)?.map_err(Refusal::new)
        }
        Command::Retry => {
            let task = match here.task_or_refuse()? {
                Ok(t) => t,
                Err(r) => return Ok(Err(r)),
            };
            crate::lifecycle::withdraw::retry(tx, &task, by, now)?.map_err(Refusal::new)
        }
        Command::Approve => {
            let task = match here.task_or_refuse()? {
                Ok(t) => t,
                Err(r) => return Ok(Err(r)),
            };
            match crate::lifecycle::molecule::approve(tx, &task, by, now)? {
                Some(step) => Ok(format!(
                    "step `{}` approved; a polecat takes the next step",
                    step.replace('`', "")
                )),
                None => return refuse("no step of this work waits for an approval".into()),
            }
        }
        Command::Rework(words) => return rework(here, words),
        Command::Ack => {
            let task = match here.task_or_refuse()? {
                Ok(t) => t,
                Err(r) => return Ok(Err(r)),
            };
            match crate::lifecycle::escalation::ack_about(tx, &task.id, by, now)? {
                0 => return refuse("no escalation about this work waits for anyone".into()),
                n => Ok(format!("{n} escalation(s) acknowledged")),
            }
        }
        Command::ConvoyCreate { title, issues } => {
            let mut tasks = Vec::new();
            for r in issues {
                match here.named_task(r)? {
                    Ok(t) => tasks.push(t),
                    Err(e) => return Ok(Err(e)),
                }
            }
            let convoy = crate::lifecycle::convoy::create(tx, title, &tasks, by, now)?;
            Ok(comments::convoy_created(&convoy.id, issues))
        }
        Command::ConvoyAdd { convoy, issues } => {
            let convoy = match convoy {
                Some(id) => store::get_bead(tx, id).ok().filter(|b| {
                    b.bead_type == BeadType::Convoy
                        && b.rig_id.as_deref() == Some(here.rig.id.as_str())
                }),
                None => here.convoy()?,
            };
            let Some(convoy) = convoy else {
                return refuse(
                    "name the convoy (`/gt convoy add gt-… #3`), or write this on its \
                     tracking issue"
                        .into(),
                );
            };
            for r in issues {
                match here.named_task(r)? {
                    Ok(t) => {
                        crate::lifecycle::convoy::add(tx, &convoy.id, &t, by, now)?;
                    }
                    Err(e) => return Ok(Err(e)),
                }
            }
            Ok(comments::convoy_added(&convoy.id, issues))
        }
        Command::ConvoyStatus => return convoy_status(here),
    })
}

/// `/gt sling`: what labelling the issue would do, with the options given.
fn sling(
    here: &Here<'_>,
    args: &command::SlingArgs,
) -> Result<Result<String, Refusal>, StoreError> {
    if here.on_pull_request {
        return Ok(Err(Refusal::new(
            "`/gt sling` slings the issue it is written on, and this is a pull request",
        )));
    }
    if let Some(rig) = &args.rig
        && !rig.eq_ignore_ascii_case(&here.rig.path)
    {
        return Ok(Err(Refusal::new(format!(
            "work lands in its issue's repository: `rig=` can only be {}",
            here.rig.path.replace('`', "")
        ))));
    }
    let key = (
        here.comment.repo.forge,
        here.comment.repo.host.to_ascii_lowercase(),
        here.comment.repo.path.to_ascii_lowercase(),
        here.number,
    );
    let Some(event) = here.lookups.slings.get(&key) else {
        return Ok(Err(Refusal::new(
            "the bot could not read this issue from the forge",
        )));
    };
    debug_assert_eq!(issue_key(event), key);
    let before = here.task()?;
    if let Some(b) = &before
        && !matches!(b.status, BeadStatus::Failed | BeadStatus::Closed)
    {
        return Ok(Err(Refusal::new(format!(
            "this issue is already slung: {} is {}",
            b.id, b.status
        ))));
    }
    apply_issue(
        here.tx,
        here.config,
        here.rig,
        event,
        here.lookups,
        here.now,
        args.priority,
    )?;
    let after = here.task()?;
    Ok(match (before, after) {
        (_, None) => Err(Refusal::new(
            "the formula does not expand; the comment below says why",
        )),
        (None, Some(t)) => Ok(comments::slung(&t.id, args.formula.as_deref())),
        (Some(_), Some(t)) if t.status == BeadStatus::Open => Ok(format!(
            "{} slung again, its attempts counted from zero",
            t.id
        )),
        (Some(_), Some(t)) => Err(Refusal::new(format!(
            "{} is {}: its work already landed",
            t.id, t.status
        ))),
    })
}

/// `/gt rework <words>` on a refinery PR: closed as rejected, its task back to a
/// polecat with the words in the rework's prompt. A person's rework is not counted
/// against the repository's limit of automatic ones.
fn rework(here: &Here<'_>, words: &str) -> Result<Result<String, Refusal>, StoreError> {
    let mr = match here.on_pull_request {
        true => here.merge_request()?,
        false => None,
    };
    let Some(mr) = mr else {
        return Ok(Err(Refusal::new(
            "`/gt rework` goes on a pull request the refinery opened",
        )));
    };
    let reason = format!("@{} asked for changes", here.by());
    let problem = rework::Problem {
        reason: &reason,
        details: words,
        actor: here.by(),
    };
    let d = crate::decisions::patrol::Durations::from(&here.config.patrol);
    Ok(
        match rework::send_back(
            here.tx,
            &mr.id,
            &problem,
            crate::decisions::comments::PERSONS_REWORK,
            &d,
            here.now,
        )? {
            SentBack::Rework(b) => Ok(format!("sent back to a polecat as {}", b.id)),
            SentBack::Escalated => Ok("the work failed and people were asked".into()),
            SentBack::AlreadySettled => Err(Refusal::new(format!(
                "{} is {}: it is not waiting in review",
                mr.id, mr.status
            ))),
        },
    )
}
