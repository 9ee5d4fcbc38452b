//! Pull requests: opening, reviews and merging. A merge really happens in the bare
//! repository (see [`crate::git::merge`]) and is followed by the `push` GitHub sends
//! for the base branch and by closing the issues the description says it fixes.

use serde_json::json;

use super::{now, repo_of, require};
use crate::error::SimError;
use crate::git::{self, MergeMethod};
use crate::github::events::{self, RefUpdate};
use crate::world::{
    Issue, IssueState, Permission, PullRequest, Review, ReviewComment, ReviewState,
};
use crate::{Sim, ops::IssuePatch};

/// A pull request to open.
#[derive(Debug, Clone, Default)]
pub struct NewPull {
    pub title: String,
    pub body: Option<String>,
    pub head: String,
    pub base: String,
    pub draft: bool,
}

/// Fields a PATCH of a pull request may change.
#[derive(Debug, Clone, Default)]
pub struct PullPatch {
    pub title: Option<String>,
    pub body: Option<String>,
    pub state: Option<IssueState>,
}

/// Issue numbers a description closes on merge (`Fixes #12`, `closes #3`, ...).
fn closing_refs(body: &str) -> Vec<u64> {
    const KEYWORDS: [&str; 9] = [
        "close", "closes", "closed", "fix", "fixes", "fixed", "resolve", "resolves", "resolved",
    ];
    let words: Vec<&str> = body.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| KEYWORDS.contains(&w[0].trim_end_matches(':').to_ascii_lowercase().as_str()))
        .filter_map(|w| {
            w[1].trim_end_matches([',', '.', ';'])
                .strip_prefix('#')?
                .parse()
                .ok()
        })
        .collect()
}

impl Sim {
    /// Open a pull request from branch `head` into `base` (needs write, since the head
    /// branch lives in the same repository); returns its number.
    pub async fn open_pull(&self, actor: u64, repo: &str, new: NewPull) -> Result<u64, SimError> {
        let git_dir = {
            let world = self.world();
            let r = repo_of(&world, repo)?;
            require(&world, r, actor, Permission::Write)?;
            r.git_dir.clone()
        };
        let head_sha = git::rev_parse(&git_dir, &format!("refs/heads/{}", new.head)).await?;
        let base_sha = git::rev_parse(&git_dir, &format!("refs/heads/{}", new.base)).await?;
        let (Some(head_sha), Some(base_sha)) = (head_sha, base_sha) else {
            return Err(SimError::Invalid(
                "head or base branch does not exist".into(),
            ));
        };
        if new.title.trim().is_empty() {
            return Err(SimError::Invalid("title is missing".into()));
        }
        let number = {
            let mut world = self.world();
            let (issue_id, pr_id) = (world.next_id(), world.next_id());
            let r = world
                .repo_mut(repo)
                .ok_or_else(|| SimError::NoRepo(repo.to_owned()))?;
            if r.pulls.values().any(|p| {
                p.head_ref == new.head
                    && p.base_ref == new.base
                    && !p.merged
                    && r.issues[&p.number].state == IssueState::Open
            }) {
                return Err(SimError::Invalid(format!(
                    "A pull request already exists for {}:{}.",
                    r.owner, new.head
                )));
            }
            let number = r.next_number;
            r.next_number += 1;
            let t = now();
            r.issues.insert(
                number,
                Issue {
                    id: issue_id,
                    number,
                    title: new.title,
                    body: new.body,
                    state: IssueState::Open,
                    author: actor,
                    labels: Vec::new(),
                    comments: Vec::new(),
                    created_at: t,
                    updated_at: t,
                    closed_at: None,
                    closed_by: None,
                    is_pull: true,
                    timeline: Vec::new(),
                },
            );
            r.pulls.insert(
                number,
                PullRequest {
                    id: pr_id,
                    number,
                    head_ref: new.head,
                    base_ref: new.base,
                    head_sha,
                    base_sha,
                    draft: new.draft,
                    merged: false,
                    merged_at: None,
                    merged_by: None,
                    merge_commit_sha: None,
                    mergeable: None,
                    reviews: Vec::new(),
                    review_comments: Vec::new(),
                },
            );
            self.pull_event(&world, repo, number, "opened", actor, json!({}));
            number
        };
        self.refresh_mergeable(repo).await?;
        Ok(number)
    }

    /// Recompute whether each open pull request merges cleanly, after anything that
    /// moved a head or a base.
    pub(crate) async fn refresh_mergeable(&self, repo: &str) -> Result<(), SimError> {
        let (git_dir, open) = {
            let world = self.world();
            let r = repo_of(&world, repo)?;
            let open: Vec<(u64, String, String)> = r
                .pulls
                .values()
                .filter(|p| !p.merged && r.issues[&p.number].state == IssueState::Open)
                .map(|p| (p.number, p.base_ref.clone(), p.head_sha.clone()))
                .collect();
            (r.git_dir.clone(), open)
        };
        for (number, base, head) in open {
            let clean = git::merges_cleanly(&git_dir, &base, &head).await?;
            let mut world = self.world();
            if let Some(pr) = world.repo_mut(repo).and_then(|r| r.pulls.get_mut(&number))
                && pr.head_sha == head
            {
                pr.mergeable = Some(clean);
            }
        }
        Ok(())
    }

