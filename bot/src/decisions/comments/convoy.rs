//! What the bot says on a convoy's tracking issue: where the convoy is, its tracked
//! issues as a checklist (edited in place), and its landing.

use super::{inline_code_safe, status_marker};
use crate::decisions::convoy::Landing;
use crate::store::{Bead, BeadStatus, CloseReason};

/// The label on a convoy's tracking issue.
pub const CONVOY_LABEL: &str = "gt:convoy";

/// A tracked issue as the checklist shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvoyItem {
    pub name: String,
    pub title: String,
    pub status: BeadStatus,
    pub close_reason: Option<CloseReason>,
    pub pull_request: Option<u64>,
}

/// The tracking issue's title.
pub fn tracking_issue_title(title: &str) -> String {
    format!("Convoy: {}", title.replace(['\n', '\r'], " "))
}

/// The tracking issue's body: what it is for, found again by `marker`.
pub fn tracking_issue_body(marker: &str) -> String {
    format!(
        "{marker}\nThis issue tracks a Gastown convoy: a batch of issues that land together. \
         The checklist below is kept up to date by the bot; the issue closes when the last \
         of them has landed."
    )
}

/// The convoy's status comment.
pub fn convoy_status(convoy: &Bead, landing: &Landing, items: &[ConvoyItem]) -> String {
    let (headline, next) = match (convoy.status, landing) {
        (BeadStatus::Closed, _) | (_, Landing::Lands) => (
            "landed".to_string(),
            "every tracked issue landed".to_string(),
        ),
        (_, Landing::Held { by }) => (
            "held".to_string(),
            format!(
                "{} failed or closed without landing; re-sling it or take it out of the convoy",
                by.join(", ")
            ),
        ),
        (_, Landing::Waits { on }) => (
            "in progress".to_string(),
            format!("waiting for {}", on.join(", ")),
        ),
        (_, Landing::Empty) => ("empty".to_string(), "it tracks no issue yet".to_string()),
    };
    let mut list = String::new();
    for item in items {
        let done = crate::store::landed(item.status, item.close_reason);
        let state = match (item.status, item.close_reason) {
            (BeadStatus::Closed, Some(r)) => r.to_string(),
            (s, _) => s.to_string(),
        };
        let pr = item
            .pull_request
            .map_or(String::new(), |n| format!(" · PR #{n}"));
        list.push_str(&format!(
            "- [{}] {} {} · `{}`{pr}\n",
            if done { "x" } else { " " },
            item.name,
            plain_title(&item.title),
            state,
        ));
    }
    format!(
        "{}\n**Gastown** · convoy `{}` **{headline}**: {next}.\n\n{list}",
        status_marker(&convoy.id),
        inline_code_safe(&convoy.id),
    )
}

/// Said once, on the tracking issue, when the convoy lands (the issue then closes).
pub fn convoy_landed(names: &[String], marker: &str) -> String {
    format!(
        "{marker}\n**Gastown** · this convoy landed: {} all merged. Closing the tracking issue.",
        names.join(", ")
    )
}

fn plain_title(title: &str) -> String {
    super::one_line(title, 120)
}
