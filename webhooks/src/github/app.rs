//! `installation`, `installation_repositories` and `ping`: deliveries about the hook or
//! the GitHub App rather than about a repository's content.

use serde::Deserialize;

use super::{Repository, User};
use crate::ParseError;
use crate::de::Delivery;
use crate::event::{ForgeEvent, InstallationEvent, PingEvent};

#[derive(Deserialize)]
struct Installation {
    id: u64,
    account: Option<Account>,
}

#[derive(Deserialize)]
struct Account {
    /// Users and organizations have `login`; enterprises only `slug`/`name`.
    login: Option<String>,
    slug: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct RepoName {
    full_name: Option<String>,
}

fn full_names(lists: [Option<Vec<RepoName>>; 2]) -> Vec<String> {
    lists
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|r| r.full_name)
        .collect()
}

fn event(action: &str, sender: User, inst: Installation, repositories: Vec<String>) -> ForgeEvent {
    let account = inst
        .account
        .and_then(|a| a.login.or(a.slug).or(a.name))
        .unwrap_or_default();
    ForgeEvent::Installation(InstallationEvent {
        actor: sender.into(),
        installation_id: inst.id,
        account,
        action: action.to_owned(),
        repositories,
    })
}

#[derive(Deserialize)]
struct InstallationPayload {
    installation: Installation,
    repositories: Option<Vec<RepoName>>,
    sender: User,
}

pub(super) fn installation(d: &Delivery, action: &str) -> Result<ForgeEvent, ParseError> {
    let p: InstallationPayload = d.read()?;
    let repos = full_names([p.repositories, None]);
    Ok(event(action, p.sender, p.installation, repos))
}

#[derive(Deserialize)]
struct InstallationReposPayload {
    installation: Installation,
    repositories_added: Option<Vec<RepoName>>,
    repositories_removed: Option<Vec<RepoName>>,
    sender: User,
}

/// The action (`added`/`removed`) says which way the listed repositories moved.
pub(super) fn installation_repositories(
    d: &Delivery,
    action: &str,
) -> Result<ForgeEvent, ParseError> {
    let p: InstallationReposPayload = d.read()?;
    let repos = full_names([p.repositories_added, p.repositories_removed]);
    Ok(event(action, p.sender, p.installation, repos))
}

#[derive(Deserialize)]
struct PingPayload {
    zen: Option<String>,
    hook_id: Option<u64>,
    hook: Option<Hook>,
    repository: Option<Repository>,
}

#[derive(Deserialize)]
struct Hook {
    id: Option<u64>,
}

/// Organization and App hooks are pinged without a repository.
pub(super) fn ping(d: &Delivery) -> Result<ForgeEvent, ParseError> {
    let p: PingPayload = d.read()?;
    Ok(ForgeEvent::Ping(PingEvent {
        repo: p.repository.map(|r| r.into_ref(d.host)),
        hook_id: p.hook_id.or(p.hook.and_then(|h| h.id)),
        zen: p.zen,
    }))
}
