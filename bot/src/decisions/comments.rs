//! Every text the bot writes on a forge, in one place so its voice stays consistent
//! and each message is snapshot-tested. Texts are Markdown; user-supplied strings are
//! quoted so they cannot inject markup or mentions. Text from the town (agent output,
//! summaries, reasons drawn from them) is capped here and loses its token shapes; the
//! forge client redacts the bot's own secret values from everything it writes
//! ([`crate::redact`]).

use crate::decisions::ai_verdict::ReviewNote;
use crate::decisions::gates::GateResult;
use crate::store::{Bead, BeadStatus};

/// Why a town cannot start, in words a maintainer can act on: what to fix, never the
/// runner's raw error (it can name host paths). Shown on each queued bead of the town.
pub fn town_trouble(e: &runner::RunnerError) -> String {
    use runner::RunnerError as E;
    match e {
        E::DockerUnreachable { .. } => "the runner cannot reach Docker; start the Docker \
             daemon on the bot's host, or run agents unisolated with `GT_RUNNER=local`"
            .into(),
        E::Image { .. } => "the town image is missing or could not be built; build it on \
             the bot's host, or point `GT_RUNNER_IMAGE` at one that exists"
            .into(),
        E::Docker { action, .. } => format!(
            "Docker failed to {}; the bot's log has the details",
            action.replace(['/', '\\'], " ")
        ),
        E::DuplicateTownContainers { count, .. } => {
            format!("{count} containers claim this town; remove all but one with `docker rm -f`")
        }
        E::TownRootMismatch { container, .. } | E::TownSetup { container, .. } => format!(
            "its container `{}` was made for another setup; remove it with `docker rm -f` \
             and the bot makes a new one",
            container.replace('`', "")
        ),
        _ => "the runner could not set it up; the bot's log has the details".into(),
    }
}

/// [`town_trouble`] when the bot cannot even make the town's directory.
pub const TOWN_DIR_TROUBLE: &str = "the bot cannot create the town's directory in its data \
     directory (`GT_DATA_DIR`); check that it exists and the bot may write there";

/// Marks the bot's status comment for a bead, so the bot can find it again after a
/// crash between posting it and recording where it is.
pub fn status_marker(bead_id: &str) -> String {
    format!("<!-- gastown:status {bead_id} -->")
}

/// The one comment per slung issue that the bot edits in place as the bead moves.
pub fn status_comment(bead: &Bead) -> String {
    status_comment_with(bead, None)
}

