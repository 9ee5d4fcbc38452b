//! `Issue Hook`. GitLab has no `labeled` action: label changes arrive as an `update`
//! whose `changes.labels` lists the labels before and after, so one delivery can mean
//! several label events (and an edit besides).

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

use super::{ActionOnly, Head, Label, Project, User, iid, label_titles};
use crate::ParseError;
use crate::de::Delivery;
use crate::event::{ForgeEvent, IssueAction, IssueEvent, IssueState};

#[derive(Deserialize)]
struct IssuePayload {
    user: User,
    project: Project,
    object_attributes: Attributes,
    /// The labels after the event. Also inside `object_attributes`, which older
    /// GitLab versions used alone.
    labels: Option<Vec<Label>>,
    changes: Option<Changes>,
}

#[derive(Deserialize)]
struct Attributes {
    iid: Option<u64>,
    title: Option<String>,
    description: Option<String>,
    url: Option<String>,
    state: Option<String>,
    labels: Option<Vec<Label>>,
}

/// `changes` of an update: the label lists, and whether anything besides labels and
/// bookkeeping changed. Read field by field so the rest is skipped, not materialized.
#[derive(Default)]
struct Changes {
    labels: Option<LabelChange>,
    other: bool,
}

#[derive(Deserialize)]
struct LabelChange {
    previous: Option<Vec<Label>>,
    current: Option<Vec<Label>>,
}

/// Fields GitLab updates alongside any change, so they say nothing about what the
/// user changed.
const BOOKKEEPING: &[&str] = &[
    "updated_at",
    "updated_by_id",
    "last_edited_at",
    "last_edited_by_id",
];

impl<'de> Deserialize<'de> for Changes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Changes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of field changes")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Changes, A::Error> {
                let mut out = Changes::default();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "labels" {
                        out.labels = map.next_value()?;
                    } else {
                        out.other |= !BOOKKEEPING.contains(&key.as_str());
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// Labels added and removed, by title, each in the order GitLab lists them.
fn label_diff(change: LabelChange) -> (Vec<String>, Vec<String>) {
    let previous = label_titles(change.previous);
    let current = label_titles(change.current);
    let added = current
        .iter()
        .filter(|l| !previous.contains(l))
        .cloned()
        .collect();
    let removed = previous
        .into_iter()
        .filter(|l| !current.contains(l))
        .collect();
    (added, removed)
}

/// The actions one delivery stands for, or `None` for an action we do not act on.
fn actions(action: Option<&str>, changes: Option<Changes>) -> Option<Vec<IssueAction>> {
    Some(match action? {
        "open" => vec![IssueAction::Opened],
        "close" => vec![IssueAction::Closed],
        "reopen" => vec![IssueAction::Reopened],
        "update" => {
            let changes = changes.unwrap_or_default();
            let (added, removed) = changes.labels.map(label_diff).unwrap_or_default();
            let mut out = Vec::new();
            // An update that changed no labels is an edit even when GitLab sent no
            // `changes` at all: something was updated and the bot may need to look.
            if changes.other || (added.is_empty() && removed.is_empty()) {
                out.push(IssueAction::Edited);
            }
            out.extend(
                added
                    .into_iter()
                    .map(|label| IssueAction::Labeled { label }),
            );
            out.extend(
                removed
                    .into_iter()
                    .map(|label| IssueAction::Unlabeled { label }),
            );
            out
        }
        _ => return None,
    })
}

pub(super) fn issue(d: &Delivery) -> Result<Option<Vec<ForgeEvent>>, ParseError> {
    let head: Head<ActionOnly> = d.read()?;
    if !head.is_kind(&["issue", "work_item"]) {
        return Ok(None);
    }
    let action = head.object_attributes.and_then(|a| a.action);
    if !matches!(
        action.as_deref(),
        Some("open" | "close" | "reopen" | "update")
    ) {
        return Ok(None);
    }
    let p: IssuePayload = d.read()?;
    let Some(actions) = actions(action.as_deref(), p.changes) else {
        return Ok(None);
    };
    let a = p.object_attributes;
    let number = iid(d, a.iid, a.url.as_deref(), "object_attributes.iid")?;
    let state = match a.state.as_deref() {
        Some("closed") => IssueState::Closed,
        Some(_) => IssueState::Open,
        None if action.as_deref() == Some("close") => IssueState::Closed,
        None => IssueState::Open,
    };
    // The payload names only the author's id; on `open` the actor is the author.
    let author = (action.as_deref() == Some("open")).then(|| p.user.username.clone());
    let template = IssueEvent {
        repo: p.project.into_ref(d.host),
        actor: p.user.into(),
        number,
        title: a.title.unwrap_or_default(),
        body: a.description,
        url: a.url,
        author,
        labels: label_titles(p.labels.or(a.labels)),
        state,
        action: IssueAction::Opened,
    };
    Ok(Some(
        actions
            .into_iter()
            .map(|action| {
                ForgeEvent::Issue(IssueEvent {
                    action,
                    ..template.clone()
                })
            })
            .collect(),
    ))
}
