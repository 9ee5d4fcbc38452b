//! `pull_request`, `pull_request_review` and `pull_request_review_comment`.

use serde::Deserialize;

use super::issues::{Comment, comment_action};
use super::{Repository, User};
use crate::ParseError;
use crate::de::{Delivery, missing};
use crate::event::{
    CommentEvent, CommentTarget, ForgeEvent, PullRequestAction, PullRequestEvent, ReviewEvent,
    ReviewState,
};

#[derive(Deserialize)]
struct PullRequestPayload {
    /// Duplicates `pull_request.number`; either is enough.
    number: Option<u64>,
    pull_request: PullRequest,
    repository: Repository,
    sender: User,
}

#[derive(Deserialize)]
struct PullRequest {
    number: Option<u64>,
    title: Option<String>,
    body: Option<String>,
    html_url: Option<String>,
    head: Option<Branch>,
    base: Option<Branch>,
    merged: Option<bool>,
    merged_at: Option<String>,
}

#[derive(Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    sha: Option<String>,
}

pub(super) fn pull_request(d: &Delivery, action: &str) -> Result<Option<ForgeEvent>, ParseError> {
    if !matches!(action, "opened" | "synchronize" | "closed" | "reopened") {
        return Ok(None);
    }
    let p: PullRequestPayload = d.read()?;
    let pr = p.pull_request;
    let number = pr
        .number
        .or(p.number)
        .ok_or_else(|| missing(d.event, "pull_request.number"))?;
    // Some deliveries omit `merged` but always set `merged_at` on a merge.
    let merged = pr.merged.unwrap_or(pr.merged_at.is_some());
    let action = match action {
        "opened" => PullRequestAction::Opened,
        "synchronize" => PullRequestAction::Synchronize,
        "reopened" => PullRequestAction::Reopened,
        _ if merged => PullRequestAction::Merged,
        _ => PullRequestAction::Closed,
    };
    let (head_branch, head_sha) = match pr.head {
        Some(h) => (h.git_ref.unwrap_or_default(), h.sha),
        None => (String::new(), None),
    };
    Ok(Some(ForgeEvent::PullRequest(PullRequestEvent {
        repo: p.repository.into_ref(d.host),
        actor: p.sender.into(),
        number,
        title: pr.title.unwrap_or_default(),
        body: pr.body,
        url: pr.html_url,
        head_branch,
        head_sha,
        base_branch: pr.base.and_then(|b| b.git_ref).unwrap_or_default(),
        merged,
        action,
    })))
}

#[derive(Deserialize)]
struct ReviewPayload {
    review: Review,
    pull_request: PullNumber,
    repository: Repository,
    sender: User,
}

#[derive(Deserialize)]
struct Review {
    state: Option<String>,
    body: Option<String>,
    commit_id: Option<String>,
}

#[derive(Deserialize)]
struct PullNumber {
    number: u64,
}

pub(super) fn review(d: &Delivery, action: &str) -> Result<Option<ForgeEvent>, ParseError> {
    if !matches!(action, "submitted" | "dismissed") {
        return Ok(None);
    }
    let p: ReviewPayload = d.read()?;
    let state = if action == "dismissed" {
        ReviewState::Dismissed
    } else {
        // Webhooks send lowercase states, the REST API uppercase; accept both.
        match p
            .review
            .state
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("approved") => ReviewState::Approved,
            Some("changes_requested") => ReviewState::ChangesRequested,
            Some("commented") => ReviewState::Commented,
            // `pending` reviews are drafts nobody else can see yet.
            _ => return Ok(None),
        }
    };
    Ok(Some(ForgeEvent::Review(ReviewEvent {
        repo: p.repository.into_ref(d.host),
        actor: p.sender.into(),
        number: p.pull_request.number,
        state,
        body: p.review.body,
        commit_sha: p.review.commit_id,
    })))
}

#[derive(Deserialize)]
struct ReviewCommentPayload {
    comment: Comment,
    pull_request: PullNumber,
    repository: Repository,
    sender: User,
}

pub(super) fn review_comment(d: &Delivery, action: &str) -> Result<Option<ForgeEvent>, ParseError> {
    let Some(action) = comment_action(action) else {
        return Ok(None);
    };
    let p: ReviewCommentPayload = d.read()?;
    Ok(Some(ForgeEvent::ReviewComment(CommentEvent {
        repo: p.repository.into_ref(d.host),
        actor: p.sender.into(),
        target: CommentTarget::PullRequest {
            number: p.pull_request.number,
        },
        comment_id: p.comment.id,
        body: p.comment.body.unwrap_or_default(),
        url: p.comment.html_url,
        action,
    })))
}
