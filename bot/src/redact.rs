//! One redactor for everything from the town that the bot publishes: agent output and
//! log tails, gate output, rework details, escalations, the agents' own notes and
//! summaries. Whatever reaches a forge comment, a PR/MR body, a commit status or a
//! prompt goes through it first, because the town is not trusted (DESIGN.md §9): an
//! agent that gets the bot to read a file of its choosing, or that simply prints what
//! it found, must not get a secret published.
//!
//! Two nets, applied in this order:
//! - **values**: every secret the bot holds (forge tokens, webhook secrets — several
//!   while they rotate —, the review model's key, a GitHub App's private key, secret
//!   looking variables of the agent runtimes), read from the variables the
//!   configuration names. A text that was cut from something longer (a log tail) also
//!   loses a piece of a secret at either end ([`Redactor::redact_cut`]).
//! - **shapes**: tokens recognisable by their form, whoever they belong to: GitHub
//!   (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`), GitLab (`glpat-` and the
//!   other `gl…-` prefixes), OpenAI/Anthropic `sk-…`, AWS `AKIA…`/`ASIA…`, Slack
//!   `xox?-`, JWTs, PEM private keys, our own agent session tokens (`gta_…`),
//!   credentials in URLs and `Authorization:` headers, and `NAME=value` where the name
//!   says it is a secret (as in a dumped environment).
//!
//! Each match becomes `[REDACTED]`. [`cap`] then bounds each published piece, saying
//! how much was cut.

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// What a secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Shorter configured values are not redacted: they would mangle ordinary words, and
/// a secret that short is not one.
pub const MIN_SECRET: usize = 8;

/// The shortest piece of a known secret redacted at the cut end of a text.
const MIN_FRAGMENT: usize = 6;

/// The secrets the bot holds, by value. `Debug` says how many, never which.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is redacted whole.
    values: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secret values)", self.values.len())
    }
}

impl Redactor {
    /// A redactor for these secret values (and every token shape). Values are trimmed;
    /// a multi-line value (a PEM key) also contributes each of its long lines, so a
    /// key printed with other line breaks, or in part, is still caught.
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut all: Vec<String> = Vec::new();
        for v in values {
            let v = v.trim();
            if v.contains('\n') {
                all.extend(
                    v.lines()
                        .map(str::trim)
                        .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
                        .map(String::from),
                );
            }
            all.push(v.to_string());
        }
        all.retain(|v| v.len() >= MIN_SECRET);
        all.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        all.dedup();
        Self { values: all }
    }

    /// How many secret values it knows.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with every known secret value and every token shape replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), REDACTED);
            }
        }
        shapes(&out).into_owned()
    }

    /// [`Redactor::redact`] for a text cut from something longer (the tail of a log,
    /// the head of an output): a piece of a known secret at either end is redacted too.
    pub fn redact_cut(&self, text: &str) -> String {
        let mut out = self.redact(text);
        // The text…
        for v in &self.values {
            // …is all inside one secret…
            if out.len() >= MIN_FRAGMENT && v.contains(out.as_str()) {
                return REDACTED.to_string();
            }
            // …starts with the end of a secret…
            if let Some(n) = longest_overlap(v, &out, Edge::Start) {
                out.replace_range(..n, REDACTED);
            }
            // …or ends with its beginning.
            if let Some(n) = longest_overlap(v, &out, Edge::End) {
                let at = out.len() - n;
                out.replace_range(at.., REDACTED);
            }
        }
        out
    }

    /// Redact, then [`cap`]: one published piece of town text.
    pub fn publish(&self, text: &str, max: usize) -> String {
        cap(&self.redact_cut(text), max)
    }
}

#[derive(Clone, Copy)]
enum Edge {
    Start,
    End,
}

/// The length of the longest piece (at least [`MIN_FRAGMENT`] bytes, shorter than the
/// secret) that `text` starts with and `secret` ends with (`Start`), or that `text`
/// ends with and `secret` starts with (`End`).
fn longest_overlap(secret: &str, text: &str, edge: Edge) -> Option<usize> {
    let max = secret.len().saturating_sub(1).min(text.len());
    (MIN_FRAGMENT..=max).rev().find(|&n| match edge {
        Edge::Start => {
            secret.is_char_boundary(secret.len() - n)
                && text.is_char_boundary(n)
                && text.as_bytes()[..n] == secret.as_bytes()[secret.len() - n..]
        }
        Edge::End => {
            secret.is_char_boundary(n)
                && text.is_char_boundary(text.len() - n)
                && text.as_bytes()[text.len() - n..] == secret.as_bytes()[..n]
        }
    })
}