/// The status comment of a task with a molecule: `steps` is its formula's name and
/// its steps, listed under the table as a checklist.
pub fn status_comment_with(bead: &Bead, steps: Option<(&str, &[ChecklistItem])>) -> String {
    let approval = steps.and_then(|(_, items)| {
        items
            .iter()
            .find(|i| i.state == ItemState::Approval)
            .map(|i| waiting_for_approval(&i.step))
    });
    // A queued bead whose town cannot start says why, not that it waits its turn.
    let meta = crate::decisions::meta::task(bead);
    let town_trouble = meta
        .town_error
        .as_deref()
        .map(|why| format!("the town could not start: {}", town_text(why, MAX_LINE)));
    let (headline, next) = match bead.status {
        // What the patrol holds it for says more than the status alone.
        s if meta.notice.is_some() && approval.is_none() => {
            (headline_of(s), meta.notice.as_deref().unwrap_or_default())
        }
        BeadStatus::Open => (
            "queued",
            town_trouble
                .as_deref()
                .unwrap_or("waiting for a free polecat"),
        ),
        BeadStatus::Hooked => ("hooked", "a polecat has picked it up"),
        BeadStatus::InProgress => ("working", "a polecat is working on it"),
        BeadStatus::Blocked => match approval.as_deref() {
            Some(why) => ("waiting for approval", why),
            None => ("blocked", "waiting for the work it depends on"),
        },
        BeadStatus::Review => ("in review", "the refinery is checking the change"),
        BeadStatus::Closed => ("done", "nothing left to do"),
        BeadStatus::Failed => ("failed", "it gave up after its retries; a person is needed"),
        BeadStatus::Tombstone => ("removed", "the bead was deleted"),
    };
    let slung_by = meta
        .slung_by
        .as_deref()
        .map(|u| format!("@{}", inline_code_safe(u)))
        .unwrap_or_else(|| "someone".into());
    let mut rows = format!(
        "| slung by | {slung_by} |\n| rig | `{rig}` |\n",
        rig = bead.rig_id.as_deref().unwrap_or("-"),
    );
    // The polecat and branch stay listed after it finishes: they say who did the work.
    if let Some(name) = bead.hook.as_deref().and_then(|h| h.rsplit('/').next()) {
        rows.push_str(&format!("| polecat | {} |\n", inline_code_safe(name)));
    }
    if let Some(branch) = &bead.branch {
        rows.push_str(&format!("| branch | `{}` |\n", branch.replace('`', "")));
    }
    if let Some(n) = meta.pull_request {
        rows.push_str(&format!("| pull request | #{n} |\n"));
    }
    if bead.attempts > 1 {
        rows.push_str(&format!("| attempt | {} |\n", bead.attempts));
    }
    if let Some(r) = &meta.rework {
        rows.push_str(&format!(
            "| rework | {} of {}: {} |\n",
            r.attempt,
            r.max,
            town_text(&r.reason, MAX_LINE).replace(['|', '\n'], " ")
        ));
    }
    if bead.status == BeadStatus::Review
        && let Some(w) = &meta.waiting_for
    {
        rows.push_str(&format!(
            "| waiting for | {} |\n",
            w.replace(['|', '\n'], " ")
        ));
    }
    format!(
        "{marker}\n\
         **Gastown** · bead `{id}` is **{headline}**: {next}.\n\
         \n\
         | | |\n\
         |---|---|\n\
         {rows}\
         | status | `{status}` |\n\
         {steps}",
        marker = status_marker(&bead.id),
        id = bead.id,
        status = bead.status,
        steps = steps.map_or(String::new(), |(formula, items)| checklist(formula, items)),
    )
}

fn headline_of(status: BeadStatus) -> &'static str {
    match status {
        BeadStatus::Open => "queued",
        BeadStatus::Hooked => "hooked",
        BeadStatus::InProgress => "working",
        BeadStatus::Blocked => "blocked",
        BeadStatus::Review => "in review",
        BeadStatus::Closed => "closed",
        BeadStatus::Failed => "failed",
        BeadStatus::Tombstone => "removed",
    }
}

/// The label an issue carries while its bead is hooked, worked or in review: at most
/// one at a time, so the forge's issue list shows where each bead is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusLabel {
    Hooked,
    Working,
    Review,
}

impl StatusLabel {
    pub const ALL: [StatusLabel; 3] = [
        StatusLabel::Hooked,
        StatusLabel::Working,
        StatusLabel::Review,
    ];

    /// The label a bead in `status` shows, if any.
    pub fn of(status: BeadStatus) -> Option<Self> {
        match status {
            BeadStatus::Hooked => Some(StatusLabel::Hooked),
            BeadStatus::InProgress => Some(StatusLabel::Working),
            BeadStatus::Review => Some(StatusLabel::Review),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StatusLabel::Hooked => "gt:hooked",
            StatusLabel::Working => "gt:working",
            StatusLabel::Review => "gt:review",
        }
    }

    /// The status label called `name`, if it is one.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.name() == name)
    }

    /// The description the label is created with, shown on the forge's label list.
    pub fn description(self) -> &'static str {
        match self {
            StatusLabel::Hooked => "Gastown: a polecat has picked this up",
            StatusLabel::Working => "Gastown: a polecat is working on this",
            StatusLabel::Review => "Gastown: the change is with the refinery",
        }
    }
}

/// Marks the refinery's pull request for a bead, so a restart finds it instead of
/// opening a second one.
pub fn pull_request_marker(bead_id: &str) -> String {
    format!("<!-- gastown:pull-request {bead_id} -->")
}

/// The title of the pull/merge request the refinery opens: the task's, so the PR reads
/// like the issue it closes (a rework's PR is the task's first one, kept).
pub fn pull_request_title(task: &Bead) -> String {
    task.title.clone()
}

