//! An agent CLI that speaks MCP uses the town's tools at `/mcp` with its token, over
//! real HTTP, with rmcp's own client as the agent.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::net::SocketAddr;

use bot::app::server::App;
use bot::clock::{ManualClock, SharedClock};
use bot::config::Config;
use bot::store::{self, BeadType, Hooking, NewBead};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ServiceExt, object};
use serde_json::Value;

const TOKEN: &str = "gta_the-agents-token";
const BRANCH: &str = "gt/gt-mcp1-fix-the-thing";

/// A town serving on loopback with one polecat hooked to one bead, whose session
/// token is [`TOKEN`].
struct Town {
    addr: SocketAddr,
    bead_id: String,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for Town {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn town() -> Town {
    town_with(&[]).await
}

/// [`town`], with more settings from the environment.
async fn town_with(settings: &[(&'static str, &str)]) -> Town {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut env = HashMap::from([
        (
            "GT_DATABASE",
            dir.path().join("gastown.db").display().to_string(),
        ),
        ("GT_DATA_DIR", dir.path().join("data").display().to_string()),
        ("GT_PUBLIC_URL", format!("http://{addr}")),
    ]);
    env.extend(settings.iter().map(|(k, v)| (*k, v.to_string())));
    let config = Config::load(None, &|k| env.get(k).cloned()).unwrap();
    let clock: SharedClock = ManualClock::new(1_795_622_257_000);
    let app = App::builder(config, clock).build().unwrap();
    let bead_id = app
        .store
        .write(|c| {
            let now = 1_795_622_257_000;
            let town = store::ensure_town(c, "town", now)?;
            let (rig, _) = store::ensure_rig(
                c,
                &town,
                webhooks::ForgeKind::GitHub,
                "github.com",
                "acme/app",
                now,
            )?;
            let bead = store::create_bead(
                c,
                &NewBead {
                    bead_type: BeadType::Task,
                    title: "Fix the thing".into(),
                    body: "It is broken.".into(),
                    priority: 2,
                    town_id: Some(town.clone()),
                    rig_id: Some(rig.id.clone()),
                    parent_id: None,
                    forge_ref: None,
                    created_by: "test".into(),
                    metadata: serde_json::json!({}),
                },
                now,
                |_| "gt-mcp1".into(),
            )?;
            let digest = bot::ids::token_digest(TOKEN);
            store::hook_bead(
                c,
                &Hooking {
                    role: store::Role::Polecat,
                    bead_id: &bead.id,
                    rig_id: &rig.id,
                    town_id: &town,
                    name: "furiosa",
                    branch: BRANCH,
                    session_id: "polecat-furiosa-gt-mcp1-a1",
                    token_sha256: &digest,
                },
                now,
            )?;
            Ok(bead.id)
        })
        .await
        .unwrap();
    let router = app.router();
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    Town {
        addr,
        bead_id,
        server,
        _dir: dir,
    }
}

impl Town {
    /// An MCP client session on `/mcp`, sending `token` as its bearer token if any.
    async fn agent(&self, token: Option<&str>) -> RunningService<RoleClient, ()> {
        let mut config =
            StreamableHttpClientTransportConfig::with_uri(format!("http://{}/mcp", self.addr));
        if let Some(token) = token {
            config = config.auth_header(token);
        }
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .expect("the MCP handshake")
    }
}

async fn call(
    agent: &RunningService<RoleClient, ()>,
    tool: &'static str,
    args: rmcp::model::JsonObject,
) -> CallToolResult {
    agent
        .call_tool(CallToolRequestParams::new(tool).with_arguments(args))
        .await
        .expect("a tool result")
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

#[tokio::test]
async fn an_mcp_client_finds_the_agent_tools_and_their_inputs() {
    let town = town().await;
    let agent = town.agent(Some(TOKEN)).await;

    let tools = agent.list_all_tools().await.unwrap();

    let inputs: BTreeMap<String, Vec<String>> = tools
        .iter()
        .map(|t| {
            let props = t
                .input_schema
                .get("properties")
                .and_then(Value::as_object)
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            (t.name.to_string(), props)
        })
        .collect();
    let expected: BTreeMap<String, Vec<String>> = [
        ("gt_done", vec!["bead_id", "summary"]),
        ("gt_escalate", vec!["details", "reason", "severity"]),
        ("gt_heartbeat", vec!["bead_id"]),
        ("gt_mail_check", vec![]),
        ("gt_mail_send", vec!["body", "kind", "subject", "to"]),
        ("gt_mol_advance", vec!["bead_id", "summary"]),
        ("gt_mol_current", vec![]),
        ("gt_prime", vec![]),
        ("gt_status", vec!["bead_id", "message"]),
    ]
    .into_iter()
    .map(|(n, p)| (n.to_string(), p.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(inputs, expected);
}

#[tokio::test]
async fn gt_prime_over_mcp_answers_the_bead_and_branch_on_the_hook() {
    let town = town().await;
    let agent = town.agent(Some(TOKEN)).await;

    let result = call(&agent, "gt_prime", object!({})).await;

    let prime = result.structured_content.clone().unwrap_or_default();
    assert_eq!(
        (prime["bead"]["id"].as_str(), prime["branch"].as_str()),
        (Some(town.bead_id.as_str()), Some(BRANCH)),
        "{result:?}"
    );
}

#[tokio::test]
async fn gt_status_naming_another_bead_is_refused() {
    let town = town().await;
    let agent = town.agent(Some(TOKEN)).await;

    let result = call(&agent, "gt_status", object!({ "bead_id": "gt-other" })).await;

    assert!(
        result.is_error == Some(true) && text(&result).contains("cannot act on bead gt-other"),
        "{result:?}"
    );
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"flood","version":"0"}}}"#;

impl Town {
    /// POST `body` to `/mcp` as MCP's streamable HTTP does, with `token` and `session`.
    async fn mcp_post(
        &self,
        token: Option<&str>,
        session: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut req = reqwest::Client::new()
            .post(format!("http://{}/mcp", self.addr))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(session) = session {
            req = req.header("mcp-session-id", session);
        }
        req.send().await.unwrap()
    }

    /// Open a session with `initialize`: its id, or the refusal's status.
    async fn initialize(&self, token: Option<&str>) -> Result<String, u16> {
        let r = self.mcp_post(token, None, INITIALIZE).await;
        match r.headers().get("mcp-session-id") {
            Some(id) if r.status().is_success() => Ok(id.to_str().unwrap().to_owned()),
            _ => Err(r.status().as_u16()),
        }
    }

    /// Whether the bot still holds `session` for `token`.
    async fn alive(&self, token: &str, session: &str) -> bool {
        let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        let r = self.mcp_post(Some(token), Some(session), note).await;
        match r.status().as_u16() {
            200..=299 => true,
            404 => false,
            other => panic!("unexpected {other}: {}", r.text().await.unwrap()),
        }
    }
}

#[tokio::test]
async fn an_mcp_session_cannot_be_opened_without_a_live_agent_token() {
    let town = town().await;

    let r = town.mcp_post(None, None, INITIALIZE).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("mcp-session-id").is_none());
    assert!(r.headers().get("www-authenticate").is_some());
    let text = r.text().await.unwrap();
    assert!(text.contains("Authorization: Bearer $GT_TOKEN"), "{text}");

    assert_eq!(
        town.initialize(Some("gta_not-a-live-token")).await,
        Err(401)
    );
    assert!(town.initialize(Some(TOKEN)).await.is_ok());
}

#[tokio::test]
async fn an_mcp_session_answers_only_the_token_that_opened_it() {
    let town = town().await;
    let session = town.initialize(Some(TOKEN)).await.unwrap();
    let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

    let stranger = town.mcp_post(None, Some(&session), note).await;
    assert_eq!(stranger.status(), 401);
    let other = town
        .mcp_post(Some("gta_another"), Some(&session), note)
        .await;
    assert_eq!(other.status(), 403);
    assert!(town.alive(TOKEN, &session).await);
}

/// The flood: a hundred `initialize`s without a token make no session; forty with one
/// token leave that token its four newest, the older ones closed as new ones came.
#[tokio::test]
async fn an_mcp_flood_opens_no_session_without_a_token_and_at_most_four_with_one() {
    let town = town().await;
    for _ in 0..100 {
        assert_eq!(town.initialize(None).await, Err(401));
    }

    let mut sessions = Vec::new();
    for _ in 0..40 {
        sessions.push(town.initialize(Some(TOKEN)).await.expect("opened"));
    }
    let mut alive = Vec::new();
    for s in &sessions {
        alive.push(town.alive(TOKEN, s).await);
    }
    let expected: Vec<bool> = (0..40).map(|i| i >= 36).collect();
    assert_eq!(alive, expected);

    // The agent's newest session still works as MCP.
    let agent = town.agent(Some(TOKEN)).await;
    let result = call(&agent, "gt_prime", object!({})).await;
    assert!(result.is_error != Some(true), "{result:?}");
}

#[tokio::test]
async fn past_the_bots_session_limit_a_new_session_is_refused_with_503() {
    let town = town_with(&[("GT_AGENT_API_MCP_SESSIONS", "2")]).await;
    let first = town.initialize(Some(TOKEN)).await.unwrap();
    let second = town.initialize(Some(TOKEN)).await.unwrap();

    let r = town.mcp_post(Some(TOKEN), None, INITIALIZE).await;
    assert_eq!(r.status(), 503);
    let text = r.text().await.unwrap();
    assert!(text.contains("agent_api.mcp_sessions"), "{text}");
    assert!(town.alive(TOKEN, &first).await && town.alive(TOKEN, &second).await);

    // Ending one frees its place.
    let ended = reqwest::Client::new()
        .delete(format!("http://{}/mcp", town.addr))
        .bearer_auth(TOKEN)
        .header("mcp-session-id", &first)
        .send()
        .await
        .unwrap();
    assert!(ended.status().is_success(), "{}", ended.status());
    assert!(town.initialize(Some(TOKEN)).await.is_ok());
}

/// Tool calls and MCP messages are small JSON: a body over `agent_api.max_body_bytes`
/// (1 MiB) is refused with 413 on the tool API and on MCP alike.
#[tokio::test]
async fn oversized_bodies_to_the_agent_endpoints_are_refused_with_413() {
    let town = town().await;
    let big = format!(
        r#"{{"bead_id":"gt-mcp1","message":"{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );

    let api = reqwest::Client::new()
        .post(format!("http://{}/api/agent/v1/status", town.addr))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 413);

    let session = town.initialize(Some(TOKEN)).await.unwrap();
    let call = format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"gt_status","arguments":{big}}}}}"#
    );
    let mcp = town.mcp_post(Some(TOKEN), Some(&session), call).await;
    assert_eq!(mcp.status(), 413);

    // A call of ordinary size still goes through.
    let small = reqwest::Client::new()
        .post(format!("http://{}/api/agent/v1/status", town.addr))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(r#"{"bead_id":"gt-mcp1","message":"halfway"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(small.status(), 200, "{}", small.text().await.unwrap());
}
