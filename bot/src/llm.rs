//! The town's one model client: an OpenAI-compatible `chat/completions` API (hosted
//! providers, gateways and local servers all speak it), shared by the Mayor and the
//! refinery's AI review and configured once (`llm:`). The key goes in a header only;
//! errors never echo it, and what the model says is returned as data for the caller
//! to check.

use std::time::Duration;

use serde_json::{Value, json};

use crate::config::Config;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    #[error("the model did not answer within {0} s")]
    Timeout(u64),
    #[error("the model could not be reached: {0}")]
    Unreachable(String),
    #[error("the model answered HTTP {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("the model's answer does not read: {0}")]
    Unreadable(String),
}

/// The configured model, if any.
#[derive(Clone)]
pub struct Llm {
    http: reqwest::Client,
    url: String,
    model: String,
    key: Option<String>,
    timeout_secs: u64,
}

/// A tool the model asked to call: its arguments are the model's JSON text, to be
/// checked by the tool.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// One answer of the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub content: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// The assistant message as received, to send back with the tools' results.
    pub message: Value,
}

impl Llm {
    pub fn from_config(config: &Config) -> Option<Self> {
        let llm = &config.llm;
        let url = llm.api_url.as_deref()?.trim_end_matches('/').to_string();
        Some(Self {
            http: reqwest::Client::new(),
            url: format!("{url}/chat/completions"),
            model: llm.model.clone(),
            key: config.secrets.llm_api_key.clone(),
            timeout_secs: llm.timeout_secs,
        })
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// One request: `messages` in the API's shape, and `tools` (function
    /// declarations) when the model may call them.
    pub async fn chat(&self, messages: &[Value], tools: &[Value]) -> Result<Reply, LlmError> {
        let mut body = json!({
            "model": self.model,
            "temperature": 0,
            "messages": messages,
        });
        if !tools.is_empty() {
            body["tools"] = Value::Array(tools.to_vec());
        }
        let mut req = self
            .http
            .post(&self.url)
            .timeout(Duration::from_secs(self.timeout_secs))
            .json(&body);
        if let Some(key) = &self.key {
            req = req.bearer_auth(key);
        }
        let res = req.send().await.map_err(|e| self.transport(e))?;
        let status = res.status();
        let text = res.text().await.map_err(|e| self.transport(e))?;
        if !status.is_success() {
            return Err(LlmError::Refused {
                status: status.as_u16(),
                body: crate::redact::cap(&crate::redact::shapes(&text), 300),
            });
        }
        reply(&text)
    }

    fn transport(&self, e: reqwest::Error) -> LlmError {
        if e.is_timeout() {
            LlmError::Timeout(self.timeout_secs)
        } else {
            LlmError::Unreachable(e.without_url().to_string())
        }
    }
}

/// Read a `chat/completions` answer: the first choice's message.
pub fn reply(text: &str) -> Result<Reply, LlmError> {
    let answer: Value =
        serde_json::from_str(text).map_err(|e| LlmError::Unreadable(format!("not JSON ({e})")))?;
    let message = answer["choices"][0]["message"].clone();
    if !message.is_object() {
        return Err(LlmError::Unreadable("no choices[0].message".into()));
    }
    let mut tool_calls = Vec::new();
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        let (Some(id), Some(name)) = (call["id"].as_str(), call["function"]["name"].as_str())
        else {
            return Err(LlmError::Unreadable(
                "a tool call without an id or a function name".into(),
            ));
        };
        tool_calls.push(ToolCall {
            id: id.to_string(),
            name: name.to_string(),
            arguments: call["function"]["arguments"]
                .as_str()
                .unwrap_or("{}")
                .to_string(),
        });
    }
    let content = message["content"]
        .as_str()
        .map(str::to_string)
        .filter(|c| !c.trim().is_empty());
    if content.is_none() && tool_calls.is_empty() {
        return Err(LlmError::Unreadable(
            "neither content nor tool calls in the message".into(),
        ));
    }
    Ok(Reply {
        content,
        tool_calls,
        prompt_tokens: answer["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
        completion_tokens: answer["usage"]["completion_tokens"].as_u64().unwrap_or(0),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_and_usage_are_read() {
        let r = reply(
            r#"{"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[
                {"id":"c1","type":"function","function":{"name":"gt_list_beads","arguments":"{}"}}]}}],
               "usage":{"prompt_tokens":120,"completion_tokens":8}}"#,
        )
        .unwrap();
        assert_eq!(r.content, None);
        assert_eq!(r.tool_calls[0].name, "gt_list_beads");
        assert_eq!((r.prompt_tokens, r.completion_tokens), (120, 8));
    }

    #[test]
    fn an_empty_or_odd_answer_is_an_error() {
        for text in [
            "nope",
            r#"{"choices":[]}"#,
            r#"{"choices":[{"message":{"content":"  "}}]}"#,
            r#"{"choices":[{"message":{"tool_calls":[{"function":{}}]}}]}"#,
        ] {
            assert!(
                matches!(reply(text), Err(LlmError::Unreadable(_))),
                "{text}"
            );
        }
    }
}
