//! GitLab project webhooks: the `X-Gitlab-Event` header names the hook, the payload's
//! `object_kind` its shape, and `object_attributes.action` what happened.
//!
//! As for GitHub, only what identifies an event is required (project, iid, user) and
//! everything else may be absent or null. GitLab "numbers" are `iid`s: the per-project
//! number shown in the UI, not the instance-wide `id`.

mod issues;
mod merge_requests;
mod notes;
mod pipeline;

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::ParseError;
use crate::de::{self, Delivery, missing};
use crate::event::{Actor, ForgeEvent, ForgeKind, PushEvent, RepoRef};

#[derive(Deserialize)]
struct Project {
    path_with_namespace: String,
    id: Option<u64>,
    default_branch: Option<String>,
    web_url: Option<String>,
}

impl Project {
    fn into_ref(self, host: &str) -> RepoRef {
        RepoRef {
            forge: ForgeKind::GitLab,
            host: de::web_host(self.web_url.as_deref(), host),
            path: self.path_with_namespace,
            id: self.id,
            default_branch: self.default_branch,
        }
    }
}

#[derive(Deserialize)]
struct User {
    username: String,
    id: Option<u64>,
}

impl From<User> for Actor {
    fn from(u: User) -> Self {
        Actor {
            bot: is_token_user(&u.username),
            login: u.username,
            id: u.id,
        }
    }
}

/// GitLab names the users of project and group access tokens `project_<id>_bot…` and
/// `group_<id>_bot…`: automations, whatever their display name says.
fn is_token_user(username: &str) -> bool {
    ["project_", "group_"].iter().any(|prefix| {
        username.strip_prefix(prefix).is_some_and(|rest| {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            digits > 0 && rest[digits..].starts_with("_bot")
        })
    })
}

#[derive(Deserialize)]
struct Label {
    title: Option<String>,
}

fn label_titles(labels: Option<Vec<Label>>) -> Vec<String> {
    de::label_names(labels, |l| l.title)
}

/// What is read before deciding whether to act on a delivery. `A` is the few
/// `object_attributes` the hook's decision needs.
#[derive(Deserialize)]
struct Head<A> {
    object_kind: Option<String>,
    object_attributes: Option<A>,
}

impl<A> Head<A> {
    /// A header that does not match the body (a misconfigured proxy, a hook kind GitLab
    /// has since split in two) is something we do not understand, so not something to
    /// act on. An absent `object_kind` is trusted to match.
    fn is_kind(&self, kinds: &[&str]) -> bool {
        self.object_kind
            .as_deref()
            .is_none_or(|k| kinds.contains(&k))
    }
}

#[derive(Deserialize)]
struct ActionOnly {
    action: Option<String>,
}

/// What an ignored delivery keeps: enough to log it and to order it with its
/// project's other deliveries.
#[derive(Deserialize)]
struct Envelope {
    object_attributes: Option<ActionOnly>,
    project: Option<Project>,
}

/// An issue or MR's iid. Some payloads (group hooks in the wild) lose it but keep the
/// URL, which always ends in the iid.
fn iid(d: &Delivery, iid: Option<u64>, url: Option<&str>, path: &str) -> Result<u64, ParseError> {
    iid.or_else(|| {
        let url = url?.split(['?', '#']).next()?;
        url.trim_end_matches('/').rsplit('/').next()?.parse().ok()
    })
    .ok_or_else(|| missing(d.event, path))
}

pub fn parse(host: &str, event: &str, body: &[u8]) -> Result<Vec<ForgeEvent>, ParseError> {
    let d = Delivery { host, event, body };
    let parsed = match event {
        "Issue Hook" | "Confidential Issue Hook" => issues::issue(&d)?,
        "Note Hook" | "Confidential Note Hook" => notes::note(&d)?.map(|e| vec![e]),
        "Merge Request Hook" => merge_requests::merge_request(&d)?.map(|e| vec![e]),
        "Pipeline Hook" => pipeline::pipeline(&d)?.map(|e| vec![e]),
        "Push Hook" => push(&d)?.map(|e| vec![e]),
        _ => None,
    };
    match parsed {
        Some(events) => Ok(events),
        None => de::ignored(
            event,
            body,
            || d.read::<Envelope>(),
            |env| {
                (
                    env.object_attributes.and_then(|a| a.action),
                    env.project.map(|p| p.into_ref(host)),
                )
            },
        ),
    }
}

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    before: Option<String>,
    after: Option<String>,
    user_username: String,
    user_id: Option<u64>,
    /// GitLab lists at most 20 commits; this is the real count.
    total_commits_count: Option<usize>,
    commits: Option<Vec<IgnoredAny>>,
    project: Project,
}

fn push(d: &Delivery) -> Result<Option<ForgeEvent>, ParseError> {
    if !d.read::<Head<IgnoredAny>>()?.is_kind(&["push"]) {
        return Ok(None);
    }
    let p: PushPayload = d.read()?;
    Ok(Some(ForgeEvent::Push(PushEvent {
        repo: p.project.into_ref(d.host),
        actor: Actor {
            bot: is_token_user(&p.user_username),
            login: p.user_username,
            id: p.user_id,
        },
        git_ref: p.git_ref,
        before: p.before.unwrap_or_default(),
        after: p.after.unwrap_or_default(),
        commit_count: p
            .total_commits_count
            .or(p.commits.map(|c| c.len()))
            .unwrap_or(0),
    })))
}