/// The body of the pull/merge request the refinery opens for a finished bead. The
/// summary is the agent's words: quoted, never trusted as markup that mentions people.
/// `note` (e.g. [`protected_files_note`]) ends it, after a blank line, when not empty.
pub fn pull_request_body(
    task: &Bead,
    merge_request: &Bead,
    issue: Option<u64>,
    gates: &[GateResult],
    review: &crate::decisions::ai_verdict::ReviewNote<'_>,
    note: &str,
) -> String {
    let agent = crate::decisions::meta::merge_request(merge_request).agent;
    let polecat = agent
        .as_deref()
        .or(task.hook.as_deref())
        .and_then(|h| h.rsplit('/').next())
        .map(inline_code_safe)
        .unwrap_or_else(|| "a polecat".into());
    let summary: String = town_text(&merge_request.body, MAX_SUMMARY)
        .lines()
        .map(|l| format!("> {}\n", l.replace('@', "@\u{200b}")))
        .collect();
    let gates = if gates.is_empty() {
        "No quality gates are configured (`quality_gates` in `.gastown.yaml`).\n".to_string()
    } else {
        let mut t = "| gate | result | time |\n|---|---|---|\n".to_string();
        for g in gates {
            t.push_str(&format!(
                "| {} | {} | {:.1} s |\n",
                g.name.replace(['|', '\n'], ""),
                crate::decisions::gates::outcome(g),
                g.duration_ms as f64 / 1000.0
            ));
        }
        t
    };
    let closes = issue
        .map(|n| format!("Closes #{n}.\n\n"))
        .unwrap_or_default();
    let review = match review {
        ReviewNote::Off => String::new(),
        ReviewNote::Approved(v) => {
            let said: String = town_text(&v.summary, MAX_SUMMARY)
                .lines()
                .map(|l| format!("> {}\n", l.replace('@', "@\u{200b}")))
                .collect();
            format!("\n### AI review\nApproved by the review model.\n\n{said}")
        }
        ReviewNote::TooBig { bytes, max } => format!(
            "\n### AI review\nNot done: the diff is {bytes} bytes, over the review's limit of \
             {max} (`review.max_diff_bytes`), and a diff is never reviewed in part. **A person \
             must review this change**; it lands only with the approval of someone with write \
             access.\n"
        ),
    };
    let note = if note.is_empty() {
        String::new()
    } else {
        format!("\n{note}")
    };
    format!(
        "{marker}\n{closes}Worked by polecat **{polecat}** on bead `{task}` \
         (merge request `{mr}`).\n\n{summary}\n### Quality gates\n{gates}{review}{note}",
        marker = pull_request_marker(&task.id),
        task = task.id,
        mr = merge_request.id,
    )
}

/// The name of the commit status the refinery sets on the commit it tested.
pub const REFINERY_STATUS_CONTEXT: &str = "gastown/refinery";

/// The refinery's commit status on a tested commit that passed (`gates` of them).
pub fn refinery_passed_status(gates: usize, needs_a_person: bool) -> String {
    match (gates, needs_a_person) {
        (_, true) => {
            "Quality gates passed; too big for the AI review: a person must review it".into()
        }
        (0, false) => "No quality gates in .gastown.yaml; ready for review".into(),
        (n, false) => format!("{n} quality gates passed on the rebased branch"),
    }
}

/// The refinery's commit status on a PR's commit that went back for rework, cut to
/// the 140 characters GitHub takes.
pub fn refinery_rework_status(reason: &str) -> String {
    format!("Sent back for rework: {reason}")
        .chars()
        .take(140)
        .collect()
}

/// What an approved PR waits for when the forge refuses to merge it (a conflict,
/// branch protection), in the forge's own words; shown in the status comment.
pub fn waiting_for_the_forge(reason: &str) -> String {
    format!("the forge to allow the merge: {reason}")
}

