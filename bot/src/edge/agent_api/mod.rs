//! The tools agents call (DESIGN.md §5), over HTTP JSON at `/api/agent/v1/*` with an
//! OpenAPI document, and over MCP. Every call carries the agent's bearer token; the
//! token grants one agent and the bead on its hook, and nothing else.

mod escalate;
mod mail;
mod mcp;
mod model_proxy;
mod molecule;
pub mod prompts;
mod refinery;
mod tools;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::Instrument;
use utoipa::OpenApi;

pub use escalate::{EscalateReply, EscalateRequest};
pub use mail::{MailCheckReply, MailSendReply, MailSendRequest};
pub use molecule::{AdvanceRequest, DoneStep, MolReply, MoleculeInfo, StepInfo};
pub use tools::{
    Ack, AgentInfo, BeadInfo, BeadScoped, DoneReply, DoneRequest, Incident, Prime, ReworkInfo,
    RigInfo, StatusReply, StatusRequest, ToolError, Tools, git_url, mint_token, token_digest,
};

use crate::store::Grant;

pub fn router(tools: Tools) -> Router {
    Router::new()
        .route("/api/agent/v1/prime", post(prime))
        .route("/api/agent/v1/heartbeat", post(heartbeat))
        .route("/api/agent/v1/status", post(status))
        .route("/api/agent/v1/done", post(done))
        .route("/api/agent/v1/mol/current", post(mol_current))
        .route("/api/agent/v1/mol/advance", post(mol_advance))
        .route("/api/agent/v1/escalate", post(escalate))
        .route("/api/agent/v1/mail/send", post(mail_send))
        .route("/api/agent/v1/mail/check", post(mail_check))
        .route(
            "/api/agent/v1/refinery/assignment",
            post(refinery_assignment),
        )
        .route("/api/agent/v1/refinery/report", post(refinery_report))
        .route("/api/agent/v1/openapi.json", get(openapi))
        .layer(axum::middleware::from_fn_with_state(tools.clone(), nudged))
        .with_state(tools.clone())
        .merge(mcp::mcp_router(tools.clone()))
        // Tool calls and MCP messages are a few lines of JSON: anything much bigger is
        // refused (413) as it arrives, by its declared length or once past the cap.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            tools.config.agent_api.max_body_bytes,
        ))
        .merge(
            // A conversation for the model is bigger, and has a cap of its own.
            Router::new()
                .route("/api/agent/v1/model/{*path}", post(model_proxy::forward))
                .with_state(tools.clone())
                .layer(axum::extract::DefaultBodyLimit::max(
                    model_proxy::MAX_REQUEST_BYTES,
                ))
                .layer(tower_http::limit::RequestBodyLimitLayer::new(
                    model_proxy::MAX_REQUEST_BYTES,
                )),
        )
}

impl IntoResponse for ToolError {
    fn into_response(self) -> Response {
        let status = match &self {
            ToolError::Unauthorized => StatusCode::UNAUTHORIZED,
            ToolError::Forbidden(_) => StatusCode::FORBIDDEN,
            ToolError::Conflict(_) => StatusCode::CONFLICT,
            ToolError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            // Logged in full, with the id the answer gives, when it happened.
            ToolError::Store(_) | ToolError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut r = (status, Json(json!({ "error": self.to_string() }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"gastown\""),
            );
        }
        r
    }
}

/// The caller, from `Authorization: Bearer <token>`.
pub struct Agent(pub Grant);

impl FromRequestParts<Tools> for Agent {
    type Rejection = ToolError;

