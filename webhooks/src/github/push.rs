//! `push`.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{Repository, User};
use crate::ParseError;
use crate::de::Delivery;
use crate::event::{ForgeEvent, PushEvent};

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    before: Option<String>,
    after: Option<String>,
    /// Only counted: GitHub caps the list at 20 and the bot re-reads history anyway.
    commits: Option<Vec<IgnoredAny>>,
    repository: Repository,
    sender: User,
}

pub(super) fn push(d: &Delivery) -> Result<ForgeEvent, ParseError> {
    let p: PushPayload = d.read()?;
    Ok(ForgeEvent::Push(PushEvent {
        repo: p.repository.into_ref(d.host),
        actor: p.sender.into(),
        git_ref: p.git_ref,
        before: p.before.unwrap_or_default(),
        after: p.after.unwrap_or_default(),
        commit_count: p.commits.map_or(0, |c| c.len()),
    }))
}
