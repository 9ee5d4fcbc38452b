//! A fake OpenAI-compatible model server for the refinery's AI review: the one
//! external service the tests stand in for. It answers `POST /v1/chat/completions`
//! the way the real API does (a `choices[0].message.content` string), with whatever
//! the test tells it to say, and keeps every request so a test can read what the
//! bot sent.

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
}

#[derive(Clone, Default)]
struct Shared {
    behaviour: Arc<Mutex<Option<Behaviour>>>,
    requests: Arc<Mutex<Vec<Value>>>,
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

async fn complete(State(shared): State<Shared>, Json(body): Json<Value>) -> Response {
    shared.requests.lock().unwrap().push(body);
    let behaviour = shared.behaviour.lock().unwrap().clone();
    let content = match behaviour {
        Some(Behaviour::Say(c)) => c,
        Some(Behaviour::Slow(wait, c)) => {
            tokio::time::sleep(wait).await;
            c
        }
        Some(Behaviour::Fail(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (
                status,
                Json(json!({ "error": { "message": "model overloaded" } })),
            )
                .into_response();
        }
        None => String::new(),
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
    }))
    .into_response()
}
