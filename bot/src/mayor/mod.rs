//! The Mayor: free text addressed to the bot, answered by a model that acts through the
//! town's tools. Each request is a turn in its thread's conversation (a work queue in
//! SQLite, so a crash or a restart loses none); a turn is bounded in tool calls and
//! tokens, acts only in its thread's repository with its asker's permission (asked of
//! the forge again: access taken away since is access lost), and ends in one answer in
//! the thread with the actions taken listed, and the asker's 👀 swapped for ✅ or ❌.
//!
//! A model that cannot be reached is tried again later, up to `mayor.max_attempts`,
//! unless a tool already acted in the turn: then (and at the end) the thread is told
//! what failed and what was done, and nothing is half-done, as each tool is atomic.

pub mod batch;
mod prompt;
mod schema;
mod tools;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tracing::Instrument as _;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::decisions::comments::{self, ActionTaken};
use crate::forge::registry::Forges;
use crate::forge::{CommentRef, Forge, Reaction, RepoPath};
use crate::llm::Llm;
use crate::loops::worker::Worker;
use crate::store::{self, ForgeAction, Rig, Store, StoreError, Turn, TurnEnd};

#[derive(Clone)]
pub struct Mayor {
    store: Store,
    config: Arc<Config>,
    clock: SharedClock,
    forges: Forges,
    worker: Worker,
    llm: Option<Llm>,
}

/// How a turn ended.
struct Ended {
    answer: Result<String, String>,
    actions: Vec<ActionTaken>,
    tokens: (u64, u64),
    /// Worth trying again (the model or the forge could not be reached).
    transient: bool,
}