/// Added to a pull/merge request whose work changes protected files (CI
/// configuration, gastown's settings): it lands only when a person approves it.
/// `direct_refused`: the repository chose `merge_strategy: direct`, which such work
/// never gets. File names come from agent commits: each is shown as code, stripped of
/// what could end it.
pub fn protected_files_note(files: &[String], direct_refused: bool) -> String {
    const SHOWN: usize = 20;
    let mut listed: String = files
        .iter()
        .take(SHOWN)
        .map(|f| format!("- `{}`\n", f.replace(['`', '\n', '\r'], "")))
        .collect();
    if files.len() > SHOWN {
        listed.push_str(&format!("- and {} more\n", files.len() - SHOWN));
    }
    let direct = if direct_refused {
        " `.gastown.yaml` chooses `merge_strategy: direct`, which never applies to such \
         a change."
    } else {
        ""
    };
    format!(
        "### Protected files\n\
         This change touches files that decide what CI runs with this repository's \
         secrets, or how Gastown works here:\n\n{listed}\n\
         It lands only through this pull request, once a person with write access has \
         reviewed and approved it.{direct}\n"
    )
}

/// Said once per broken version of `.gastown.yaml`: nothing lands until it is fixed.
pub fn repo_config_invalid(problems: &str, marker: &str) -> String {
    let listed: String = problems
        .lines()
        .map(|p| format!("- `{}`\n", p.replace('`', "'")))
        .collect();
    format!(
        "{marker}\n\
         **Gastown** · the refinery cannot land this work: `.gastown.yaml` is not valid.\n\
         \n{listed}\n\
         Fix the file on the target branch; the refinery checks it again and goes on.\n"
    )
}

/// Said when the AI review could not run: the work waits, it is never waved through.
pub fn review_failed(problem: &str, marker: &str) -> String {
    format!(
        "{marker}\n**Gastown** · the refinery's AI review could not run: {}. Nothing lands \
         without it; the refinery tries again.\n",
        town_text(problem, MAX_LINE)
            .replace(['\n', '`'], " ")
            .replace('@', "@\u{200b}")
    )
}

/// Why the AI review sent work back, as the rework comment and the PR's commit status
/// say it: the first line of the model's summary (its comments go in the details).
pub fn ai_review_rejected(summary: &str) -> String {
    format!(
        "the AI review rejected it: {}",
        summary.lines().next().unwrap_or("no reason given")
    )
}

/// Said when a change is too big for the AI review: the model does not see it, so it
/// cannot approve it; a person has to.
pub fn review_too_big(bytes: usize, max: usize, marker: &str) -> String {
    format!(
        "{marker}\n**Gastown** · this change is too big for the AI review: its diff is \
         {bytes} bytes, over the limit of {max} (`review.max_diff_bytes`), and a diff is \
         never reviewed in part. The model did not review it and it will not land on the \
         model's say: **a person needs to review it.** The refinery opens a pull request \
         for it, which lands only with the approval of someone with write access.\n"
    )
}

/// The reason the refinery gives when it gives up on a run's report that its own
/// copy of the repository contradicts (a forged or corrupted report): nothing landed.
pub const REPORT_UNTRUSTED: &str = "the refinery's run reported commits that the bot's own \
     copy of the repository contradicts, twice, so its report was not trusted and nothing \
     was landed";

pub const REPORT_UNTRUSTED_ACTION: &str = "Look at the branch and the town, then run \
     `gt beads retry` on the task or sling the issue again, or close it.";

/// Said on the issue when `direct` landed the work (the issue is closed with it).
pub fn landed_comment(target: &str, sha: &str, marker: &str) -> String {
    format!(
        "{marker}\n**Gastown** · the refinery landed this work on `{}` in {sha}, after \
         rebasing it and running the quality gates.\n",
        target.replace('`', "")
    )
}

/// Said on the issue when the refinery sends work back to a polecat. The details are
/// tool output (untrusted), so they go in a fenced block that cannot be closed early.
pub fn rework_comment(attempt: u32, max: u32, reason: &str, details: &str, marker: &str) -> String {
    let (who, count) = match max {
        // A person's rework (`/gt rework`) is not one of the refinery's, nor counted.
        PERSONS_REWORK => ("this work was sent back", format!("rework {attempt}")),
        _ => (
            "the refinery sent this work back",
            format!("rework {attempt} of {max}"),
        ),
    };
    format!(
        "{marker}\n\
         **Gastown** · {who} ({count}): {}.\n\
         A polecat is reworking the same branch.\n{}",
        town_text(reason, MAX_LINE),
        details_block(details),
    )
}