    /// Queue a `pull_request` event for `number` with `extra` top-level fields.
    pub(crate) fn pull_event(
        &self,
        world: &crate::world::World,
        repo: &str,
        number: u64,
        action: &str,
        actor: u64,
        extra: serde_json::Value,
    ) {
        let Some(r) = world.repo(repo) else { return };
        let (Some(issue), Some(pr)) = (r.issues.get(&number), r.pulls.get(&number)) else {
            return;
        };
        self.emit(
            r,
            "pull_request",
            events::pull_request(self.at(world, r), issue, pr, action, actor, extra),
        );
    }

    /// Edit a pull request's title, body or state (closing it without merging).
    pub fn edit_pull(
        &self,
        actor: u64,
        repo: &str,
        number: u64,
        patch: PullPatch,
    ) -> Result<(), SimError> {
        {
            let world = self.world();
            let r = repo_of(&world, repo)?;
            let pr = r.pulls.get(&number).ok_or(SimError::NoIssue(number))?;
            if pr.merged && patch.state == Some(IssueState::Open) {
                return Err(SimError::Invalid(
                    "Cannot reopen a merged pull request".into(),
                ));
            }
        }
        self.edit_issue(
            actor,
            repo,
            number,
            IssuePatch {
                title: patch.title,
                body: patch.body,
                state: patch.state,
                labels: None,
            },
        )
    }

    /// Submit a review (needs read; approvals from people without write count on GitHub
    /// only as comments, which the bot must judge itself, so they are kept as given).
    pub fn review(
        &self,
        actor: u64,
        repo: &str,
        number: u64,
        state: ReviewState,
        body: Option<&str>,
    ) -> Result<u64, SimError> {
        let mut world = self.world();
        let r = repo_of(&world, repo)?;
        require(&world, r, actor, Permission::Read)?;
        let pr = r.pulls.get(&number).ok_or(SimError::NoIssue(number))?;
        if r.issues[&number].author == actor && state != ReviewState::Commented {
            return Err(SimError::Invalid(
                "Can not approve or request changes on your own pull request".into(),
            ));
        }
        let commit_id = pr.head_sha.clone();
        let id = world.next_id();
        let review = Review {
            id,
            author: actor,
            state,
            body: body.map(str::to_owned),
            commit_id,
            submitted_at: now(),
        };
        let r = world.repo_mut(repo).expect("checked above");
        r.pulls
            .get_mut(&number)
            .expect("checked above")
            .reviews
            .push(review.clone());
        let r = world.repo(repo).expect("checked above");
        let (issue, pr) = (&r.issues[&number], &r.pulls[&number]);
        self.emit(
            r,
            "pull_request_review",
            events::pull_request_review(self.at(&world, r), issue, pr, &review),
        );
        Ok(id)
    }

    /// Comment on a line of a pull request's diff; returns the comment id. As on
    /// GitHub, a comment made on its own comes in a review of its own (state
    /// `COMMENTED`, empty body), so it is announced twice: `pull_request_review_comment`
    /// and `pull_request_review`. GitLab diff notes (which call this too) have no review.
    pub fn review_comment(
        &self,
        actor: u64,
        repo: &str,
        number: u64,
        path: &str,
        line: u64,
        body: &str,
    ) -> Result<u64, SimError> {
        let mut world = self.world();
        let r = repo_of(&world, repo)?;
        require(&world, r, actor, Permission::Read)?;
        let commit_id = r
            .pulls
            .get(&number)
            .ok_or(SimError::NoIssue(number))?
            .head_sha
            .clone();
        if body.is_empty() {
            return Err(SimError::Invalid("body is missing".into()));
        }
        let t = now();
        let on_github = !world.gitlab.contains_key(&r.id);
        let review = on_github.then(|| Review {
            id: world.next_id(),
            author: actor,
            state: ReviewState::Commented,
            body: Some(String::new()),
            commit_id: commit_id.clone(),
            submitted_at: t,
        });
        let id = world.next_id();
        let comment = ReviewComment {
            id,
            review_id: review.as_ref().map(|r| r.id),
            author: actor,
            body: body.to_owned(),
            path: path.to_owned(),
            line: Some(line),
            commit_id,
            created_at: t,
            updated_at: t,
        };
        let r = world.repo_mut(repo).expect("checked above");
        let pr = r.pulls.get_mut(&number).expect("checked above");
        pr.reviews.extend(review.clone());
        pr.review_comments.push(comment.clone());
        let r = world.repo(repo).expect("checked above");
        let (issue, pr) = (&r.issues[&number], &r.pulls[&number]);
        let at = self.at(&world, r);
        let payload = events::pull_request_review_comment(at, issue, pr, &comment, "created");
        self.emit(r, "pull_request_review_comment", payload);
        if let Some(review) = &review {
            let payload = events::pull_request_review(at, issue, pr, review);
            self.emit(r, "pull_request_review", payload);
        }
        Ok(id)
    }

