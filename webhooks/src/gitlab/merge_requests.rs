//! `Merge Request Hook`: MR lifecycle, new commits, and approvals (GitLab's closest
//! thing to a review verdict).

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{Head, Project, User, iid};
use crate::ParseError;
use crate::de::Delivery;
use crate::event::{ForgeEvent, PullRequestAction, PullRequestEvent, ReviewEvent, ReviewState};

#[derive(Deserialize)]
struct MrHead {
    action: Option<String>,
    /// Present only on updates that pushed commits: the previous head.
    oldrev: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct MrPayload {
    user: User,
    project: Project,
    object_attributes: Attributes,
}

#[derive(Deserialize)]
struct Attributes {
    iid: Option<u64>,
    title: Option<String>,
    description: Option<String>,
    url: Option<String>,
    source_branch: Option<String>,
    target_branch: Option<String>,
    state: Option<String>,
    last_commit: Option<Commit>,
}

#[derive(Deserialize)]
struct Commit {
    id: Option<String>,
}

enum Outcome {
    Pr(PullRequestAction),
    Review(ReviewState),
}

pub(super) fn merge_request(d: &Delivery) -> Result<Option<ForgeEvent>, ParseError> {
    let head: Head<MrHead> = d.read()?;
    if !head.is_kind(&["merge_request"]) {
        return Ok(None);
    }
    let Some(attrs) = head.object_attributes else {
        return Ok(None);
    };
    let outcome = match attrs.action.as_deref() {
        Some("open") => Outcome::Pr(PullRequestAction::Opened),
        Some("reopen") => Outcome::Pr(PullRequestAction::Reopened),
        Some("close") => Outcome::Pr(PullRequestAction::Closed),
        Some("merge") => Outcome::Pr(PullRequestAction::Merged),
        // Other updates (title, labels, assignees…) are not acted on.
        Some("update") if attrs.oldrev.is_some() => Outcome::Pr(PullRequestAction::Synchronize),
        // `approved`/`unapproved` fire when the MR as a whole becomes (un)approved,
        // `approval`/`unapproval` for each approver; both are one person's verdict.
        Some("approved" | "approval") => Outcome::Review(ReviewState::Approved),
        Some("unapproved" | "unapproval") => Outcome::Review(ReviewState::Dismissed),
        _ => return Ok(None),
    };
    let p: MrPayload = d.read()?;
    let a = p.object_attributes;
    let number = iid(d, a.iid, a.url.as_deref(), "object_attributes.iid")?;
    let head_sha = a.last_commit.and_then(|c| c.id);
    let repo = p.project.into_ref(d.host);
    let actor = p.user.into();
    Ok(Some(match outcome {
        Outcome::Review(state) => ForgeEvent::Review(ReviewEvent {
            repo,
            actor,
            number,
            state,
            body: None,
            commit_sha: head_sha,
        }),
        Outcome::Pr(action) => ForgeEvent::PullRequest(PullRequestEvent {
            repo,
            actor,
            number,
            title: a.title.unwrap_or_default(),
            body: a.description,
            url: a.url,
            head_branch: a.source_branch.unwrap_or_default(),
            head_sha,
            base_branch: a.target_branch.unwrap_or_default(),
            merged: action == PullRequestAction::Merged || a.state.as_deref() == Some("merged"),
            action,
        }),
    }))
}