/// The rework limit a person's `/gt rework` goes back with: never reached.
pub const PERSONS_REWORK: u32 = u32::MAX;

/// Why an agent's work did not finish, as its bead's history and an escalation say it.
pub fn agent_ended_unfinished(code: Option<i32>) -> String {
    match code {
        Some(code) => format!("the agent exited with code {code} without gt_done"),
        None => "the agent was lost (its process or container went away)".into(),
    }
}

/// The reason an escalation gives when the refinery's own run keeps failing.
pub fn refinery_run_failed(attempts: u32, why: &str) -> String {
    format!("the refinery's run failed {attempts} times: {why}")
}

/// The reason an escalation gives when the refinery runs out of rework attempts.
pub fn refinery_gave_up(reworks: u32, reason: &str) -> String {
    format!(
        "the refinery cannot land this work and has run out of rework attempts ({reworks}). \
         Last problem: {}",
        town_text(reason, MAX_LINE)
    )
}

pub const REFINERY_GAVE_UP_ACTION: &str = "Fix the branch by hand, then run `gt beads \
     retry` on the task, or close this issue.";

/// `@a @b`, or "A maintainer" when there is nobody to name.
fn mention_list(mentions: &[String]) -> String {
    let who: Vec<String> = mentions
        .iter()
        .map(|m| format!("@{}", inline_code_safe(m)))
        .filter(|m| m.len() > 1)
        .collect();
    if who.is_empty() {
        "A maintainer".to_string()
    } else {
        who.join(" ")
    }
}

/// The most of a one-line reason shown; the most of an agent's or a model's summary;
/// the most of tool output (gate output, a run's log) in one comment.
const MAX_LINE: usize = 500;
const MAX_SUMMARY: usize = 8 * 1024;
const MAX_DETAILS: usize = 16 * 1024;

/// One line of someone else's words (an issue's title, an agent's summary, a model's
/// name for something), safe anywhere in a comment: no line breaks, no HTML, no
/// mentions, token shapes redacted, about `max` bytes at most.
fn one_line(text: &str, max: usize) -> String {
    town_text(text, max)
        .replace(['\n', '\r'], " ")
        .replace('@', "@\u{200b}")
        .replace('<', "&lt;")
}

/// A piece of text from the town as a comment shows it: token shapes redacted and
/// capped, with a note of what was cut.
fn town_text(text: &str, max: usize) -> String {
    crate::redact::cap(&crate::redact::shapes(text), max)
}

fn details_block(details: &str) -> String {
    if details.trim().is_empty() {
        return String::new();
    }
    let details = town_text(details, MAX_DETAILS);
    let fence = "`".repeat(longest_backtick_run(&details).max(2) + 1);
    format!(
        "\n<details><summary>What failed</summary>\n\n{fence}text\n{}\n{fence}\n</details>\n",
        details.trim_end()
    )
}

fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// Marks a one-off comment (a refusal, a rework, an escalation…) so catch-up,
/// redeliveries and restarts never post it twice.
pub fn marker(kind: &str, key: &str) -> String {
    format!("<!-- gastown:{kind} {key} -->")
}

/// Said when someone without write access adds the sling label.
pub fn sling_refused_comment(user: &str, label: &str, marker: &str) -> String {
    format!(
        "{marker}\n\
         @{user}, only people with write access to this repository can sling work to \
         Gastown, so the `{label}` label was not acted on. A maintainer can add it instead.\n",
        user = inline_code_safe(user),
        label = label.replace('`', ""),
    )
}

/// Logins are `[A-Za-z0-9-]` on GitHub and a little wider on GitLab; anything else is
/// dropped so a crafted name cannot break out of the Markdown around it.
fn inline_code_safe(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect()
}

mod commands;
mod convoy;
mod deps;
mod molecule;
mod patrol;
pub use commands::*;
pub use convoy::*;
pub use deps::*;
pub use molecule::*;
pub use patrol::*;

#[cfg(test)]
mod tests;
