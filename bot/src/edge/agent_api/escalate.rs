//! `gt_escalate`: an agent asks a person. What it says is untrusted text: capped,
//! redacted, shown as data in the escalation's notice; it can choose a severity but
//! not who is named (that is `.gastown.yaml`'s `owners`, or whoever slung the issue).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::tools::{MAX_TEXT, ToolError, Tools, polecat_only};
use crate::decisions::patrol::{Durations, Severity};
use crate::lifecycle::escalation::{self, Raise};
use crate::store::{self, Grant};

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalateRequest {
    /// One line: what you need a person for (required).
    #[serde(default)]
    pub reason: Option<String>,
    /// `low`, `medium` (default), `high` (names the repository's owners) or `critical`
    /// (also opens an issue of its own).
    #[serde(default)]
    pub severity: Option<String>,
    /// Anything a person needs to act: what you tried, what failed.
    #[serde(default)]
    pub details: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EscalateReply {
    /// The escalation bead (the same one if you asked for the same thing before).
    pub escalation: String,
    pub severity: String,
}

impl Tools {
    pub async fn escalate(
        &self,
        grant: &Grant,
        req: &EscalateRequest,
    ) -> Result<EscalateReply, ToolError> {
        polecat_only(grant, "gt_escalate")?;
        let reason = req.reason.as_deref().map(str::trim).unwrap_or_default();
        if reason.is_empty() {
            return Err(ToolError::Invalid(
                "reason is required: one line saying what you need a person for".into(),
            ));
        }
        if reason.len() > 500 || reason.contains('\n') {
            return Err(ToolError::Invalid(
                "reason is one line of at most 500 bytes; put the rest in details".into(),
            ));
        }
        let details = req.details.as_deref().unwrap_or_default();
        if details.len() > MAX_TEXT {
            return Err(ToolError::Invalid(format!(
                "details is {} bytes; at most {MAX_TEXT}",
                details.len()
            )));
        }
        let severity = match req.severity.as_deref() {
            None => Severity::Medium,
            Some(s) => Severity::parse(s).ok_or_else(|| {
                ToolError::Invalid(format!(
                    "severity {s:?} is not one of low, medium, high, critical"
                ))
            })?,
        };
        let redactor = &self.config.redactor;
        let (reason, details) = (redactor.redact(reason), redactor.redact(details));
        let (g, now) = (grant.clone(), self.clock.now_ms());
        let d = Durations::from(&self.config.patrol);
        let bead = self
            .store
            .write(move |c| {
                store::touch(c, &g.agent_id, true, now)?;
                let about = store::get_bead(c, &g.bead_id)?;
                escalation::raise(
                    c,
                    &Raise {
                        about: &about,
                        severity,
                        source: &g.agent_id,
                        reason: &reason,
                        action: "",
                        details: &details,
                    },
                    &d,
                    now,
                )
            })
            .await?;
        Ok(EscalateReply {
            escalation: bead.id,
            severity: severity.as_str().into(),
        })
    }
}
