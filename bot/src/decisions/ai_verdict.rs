//! What the AI review decided, read from the model's answer, and what a PR says of it.
//! Pure: the model client that asks is the refinery's ([`crate::loops::refinery::ai_review`]).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewComment {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub line: Option<u64>,
    pub body: String,
}

/// What the model decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiVerdict {
    pub approve: bool,
    pub summary: String,
    #[serde(default)]
    pub comments: Vec<ReviewComment>,
}

impl AiVerdict {
    /// The comments as a rework's findings.
    pub fn findings(&self) -> String {
        let mut out = format!("AI review: {}\n", self.summary.trim());
        for c in &self.comments {
            let at = match (&c.path, c.line) {
                (Some(p), Some(l)) => format!("{p}:{l}"),
                (Some(p), None) => p.clone(),
                _ => "general".into(),
            };
            out.push_str(&format!("\n- {at}: {}", c.body.trim()));
        }
        out
    }
}

/// Read the model's message: one JSON object, possibly in a Markdown code fence.
pub fn parse_verdict(content: &str) -> Result<AiVerdict, String> {
    #[derive(Deserialize)]
    struct Raw {
        verdict: String,
        #[serde(default)]
        summary: String,
        #[serde(default)]
        comments: Vec<ReviewComment>,
    }
    let trimmed = content.trim();
    let json = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|s| s.strip_suffix("```"))
        .unwrap_or(trimmed);
    let raw: Raw = serde_json::from_str(json.trim()).map_err(|e| {
        format!(
            "expected {{\"verdict\": …}}, got {:?} ({e})",
            crate::decisions::gates::tail(trimmed, 200)
        )
    })?;
    let approve = match raw.verdict.trim().to_ascii_lowercase().as_str() {
        "approve" | "approved" => true,
        "reject" | "rejected" | "request_changes" => false,
        other => return Err(format!("unknown verdict {other:?}")),
    };
    Ok(AiVerdict {
        approve,
        summary: raw.summary,
        comments: raw.comments,
    })
}

/// What the PR says of the AI review, and whether people must review in its place.
#[derive(Debug, Clone, Copy)]
pub enum ReviewNote<'a> {
    /// No review model is configured.
    Off,
    Approved(&'a AiVerdict),
    /// Too big for the model: a person must review it.
    TooBig {
        bytes: usize,
        max: usize,
    },
}

impl ReviewNote<'_> {
    /// Whether only a person's review can let this change land.
    pub fn needs_a_person(&self) -> bool {
        matches!(self, Self::TooBig { .. })
    }
}
