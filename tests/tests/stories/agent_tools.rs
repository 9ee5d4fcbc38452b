//! The agent tool API over real HTTP: a token acts for its own agent and bead only,
//! dies with its session, and every refusal says what was wrong.

use gastown_tests::TestTown;
use gastown_tests::process::{gt, gt_binary};
use serde_json::{Value, json};

const NUX: &str = "gta_token-of-nux";
const SLIT: &str = "gta_token-of-slit";

async fn call(town: &TestTown, tool: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(town.url(&format!("/api/agent/v1/{tool}")))
        .json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_token_acts_only_for_its_own_bead() {
    let town = TestTown::builder().start().await;
    let mine = town.hooked_bead("octo/hello", "nux", NUX).await;
    let theirs = town.hooked_bead("octo/hello", "slit", SLIT).await;

    let (status, prime) = call(&town, "prime", Some(NUX), json!({})).await;
    assert_eq!(status, 200, "{prime}");
    assert_eq!(prime["bead"]["id"], mine);
    assert_eq!(prime["agent"]["name"], "nux");
    assert_eq!(prime["branch_prefix"], format!("gt/{mine}"));

    for tool in ["heartbeat", "status", "done"] {
        let (status, body) = call(&town, tool, Some(NUX), json!({ "bead_id": theirs })).await;
        assert_eq!(status, 403, "{tool}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains(&format!("cannot act on bead {theirs}")),
            "{tool}: {body}"
        );
    }
    // Nothing moved on the other bead.
    let beads = town.beads().await;
    let other = beads.iter().find(|b| b.id == theirs).unwrap();
    assert_eq!(other.status.as_str(), "hooked");
}

/// A refinery run holds a token too, for its own two tools. It cannot use it to say a
/// polecat's work is done (which would open a merge request of its choosing), to note
/// progress, or to prime itself as a worker: each is refused with 403 and why.
#[tokio::test]
async fn a_refinery_token_cannot_call_the_polecat_tools() {
    const REFINERY: &str = "gta_token-of-the-refinery";
    let town = TestTown::builder().start().await;
    let bead = town
        .hooked_bead_as(bot::store::Role::Refinery, "octo/hello", "main", REFINERY)
        .await;

    for tool in ["done", "status", "prime"] {
        let (status, body) = call(&town, tool, Some(REFINERY), json!({})).await;
        assert_eq!(status, 403, "{tool}: {body}");
        let msg = body["error"].as_str().unwrap();
        assert!(
            msg.contains("is a refinery")
                && msg.contains(&format!("gt_{tool} is a polecat tool"))
                && msg.contains("refinery/report"),
            "{tool}: {msg}"
        );
    }
    // Nothing moved: no merge request, the bead still hooked, no note in its history.
    let beads = town.beads().await;
    assert_eq!(beads.len(), 1, "no merge request was made: {beads:#?}");
    assert_eq!(beads[0].id, bead);
    assert_eq!(beads[0].status.as_str(), "hooked");
    // Being alive is not a polecat's privilege.
    let (status, body) = call(&town, "heartbeat", Some(REFINERY), json!({})).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn without_a_live_token_nothing_is_answered() {
    let town = TestTown::builder().start().await;
    town.hooked_bead("octo/hello", "nux", NUX).await;
    for token in [None, Some("gta_made-up"), Some("")] {
        let (status, body) = call(&town, "prime", token, json!({})).await;
        assert_eq!(status, 401, "{token:?}: {body}");
        assert!(body["error"].as_str().unwrap().contains("Bearer"), "{body}");
    }
    // A token dies with its session.
    town.app
        .store
        .write(|c| {
            let s = bot::store::live_sessions(c)?;
            bot::store::end_session(c, &s[0].id, bot::store::SessionState::Exited, Some(0), 1)
        })
        .await
        .unwrap();
    let (status, _) = call(&town, "prime", Some(NUX), json!({})).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn done_before_the_branch_is_pushed_says_how_to_push() {
    let town = TestTown::builder().start().await;
    let mine = town.hooked_bead("octo/hello", "nux", NUX).await;
    let (status, body) = call(&town, "done", Some(NUX), json!({ "summary": "all done" })).await;
    assert_eq!(status, 409, "{body}");
    let msg = body["error"].as_str().unwrap();
    assert!(
        msg.contains(&format!("git push origin HEAD:gt/{mine}")),
        "{msg}"
    );
    let (status, body) = call(&town, "status", Some(NUX), json!({ "mesage": "typo" })).await;
    assert_eq!(status, 422, "unknown fields are refused: {body}");
    assert!(body["error"].as_str().unwrap().contains("mesage"), "{body}");
}

#[tokio::test]
async fn the_openapi_document_describes_every_tool() {
    let town = TestTown::builder().start().await;
    let doc: Value = reqwest::get(town.url("/api/agent/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for tool in ["prime", "heartbeat", "status", "done"] {
        assert!(
            doc["paths"][format!("/api/agent/v1/{tool}")]["post"].is_object(),
            "{tool} missing"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["agent_token"]["scheme"],
        "bearer"
    );
}

/// The `gt` binary as an agent and an operator run it. Inside the town (`GT_URL`,
/// `GT_TOKEN`) `gt agent status "…"` records a progress note on the agent's bead;
/// `gt status` is the town summary; the old top-level agent forms fail and name the
/// new one, so an agent with an old prompt can recover, and record nothing.
#[tokio::test]
async fn gt_agent_status_notes_progress_and_gt_status_summarises_the_town() {
    let town = TestTown::builder().start().await;
    let mine = town.hooked_bead("octo/hello", "nux", NUX).await;
    let url = town.url("");
    let inside = [("GT_URL", url.as_str()), ("GT_TOKEN", NUX)];

    let said = gt(&["agent", "status", "rebasing onto main"], &inside).await;
    assert!(said.starts_with(&format!("bead {mine} is ")), "{said}");
    let notes = || async {
        let id = mine.clone();
        town.app
            .store
            .read(move |c| bot::store::bead_events(c, &id))
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "status_note")
            .map(|e| {
                e.payload["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(notes().await, ["rebasing onto main"]);

    let db = town.database();
    let summary = gt(&["status"], &[("GT_DATABASE", db.as_str())]).await;
    assert!(
        summary.starts_with("rigs\n  github:octo/hello")
            && summary.contains(&format!("beads     1 {}", town.beads().await[0].status)),
        "{summary}"
    );

    for (old, new) in [
        (&["prime"][..], "`gt agent prime`"),
        (&["done", "finished"][..], "`gt agent done`"),
        (&["heartbeat"][..], "`gt agent heartbeat`"),
        (&["status", "still rebasing"][..], "`gt agent status \"…\"`"),
    ] {
        let out = tokio::process::Command::new(gt_binary())
            .args(old)
            .env_remove("GT_CONFIG")
            .envs(inside)
            .output()
            .await
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(new),
            "gt {old:?}: {err}"
        );
    }
    assert_eq!(
        notes().await,
        ["rebasing onto main"],
        "the old forms noted nothing"
    );
}

/// `gt_escalate` asks a person for the agent's bead: one escalation per reason, its
/// severity checked; a stuck agent reads the patrol's nudge at its next tool call, once
/// it moves the nudge is gone.
#[tokio::test]
async fn an_agent_escalates_and_reads_the_patrols_nudge_at_its_next_call() {
    let town = TestTown::builder().start().await;
    let bead = town.hooked_bead("octo/hello", "nux", NUX).await;
    let ask = json!({ "reason": "the tests need a database I cannot start", "severity": "high" });
    let (status, first) = call(&town, "escalate", Some(NUX), ask.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["severity"], "high");
    let (_, again) = call(&town, "escalate", Some(NUX), ask).await;
    assert_eq!(
        again["escalation"], first["escalation"],
        "asked twice, raised once"
    );
    let (status, bad) = call(
        &town,
        "escalate",
        Some(NUX),
        json!({ "reason": "x", "severity": "urgent" }),
    )
    .await;
    assert_eq!(status, 422, "{bad}");
    let (status, bad) = call(&town, "escalate", Some(NUX), json!({})).await;
    assert!(
        status == 422
            && bad["error"]
                .as_str()
                .unwrap()
                .contains("reason is required")
    );
    let escalations = town.escalations(false).await;
    assert_eq!(escalations.len(), 1);
    assert_eq!(escalations[0].about.as_deref(), Some(bead.as_str()));

    // Fifteen minutes of heartbeats and nothing else: the patrol nudges it.
    let nudge_of = |res: reqwest::Response| {
        res.headers()
            .get("gastown-nudge")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let heartbeat = || {
        reqwest::Client::new()
            .post(town.url("/api/agent/v1/heartbeat"))
            .bearer_auth(NUX)
            .json(&json!({}))
    };
    for _ in 0..15 {
        assert_eq!(nudge_of(heartbeat().send().await.unwrap()), None);
        town.clock.advance(60_000);
    }
    town.patrol().await;
    let nudge = nudge_of(heartbeat().send().await.unwrap()).expect("a nudge");
    assert!(
        nudge.contains("no progress from you for 15 minutes"),
        "{nudge}"
    );
    // A heartbeat is not progress: the nudge stays until the agent does something.
    assert!(nudge_of(heartbeat().send().await.unwrap()).is_some());
    let (status, _) = call(&town, "status", Some(NUX), json!({ "message": "on it" })).await;
    assert_eq!(status, 200);
    assert_eq!(nudge_of(heartbeat().send().await.unwrap()), None);
}

/// An agent CLI reaches the model only through the bot, with its own session token as
/// its key: the town's key is added on the way and never given to the town.
#[tokio::test]
async fn an_agent_reaches_the_model_through_the_bot_with_its_own_token() {
    use gastown_tests::model::{Behaviour, FakeModel};
    const KEY: &str = "sk-the-towns-own-key-0123456789";
    let model = FakeModel::start(Behaviour::Say("hello from the model".into())).await;
    let town = TestTown::builder()
        .env("GT_LLM_API_URL", &model.url)
        .env("GT_LLM_API_KEY", KEY)
        .start()
        .await;
    town.hooked_bead("octo/hello", "nux", NUX).await;
    let ask = |path: &str, token: Option<&str>| {
        let mut req = reqwest::Client::new()
            .post(town.url(&format!("/api/agent/v1/model/{path}")))
            .json(&json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }] }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let res = ask("chat/completions", Some(NUX)).await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(
        text.contains("hello from the model") && !text.contains(KEY),
        "{text}"
    );
    assert_eq!(model.authorizations(), [Some(format!("Bearer {KEY}"))]);
    assert_eq!(model.requests()[0]["messages"][0]["content"], "hi");
    // Anthropic's SDKs (Claude Code) append `/v1/messages` to their base URL, with a
    // query of their own: the same API, passed along.
    let res = ask("v1/messages?beta=true", Some(NUX)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("hello from the model"));
    assert_eq!(model.paths()[1], "/v1/messages?beta=true");

    // No token, a token of nobody, or any other path of the provider's API: refused,
    // and nothing reaches the model.
    assert_eq!(ask("chat/completions", None).await.unwrap().status(), 401);
    assert_eq!(
        ask("chat/completions", Some("gta_forged"))
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(ask("files", Some(NUX)).await.unwrap().status(), 404);
    assert_eq!(ask("v1/files", Some(NUX)).await.unwrap().status(), 404);
    assert_eq!(model.requests().len(), 2);
}
