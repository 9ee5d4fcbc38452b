//! A fake model server for the refinery's AI review, the Mayor and the agent CLIs: the
//! one external service the tests stand in for. It speaks the three wire protocols
//! they use, the way the real APIs do: OpenAI chat completions (`POST
//! /v1/chat/completions`, a `choices[0].message` with `content` or `tool_calls`), the
//! OpenAI Responses API (`/v1/responses`, streamed, as Codex uses it) and Anthropic
//! messages (`/v1/messages`, streamed or not, as Claude Code uses it). It answers with
//! whatever the test scripts, and keeps every request so a test can read what was sent.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

/// What the model does with the next requests.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Answer with this message content.
    Say(String),
    /// Take this long before answering with the content.
    Slow(Duration, String),
    /// Fail with this HTTP status.
    Fail(u16),
    /// Call these tools (name, arguments), as a model using tools does.
    Call(Vec<(String, Value)>),
}

impl Behaviour {
    /// Call one tool.
    pub fn call(name: &str, args: Value) -> Self {
        Self::Call(vec![(name.to_string(), args)])
    }
}

#[derive(Clone, Default)]
struct Shared {
    behaviour: Arc<Mutex<Option<Behaviour>>>,
    /// Answers for the next requests, in order; then `behaviour` again.
    script: Arc<Mutex<VecDeque<Behaviour>>>,
    requests: Arc<Mutex<Vec<Value>>>,
    /// Each request's `Authorization` header.
    authorizations: Arc<Mutex<Vec<Option<String>>>>,
    /// Each request's path and query (`/v1/messages?beta=true`).
    paths: Arc<Mutex<Vec<String>>>,
}

pub struct FakeModel {
    pub url: String,
    shared: Shared,
    _server: tokio::task::JoinHandle<()>,
}

impl FakeModel {
    pub async fn start(behaviour: Behaviour) -> Self {
        let shared = Shared::default();
        *shared.behaviour.lock().unwrap() = Some(behaviour);
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .route("/v1/responses", post(respond))
            .route("/v1/messages", post(anthropic_messages))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url: format!("http://{addr}/v1"),
            shared,
            _server: server,
        }
    }

    pub fn behave(&self, behaviour: Behaviour) {
        *self.shared.behaviour.lock().unwrap() = Some(behaviour);
    }

    /// Answer the next requests with these, one each, in order.
    pub fn script(&self, answers: Vec<Behaviour>) {
        *self.shared.script.lock().unwrap() = answers.into();
    }

    /// Each request's `Authorization` header so far.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.shared.authorizations.lock().unwrap().clone()
    }

    /// Each request's path and query so far.
    pub fn paths(&self) -> Vec<String> {
        self.shared.paths.lock().unwrap().clone()
    }

    /// Every request body so far.
    pub fn requests(&self) -> Vec<Value> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// A verdict as a model would write it.
    pub fn verdict(verdict: &str, summary: &str, comments: &[(&str, u64, &str)]) -> String {
        let comments: Vec<Value> = comments
            .iter()
            .map(|(path, line, body)| json!({ "path": path, "line": line, "body": body }))
            .collect();
        json!({ "verdict": verdict, "summary": summary, "comments": comments }).to_string()
    }
}

impl Shared {
    /// Keep the request and its `Authorization`; what to answer it with (the script's
    /// next answer, else the standing behaviour), and its number (1, 2, …).
    fn record(
        &self,
        uri: &axum::http::Uri,
        headers: &axum::http::HeaderMap,
        body: Value,
    ) -> (usize, Option<Behaviour>) {
        let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
        self.paths.lock().unwrap().push(path.to_string());
        let auth = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        self.authorizations.lock().unwrap().push(auth);
        let offers_tools = body_offers_tools(&body);
        let n = {
            let mut requests = self.requests.lock().unwrap();
            requests.push(body);
            requests.len()
        };
        // A request that offers no tools is a CLI's side request (opencode and Kilo
        // ask for a session title): it gets the standing answer and leaves the
        // script, which is the agent's conversation, alone.
        let scripted = if offers_tools {
            self.script.lock().unwrap().pop_front()
        } else {
            None
        };
        (
            n,
            scripted.or_else(|| self.behaviour.lock().unwrap().clone()),
        )
    }
}

