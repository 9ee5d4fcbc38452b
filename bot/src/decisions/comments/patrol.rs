//! What the patrol says: escalations on the issue (and, when critical, an issue of
//! their own), the nudge an agent reads at its next tool call, and the one-line notes
//! the status comment shows while the patrol holds a bead (a retry's wait, a stuck
//! agent, a paused rig, work stopped because the forge changed).

use super::{MAX_LINE, details_block, inline_code_safe, mention_list, town_text};
use crate::clock::{Millis, format_utc};
use crate::decisions::patrol::Severity;

/// The label an issue carries while an escalation about it waits for a person;
/// removing it acknowledges the escalation.
pub const ESCALATED_LABEL: &str = "gt:escalated";

/// An escalation as the issue shows it. `notice` counts from 0 (raised) up through its
/// re-notifications; `mentions` is empty below high severity.
pub fn escalation_notice(
    severity: Severity,
    reason: &str,
    action: &str,
    details: &str,
    mentions: &[String],
    notice: u32,
    marker: &str,
) -> String {
    let again = if notice == 0 {
        String::new()
    } else {
        format!(" (reminder {notice}: nobody has acknowledged it yet)")
    };
    let who = if mentions.is_empty() {
        String::new()
    } else {
        format!("{}, a person is needed.\n", mention_list(mentions))
    };
    let action = if action.trim().is_empty() {
        String::new()
    } else {
        format!("{}\n", town_text(action, MAX_LINE))
    };
    format!(
        "{marker}\n\
         **Gastown** · escalation · **{severity}**{again}: {}.\n\
         {action}{who}{}\n\
         Remove the `{ESCALATED_LABEL}` label to acknowledge it.",
        town_text(reason, MAX_LINE),
        details_block(details),
    )
}

/// The title of the issue a critical escalation opens.
pub fn escalation_issue_title(task_title: &str) -> String {
    let title: String = task_title.chars().take(120).collect();
    format!("Gastown escalation: {}", title.replace(['\n', '\r'], " "))
}

/// The body of that issue: the notice, and where the work is.
pub fn escalation_issue_body(notice: &str, about: Option<&str>) -> String {
    match about {
        Some(r) => format!("{notice}\n\nAbout {}.", r.replace(['\n', '\r'], " ")),
        None => notice.to_string(),
    }
}

/// What a polecat reads at its next tool call once the witness sees no progress.
pub fn nudge(idle: Millis) -> String {
    format!(
        "gastown: no progress from you for {} minutes. If you are stuck, say why with \
         `gt agent status --message`, or escalate with `gt agent escalate`; push what you \
         have and call gt_done when the work is finished.",
        idle / 60_000
    )
}

/// The status comment's note while a polecat seems stuck.
pub fn stuck_note(idle: Millis, escalated: bool) -> String {
    let then = if escalated {
        "it was nudged and a person was asked"
    } else {
        "it was nudged"
    };
    format!(
        "the polecat has made no progress for {} minutes; {then}",
        idle / 60_000
    )
}

/// The status comment's note while a bead waits out its retry's backoff.
pub fn retry_note(why: &str, attempts: u32, max: u32, at: Millis) -> String {
    format!(
        "attempt {attempts} of {max} did not finish ({}); the next starts after {}",
        town_text(why, MAX_LINE),
        format_utc(at)
    )
}

/// Why the patrol stopped an agent, as its bead's history and the issue say it.
pub fn dead_reason(silent: Millis) -> String {
    format!(
        "the agent sent no heartbeat for {} seconds and was stopped",
        silent / 1000
    )
}

pub fn stuck_reason(idle: Millis) -> String {
    format!(
        "the agent made no progress for {} minutes and was stopped",
        idle / 60_000
    )
}

/// A zombie hook: the bead was hooked to an agent that no longer runs.
pub const ZOMBIE_REASON: &str = "its agent was no longer running";

/// The escalation a stuck agent raises.
pub fn stuck_escalation(idle: Millis) -> String {
    format!(
        "a polecat has made no progress for {} minutes",
        idle / 60_000
    )
}

/// The escalation a bead out of attempts raises.
pub fn gave_up_escalation(attempts: u32) -> String {
    format!("the work failed {attempts} times and the town stopped retrying it")
}

pub const GAVE_UP_ACTION: &str = "Look at the agent's output below, fix what stops it (the \
     issue's text, the repository, the town), then run `gt beads retry` on the bead or \
     relabel the issue.";

/// The status comment's note while a rig is paused.
pub fn paused_note(reason: &str, until: Option<Millis>) -> String {
    match until {
        Some(t) => format!(
            "dispatch to this repository is paused until {} ({}); `gt rig resume` ends it sooner",
            format_utc(t),
            town_text(reason, MAX_LINE)
        ),
        None => format!(
            "dispatch to this repository is paused by {}; `gt rig resume` ends it",
            town_text(reason, MAX_LINE)
        ),
    }
}

/// Why the breaker paused a rig.
pub fn breaker_reason(failures: u32, window: Millis) -> String {
    format!(
        "{failures} attempts failed within {} minutes",
        window / 60_000
    )
}

/// Why the work stopped when the forge changed under it.
pub fn closed_on_forge(what: &str, by: &str) -> String {
    format!(
        "{what} by @{}: the polecat was stopped and the work closed; reopen or relabel to sling it again",
        inline_code_safe(by)
    )
}
