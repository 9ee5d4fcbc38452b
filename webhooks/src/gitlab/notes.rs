//! `Note Hook`: comments on issues, merge requests, commits and snippets.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{Head, Project, User, iid};
use crate::ParseError;
use crate::de::Delivery;
use crate::event::{CommentAction, CommentEvent, CommentTarget, ForgeEvent};

#[derive(Deserialize)]
struct NoteHead {
    action: Option<String>,
    noteable_type: Option<String>,
}

#[derive(Deserialize)]
struct NotePayload {
    user: User,
    project: Project,
    object_attributes: Attributes,
    issue: Option<Noteable>,
    merge_request: Option<Noteable>,
}

#[derive(Deserialize)]
struct Attributes {
    id: u64,
    note: Option<String>,
    url: Option<String>,
    /// Set (non-null) on notes attached to a line of the diff.
    position: Option<IgnoredAny>,
    #[serde(rename = "type")]
    note_type: Option<String>,
    /// GitLab's own notes ("added label", "mentioned in"): nobody wrote them.
    #[serde(default)]
    system: bool,
}

#[derive(Deserialize)]
struct Noteable {
    iid: Option<u64>,
    url: Option<String>,
}

enum Kind {
    Issue,
    MergeRequest,
    Other(&'static str),
}

pub(super) fn note(d: &Delivery) -> Result<Option<ForgeEvent>, ParseError> {
    let head: Head<NoteHead> = d.read()?;
    if !head.is_kind(&["note"]) {
        return Ok(None);
    }
    let Some(attrs) = head.object_attributes else {
        return Ok(None);
    };
    // Older GitLab versions send no action: every note hook was a new note.
    let action = match attrs.action.as_deref() {
        None | Some("create") => CommentAction::Created,
        Some("update") => CommentAction::Edited,
        Some("delete") => CommentAction::Deleted,
        Some(_) => return Ok(None),
    };
    let kind = match attrs.noteable_type.as_deref() {
        Some("Issue") => Kind::Issue,
        Some("MergeRequest") => Kind::MergeRequest,
        Some("Commit") => Kind::Other("commit"),
        Some("Snippet") => Kind::Other("snippet"),
        _ => return Ok(None),
    };
    let p: NotePayload = d.read()?;
    let a = p.object_attributes;
    let number_of = |n: Option<Noteable>, path| {
        let n = n.unwrap_or(Noteable {
            iid: None,
            url: None,
        });
        iid(d, n.iid, n.url.as_deref(), path)
    };
    let diff_note = a.position.is_some() || a.note_type.as_deref() == Some("DiffNote");
    let target = match kind {
        Kind::Issue => CommentTarget::Issue {
            number: number_of(p.issue, "issue.iid")?,
        },
        Kind::MergeRequest => CommentTarget::PullRequest {
            number: number_of(p.merge_request, "merge_request.iid")?,
        },
        Kind::Other(kind) => CommentTarget::Other {
            kind: kind.to_owned(),
        },
    };
    let review_comment = diff_note && matches!(kind, Kind::MergeRequest);
    let mut actor: crate::event::Actor = p.user.into();
    actor.bot |= a.system;
    let event = CommentEvent {
        repo: p.project.into_ref(d.host),
        actor,
        target,
        comment_id: a.id,
        body: a.note.unwrap_or_default(),
        url: a.url,
        action,
    };
    Ok(Some(if review_comment {
        ForgeEvent::ReviewComment(event)
    } else {
        ForgeEvent::Comment(event)
    }))
}
