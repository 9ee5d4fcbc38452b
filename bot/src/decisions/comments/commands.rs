//! What the bot answers to a comment addressed to it: the outcome of each command, the
//! help, a refusal for someone who may not command the town, and the Mayor's replies.
//! The Mayor's words are model output: capped, token shapes redacted, mentions and
//! comment markers broken, so a model cannot ping people or forge the bot's markers.

use super::{MAX_SUMMARY, inline_code_safe, town_text};
use crate::decisions::command::USAGE;

/// What one command line came to, as its answer shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The line as written (after `/gt`).
    pub line: String,
    pub result: Result<String, Refusal>,
}

/// Why a command did nothing, and the form to use instead (`None`: list them all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub problem: String,
    pub usage: Option<&'static str>,
    pub show_help: bool,
}

impl Refusal {
    pub fn new(problem: impl Into<String>) -> Self {
        Self {
            problem: problem.into(),
            usage: None,
            show_help: false,
        }
    }
}

/// One thing the Mayor's tools did, for its reply.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActionTaken {
    pub tool: String,
    /// What it did, in the bot's words (never the model's).
    pub summary: String,
    /// The issue, PR or tracking issue it concerns.
    pub link: Option<String>,
}

/// A command line as a reply quotes it: in code, with its backticks dropped.
fn quoted_line(line: &str) -> String {
    let line: String = line.chars().filter(|c| *c != '`').take(200).collect();
    format!("`/gt {line}`")
}

/// The answer to a comment's commands: one paragraph per line, in the order they ran.
pub fn command_answer(author: &str, outcomes: &[Outcome], marker: &str) -> String {
    let mut out = format!("{marker}\n@{}\n", inline_code_safe(author));
    let table = help_table();
    let mut help = false;
    for o in outcomes {
        out.push('\n');
        match &o.result {
            Ok(said) if said.contains('\n') => {
                out.push_str(&format!(
                    "✅ {}:\n\n{}\n",
                    quoted_line(&o.line),
                    said.trim_end()
                ));
            }
            Ok(said) => out.push_str(&format!("✅ {}: {said}\n", quoted_line(&o.line))),
            Err(r) => {
                let stop = if r.problem.ends_with('.') { "" } else { "." };
                let problem = r.problem.replace("<!--", "&lt;!--");
                out.push_str(&format!("❌ {}: {problem}{stop}", quoted_line(&o.line)));
                if let Some(usage) = r.usage {
                    out.push_str(&format!(" The form is `{usage}`."));
                }
                out.push('\n');
                help |= r.show_help;
            }
        }
    }
    let listed = outcomes
        .iter()
        .any(|o| o.result.as_ref().is_ok_and(|s| s.contains(&table)));
    if help && !listed {
        out.push_str(&format!(
            "\n<details><summary>Commands</summary>\n\n{table}</details>\n"
        ));
    }
    out
}

/// What each command does, as `/gt help` and the answers to mistakes list them.
pub fn help_table() -> String {
    let what = |name: &str| match name {
        "sling" => "sling this issue to a polecat (a formula, priority and vars optional)",
        "status" => "this issue's work; on a convoy's tracking issue, the town's",
        "stop" => "stop the work on this issue and close it as won't-fix",
        "retry" => "run failed or stopped work again, or now if it waits to retry",
        "approve" => "approve the formula step waiting for a person",
        "rework" => "on a refinery pull request: send it back with these words",
        "convoy create" => "a convoy of these issues that lands together",
        "convoy add" => "add issues to this tracking issue's convoy (or the one named)",
        "convoy status" => "the convoy this thread tracks or belongs to",
        "ack" => "acknowledge the escalations about this work",
        _ => "this list",
    };
    let mut out = String::from("| Command | What it does |\n|---|---|\n");
    for (name, usage) in USAGE {
        out.push_str(&format!(
            "| `{}` | {} |\n",
            usage.replace('|', "\\|"),
            what(name)
        ));
    }
    out
}

/// `/gt help`.
pub fn help_answer() -> String {
    format!(
        "Commands go on a line of their own, outside code and quotes; several run in \
         order. Mention the bot with anything else to ask the Mayor.\n\n{}",
        help_table()
    )
}

/// The one reply to someone who may not command the town.
pub fn needs_write_access(author: &str, marker: &str) -> String {
    format!(
        "{marker}\n@{}, only people with write access to this repository can give Gastown \
         commands or ask its Mayor, so this comment was not acted on. A maintainer can ask \
         instead.\n",
        inline_code_safe(author)
    )
}

/// Free text when no model is configured: what works without one.
pub fn mayor_off(author: &str, marker: &str) -> String {
    format!(
        "{marker}\n@{}, this town has no model configured, so the Mayor cannot answer free \
         text. These commands work without one:\n\n{}",
        inline_code_safe(author),
        help_table()
    )
}

