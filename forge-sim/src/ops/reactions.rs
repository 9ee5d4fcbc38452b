//! Reactions on GitHub comments: on an issue (or pull request conversation) comment, or
//! on a review comment on a pull request's diff. GitHub keeps one reaction of a kind
//! per person per comment: reacting again answers the one already there. Reactions
//! send no webhooks.

use super::{now, repo_of};
use crate::Sim;
use crate::error::SimError;
use crate::world::{Reaction, Repo};

/// The reaction `content`s GitHub offers; anything else is a 422.
pub const GITHUB_REACTIONS: [&str; 8] = [
    "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes",
];

/// Whether comment `id` is in `repo`: a review comment (`on_diff`) or an issue comment.
fn has_comment(repo: &Repo, id: u64, on_diff: bool) -> bool {
    if on_diff {
        repo.review_comment_number(id).is_some()
    } else {
        repo.comment_number(id).is_some()
    }
}

impl Sim {
    /// React to a comment (a review comment when `on_diff`) as
    /// `POST .../comments/{id}/reactions` does: anyone signed in may. Returns the
    /// reaction and whether it is new; the actor's reaction of that content already
    /// there is answered instead of a second one.
    pub fn react(
        &self,
        actor: u64,
        repo: &str,
        comment: u64,
        on_diff: bool,
        content: &str,
    ) -> Result<(Reaction, bool), SimError> {
        let mut world = self.world();
        let r = repo_of(&world, repo)?;
        if !has_comment(r, comment, on_diff) {
            return Err(SimError::NotFound(format!("comment {comment}")));
        }
        if !GITHUB_REACTIONS.contains(&content) {
            return Err(SimError::Invalid(format!(
                "{content:?} is not a reaction content"
            )));
        }
        if let Some(existing) = r
            .reactions
            .get(&comment)
            .and_then(|rs| rs.iter().find(|x| x.user == actor && x.content == content))
        {
            return Ok((existing.clone(), false));
        }
        let reaction = Reaction {
            id: world.next_id(),
            user: actor,
            content: content.to_owned(),
            created_at: now(),
        };
        world
            .repo_mut(repo)
            .expect("checked above")
            .reactions
            .entry(comment)
            .or_default()
            .push(reaction.clone());
        Ok((reaction, true))
    }

    /// Delete a reaction as `DELETE .../comments/{id}/reactions/{reaction_id}` does: only
    /// the actor's own; anyone else's, like one that is not there, is not found.
    pub fn unreact(
        &self,
        actor: u64,
        repo: &str,
        comment: u64,
        on_diff: bool,
        reaction: u64,
    ) -> Result<(), SimError> {
        let mut world = self.world();
        let r = repo_of(&world, repo)?;
        if !has_comment(r, comment, on_diff) {
            return Err(SimError::NotFound(format!("comment {comment}")));
        }
        let r = world.repo_mut(repo).expect("checked above");
        let list = r.reactions.entry(comment).or_default();
        let before = list.len();
        list.retain(|x| !(x.id == reaction && x.user == actor));
        let removed = list.len() < before;
        if list.is_empty() {
            r.reactions.remove(&comment);
        }
        if removed {
            Ok(())
        } else {
            Err(SimError::NotFound(format!("reaction {reaction}")))
        }
    }

    /// The reactions on a comment (a review comment when `on_diff`), oldest first.
    pub fn reactions_on(
        &self,
        repo: &str,
        comment: u64,
        on_diff: bool,
    ) -> Result<Vec<Reaction>, SimError> {
        let world = self.world();
        let r = repo_of(&world, repo)?;
        if !has_comment(r, comment, on_diff) {
            return Err(SimError::NotFound(format!("comment {comment}")));
        }
        Ok(r.reactions.get(&comment).cloned().unwrap_or_default())
    }
}