fn body_offers_tools(body: &Value) -> bool {
    body["tools"].as_array().is_some_and(|t| !t.is_empty())
}

/// What a handler answers with, in its protocol's shape.
enum Answer {
    Calls(Vec<(String, Value)>),
    Text(String),
}

impl Shared {
    /// Record the request and decide the answer: the tool calls or text to send, or
    /// the failure response itself. A slow answer has already waited.
    async fn answer(
        &self,
        uri: &axum::http::Uri,
        headers: &axum::http::HeaderMap,
        body: Value,
    ) -> Result<(usize, Answer), Response> {
        let (n, behaviour) = self.record(uri, headers, body);
        let answer = match behaviour {
            Some(Behaviour::Call(calls)) => Answer::Calls(calls),
            Some(Behaviour::Say(text)) => Answer::Text(text),
            Some(Behaviour::Slow(wait, text)) => {
                tokio::time::sleep(wait).await;
                Answer::Text(text)
            }
            Some(Behaviour::Fail(code)) => return Err(overloaded(code)),
            None => Answer::Text(String::new()),
        };
        Ok((n, answer))
    }
}

async fn complete(
    State(shared): State<Shared>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let stream = body["stream"].as_bool().unwrap_or(false);
    let content = match shared.answer(&uri, &headers, body).await {
        Ok((n, answer)) if stream => return chat_chunks(n, answer),
        Ok((_, Answer::Calls(calls))) => return tool_calls(&calls),
        Ok((_, Answer::Text(text))) => text,
        Err(failure) => return failure,
    };
    Json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": "test-model",
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "finish_reason": "stop",
        }],
        "usage": { "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120 },
    }))
    .into_response()
}

fn tool_calls(calls: &[(String, Value)]) -> Response {
    let calls: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, (name, args))| {
            json!({ "id": format!("call_{i}"), "type": "function",
                    "function": { "name": name, "arguments": args.to_string() } })
        })
        .collect();
    Json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": "test-model",
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": null, "tool_calls": calls },
            "finish_reason": "tool_calls",
        }],
        "usage": { "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120 },
    }))
    .into_response()
}

/// Chat completions streamed, as opencode and Kilo ask for them: one chunk with the
/// whole delta (content, or every tool call with its arguments), one with the finish
/// reason and usage, then `[DONE]`.
fn chat_chunks(n: usize, answer: Answer) -> Response {
    let (delta, finish) = match answer {
        Answer::Calls(calls) => {
            let calls: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(i, (name, args))| {
                    json!({ "index": i, "id": format!("call_{n}_{i}"), "type": "function",
                        "function": { "name": name, "arguments": args.to_string() } })
                })
                .collect();
            (
                json!({ "role": "assistant", "content": null, "tool_calls": calls }),
                "tool_calls",
            )
        }
        Answer::Text(text) => (json!({ "role": "assistant", "content": text }), "stop"),
    };
    let chunk = |choice: Value, usage: Value| {
        json!({ "id": format!("chatcmpl-{n}"), "object": "chat.completion.chunk",
            "created": 0, "model": "test-model", "choices": [choice], "usage": usage })
    };
    let chunks = [
        chunk(
            json!({ "index": 0, "delta": delta, "finish_reason": null }),
            Value::Null,
        ),
        chunk(
            json!({ "index": 0, "delta": {}, "finish_reason": finish }),
            json!({ "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120 }),
        ),
    ];
    let mut body: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    body.push_str("data: [DONE]\n\n");
    (
        [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
        body,
    )
        .into_response()
}

/// The OpenAI Responses API, as Codex speaks it: always streamed (SSE), each answer one
/// output item (a message, or a function call per tool), then `response.completed`.
/// A tool named `namespace/name` is called in that namespace (how Codex offers MCP
/// tools).
async fn respond(
    State(shared): State<Shared>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let (n, answer) = match shared.answer(&uri, &headers, body).await {
        Ok(answered) => answered,
        Err(failure) => return failure,
    };
    let items: Vec<Value> = match answer {
        Answer::Calls(calls) => calls
            .iter()
            .enumerate()
            .map(|(i, (name, args))| {
                let (namespace, name) = match name.split_once('/') {
                    Some((ns, n)) => (Some(ns), n),
                    None => (None, name.as_str()),
                };
                let mut item = json!({ "type": "function_call", "id": format!("fc_{n}_{i}"),
                    "call_id": format!("call_{n}_{i}"), "name": name,
                    "arguments": args.to_string() });
                if let Some(ns) = namespace {
                    item["namespace"] = json!(ns);
                }
                item
            })
            .collect(),
        Answer::Text(text) => vec![message(n, &text)],
    };
    let id = format!("resp_{n}");
    let mut events = vec![json!({ "type": "response.created", "response": { "id": id } })];
    for (i, item) in items.into_iter().enumerate() {
        events
            .push(json!({ "type": "response.output_item.done", "output_index": i, "item": item }));
    }
    events.push(
        json!({ "type": "response.completed", "response": { "id": id,
        "usage": { "input_tokens": 100, "output_tokens": 20, "total_tokens": 120 } } }),
    );
    sse(&events)
}

/// Server-sent events, each named by its `type`, as both OpenAI and Anthropic stream.
fn sse(events: &[Value]) -> Response {
    let body: String = events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or("")))
        .collect();
    (
        [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
        body,
    )
        .into_response()
}

fn overloaded(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        Json(json!({ "error": { "message": "model overloaded" } })),
    )
        .into_response()
}