/// Model output (or an error that may echo it) as a comment may show it: token shapes
/// redacted, capped, and inert — no HTML (so no hidden text, no fake `<details>` of
/// actions, no forged markers), no entities that decode to a mention, no images, no
/// mentions.
fn model_text(text: &str, max: usize) -> String {
    town_text(text, max)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace("![", "!\\[")
        .replace('@', "@\u{200b}")
}

fn actions_list(actions: &[ActionTaken]) -> String {
    if actions.is_empty() {
        return "No action was taken.\n".into();
    }
    let mut out = String::from("Actions taken:\n");
    for a in actions {
        let link = a
            .link
            .as_deref()
            .filter(|l| safe_link(l))
            .map(|l| format!(" ({l})"))
            .unwrap_or_default();
        out.push_str(&format!(
            "- `{}`: {}{link}\n",
            inline_code_safe(&a.tool),
            a.summary
        ));
    }
    out
}

/// A link the forge gave (an issue's URL), shown only when it is plainly one.
fn safe_link(l: &str) -> bool {
    (l.starts_with("https://") || l.starts_with("http://"))
        && !l.contains(|c: char| c.is_whitespace() || "()[]<>`\"'".contains(c))
}

/// The Mayor's answer: its words, then what its tools did.
pub fn mayor_answer(author: &str, text: &str, actions: &[ActionTaken], marker: &str) -> String {
    format!(
        "{marker}\n@{}\n\n{}\n\n<details><summary>What the Mayor did</summary>\n\n{}</details>\n",
        inline_code_safe(author),
        model_text(text.trim(), MAX_SUMMARY),
        actions_list(actions)
    )
}

/// The Mayor could not finish a turn: why, and what it had done by then (each tool
/// is atomic, so that is all there is to know).
pub fn mayor_failed(author: &str, why: &str, actions: &[ActionTaken], marker: &str) -> String {
    format!(
        "{marker}\n@{}, the Mayor could not answer: {}. Ask again, or use a `/gt` command \
         (`/gt help` lists them).\n\n{}",
        inline_code_safe(author),
        model_text(&why.replace(['\n', '\r'], " "), 300),
        actions_list(actions)
    )
}

/// `/gt sling` made a bead.
pub fn slung(bead: &str, formula: Option<&str>) -> String {
    match formula {
        Some(f) => format!(
            "slung as {bead} with the formula `{}`; the status comment follows it",
            inline_code_safe(f)
        ),
        None => format!("slung as {bead}; the status comment follows it"),
    }
}

fn refs(issues: &[crate::decisions::deps::IssueRef]) -> String {
    issues
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn convoy_created(convoy: &str, issues: &[crate::decisions::deps::IssueRef]) -> String {
    format!(
        "convoy {convoy} tracks {}; its tracking issue opens on the forge",
        refs(issues)
    )
}

pub fn convoy_added(convoy: &str, issues: &[crate::decisions::deps::IssueRef]) -> String {
    format!("convoy {convoy} now tracks {} too", refs(issues))
}

/// A text of the bot's that carries markers (a status comment) quoted in an answer:
/// without them, or the bot would later take the answer for the original.
pub fn without_markers(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("<!--"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `/gt status` on a convoy's tracking issue: the repository's work and the convoy.
pub fn town_status(town: &[String], convoy: Option<&str>) -> String {
    let mut out = format!(
        "this repository in the town:\n\n```text\n{}\n```\n",
        town.join("\n").replace("```", "'''")
    );
    if let Some(c) = convoy {
        out.push('\n');
        out.push_str(&without_markers(c));
        out.push('\n');
    }
    out
}

/// `/gt status` on a slung issue or its PR: where its work stands.
pub fn task_status(
    task: &crate::store::Bead,
    max_attempts: u32,
    steps: Option<(usize, usize)>,
    pull_request: Option<u64>,
) -> String {
    use crate::store::BeadStatus as S;
    let mut parts = vec![format!("{} is {}", task.id, task.status)];
    if let Some(reason) = task.close_reason {
        parts[0].push_str(&format!(" ({reason})"));
    }
    if task.attempts > 0 && matches!(task.status, S::Open | S::Hooked | S::InProgress | S::Failed) {
        parts.push(format!("attempt {} of {max_attempts}", task.attempts));
    }
    if let Some((done, total)) = steps {
        parts.push(format!("{done} of {total} steps done"));
    }
    if let Some(pr) = pull_request {
        parts.push(format!("its pull request is #{pr}"));
    }
    let meta = crate::decisions::meta::task(task);
    let mut out = parts.join("; ");
    if let Some(notice) = meta.notice {
        out.push_str(&format!(". {}", town_text(&notice, 300)));
    }
    out
}

/// A short text from a model or an issue, quoted on one line: besides
/// [`super::one_line`]'s care, no link, cross-reference or code span either.
pub fn quoted(text: &str) -> String {
    let line: String = super::one_line(text, 200)
        .chars()
        .filter(|c| !matches!(c, '`' | '[' | ']'))
        .collect();
    let inert = line.replace('#', "#\u{200b}").replace("://", ":\u{200b}//");
    format!("“{inert}”")
}