    async fn from_request_parts(parts: &mut Parts, tools: &Tools) -> Result<Self, ToolError> {
        let token = bearer(parts).ok_or(ToolError::Unauthorized)?;
        Ok(Agent(tools.authenticate(token).await?))
    }
}

/// The header a tool's answer carries while the patrol waits for the agent to move:
/// the nudge, read at the agent's next tool call (`gt agent` prints it).
pub const NUDGE_HEADER: &str = "gastown-nudge";

/// Add the nudge, if the caller's session has one, to the tool's answer.
async fn nudged(
    State(tools): State<Tools>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let nudge = match token {
        Some(t) => tools.authenticate(&t).await.ok().and_then(|g| g.nudge),
        None => None,
    };
    let mut response = next.run(request).await;
    if let Some(value) = nudge.and_then(|n| header::HeaderValue::from_str(&n).ok()) {
        response.headers_mut().insert(NUDGE_HEADER, value);
    }
    response
}

pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// An empty body is the tool's defaults; anything else must be the tool's JSON.
fn body<T: DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, ToolError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ToolError::Invalid(format!("the request body is not valid: {e}")))
}

#[utoipa::path(post, path = "/api/agent/v1/prime", tag = "polecat",
    responses((status = 200, body = Prime), (status = 401, description = "no live token"),
              (status = 403, description = "not a polecat session")),
    security(("agent_token" = [])))]
async fn prime(State(tools): State<Tools>, Agent(g): Agent) -> Result<Json<Prime>, ToolError> {
    let span = tracing::info_span!("gt_prime", agent = %g.agent_id, bead = %g.bead_id);
    Ok(Json(tools.prime(&g).instrument(span).await?))
}

#[utoipa::path(post, path = "/api/agent/v1/heartbeat", tag = "polecat", request_body = BeadScoped,
    responses((status = 200, body = Ack), (status = 403, description = "another bead")),
    security(("agent_token" = [])))]
async fn heartbeat(
    State(tools): State<Tools>,
    Agent(g): Agent,
    bytes: Bytes,
) -> Result<Json<Ack>, ToolError> {
    Ok(Json(tools.heartbeat(&g, &body(&bytes)?).await?))
}

#[utoipa::path(post, path = "/api/agent/v1/mail/send", tag = "polecat", request_body = MailSendRequest,
    responses((status = 200, body = MailSendReply), (status = 422, description = "invalid input")),
    security(("agent_token" = [])))]
async fn mail_send(
    State(tools): State<Tools>,
    Agent(g): Agent,
    bytes: Bytes,
) -> Result<Json<MailSendReply>, ToolError> {
    let span = tracing::info_span!("gt_mail_send", agent = %g.agent_id, bead = %g.bead_id);
    Ok(Json(
        tools.mail_send(&g, &body(&bytes)?).instrument(span).await?,
    ))
}

#[utoipa::path(post, path = "/api/agent/v1/mail/check", tag = "polecat",
    responses((status = 200, body = MailCheckReply)),
    security(("agent_token" = [])))]
async fn mail_check(
    State(tools): State<Tools>,
    Agent(g): Agent,
) -> Result<Json<MailCheckReply>, ToolError> {
    let span = tracing::info_span!("gt_mail_check", agent = %g.agent_id, bead = %g.bead_id);
    Ok(Json(tools.mail_check(&g).instrument(span).await?))
}

#[utoipa::path(post, path = "/api/agent/v1/escalate", tag = "polecat", request_body = EscalateRequest,
    responses((status = 200, body = EscalateReply),
              (status = 422, description = "invalid input")),
    security(("agent_token" = [])))]
async fn escalate(
    State(tools): State<Tools>,
    Agent(g): Agent,
    bytes: Bytes,
) -> Result<Json<EscalateReply>, ToolError> {
    let span = tracing::info_span!("gt_escalate", agent = %g.agent_id, bead = %g.bead_id);
    Ok(Json(
        tools.escalate(&g, &body(&bytes)?).instrument(span).await?,
    ))
}

#[utoipa::path(post, path = "/api/agent/v1/status", tag = "polecat", request_body = StatusRequest,
    responses((status = 200, body = StatusReply),
              (status = 403, description = "another bead, or not a polecat session"),
              (status = 422, description = "invalid input")),
    security(("agent_token" = [])))]
async fn status(
    State(tools): State<Tools>,
    Agent(g): Agent,
    bytes: Bytes,
) -> Result<Json<StatusReply>, ToolError> {
    Ok(Json(tools.status(&g, &body(&bytes)?).await?))
}