    /// Merge like the merge button: needs write, an open unmerged PR, the head still at
    /// `expected_sha` when given (409 otherwise), every required status check of a
    /// protected base passing, and no conflict (405 otherwise). Returns the new commit.
    pub async fn merge_pull(
        &self,
        actor: u64,
        repo: &str,
        number: u64,
        method: MergeMethod,
        expected_sha: Option<&str>,
        message: Option<String>,
    ) -> Result<String, SimError> {
        let (git_dir, base, head_sha, default_message) = {
            let world = self.world();
            let r = repo_of(&world, repo)?;
            require(&world, r, actor, Permission::Write)?;
            let pr = r.pulls.get(&number).ok_or(SimError::NoIssue(number))?;
            let issue = &r.issues[&number];
            if pr.merged || issue.state != IssueState::Open {
                return Err(SimError::NotMergeable("pull request is closed".into()));
            }
            if let Some(expected) = expected_sha.filter(|s| *s != pr.head_sha) {
                return Err(SimError::HeadMoved {
                    expected: expected.to_owned(),
                    actual: pr.head_sha.clone(),
                });
            }
            if let Some(required) = r.protection.get(&pr.base_ref) {
                for context in required {
                    if !self.check_passed(r, &pr.head_sha, context) {
                        return Err(SimError::NotMergeable(format!(
                            "required status check \"{context}\" is expected"
                        )));
                    }
                }
            }
            let default_message = match method {
                MergeMethod::Merge => format!(
                    "Merge pull request #{number} from {}/{}\n\n{}",
                    r.owner, pr.head_ref, issue.title
                ),
                _ => format!("{} (#{number})", issue.title),
            };
            (
                r.git_dir.clone(),
                pr.base_ref.clone(),
                pr.head_sha.clone(),
                default_message,
            )
        };
        let before = git::rev_parse(&git_dir, &format!("refs/heads/{base}")).await?;
        let sig = {
            let world = self.world();
            let login = world.login(actor).to_owned();
            git::Signature {
                email: format!("{login}@users.noreply.sim"),
                name: login,
            }
        };
        let sha = match git::merge(
            &git_dir,
            &base,
            &head_sha,
            method,
            &message.unwrap_or(default_message),
            &sig,
        )
        .await
        {
            Ok(sha) => sha,
            Err(git::GitError::Conflict) => {
                return Err(SimError::NotMergeable("merge conflict".into()));
            }
            Err(e) => return Err(e.into()),
        };
        let commits = git::new_commits(&git_dir, before.as_slice(), &sha).await?;
        let closes = {
            let mut world = self.world();
            let t = now();
            // GitLab's `#n` names issue iids, so a GitLab merge closes them itself.
            let gitlab = world
                .repo_id(repo)
                .is_some_and(|id| world.gitlab.contains_key(&id));
            let r = world
                .repo_mut(repo)
                .expect("repositories are never deleted");
            let pr = r.pulls.get_mut(&number).expect("checked above");
            pr.merged = true;
            pr.merged_at = Some(t);
            pr.merged_by = Some(actor);
            pr.merge_commit_sha = Some(sha.clone());
            let into_default = pr.base_ref == r.default_branch && !gitlab;
            let issue = r.issues.get_mut(&number).expect("checked above");
            issue.state = IssueState::Closed;
            issue.closed_at = Some(t);
            issue.closed_by = Some(actor);
            issue.updated_at = t;
            let closes = if into_default {
                closing_refs(issue.body.as_deref().unwrap_or_default())
            } else {
                Vec::new()
            };
            self.pull_event(&world, repo, number, "closed", actor, json!({}));
            let update = RefUpdate {
                name: format!("refs/heads/{base}"),
                before,
                after: Some(sha.clone()),
                forced: false,
            };
            let r = world.repo(repo).expect("checked above");
            self.emit(
                r,
                "push",
                events::push(self.at(&world, r), &update, &commits, actor),
            );
            closes
        };
        self.refresh_mergeable(repo).await?;
        for n in closes {
            let open = self
                .world()
                .repo(repo)
                .and_then(|r| r.issues.get(&n))
                .is_some_and(|i| i.state == IssueState::Open && !i.is_pull);
            if open {
                self.edit_issue(
                    actor,
                    repo,
                    n,
                    IssuePatch {
                        state: Some(IssueState::Closed),
                        ..Default::default()
                    },
                )?;
            }
        }
        Ok(sha)
    }
}

#[cfg(test)]
mod tests {
    use super::closing_refs;

    #[test]
    fn closing_keywords_name_the_issues_a_merge_closes() {
        assert_eq!(
            closing_refs("Fixes #12, and closes #3.\nSee #4"),
            vec![12, 3]
        );
        assert!(closing_refs("mentions #5 only").is_empty());
    }
}
