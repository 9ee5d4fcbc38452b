//! What a comment asks of the town: `/gt` command lines, or free text for the Mayor
//! when it mentions the bot. Pure over the comment's text: only prose counts
//! ([`super::markdown`]), so commands quoted, shown in code, or written by someone
//! quoting them never run.
//!
//! Each `/gt` line is parsed on its own: a comment's lines run in order, and a bad line
//! is answered (what was wrong and the right form) without stopping the others.

use std::collections::BTreeMap;

use super::deps::IssueRef;
use super::markdown;

/// The prefix of a command line.
pub const PREFIX: &str = "/gt";

/// What a comment addressed to the bot asks.
#[derive(Debug, Clone, PartialEq)]
pub enum Addressed {
    /// `/gt` lines, in the order written.
    Commands(Vec<Line>),
    /// No command, but the bot is mentioned: the comment's text is for the Mayor.
    Mayor(String),
}

/// One `/gt` line and what it parsed to.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The line as written, whitespace collapsed: what an edit is compared by.
    pub text: String,
    pub command: Result<Command, CommandError>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Sling(SlingArgs),
    Status,
    Stop,
    Retry,
    Approve,
    /// Send the refinery's PR back to a polecat with these words.
    Rework(String),
    ConvoyCreate {
        title: String,
        issues: Vec<IssueRef>,
    },
    /// Add issues to the convoy named (a bead id), or to the one this thread tracks.
    ConvoyAdd {
        convoy: Option<String>,
        issues: Vec<IssueRef>,
    },
    ConvoyStatus,
    Ack,
    Help,
}

/// `/gt sling`'s options; `vars` are the formula's, checked by its declarations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlingArgs {
    pub formula: Option<String>,
    pub rig: Option<String>,
    pub priority: Option<u8>,
    pub vars: BTreeMap<String, String>,
}

/// A line that is not a command this bot knows, or whose arguments are wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
pub struct CommandError {
    pub problem: String,
    /// The right form of the command meant, or `None` for an unknown one (then the
    /// answer lists every command).
    pub usage: Option<&'static str>,
}

/// Every command with its form, in the order `/gt help` lists them.
pub const USAGE: &[(&str, &str)] = &[
    (
        "sling",
        "/gt sling [formula=<name>] [rig=<owner/repo>] [priority=<0-4>] [key=value…]",
    ),
    ("status", "/gt status"),
    ("stop", "/gt stop"),
    ("retry", "/gt retry"),
    ("approve", "/gt approve"),
    ("rework", "/gt rework <what to change>"),
    ("convoy create", "/gt convoy create <title> #1 #2 …"),
    ("convoy add", "/gt convoy add [<convoy bead>] #3 …"),
    ("convoy status", "/gt convoy status"),
    ("ack", "/gt ack"),
    ("help", "/gt help"),
];

/// What a comment asks, if it is addressed to the bot: a `/gt` line, or a mention of
/// one of `names` (the bot's logins on this forge).
pub fn parse(body: &str, names: &[&str]) -> Option<Addressed> {
    let lines = markdown::prose_lines(body);
    let commands: Vec<Line> = lines
        .iter()
        .filter_map(|l| command_words(l))
        .map(|words| Line {
            text: words.join(" "),
            command: command(&words),
        })
        .collect();
    if !commands.is_empty() {
        return Some(Addressed::Commands(commands));
    }
    let mentioned = lines
        .iter()
        .any(|l| names.iter().any(|n| markdown::mentions(l, n)));
    mentioned.then(|| Addressed::Mayor(body.trim().to_string()))
}

/// The words after `/gt` on a line that starts with it (`/gt` alone is `help`).
fn command_words(line: &str) -> Option<Vec<&str>> {
    let mut words = line.split_whitespace();
    (words.next()? == PREFIX).then(|| words.collect())
}

fn usage(name: &str) -> Option<&'static str> {
    USAGE.iter().find(|(n, _)| *n == name).map(|(_, u)| *u)
}

fn wrong(name: &str, problem: impl Into<String>) -> CommandError {
    CommandError {
        problem: problem.into(),
        usage: usage(name),
    }
}

/// A command that takes nothing after its name.
fn bare(name: &str, rest: &[&str], command: Command) -> Result<Command, CommandError> {
    match rest.first() {
        None => Ok(command),
        Some(extra) => Err(wrong(
            name,
            format!("`/gt {name}` takes no arguments (got `{extra}`)"),
        )),
    }
}

