//! The agents' way to the model: an agent CLI is pointed at
//! `/api/agent/v1/model/…` with its own session token as its "API key", and the bot
//! forwards the request to the town's model (`llm.api_url`) with the real key. The key
//! never enters the town: not in an agent's environment, files or argv, nor in the
//! container's; a token that dies with its session is all an agent holds, and a
//! request after that is refused. Answers, streamed (SSE) or not, pass through as they
//! come.

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use serde_json::json;

use super::{Agent, Tools};

/// The wire protocols agent CLIs speak: OpenAI chat completions and responses,
/// Anthropic messages (and its token count, which Claude Code asks for). Nothing else
/// of the provider's API is reachable.
const PATHS: &[&str] = &[
    "chat/completions",
    "responses",
    "messages",
    "messages/count_tokens",
];

/// The upstream path for what the agent asked: OpenAI clients are given a base URL
/// that ends in `/v1` (as `llm.api_url` does), Anthropic's SDKs append `/v1/messages`
/// to theirs, so a leading `v1/` is the same API version and is dropped.
fn upstream_path(asked: &str) -> Option<&'static str> {
    let path = asked.strip_prefix("v1/").unwrap_or(asked);
    PATHS.iter().copied().find(|p| *p == path)
}

static HTTP: std::sync::LazyLock<reqwest::Client> = std::sync::LazyLock::new(reqwest::Client::new);

/// A request to the model may carry a long conversation: more than a tool call's cap.
pub const MAX_REQUEST_BYTES: usize = 32 << 20;

fn refuse(status: StatusCode, error: String) -> Response {
    (status, axum::Json(json!({ "error": error }))).into_response()
}

pub async fn forward(
    State(tools): State<Tools>,
    Agent(grant): Agent,
    Path(asked): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(path) = upstream_path(&asked) else {
        return refuse(
            StatusCode::NOT_FOUND,
            format!("the model proxy serves {} only", PATHS.join(", ")),
        );
    };
    let llm = &tools.config.llm;
    let Some(base) = llm.api_url.as_deref() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "this town has no model configured (llm.api_url)".into(),
        );
    };
    // The query goes along (Anthropic's `beta=true`); the path is one of ours.
    let mut url = format!("{}/{path}", base.trim_end_matches('/'));
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        url = format!("{url}?{query}");
    }
    let mut req = HTTP
        .post(&url)
        .timeout(std::time::Duration::from_secs(llm.timeout_secs))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body);
    for name in [
        "accept",
        "anthropic-version",
        "anthropic-beta",
        "openai-beta",
    ] {
        if let Some(v) = headers.get(name) {
            req = req.header(name, v);
        }
    }
    if let Some(key) = &tools.config.secrets.llm_api_key {
        req = req.bearer_auth(key).header("x-api-key", key);
    }
    tracing::info!(agent = %grant.agent_id, bead = %grant.bead_id, %path, "model request forwarded");
    // Asking the model is a sign of life (not of progress: a model can loop), for CLIs
    // that never call gt_heartbeat: the agent is alive for as long as the bot waits on
    // the model for it, answer streamed or not, and the patrol sees it so.
    let asking = Asking::begin(&tools, &grant.agent_id).await;
    let upstream = match req.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return refuse(
                StatusCode::GATEWAY_TIMEOUT,
                format!("the model did not answer within {} s", llm.timeout_secs),
            );
        }
        Err(e) => {
            return refuse(
                StatusCode::BAD_GATEWAY,
                format!("the model could not be reached: {}", e.without_url()),
            );
        }
    };
    let status =
        StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = upstream
        .headers()
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or(header::HeaderValue::from_static("application/json"));
    // The request is over when its answer has streamed to the end (or the agent hung
    // up), not when its headers came: the guard goes with the stream.
    let body = upstream.bytes_stream().map(move |chunk| {
        let _still_asking = &asking;
        chunk
    });
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    response
}

/// One request of an agent's in flight to the model, counted on its session while it
/// lasts; dropped (answered, failed, or the agent gone), it is counted off.
struct Asking {
    tools: Tools,
    agent: String,
}

impl Asking {
    async fn begin(tools: &Tools, agent: &str) -> Self {
        let now = tools.clock.now_ms();
        let until = now
            + i64::try_from(tools.config.llm.timeout_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX / 2);
        let id = agent.to_string();
        let began = tools
            .store
            .write(move |c| crate::store::asking_began(c, &id, now, until))
            .await;
        if let Err(e) = began {
            tracing::warn!(error = %e, agent, "could not record the agent's model request as a sign of life");
        }
        Self {
            tools: tools.clone(),
            agent: agent.to_string(),
        }
    }
}

impl Drop for Asking {
    fn drop(&mut self) {
        let (tools, agent) = (self.tools.clone(), std::mem::take(&mut self.agent));
        // A drop cannot wait on the store; the write follows on the runtime.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let now = tools.clock.now_ms();
                let ended = tools
                    .store
                    .write(move |c| crate::store::asking_ended(c, &agent, now))
                    .await;
                if let Err(e) = ended {
                    tracing::warn!(error = %e, "could not record the end of an agent's model request");
                }
            });
        }
    }
}