#[utoipa::path(post, path = "/api/agent/v1/done", tag = "polecat", request_body = DoneRequest,
    responses((status = 200, body = DoneReply),
              (status = 403, description = "another bead, or not a polecat session"),
              (status = 409, description = "branch not pushed, or bead not in progress")),
    security(("agent_token" = [])))]
async fn done(
    State(tools): State<Tools>,
    Agent(g): Agent,
    bytes: Bytes,
) -> Result<Json<DoneReply>, ToolError> {
    let span = tracing::info_span!("gt_done", agent = %g.agent_id, bead = %g.bead_id);
    let reply = tools.done(&g, &body(&bytes)?).instrument(span).await?;
    tracing::info!(agent = %g.agent_id, bead = %g.bead_id, merge_request = ?reply.merge_request, "gt_done");
    Ok(Json(reply))
}

#[utoipa::path(post, path = "/api/agent/v1/mol/current", tag = "polecat",
    responses((status = 200, body = MolReply),
              (status = 403, description = "not a polecat session")),
    security(("agent_token" = [])))]
async fn mol_current(
    State(tools): State<Tools>,
    Agent(g): Agent,
) -> Result<Json<MolReply>, ToolError> {
    let span = tracing::info_span!("gt_mol_current", agent = %g.agent_id, bead = %g.bead_id);
    Ok(Json(tools.mol_current(&g).instrument(span).await?))
}

#[utoipa::path(post, path = "/api/agent/v1/mol/advance", tag = "polecat",
    request_body = AdvanceRequest,
    responses((status = 200, body = MolReply),
              (status = 403, description = "another bead, or not a polecat session"),
              (status = 409, description = "no step is being worked"),
              (status = 422, description = "no summary")),
    security(("agent_token" = [])))]
async fn mol_advance(
    State(tools): State<Tools>,
    Agent(g): Agent,
    bytes: Bytes,
) -> Result<Json<MolReply>, ToolError> {
    let span = tracing::info_span!("gt_mol_advance", agent = %g.agent_id, bead = %g.bead_id);
    let reply = tools
        .mol_advance(&g, &body(&bytes)?)
        .instrument(span)
        .await?;
    tracing::info!(agent = %g.agent_id, bead = %g.bead_id, state = %reply.state, "gt_mol_advance");
    Ok(Json(reply))
}

#[utoipa::path(post, path = "/api/agent/v1/refinery/assignment", tag = "refinery",
    responses((status = 200, body = crate::decisions::gates::Assignment),
              (status = 403, description = "not a refinery session")),
    security(("agent_token" = [])))]
async fn refinery_assignment(
    State(tools): State<Tools>,
    Agent(g): Agent,
) -> Result<Json<crate::decisions::gates::Assignment>, ToolError> {
    let span = tracing::info_span!("refinery_assignment", agent = %g.agent_id, bead = %g.bead_id);
    Ok(Json(tools.refinery_assignment(&g).instrument(span).await?))
}

#[utoipa::path(post, path = "/api/agent/v1/refinery/report", tag = "refinery",
    request_body = crate::decisions::gates::Report,
    responses((status = 200, body = Ack), (status = 403, description = "not a refinery session"),
              (status = 409, description = "the merge request takes no report now")),
    security(("agent_token" = [])))]
async fn refinery_report(
    State(tools): State<Tools>,
    Agent(g): Agent,
    bytes: Bytes,
) -> Result<Json<Ack>, ToolError> {
    let span = tracing::info_span!("refinery_report", agent = %g.agent_id, bead = %g.bead_id);
    let report = body(&bytes)?;
    let ack = tools.refinery_report(&g, report).instrument(span).await?;
    tracing::info!(agent = %g.agent_id, bead = %g.bead_id, "refinery reported");
    Ok(Json(ack))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "gastown agent tools", description = "The tools agents in a town call. \
        Authenticate with `Authorization: Bearer $GT_TOKEN`; a token acts for one agent and \
        the bead on its hook."),
    paths(prime, heartbeat, status, done, mol_current, mol_advance, escalate, mail_send,
        mail_check, refinery_assignment,
        refinery_report),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "agent_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}