fn command(words: &[&str]) -> Result<Command, CommandError> {
    let Some((name, rest)) = words.split_first() else {
        return Ok(Command::Help);
    };
    match name.to_ascii_lowercase().as_str() {
        "sling" => sling(rest).map(Command::Sling),
        "status" => bare("status", rest, Command::Status),
        "stop" => bare("stop", rest, Command::Stop),
        "retry" => bare("retry", rest, Command::Retry),
        "approve" => bare("approve", rest, Command::Approve),
        "ack" => bare("ack", rest, Command::Ack),
        "help" => Ok(Command::Help),
        "rework" if rest.is_empty() => Err(wrong("rework", "say what to change")),
        "rework" => Ok(Command::Rework(rest.join(" "))),
        "convoy" => convoy(rest),
        other => Err(CommandError {
            problem: format!("`/gt {other}` is not a command"),
            usage: None,
        }),
    }
}

fn sling(rest: &[&str]) -> Result<SlingArgs, CommandError> {
    let mut args = SlingArgs::default();
    for word in rest {
        let Some((key, value)) = word.split_once('=') else {
            return Err(wrong(
                "sling",
                format!("`{word}` is not an option: write `key=value`"),
            ));
        };
        if value.is_empty() {
            return Err(wrong("sling", format!("`{key}=` needs a value")));
        }
        match key {
            "formula" => args.formula = Some(value.to_string()),
            "rig" => args.rig = Some(value.to_string()),
            "priority" => match value.parse::<u8>() {
                Ok(p) if p <= 4 => args.priority = Some(p),
                _ => {
                    return Err(wrong(
                        "sling",
                        format!("priority is 0 (highest) to 4, not `{value}`"),
                    ));
                }
            },
            _ if valid_var(key) => {
                args.vars.insert(key.to_string(), value.to_string());
            }
            _ => {
                return Err(wrong(
                    "sling",
                    format!("`{key}` is not a variable name (letters, digits and `_`)"),
                ));
            }
        }
    }
    Ok(args)
}

fn valid_var(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn convoy(rest: &[&str]) -> Result<Command, CommandError> {
    let Some((sub, rest)) = rest.split_first() else {
        return Err(wrong(
            "convoy status",
            "say `create`, `add` or `status` after `/gt convoy`",
        ));
    };
    match sub.to_ascii_lowercase().as_str() {
        "create" => {
            let split = rest
                .iter()
                .position(|w| issue_ref(w).is_some())
                .unwrap_or(rest.len());
            let title = rest[..split].join(" ");
            let title = title.trim_matches('"').trim().to_string();
            if title.is_empty() {
                return Err(wrong("convoy create", "give the convoy a title"));
            }
            let issues = issue_refs("convoy create", &rest[split..])?;
            Ok(Command::ConvoyCreate { title, issues })
        }
        "add" => {
            let (convoy, refs) = match rest.first() {
                Some(w) if w.starts_with("gt-") => (Some(w.to_string()), &rest[1..]),
                _ => (None, rest),
            };
            let issues = issue_refs("convoy add", refs)?;
            Ok(Command::ConvoyAdd { convoy, issues })
        }
        "status" => bare("convoy status", rest, Command::ConvoyStatus),
        other => Err(wrong(
            "convoy status",
            format!(
                "`/gt convoy {other}` is not a convoy command: say `create`, `add` or `status`"
            ),
        )),
    }
}

/// At least one issue reference, and nothing else.
fn issue_refs(name: &str, words: &[&str]) -> Result<Vec<IssueRef>, CommandError> {
    let mut out: Vec<IssueRef> = Vec::new();
    for w in words {
        match issue_ref(w) {
            Some(r) if !out.contains(&r) => out.push(r),
            Some(_) => {}
            None => {
                return Err(wrong(
                    name,
                    format!("`{w}` is not an issue: write `#12` or `owner/repo#12`"),
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(wrong(name, "name at least one issue, like `#12`"));
    }
    Ok(out)
}

/// `#12` or `owner/repo#12` (`group/sub/project#12` on GitLab), a trailing comma allowed.
fn issue_ref(word: &str) -> Option<IssueRef> {
    let word = word.trim_end_matches(',');
    let (repo, number) = word.rsplit_once('#')?;
    let number: u64 = number.parse().ok().filter(|n| *n > 0)?;
    let repo = match repo {
        "" => None,
        r if r.contains('/')
            && r.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            }) =>
        {
            Some(r.to_string())
        }
        _ => return None,
    };
    Some(IssueRef { repo, number })
}

#[cfg(test)]
mod tests;
