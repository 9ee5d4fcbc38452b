//! Award emoji (GitLab's reactions) on notes: an issue's notes, a merge request's notes
//! and its diff notes, addressed through the issue or merge request `iid`. A person
//! gives an emoji once per note: GitLab refuses a second with a 404 ("Award Emoji Name
//! has already been taken"), and only the person who gave one may take it back (401
//! otherwise). System notes take no awards. Awards send no hooks.

use super::project_of;
use crate::Sim;
use crate::error::SimError;
use crate::ops::now;
use crate::world::Reaction;

/// Why GitLab refuses an award; the REST layer turns each into GitLab's answer.
#[derive(Debug, thiserror::Error)]
pub enum AwardRefusal {
    /// 404 "Award Emoji Name has already been taken": the actor gave this one already.
    #[error("Name has already been taken")]
    Taken,
    /// 404 "Award Emoji <reason>": a system note, or a name that is no emoji.
    #[error("{0}")]
    Refused(String),
    /// 401: someone else's award.
    #[error("401 Unauthorized")]
    Unauthorized,
    #[error(transparent)]
    Other(#[from] SimError),
}

/// A name as GitLab's emoji names are spelled (`thumbsup`, `white_check_mark`, `+1`).
fn emoji_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_+-".contains(&b))
}

impl Sim {
    /// Note `note` of issue `iid` (of merge request `iid` when `mr`): whether it is a
    /// system note, or not found when the issue or merge request has no such note.
    fn gl_awardable(&self, path: &str, iid: u64, mr: bool, note: u64) -> Result<bool, SimError> {
        let number = self.gitlab_number(path, iid, mr)?;
        let world = self.world();
        let (r, gl) = project_of(&world, path)?;
        let person = r
            .issues
            .get(&number)
            .is_some_and(|i| i.comments.iter().any(|c| c.id == note))
            || (mr
                && r.pulls
                    .get(&number)
                    .is_some_and(|p| p.review_comments.iter().any(|c| c.id == note)));
        if person {
            return Ok(false);
        }
        let system = gl
            .system_notes
            .get(&number)
            .is_some_and(|n| n.iter().any(|c| c.id == note));
        if system {
            Ok(true)
        } else {
            Err(SimError::NotFound(format!("note {note}")))
        }
    }

    /// Award emoji `name` on a note, as `POST .../notes/:note_id/award_emoji` does:
    /// anyone signed in may, once per name.
    pub fn gl_award(
        &self,
        actor: u64,
        path: &str,
        iid: u64,
        mr: bool,
        note: u64,
        name: &str,
    ) -> Result<Reaction, AwardRefusal> {
        if self.gl_awardable(path, iid, mr, note)? {
            return Err(AwardRefusal::Refused(
                "Awardable cannot be awarded emoji".into(),
            ));
        }
        if !emoji_name(name) {
            return Err(AwardRefusal::Refused(
                "Name is not a valid emoji name".into(),
            ));
        }
        let mut world = self.world();
        let r = world
            .repo(path)
            .ok_or_else(|| SimError::NoRepo(path.to_owned()))?;
        let taken = r
            .reactions
            .get(&note)
            .is_some_and(|rs| rs.iter().any(|x| x.user == actor && x.content == name));
        if taken {
            return Err(AwardRefusal::Taken);
        }
        let award = Reaction {
            id: world.next_id(),
            user: actor,
            content: name.to_owned(),
            created_at: now(),
        };
        world
            .repo_mut(path)
            .expect("checked above")
            .reactions
            .entry(note)
            .or_default()
            .push(award.clone());
        Ok(award)
    }

    /// Take award `award` off a note, as `DELETE .../award_emoji/:award_id` does: only
    /// its giver may.
    pub fn gl_unaward(
        &self,
        actor: u64,
        path: &str,
        iid: u64,
        mr: bool,
        note: u64,
        award: u64,
    ) -> Result<(), AwardRefusal> {
        self.gl_awardable(path, iid, mr, note)?;
        let mut world = self.world();
        let r = world
            .repo_mut(path)
            .ok_or_else(|| SimError::NoRepo(path.to_owned()))?;
        let list = r.reactions.entry(note).or_default();
        let Some(at) = list.iter().position(|x| x.id == award) else {
            if list.is_empty() {
                r.reactions.remove(&note);
            }
            return Err(SimError::NotFound(format!("award {award}")).into());
        };
        if list[at].user != actor {
            return Err(AwardRefusal::Unauthorized);
        }
        list.remove(at);
        if list.is_empty() {
            r.reactions.remove(&note);
        }
        Ok(())
    }

    /// The awards on a note, oldest first.
    pub fn gl_awards(
        &self,
        path: &str,
        iid: u64,
        mr: bool,
        note: u64,
    ) -> Result<Vec<Reaction>, SimError> {
        self.gl_awardable(path, iid, mr, note)?;
        let world = self.world();
        let (r, _) = project_of(&world, path)?;
        Ok(r.reactions.get(&note).cloned().unwrap_or_default())
    }
}
