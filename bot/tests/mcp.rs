//! An agent CLI that speaks MCP uses the town's tools at `/mcp` with its token, over
//! real HTTP, with rmcp's own client as the agent.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::net::SocketAddr;

use bot::clock::{ManualClock, SharedClock};
use bot::config::Config;
use bot::server::App;
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
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let env = HashMap::from([
        (
            "GT_DATABASE",
            dir.path().join("gastown.db").display().to_string(),
        ),
        ("GT_DATA_DIR", dir.path().join("data").display().to_string()),
        ("GT_PUBLIC_URL", format!("http://{addr}")),
    ]);
    let config = Config::load(None, &|k| env.get(k).cloned()).unwrap();
    let clock: SharedClock = ManualClock::new(1_795_622_257_000);
    let app = App::open(config, clock).unwrap();
    let bead_id = app
        .store
        .write(|c| {
            let now = 1_795_622_257_000;
            let town = store::ensure_town(c, "town", now)?;
            let (rig, _) = store::ensure_rig(c, &town, "github", "github.com", "acme/app", now)?;
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
            let digest = bot::agent_api::token_digest(TOKEN);
            store::hook_bead(
                c,
                &Hooking {
                    role: "polecat",
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
async fn an_mcp_client_finds_the_four_agent_tools_and_their_inputs() {
    let town = town().await;
    let agent = town.agent(None).await;

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
        ("gt_heartbeat", vec!["bead_id"]),
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

#[tokio::test]
async fn a_tool_call_without_a_token_is_told_to_send_the_agent_token() {
    let town = town().await;
    let agent = town.agent(None).await;

    let result = call(&agent, "gt_prime", object!({})).await;

    assert!(
        result.is_error == Some(true) && text(&result).contains("Authorization: Bearer $GT_TOKEN"),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_tool_call_with_an_unknown_token_is_refused() {
    let town = town().await;
    let agent = town.agent(Some("gta_not-a-live-token")).await;

    let result = call(&agent, "gt_heartbeat", object!({})).await;

    assert!(
        result.is_error == Some(true) && text(&result).contains("missing or unknown agent token"),
        "{result:?}"
    );
}
