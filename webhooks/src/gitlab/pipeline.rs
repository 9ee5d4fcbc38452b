//! `Pipeline Hook`: GitLab CI's one report per pipeline, sent on every status change.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{Head, Project, User};
use crate::ParseError;
use crate::de::Delivery;
use crate::event::{CiEvent, CiKind, CiStatus, ForgeEvent};

#[derive(Deserialize)]
struct PipelinePayload {
    object_attributes: Attributes,
    merge_request: Option<MergeRequest>,
    /// Null for scheduled pipelines with a deleted owner, among others.
    user: Option<User>,
    project: Project,
}

#[derive(Deserialize)]
struct Attributes {
    id: Option<u64>,
    name: Option<String>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    tag: Option<bool>,
    sha: String,
    status: Option<String>,
}

#[derive(Deserialize)]
struct MergeRequest {
    iid: Option<u64>,
}

/// Unknown statuses count as finished-but-neutral rather than pending, so a status
/// GitLab adds later cannot leave the bot waiting forever.
fn status(s: Option<&str>) -> CiStatus {
    match s {
        Some("created" | "waiting_for_resource" | "preparing" | "pending" | "scheduled") => {
            CiStatus::Pending
        }
        // `canceling` is on its way to `canceled` but not there yet.
        Some("running" | "canceling") => CiStatus::Running,
        Some("success") => CiStatus::Success,
        Some("failed") => CiStatus::Failure,
        Some("canceled") => CiStatus::Cancelled,
        Some("skipped") => CiStatus::Skipped,
        _ => CiStatus::Neutral,
    }
}

pub(super) fn pipeline(d: &Delivery) -> Result<Option<ForgeEvent>, ParseError> {
    if !d.read::<Head<IgnoredAny>>()?.is_kind(&["pipeline"]) {
        return Ok(None);
    }
    let p: PipelinePayload = d.read()?;
    let a = p.object_attributes;
    // The payload has no pipeline URL; this is the stable UI path for one.
    let url = match (&p.project.web_url, a.id) {
        (Some(web), Some(id)) => Some(format!("{}/-/pipelines/{id}", web.trim_end_matches('/'))),
        _ => None,
    };
    let branch = match a.tag {
        Some(true) => None,
        _ => a.git_ref.clone(),
    };
    Ok(Some(ForgeEvent::Ci(CiEvent {
        repo: p.project.into_ref(d.host),
        actor: p.user.map(Into::into),
        kind: CiKind::Pipeline,
        name: a
            .name
            .or(a.git_ref)
            .unwrap_or_else(|| "pipeline".to_owned()),
        sha: a.sha,
        branch,
        status: status(a.status.as_deref()),
        pull_requests: p.merge_request.and_then(|m| m.iid).into_iter().collect(),
        url,
    })))
}
