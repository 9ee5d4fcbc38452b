//! `issues` and `issue_comment`.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{Label, Repository, User, label_names};
use crate::ParseError;
use crate::de::{Delivery, missing};
use crate::event::{
    CommentAction, CommentEvent, CommentTarget, ForgeEvent, IssueAction, IssueEvent, IssueState,
};

#[derive(Deserialize)]
struct IssuePayload {
    issue: Issue,
    label: Option<Label>,
    repository: Repository,
    sender: User,
}

#[derive(Deserialize)]
struct Issue {
    number: u64,
    title: Option<String>,
    body: Option<String>,
    html_url: Option<String>,
    user: Option<User>,
    labels: Option<Vec<Label>>,
    state: Option<String>,
}

pub(super) fn issue(d: &Delivery, action: &str) -> Result<Option<ForgeEvent>, ParseError> {
    if !matches!(
        action,
        "opened" | "edited" | "closed" | "reopened" | "labeled" | "unlabeled"
    ) {
        return Ok(None);
    }
    let p: IssuePayload = d.read()?;
    let label = || {
        p.label
            .and_then(|l| l.name)
            .ok_or_else(|| missing(d.event, "label.name"))
    };
    let action = match action {
        "opened" => IssueAction::Opened,
        "edited" => IssueAction::Edited,
        "closed" => IssueAction::Closed,
        "reopened" => IssueAction::Reopened,
        "labeled" => IssueAction::Labeled { label: label()? },
        _ => IssueAction::Unlabeled { label: label()? },
    };
    let state = match p.issue.state.as_deref() {
        Some("closed") => IssueState::Closed,
        Some(_) => IssueState::Open,
        None if action == IssueAction::Closed => IssueState::Closed,
        None => IssueState::Open,
    };
    let i = p.issue;
    Ok(Some(ForgeEvent::Issue(IssueEvent {
        repo: p.repository.into_ref(d.host),
        actor: p.sender.into(),
        number: i.number,
        title: i.title.unwrap_or_default(),
        body: i.body,
        url: i.html_url,
        author: i.user.map(|u| u.login),
        labels: label_names(i.labels),
        state,
        action,
    })))
}

#[derive(Deserialize)]
struct CommentPayload {
    issue: CommentedIssue,
    comment: Comment,
    repository: Repository,
    sender: User,
}

#[derive(Deserialize)]
struct CommentedIssue {
    number: u64,
    /// Present (non-null) when the "issue" is a pull request's conversation.
    pull_request: Option<IgnoredAny>,
}

#[derive(Deserialize)]
pub(super) struct Comment {
    pub(super) id: u64,
    pub(super) body: Option<String>,
    pub(super) html_url: Option<String>,
}

pub(super) fn comment_action(action: &str) -> Option<CommentAction> {
    match action {
        "created" => Some(CommentAction::Created),
        "edited" => Some(CommentAction::Edited),
        "deleted" => Some(CommentAction::Deleted),
        _ => None,
    }
}

pub(super) fn comment(d: &Delivery, action: &str) -> Result<Option<ForgeEvent>, ParseError> {
    let Some(action) = comment_action(action) else {
        return Ok(None);
    };
    let p: CommentPayload = d.read()?;
    let number = p.issue.number;
    let target = match p.issue.pull_request {
        Some(_) => CommentTarget::PullRequest { number },
        None => CommentTarget::Issue { number },
    };
    Ok(Some(ForgeEvent::Comment(CommentEvent {
        repo: p.repository.into_ref(d.host),
        actor: p.sender.into(),
        target,
        comment_id: p.comment.id,
        body: p.comment.body.unwrap_or_default(),
        url: p.comment.html_url,
        action,
    })))
}
