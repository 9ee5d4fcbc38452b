//! The agent tools over MCP (streamable HTTP) at `/mcp`, so an agent CLI that speaks
//! MCP needs nothing but the URL and its token (the `GT_MCP_CONFIG` a polecat gets).
//! The tools are the same [`Tools`] the HTTP API calls; only the envelope differs.
//!
//! The MCP session itself is not authenticated, so a client can connect and list the
//! tools with no token. Every tool call is checked against the bearer token of its
//! own HTTP request instead: a token ends (the bead is done or taken back) while the
//! MCP session it was used in may live on.

use axum::Router;
use axum::http::request::Parts;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde::Serialize;
use tracing::Instrument;

use super::{BeadScoped, DoneRequest, StatusRequest, ToolError, Tools, bearer};
use crate::store::Grant;

/// `/mcp`, answering MCP's streamable HTTP transport (POST, GET for the event
/// stream, DELETE to end a session).
pub fn mcp_router(tools: Tools) -> Router {
    let config = StreamableHttpServerConfig::default().with_allowed_hosts(allowed_hosts(&tools));
    let routes = GastownMcp::tool_router();
    let service = StreamableHttpService::new(
        move || {
            Ok(GastownMcp {
                tools: tools.clone(),
                routes: routes.clone(),
            })
        },
        LocalSessionManager::default().into(),
        config,
    );
    Router::new().route_service("/mcp", service)
}

/// rmcp refuses any `Host` not listed, against DNS rebinding of a local server. The
/// bot is reached at its public URL (containers and proxies use that name) and, by
/// operators and tests, on loopback.
fn allowed_hosts(tools: &Tools) -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).into();
    if let Some(host) = url::Url::parse(&tools.config.public_url())
        .ok()
        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_string()))
    {
        hosts.push(host);
    }
    hosts
}

/// One per MCP session; cheap, since [`Tools`] and the router are shared handles.
#[derive(Clone)]
struct GastownMcp {
    tools: Tools,
    routes: ToolRouter<GastownMcp>,
}

#[tool_router]
impl GastownMcp {
    #[tool(
        description = "What is on my hook: the bead to work (title and issue text), \
        the rig and its git URL, the branch to push, and the role prompt. Call it first; \
        it also marks the bead in progress."
    )]
    async fn gt_prime(&self, ctx: RequestContext<RoleServer>) -> Result<CallToolResult, ErrorData> {
        let tools = self.tools.clone();
        self.call(&ctx, "gt_prime", async move |g| tools.prime(&g).await)
            .await
    }

    #[tool(
        description = "I am alive and still working the bead on my hook. Call it \
        every few minutes during long work so the town does not take the bead back."
    )]
    async fn gt_heartbeat(
        &self,
        ctx: RequestContext<RoleServer>,
        Parameters(req): Parameters<BeadScoped>,
    ) -> Result<CallToolResult, ErrorData> {
        let tools = self.tools.clone();
        self.call(&ctx, "gt_heartbeat", async move |g| {
            tools.heartbeat(&g, &req).await
        })
        .await
    }

    #[tool(
        description = "The bead's status, its branch and the last commit the town \
        has seen pushed; with `message`, also records a short progress note in the \
        bead's history."
    )]
    async fn gt_status(
        &self,
        ctx: RequestContext<RoleServer>,
        Parameters(req): Parameters<StatusRequest>,
    ) -> Result<CallToolResult, ErrorData> {
        let tools = self.tools.clone();
        self.call(&ctx, "gt_status", async move |g| {
            tools.status(&g, &req).await
        })
        .await
    }

    #[tool(
        description = "The work is finished and the branch is pushed: the bead goes \
        to review and a merge request is opened for the refinery. Push first (`git push \
        origin HEAD:<branch>`); give a `summary` of what changed."
    )]
    async fn gt_done(
        &self,
        ctx: RequestContext<RoleServer>,
        Parameters(req): Parameters<DoneRequest>,
    ) -> Result<CallToolResult, ErrorData> {
        let tools = self.tools.clone();
        self.call(&ctx, "gt_done", async move |g| {
            let reply = tools.done(&g, &req).await?;
            tracing::info!(agent = %g.agent_id, bead = %g.bead_id,
                merge_request = %reply.merge_request, "gt_done");
            Ok(reply)
        })
        .await
    }
}

impl GastownMcp {
    /// Authenticate the call's own HTTP request, run the tool, and answer its JSON.
    /// A refusal is a tool error (`isError`), not a protocol error, so the agent's
    /// model reads the message and can act on it.
    async fn call<T: Serialize>(
        &self,
        ctx: &RequestContext<RoleServer>,
        name: &'static str,
        run: impl AsyncFnOnce(Grant) -> Result<T, ToolError>,
    ) -> Result<CallToolResult, ErrorData> {
        let token = ctx.extensions.get::<Parts>().and_then(bearer);
        let grant = match token {
            Some(token) => self.tools.authenticate(token).await,
            None => Err(ToolError::Unauthorized),
        };
        let result = match grant {
            Ok(g) => {
                let span = tracing::info_span!("mcp", tool = name, agent = %g.agent_id,
                    bead = %g.bead_id);
                run(g).instrument(span).await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(reply) => serde_json::to_value(reply)
                .map(CallToolResult::structured)
                .map_err(|e| ErrorData::internal_error(format!("{name}: {e}"), None)),
            Err(e) => {
                if let ToolError::Store(err) = &e {
                    tracing::error!(tool = name, error = %err, "agent tool failed in the store");
                }
                Ok(CallToolResult::error(vec![ContentBlock::text(
                    e.to_string(),
                )]))
            }
        }
    }
}

#[tool_handler(router = self.routes, name = "gastown", instructions = "The tools of a \
    Gastown town for the agent working a bead. Start with gt_prime; send your agent \
    token as `Authorization: Bearer $GT_TOKEN` on every request.")]
impl ServerHandler for GastownMcp {}