/// Anthropic messages, as Claude Code speaks it: content blocks (`text`, `tool_use`),
/// streamed as `message_start`, a start/delta/stop per block, `message_delta` with the
/// stop reason, `message_stop`; or one JSON message when `stream` is not set.
async fn anthropic_messages(
    State(shared): State<Shared>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let stream = body["stream"].as_bool().unwrap_or(false);
    let model = body["model"].clone();
    let (n, answer) = match shared.answer(&uri, &headers, body).await {
        Ok(answered) => answered,
        Err(failure) => return failure,
    };
    let blocks: Vec<Value> = match answer {
        Answer::Calls(calls) => calls
            .iter()
            .enumerate()
            .map(|(i, (name, args))| {
                json!({ "type": "tool_use", "id": format!("toolu_{n}_{i}"), "name": name,
                    "input": args })
            })
            .collect(),
        Answer::Text(text) => vec![json!({ "type": "text", "text": text })],
    };
    let stop_reason = if blocks.iter().any(|b| b["type"] == "tool_use") {
        "tool_use"
    } else {
        "end_turn"
    };
    let id = format!("msg_{n}");
    if !stream {
        return Json(json!({ "id": id, "type": "message", "role": "assistant",
            "model": model, "content": blocks, "stop_reason": stop_reason,
            "stop_sequence": null, "usage": { "input_tokens": 100, "output_tokens": 20 } }))
        .into_response();
    }
    let mut events = vec![json!({ "type": "message_start", "message": { "id": id,
        "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": null, "stop_sequence": null,
        "usage": { "input_tokens": 100, "output_tokens": 1 } } })];
    for (index, block) in blocks.into_iter().enumerate() {
        let (start, delta) = if block["type"] == "tool_use" {
            let mut start = block.clone();
            start["input"] = json!({});
            let partial = block["input"].to_string();
            (
                start,
                json!({ "type": "input_json_delta", "partial_json": partial }),
            )
        } else {
            (
                json!({ "type": "text", "text": "" }),
                json!({ "type": "text_delta", "text": block["text"] }),
            )
        };
        events.extend([
            json!({ "type": "content_block_start", "index": index, "content_block": start }),
            json!({ "type": "content_block_delta", "index": index, "delta": delta }),
            json!({ "type": "content_block_stop", "index": index }),
        ]);
    }
    events.extend([
        json!({ "type": "message_delta",
            "delta": { "stop_reason": stop_reason, "stop_sequence": null },
            "usage": { "output_tokens": 20 } }),
        json!({ "type": "message_stop" }),
    ]);
    sse(&events)
}

fn message(n: usize, text: &str) -> Value {
    json!({ "type": "message", "role": "assistant", "id": format!("msg_{n}"),
        "content": [{ "type": "output_text", "text": text }] })
}
