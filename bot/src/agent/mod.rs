//! What runs inside the town: the `gt agent …` commands an agent calls ([`cli`]) and
//! the refinery's run ([`refinery_run`]). It reaches the bot only over HTTP, with its
//! session's token.

pub mod cli;
pub(crate) mod refinery_run;

use anyhow::{Context, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::edge::agent_api::Prime;

/// The tool API as seen from inside the town.
pub struct ToolClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl ToolClient {
    /// From `GT_URL` and `GT_TOKEN`, which the town gives every agent.
    pub fn from_env() -> anyhow::Result<Self> {
        let base = std::env::var("GT_URL")
            .context("GT_URL is not set: gt agent commands run inside a Gastown town")?;
        let token = std::env::var("GT_TOKEN")
            .context("GT_TOKEN is not set: gt agent commands run inside a Gastown town")?;
        Ok(Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_string(),
            token,
        })
    }

    pub async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        tool: &str,
        body: &B,
    ) -> anyhow::Result<R> {
        let url = format!("{}/api/agent/v1/{tool}", self.base);
        let res = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .with_context(|| format!("cannot reach the town at {url}"))?;
        let status = res.status();
        // The patrol's nudge rides on any answer: the agent's output shows it.
        if let Some(nudge) = res
            .headers()
            .get(crate::edge::agent_api::NUDGE_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            eprintln!("{nudge}");
        }
        let text = res.text().await.unwrap_or_default();
        if !status.is_success() {
            let msg = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(String::from))
                .unwrap_or(text);
            bail!("gt_{tool} failed ({status}): {msg}");
        }
        serde_json::from_str(&text).with_context(|| format!("gt_{tool}: unexpected answer {text}"))
    }

    pub async fn prime(&self) -> anyhow::Result<Prime> {
        self.call("prime", &json!({})).await
    }
}