/// Does a variable with this name hold a secret?
pub fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "API_KEY",
        "APIKEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// A token shape, and what it becomes (`$1` keeps a header's name, a `NAME=`).
struct Shape {
    re: Regex,
    with: &'static str,
}

static SHAPES: LazyLock<Vec<Shape>> = LazyLock::new(|| {
    let shape = |re: &str, keeps_prefix: bool| Shape {
        re: Regex::new(re).expect("a valid token shape"),
        with: if keeps_prefix {
            "${1}[REDACTED]"
        } else {
            REDACTED
        },
    };
    vec![
        // PEM private keys: the whole block, or to the end when the text was cut.
        shape(
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----(?s:.*?)(?:-----END[A-Z0-9 ]*PRIVATE KEY-----|\z)",
            false,
        ),
        // ...and a block whose beginning was cut off.
        shape(r"\A(?s:.*?)-----END[A-Z0-9 ]*PRIVATE KEY-----", false),
        // `Authorization: Bearer …`, `Basic …`, `token …`.
        shape(
            r"(?i)(authorization\s*[:=]\s*(?:bearer|basic|token|bot)\s+)[^\s\x00]+",
            true,
        ),
        // Credentials in a URL: https://user:password@host.
        Shape {
            re: Regex::new(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@\x00]*:)[^@\s/\x00]+@")
                .expect("a valid token shape"),
            with: "${1}[REDACTED]@",
        },
        // A secret-named variable, as in a dumped environment or a shell trace.
        shape(
            r"\b([A-Z][A-Z0-9_]*(?:TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|APIKEY|PRIVATE_KEY|CREDENTIALS?)[A-Z0-9_]*=)[^\s\x00]+",
            true,
        ),
        // GitHub: classic, OAuth, user-to-server, server-to-server, refresh; fine-grained.
        // These prefixes are distinctive enough to match glued to a word too (`Xghp_…`
        // would otherwise slip past a word boundary).
        shape(r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9_]{16,}", false),
        shape(r"github_pat_[A-Za-z0-9_]{20,}", false),
        // GitLab: personal, deploy, runner, CI job, trigger, feed, incoming mail,
        // agent, SCIM, OAuth app, feature flag, workspace tokens.
        shape(
            r"gl(?:pat|dt|rt|rtr|cbt|ptt|ft|imt|agent|soat|oas|ffct|wt|cr)-[A-Za-z0-9_-]{16,}",
            false,
        ),
        // OpenAI and Anthropic keys (sk-…, sk-proj-…, sk-ant-…).
        shape(r"\bsk-[A-Za-z0-9_-]{20,}", false),
        // AWS access key ids.
        shape(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}\b", false),
        // Slack.
        shape(r"\bxox[abposr]-[A-Za-z0-9-]{10,}", false),
        // JWTs: three base64url parts, the first a JSON object.
        shape(
            r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
            false,
        ),
        // Our own agent session tokens (see `agent_api::mint_token`).
        shape(r"gta_[A-Za-z0-9_-]{20,}", false),
    ]
});

/// `text` with every token shape replaced, no configuration needed.
pub fn shapes(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for s in SHAPES.iter() {
        if !s.re.is_match(&out) {
            continue;
        }
        out = Cow::Owned(s.re.replace_all(&out, s.with).into_owned());
    }
    out
}

/// `text` cut to about `max` bytes: its beginning and its end, with a note of how many
/// bytes were cut between them (the cause of a failure is usually at the end of its
/// output, what it was doing at the beginning).
pub fn cap(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut head = max / 2;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - (max - head);
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    let cut = tail - head;
    let sep = if text.contains('\n') { "\n" } else { " " };
    format!(
        "{}{sep}[… {cut} bytes cut …]{sep}{}",
        &text[..head],
        &text[tail..]
    )
}

#[cfg(test)]
mod tests;
