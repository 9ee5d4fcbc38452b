//! The two tools of a refinery run in the town: what to do (its [`Assignment`]) and
//! what it found (a [`Report`]). Only a session of role `refinery` may call them, and
//! only for the merge request on its hook.

use super::tools::{Ack, ToolError, Tools};
use crate::decisions::gates::{Assignment, OUTPUT_TAIL, Report};
use crate::store::{self, BeadStatus, Grant, Role};

/// More gates than this in one report is not a real repository's configuration.
const MAX_GATES: usize = 64;

impl Tools {
    pub async fn refinery_assignment(&self, grant: &Grant) -> Result<Assignment, ToolError> {
        refinery_only(grant)?;
        let (g, now) = (grant.clone(), self.clock.now_ms());
        let mr = self
            .store
            .write(move |c| crate::loops::sessions::first_call(c, &g, "refinery/assignment", now))
            .await?;
        crate::decisions::meta::merge_request(&mr)
            .assignment
            .ok_or_else(|| {
                ToolError::Conflict(format!(
                    "merge request {} has no refinery assignment",
                    mr.id
                ))
            })
    }

    pub async fn refinery_report(&self, grant: &Grant, report: Report) -> Result<Ack, ToolError> {
        refinery_only(grant)?;
        if let Some((field, bad)) = [
            ("head_sha", &report.head_sha),
            ("base_sha", &report.base_sha),
        ]
        .into_iter()
        .find(|(_, s)| !crate::gitgate::is_sha(s))
        {
            return Err(ToolError::Invalid(format!(
                "{field} must be a full commit id (40 or 64 lowercase hex digits), not {:?}",
                bad.chars().take(80).collect::<String>()
            )));
        }
        if report.gates.len() > MAX_GATES {
            return Err(ToolError::Invalid(format!(
                "{} gates in one report; at most {MAX_GATES}",
                report.gates.len()
            )));
        }
        if let Some(g) = report
            .gates
            .iter()
            .find(|g| g.output_tail.len() > 2 * OUTPUT_TAIL)
        {
            return Err(ToolError::Invalid(format!(
                "gate {}: output_tail is {} bytes; at most {}",
                g.name,
                g.output_tail.len(),
                2 * OUTPUT_TAIL
            )));
        }
        // Gate output is published (rework comments, prompts): no secret goes further.
        let mut report = report;
        for gate in &mut report.gates {
            gate.output_tail = self.config.redactor.redact_cut(&gate.output_tail);
        }
        let (g, now) = (grant.clone(), self.clock.now_ms());
        self.store
            .write(move |c| {
                let mr = store::get_bead(c, &g.bead_id)?;
                if !matches!(mr.status, BeadStatus::Hooked | BeadStatus::InProgress) {
                    return Ok(Err(ToolError::Conflict(format!(
                        "merge request {} is {}; it takes no report now",
                        mr.id, mr.status
                    ))));
                }
                let value = serde_json::to_value(&report).unwrap_or_default();
                store::note(c, &mr.id, "refined", &g.agent_id, &value, now)?;
                crate::decisions::meta::update_merge_request(c, &mr.id, now, |m| {
                    m.report = Some(report)
                })?;
                crate::loops::sessions::said_done(c, &g)?;
                c.wake(store::Wake::Refinery);
                Ok(Ok(()))
            })
            .await??;
        Ok(Ack { ok: true })
    }
}

fn refinery_only(grant: &Grant) -> Result<(), ToolError> {
    if grant.role == Role::Refinery {
        Ok(())
    } else {
        Err(ToolError::Forbidden(format!(
            "agent {} is a {}; only the refinery reports on merge requests",
            grant.agent_id, grant.role
        )))
    }
}
