//! The demo's part for comments: a maintainer asks `/gt status`, then asks the Mayor
//! to split work. No model provider is reachable from a demo, so a scripted stand-in
//! plays the model on loopback (an OpenAI-compatible `chat/completions` endpoint that
//! calls `gt_sling_batch` once, then answers); everything else — the webhook, the
//! permission check, the Mayor's turn and tools, the forge writes — is the product's.

use std::time::{Duration, Instant};

use anyhow::bail;
use axum::Json;
use serde_json::{Value, json};

use crate::harness::demo::REPO;

/// The stand-in model, serving until dropped.
pub struct StandIn {
    pub url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The files the Mayor's two issues add.
pub const PATHS: [&str; 2] = ["docs/usage.md", "docs/commands.md"];

fn plan(path: &str, text: &str) -> String {
    format!(
        "```gastown-plan\nfiles:\n  - path: {path}\n    content: |\n      {text}\ncommit: Add {path}\n```\n"
    )
}

/// What the stand-in says: first the batch, then, once the tool answered, a summary.
async fn complete(Json(request): Json<Value>) -> Json<Value> {
    let answered = request["messages"]
        .as_array()
        .and_then(|m| m.last())
        .is_some_and(|m| m["role"] == "tool");
    let message = if answered {
        json!({ "role": "assistant", "content":
            "I opened two issues and slung them in a convoy: the usage guide first, then \
             the commands FAQ, which waits for it." })
    } else {
        let tasks = json!([
            { "key": "guide", "title": "Write the usage guide",
              "body": plan(PATHS[0], "Label an issue gt:sling, or comment /gt sling.") },
            { "key": "faq", "title": "Write the commands FAQ", "depends_on": ["guide"],
              "body": plan(PATHS[1], "Comment /gt help for the commands.") },
        ]);
        let args = json!({ "convoy_title": "Docs", "tasks": tasks });
        json!({ "role": "assistant", "content": null, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": { "name": "gt_sling_batch", "arguments": args.to_string() } }] })
    };
    Json(json!({
        "id": "chatcmpl-demo", "object": "chat.completion", "model": "demo-stand-in",
        "choices": [{ "index": 0, "message": message, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0 },
    }))
}

pub async fn start_stand_in() -> anyhow::Result<StandIn> {
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(complete));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(StandIn {
        url: format!("http://{addr}/v1"),
        server,
    })
}

/// mara comments on issue `n`; the bot's answer to that comment, once it is there.
pub async fn ask(sim: &forge_sim::SimHandle, n: u64, body: &str) -> anyhow::Result<String> {
    let id = sim.comment("mara", REPO, n, body).await?;
    let key = format!(":{id}:");
    let started = Instant::now();
    loop {
        let answer = sim
            .comments(REPO, n)
            .await
            .into_iter()
            .map(|c| c.body)
            .find(|b| {
                b.starts_with("<!-- gastown:") && b.lines().next().is_some_and(|l| l.contains(&key))
            });
        if let Some(a) = answer {
            return Ok(a);
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the bot did not answer mara's comment on #{n} within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The lines of an answer worth printing: the outcomes and the actions, not markers.
pub fn gist(answer: &str) -> Vec<String> {
    answer
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.starts_with('✅')
                || l.starts_with('❌')
                || l.starts_with("- `gt_")
                || l.starts_with("I ")
        })
        .map(|l| l.chars().take(160).collect())
        .collect()
}
