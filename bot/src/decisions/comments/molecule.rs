//! What the bot says on an issue about its molecule: the steps as a checklist in the
//! status comment, a formula that does not read, an approval taken.

use super::{MAX_LINE, inline_code_safe, town_text};

/// A step as the status comment lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecklistItem {
    /// Its id in the formula.
    pub step: String,
    /// Rendered from the formula with the vars: the words, shown as
    /// plain text.
    pub title: String,
    pub state: ItemState,
    pub leg: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemState {
    Todo,
    Working,
    /// Its gate runs in the town.
    Gate,
    /// A person must approve it.
    Approval,
    Done,
}

/// The label that approves the `human` step a molecule waits for.
pub const APPROVED_LABEL: &str = "gt:approved";

/// The molecule's steps, in plan order, as a Markdown checklist.
pub fn checklist(formula: &str, items: &[ChecklistItem]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let mut out = format!("\n**Steps** · formula `{}`\n\n", formula.replace('`', ""));
    for item in items {
        let done = if item.state == ItemState::Done {
            "x"
        } else {
            " "
        };
        let note = match item.state {
            ItemState::Todo | ItemState::Done => String::new(),
            ItemState::Working => " · *working*".into(),
            ItemState::Gate => " · *its gate runs*".into(),
            ItemState::Approval => format!(
                " · *waiting for approval*: comment `/gt approve` or add the `{APPROVED_LABEL}` label"
            ),
        };
        let leg = if item.leg { " (leg)" } else { "" };
        out.push_str(&format!(
            "- [{done}] `{id}` {title}{leg}{note}\n",
            id = inline_code_safe(&item.step),
            title = plain(&item.title),
        ));
    }
    out
}

/// A step waits for a person: what the status comment's headline says.
pub fn waiting_for_approval(step: &str) -> String {
    format!(
        "step `{}` waits for a person with write access to approve it",
        inline_code_safe(step)
    )
}

/// Said once on an issue slung with a formula that cannot be used: nothing was slung.
pub fn formula_refused(name: &str, problems: &str, marker: &str) -> String {
    let problems = town_text(problems, 4 * 1024);
    let fence = "`".repeat(super::longest_backtick_run(&problems).max(2) + 1);
    format!(
        "{marker}\n\
         Gastown could not expand the formula `{name}` for this issue, so nothing was \
         slung:\n\n{fence}text\n{}\n{fence}\n\nFix it and add the label again.\n",
        problems.trim_end(),
        name = name.replace('`', ""),
    )
}

/// Said when a person's approval closed a `human` step.
pub fn step_approved(step: &str, by: &str, marker: &str) -> String {
    format!(
        "{marker}\n@{by} approved step `{step}`; a polecat takes the next step.\n",
        by = inline_code_safe(by),
        step = inline_code_safe(step),
    )
}

/// One line of the issue's own words, safe inside a list item.
fn plain(text: &str) -> String {
    super::one_line(text, MAX_LINE)
}

/// Said when the work changed no file, so there is nothing to merge: the issue is
/// closed with what each step found (the agents' words, shown as plain text).
pub fn nothing_to_land(target: &str, steps: &[(String, String)], marker: &str) -> String {
    let mut out = format!(
        "{marker}\nThe work is done and changed no file, so there is nothing to merge into \
         `{}`. Closing this issue.\n",
        target.replace('`', "")
    );
    if !steps.is_empty() {
        out.push_str("\n**What each step found**\n\n");
        for (id, summary) in steps {
            out.push_str(&format!(
                "- `{}` {}\n",
                inline_code_safe(id),
                plain(summary)
            ));
        }
    }
    out
}
