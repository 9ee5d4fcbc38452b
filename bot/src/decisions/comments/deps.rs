//! What the bot says about dependencies between issues: what a task waits for, a
//! dependency refused because it would close a cycle, a blocker that gave up.

use super::{MAX_LINE, town_text};
use crate::store::BeadStatus;

/// The status comment's note while a task waits for other work to land.
pub fn waiting_for_blockers(blockers: &[(String, String)]) -> String {
    let list: Vec<String> = blockers
        .iter()
        .map(|(name, title)| {
            format!(
                "{name} ({})",
                town_text(title, 120).replace(['\n', '|'], " ")
            )
        })
        .collect();
    format!("waiting for {} to land first", list.join(", "))
}

/// The status comment's note while a task waits for issues nobody slung yet.
pub fn waiting_for_unslung(names: &[String]) -> String {
    format!(
        "waiting for {}, not slung yet: sling {}, or take {} out of the `Depends on` line",
        names.join(", "),
        if names.len() == 1 { "it" } else { "them" },
        if names.len() == 1 { "it" } else { "them" },
    )
}

/// Said when a `Depends on` line would make work wait for itself.
pub fn dependency_cycle(this: &str, on: &str, marker: &str) -> String {
    format!(
        "{marker}\n**Gastown** · {this} cannot depend on {on}: {on} already waits for {this} \
         (directly or through other issues), so neither would ever start. The dependency \
         was not added; take one of the `Depends on` lines out."
    )
}

/// The reason of the escalation raised when a blocker gives up.
pub fn blocker_gave_up(name: &str, status: BeadStatus) -> String {
    let what = match status {
        BeadStatus::Failed => "failed",
        _ => "was closed without merging",
    };
    town_text(
        &format!("{name}, which this work depends on, {what}: this work waits for it"),
        MAX_LINE,
    )
}

pub const BLOCKER_GAVE_UP_ACTION: &str = "Fix and sling the blocker again, or take it out of \
     this issue's `Depends on` line to let this work start without it.";