impl Mayor {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        clock: SharedClock,
        forges: Forges,
        worker: Worker,
    ) -> Self {
        let llm = Llm::from_config(&config);
        Self {
            store,
            config,
            clock,
            forges,
            worker,
            llm,
        }
    }

    /// Work the due turns. Returns how many.
    pub async fn step(&self) -> Result<usize, StoreError> {
        let now = self.clock.now_ms();
        let due = self
            .store
            .read(move |c| store::due_turns(c, now, 4))
            .await?;
        for turn in &due {
            let span = tracing::info_span!("mayor_turn", turn = turn.id,
                rig = %turn.thread.rig_id, thread = %turn.thread.forge_ref, asker = %turn.author);
            self.turn(turn).instrument(span).await?;
        }
        Ok(due.len())
    }

    /// Step until no turn is due: the tests' sync point.
    pub async fn drain(&self) -> Result<usize, StoreError> {
        crate::loops::rounds::until_idle(|| self.step()).await
    }

    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let notify = self.store.wakes().of(store::Wake::Mayor);
        let next_due = || async {
            let next = self.store.read(store::next_turn_due).await.ok().flatten()?;
            Some(Duration::from_millis(
                (next - self.clock.now_ms()).max(0) as u64
            ))
        };
        crate::loops::rounds::queue("mayor", notify, shutdown, || self.step(), next_due).await
    }

    async fn turn(&self, turn: &Turn) -> Result<(), StoreError> {
        let rig_id = turn.thread.rig_id.clone();
        let Some(rig) = self
            .store
            .read(move |c| store::find_rig(c, &rig_id))
            .await?
        else {
            tracing::warn!("the turn's rig is gone");
            return self
                .finish(turn, None, trouble("its repository left the town"))
                .await;
        };
        let ended = self.work(turn, &rig).await;
        let max = self.config.mayor.max_attempts;
        if ended.answer.is_err()
            && ended.transient
            && ended.actions.is_empty()
            && turn.attempts + 1 < max
        {
            let why = ended.answer.clone().unwrap_err();
            let at = self.clock.now_ms()
                + crate::decisions::retry::backoff_ms(&self.config, turn.attempts + 1) as i64;
            tracing::warn!(error = %why, attempts = turn.attempts + 1, "Mayor turn failed; will retry");
            let id = turn.id;
            return self
                .store
                .write(move |c| store::retry_turn(c, id, at, &why))
                .await;
        }
        self.finish(turn, Some(&rig), ended).await
    }

    /// Record the turn and queue its answer, in one write.
    async fn finish(&self, turn: &Turn, rig: Option<&Rig>, ended: Ended) -> Result<(), StoreError> {
        let (id, now) = (turn.id, self.clock.now_ms());
        let key = format!(
            "{}mayor",
            store::answer_key_prefix(&turn.thread.rig_id, turn.thread.comment_id)
        );
        let marker = comments::marker("mayor", &key);
        let (body, outcome) = match &ended.answer {
            Ok(text) => (
                comments::mayor_answer(&turn.author, text, &ended.actions, &marker),
                Reaction::Done,
            ),
            Err(why) => (
                comments::mayor_failed(&turn.author, why, &ended.actions, &marker),
                Reaction::Failed,
            ),
        };
        match &ended.answer {
            Ok(_) => tracing::info!(
                actions = ended.actions.len(),
                tokens_in = ended.tokens.0,
                tokens_out = ended.tokens.1,
                "Mayor answered"
            ),
            Err(why) => {
                tracing::warn!(error = %why, actions = ended.actions.len(), "Mayor turn failed")
            }
        }
        let asker = CommentRef {
            number: turn.thread.number,
            on_pull_request: turn.thread.on_pull_request,
            on_diff: turn.thread.on_diff,
            id: turn.thread.comment_id,
        };
        let rig_id = rig.map_or(turn.thread.rig_id.clone(), |r| r.id.clone());
        let actions = json!(ended.actions);
        let cost_micros = self.config.llm.cost_micros(ended.tokens);
        self.store
            .write(move |c| {
                let (answered, answer, error) = match &ended.answer {
                    Ok(a) => (true, a.as_str(), None),
                    Err(e) => (false, "", Some(e.as_str())),
                };
                let end = TurnEnd {
                    answered,
                    answer,
                    actions: &actions,
                    tokens_in: ended.tokens.0 as i64,
                    tokens_out: ended.tokens.1 as i64,
                    cost_micros,
                    error,
                };
                store::finish_turn(c, id, &end, now)?;
                let action = ForgeAction::Answer {
                    asker,
                    body,
                    marker,
                    outcome: Some(outcome),
                };
                store::enqueue_action(c, &key, &rig_id, None, &action, now)?;
                Ok(())
            })
            .await
    }

    /// Run the model's tool loop for one turn.
    async fn work(&self, turn: &Turn, rig: &Rig) -> Ended {
        let Some(llm) = &self.llm else {
            return trouble("this town has no model configured");
        };
        let Some(forge) = self.forges.for_rig(rig) else {
            return trouble("the bot has no client for this forge");
        };
        let repo = RepoPath::new(rig.path.clone());
        let permission = match self
            .forges
            .permission(
                forge.as_ref(),
                &repo,
                &turn.author,
                &self.clock,
                &self.config.permissions,
            )
            .await
        {
            Ok(p) if p.can_command() => p,
            Ok(_) => return trouble("its asker no longer has write access"),
            Err(e) => return transient(format!("the forge could not say who may act: {e}")),
        };
        let (title, body) = match thread_text(forge.as_ref(), &repo, turn).await {
            Ok(t) => t,
            Err(e) => return transient(format!("the thread could not be read: {e}")),
        };
        let (history, town) = match self.context(turn, rig).await {
            Ok(c) => c,
            Err(e) => return transient(format!("the town's state could not be read: {e}")),
        };
        let cx = prompt::TurnContext {
            repo: &rig.path,
            history: &history,
            thread_title: &title,
            thread_body: &body,
            town: &town,
            asker: &turn.author,
            request: &turn.request,
        };
        let mut messages = prompt::messages(&cx);
        let asker = webhooks::Actor::person(&turn.author);
        let toolbox = tools::Toolbox {
            mayor: self,
            rig,
            forge: forge.as_ref(),
            asker: &asker,
            permission,
            turn: turn.id,
        };
        let declarations = tools::declarations();
        let limits = &self.config.mayor;
        let (mut steps, mut actions, mut tokens) = (0u32, Vec::new(), (0u64, 0u64));
        loop {
            let offer: &[serde_json::Value] = match steps < limits.max_tool_steps {
                true => &declarations,
                false => &[],
            };
            let reply = match llm.chat(&messages, offer).await {
                Ok(r) => r,
                Err(e) => {
                    return Ended {
                        answer: Err(e.to_string()),
                        actions,
                        tokens,
                        transient: true,
                    };
                }
            };
            tokens.0 += reply.prompt_tokens;
            tokens.1 += reply.completion_tokens;
            let spent = tokens.0 + tokens.1 >= limits.max_tokens_per_turn;
            if reply.tool_calls.is_empty() || steps >= limits.max_tool_steps || spent {
                let mut text = reply.content.unwrap_or_default();
                if !reply.tool_calls.is_empty() {
                    text.push_str(&format!(
                        "\n\n(The turn stopped at its limit of {} tool calls and {} tokens.)",
                        limits.max_tool_steps, limits.max_tokens_per_turn
                    ));
                }
                return Ended {
                    answer: Ok(text),
                    actions,
                    tokens,
                    transient: false,
                };
            }
            messages.push(reply.message.clone());
            for call in &reply.tool_calls {
                steps += 1;
                let called = match steps <= limits.max_tool_steps {
                    true => toolbox.call(call).await,
                    false => tools::Called {
                        result: json!({"error": "this turn has no tool calls left: answer now"}),
                        action: None,
                    },
                };
                actions.extend(called.action);
                messages.push(json!({
                    "role": "tool",
                    "tool_call_id": call.id,
                    "content": called.result.to_string(),
                }));
            }
        }
    }

    /// The thread's earlier turns and the town as seen from the rig.
    async fn context(&self, turn: &Turn, rig: &Rig) -> Result<(Vec<Turn>, String), StoreError> {
        let (conversation, before) = (turn.conversation_id, turn.id);
        let keep = self.config.mayor.history_turns;
        let rig = rig.clone();
        self.store
            .read(move |c| {
                let history = store::history(c, conversation, before, keep)?;
                let beads: Vec<_> = store::list_beads(c, None)?
                    .into_iter()
                    .filter(|b| b.rig_id.as_deref() == Some(rig.id.as_str()))
                    .collect();
                let paused = store::rig_pauses(c)?
                    .into_iter()
                    .find(|p| p.rig_id == rig.id)
                    .map(|p| p.reason);
                let waiting = store::list_escalations(c, false)?
                    .iter()
                    .filter(|e| beads.iter().any(|b| b.id == e.bead_id))
                    .count();
                let town = prompt::town_summary(&rig.path, paused.as_deref(), &beads, waiting);
                Ok((history, town))
            })
            .await
    }
}

/// The issue's or PR's title and text, as the forge has them now.
async fn thread_text(
    forge: &dyn Forge,
    repo: &RepoPath,
    turn: &Turn,
) -> Result<(String, String), crate::forge::ForgeError> {
    let n = turn.thread.number;
    if turn.thread.on_pull_request {
        let pr = forge.pull_request(repo, n).await?;
        return Ok((format!("pull request #{n}: {}", pr.title), pr.body));
    }
    let issue = forge.issue(repo, n).await?;
    Ok((format!("issue #{n}: {}", issue.title), issue.body))
}

fn trouble(why: &str) -> Ended {
    Ended {
        answer: Err(why.to_string()),
        actions: Vec::new(),
        tokens: (0, 0),
        transient: false,
    }
}

fn transient(why: String) -> Ended {
    Ended {
        answer: Err(why),
        actions: Vec::new(),
        tokens: (0, 0),
        transient: true,
    }
}
