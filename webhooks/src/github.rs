//! GitHub deliveries: the `X-GitHub-Event` header names the payload's shape and the
//! payload's `action` says what happened.
//!
//! Only what identifies an event is required (repository, number, sender): without
//! those the bot could act on the wrong thing, so their absence is an error. Everything
//! else is optional, because real deliveries carry null in places the docs do not.

mod app;
mod ci;
mod issues;
mod pulls;
mod push;

use serde::Deserialize;

use crate::ParseError;
use crate::de::{self, Delivery};
use crate::event::{Actor, ForgeEvent, ForgeKind, RepoRef};

#[derive(Deserialize)]
struct Repository {
    full_name: String,
    id: Option<u64>,
    default_branch: Option<String>,
    html_url: Option<String>,
}

impl Repository {
    fn into_ref(self, host: &str) -> RepoRef {
        RepoRef {
            forge: ForgeKind::GitHub,
            host: de::web_host(self.html_url.as_deref(), host),
            path: self.full_name,
            id: self.id,
            default_branch: self.default_branch,
        }
    }
}

#[derive(Deserialize)]
struct User {
    login: String,
    id: Option<u64>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

impl From<User> for Actor {
    fn from(u: User) -> Self {
        Actor {
            bot: u.kind.as_deref() == Some("Bot") || u.login.ends_with("[bot]"),
            login: u.login,
            id: u.id,
        }
    }
}

#[derive(Deserialize)]
struct Label {
    name: Option<String>,
}

fn label_names(labels: Option<Vec<Label>>) -> Vec<String> {
    de::label_names(labels, |l| l.name)
}

/// The only field read before deciding whether the delivery is one we act on.
#[derive(Deserialize)]
struct Head {
    action: Option<String>,
}

/// What an ignored delivery keeps: enough to log it and to order it with its
/// repository's other deliveries.
#[derive(Deserialize)]
struct Envelope {
    action: Option<String>,
    repository: Option<Repository>,
}

/// Events with a parser. For any other not even `action` is read, so an odd payload of
/// an event we ignore cannot become an error.
const KNOWN: &[&str] = &[
    "issues",
    "issue_comment",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "check_run",
    "check_suite",
    "status",
    "push",
    "installation",
    "installation_repositories",
    "ping",
];

pub fn parse(host: &str, event: &str, body: &[u8]) -> Result<Vec<ForgeEvent>, ParseError> {
    let d = Delivery { host, event, body };
    let parsed = if KNOWN.contains(&event) {
        let head: Head = d.read()?;
        parse_known(&d, head.action.as_deref())?
    } else {
        None
    };
    match parsed {
        Some(ev) => Ok(vec![ev]),
        None => de::ignored(
            event,
            body,
            || d.read::<Envelope>(),
            |env| (env.action, env.repository.map(|r| r.into_ref(host))),
        ),
    }
}

/// `None` means the delivery is of a kind we do not act on.
fn parse_known(d: &Delivery, action: Option<&str>) -> Result<Option<ForgeEvent>, ParseError> {
    match (d.event, action) {
        // These carry no action; one that does is still the same event.
        ("push", _) => push::push(d).map(Some),
        ("status", _) => ci::status(d).map(Some),
        ("ping", _) => app::ping(d).map(Some),
        (_, None) => Ok(None),
        ("issues", Some(a)) => issues::issue(d, a),
        ("issue_comment", Some(a)) => issues::comment(d, a),
        ("pull_request", Some(a)) => pulls::pull_request(d, a),
        ("pull_request_review", Some(a)) => pulls::review(d, a),
        ("pull_request_review_comment", Some(a)) => pulls::review_comment(d, a),
        ("check_run", Some(a)) => ci::check_run(d, a),
        ("check_suite", Some(a)) => ci::check_suite(d, a),
        ("installation", Some(a)) => app::installation(d, a).map(Some),
        ("installation_repositories", Some(a)) => app::installation_repositories(d, a).map(Some),
        _ => Ok(None),
    }
}
