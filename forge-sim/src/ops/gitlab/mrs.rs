//! GitLab merge requests: open, edit, approve and unapprove, line comments (`DiffNote`),
//! merge, and what a push to a source branch does (an MR `update` with `oldrev`). The
//! merge really happens in the bare repository through [`crate::Sim::merge_pull`], with
//! GitLab's own refusals checked first.

use serde_json::json;

use super::{project_mut, project_of};
use crate::error::SimError;
use crate::git::{self, CommitInfo, MergeMethod};
use crate::github::events::RefUpdate;
use crate::gitlab::events::{self, Noteable};
use crate::ops::gitlab::issues::GlIssueEdit;
use crate::ops::{NewPull, PullPatch, repo_of, require};
use crate::world::{IssueState, Permission, ReviewState};
use crate::{Sim, ops};

/// Why GitLab refuses a merge; the REST layer turns each into GitLab's status.
#[derive(Debug, thiserror::Error)]
pub enum MergeRefusal {
    /// 401: the caller may not merge.
    #[error("401 Unauthorized")]
    Unauthorized,
    /// 405: closed, merged, draft, or the pipeline has not succeeded.
    #[error("{0}")]
    NotAllowed(String),
    /// 406: conflicts.
    #[error("Branch cannot be merged")]
    Conflict,
    /// 409: `sha` is not the source branch's head.
    #[error("SHA does not match HEAD of source branch: {0}")]
    ShaMismatch(String),
    #[error(transparent)]
    Other(#[from] SimError),
}

/// Issue iids a description closes (`Closes #3`, `fixes #4`), as GitLab reads them.
fn closing_iids(body: &str) -> Vec<u64> {
    const KEYWORDS: [&str; 12] = [
        "close",
        "closes",
        "closed",
        "closing",
        "fix",
        "fixes",
        "fixed",
        "fixing",
        "resolve",
        "resolves",
        "resolved",
        "resolving",
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
    /// Send a `Merge Request Hook` for world number `number`.
    pub(crate) fn gl_mr_event(
        &self,
        path: &str,
        number: u64,
        action: &str,
        actor: u64,
        oldrev: Option<&str>,
        head: Option<&CommitInfo>,
    ) {
        self.gl_mr_event_with(path, number, action, actor, oldrev, head, json!({}));
    }

    /// [`Self::gl_mr_event`] listing `changes` (`{field: {previous, current}}`).
    #[allow(clippy::too_many_arguments)]
    fn gl_mr_event_with(
        &self,
        path: &str,
        number: u64,
        action: &str,
        actor: u64,
        oldrev: Option<&str>,
        head: Option<&CommitInfo>,
        changes: serde_json::Value,
    ) {
        let world = self.world();
        let Some(at) = self.at_gitlab(&world, path) else {
            return;
        };
        let (Some(i), Some(pr), Some(iid)) = (
            at.repo.issues.get(&number),
            at.repo.pulls.get(&number),
            at.gl.mr_iid(number),
        ) else {
            return;
        };
        let payload = events::merge_request(at, iid, i, pr, head, action, actor, changes, oldrev);
        self.emit_gitlab(&world, path, "Merge Request Hook", payload);
    }

    async fn head_commit(&self, path: &str, sha: &str) -> Option<CommitInfo> {
        let dir = repo_of(&self.world(), path).ok()?.git_dir.clone();
        git::commit(&dir, sha).await.ok().flatten()
    }

    /// Open a merge request from `source` into `target` (needs developer); its iid.
    pub async fn gl_open_mr(
        &self,
        actor: u64,
        path: &str,
        source: &str,
        target: &str,
        title: &str,
        description: Option<&str>,
    ) -> Result<u64, SimError> {
        project_of(&self.world(), path)?;
        let new = NewPull {
            title: title.to_owned(),
            body: description.map(str::to_owned),
            head: source.to_owned(),
            base: target.to_owned(),
            draft: title.starts_with("Draft:"),
        };
        let number = self.open_pull(actor, path, new).await?;
        let (iid, head) = {
            let mut world = self.world();
            let gl = project_mut(&mut world, path)?;
            let iid = gl.mrs.keys().next_back().copied().unwrap_or(0) + 1;
            gl.mrs.insert(iid, number);
            let head = world.repo(path).map(|r| r.pulls[&number].head_sha.clone());
            (iid, head.unwrap_or_default())
        };
        let head = self.head_commit(path, &head).await;
        self.gl_mr_event(path, number, "open", actor, None, head.as_ref());
        Ok(iid)
    }

    /// Edit an MR's title, description or state (`close`/`reopen`); one hook.
    pub fn gl_edit_mr(
        &self,
        actor: u64,
        path: &str,
        iid: u64,
        edit: GlIssueEdit,
    ) -> Result<(), SimError> {
        let number = self.gitlab_number(path, iid, true)?;
        let before = self
            .world()
            .repo(path)
            .and_then(|r| r.issues.get(&number).cloned())
            .ok_or(SimError::NoIssue(iid))?;
        self.edit_pull(
            actor,
            path,
            number,
            PullPatch {
                title: edit.title,
                body: edit.description,
                state: edit.state,
            },
        )?;
        let after = self
            .world()
            .repo(path)
            .and_then(|r| r.issues.get(&number).cloned())
            .ok_or(SimError::NoIssue(iid))?;
        let action = match (before.state, after.state) {
            (IssueState::Open, IssueState::Closed) => "close",
            (IssueState::Closed, IssueState::Open) => "reopen",
            _ if before.title == after.title && before.body == after.body => return Ok(()),
            _ => "update",
        };
        let mut changes = serde_json::Map::new();
        if before.title != after.title {
            changes.insert(
                "title".into(),
                json!({"previous": before.title, "current": after.title}),
            );
        }
        if before.body != after.body {
            changes.insert(
                "description".into(),
                json!({"previous": before.body, "current": after.body}),
            );
        }
        if before.state != after.state {
            let id = |s: IssueState| if s == IssueState::Open { 1 } else { 2 };
            changes.insert(
                "state_id".into(),
                json!({"previous": id(before.state), "current": id(after.state)}),
            );
        }
        let changes = serde_json::Value::Object(changes);
        self.gl_mr_event_with(path, number, action, actor, None, None, changes);
        Ok(())
    }

    /// Approve (needs developer; not the author; once). `sha` must be the head if given.
    pub fn gl_approve(
        &self,
        actor: u64,
        path: &str,
        iid: u64,
        sha: Option<&str>,
    ) -> Result<(), MergeRefusal> {
        let number = self.gitlab_number(path, iid, true)?;
        {
            let mut world = self.world();
            let (r, gl) = project_of(&world, path)?;
            let pr = &r.pulls[&number];
            if let Some(sha) = sha.filter(|s| *s != pr.head_sha) {
                return Err(MergeRefusal::ShaMismatch(sha.to_owned()));
            }
            let already = gl
                .approvals
                .get(&number)
                .is_some_and(|a| a.contains(&actor));
            if require(&world, r, actor, Permission::Write).is_err()
                || r.issues[&number].author == actor
                || already
            {
                return Err(MergeRefusal::Unauthorized);
            }
            let id = world.next_id();
            let commit_id = world.repo(path).expect("checked").pulls[&number]
                .head_sha
                .clone();
            project_mut(&mut world, path)?
                .approvals
                .entry(number)
                .or_default()
                .push(actor);
            // Also a review in the neutral world, for assertions that read reviews.
            if let Some(pr) = world.repo_mut(path).and_then(|r| r.pulls.get_mut(&number)) {
                pr.reviews.push(crate::world::Review {
                    id,
                    author: actor,
                    state: ReviewState::Approved,
                    body: None,
                    commit_id,
                    submitted_at: ops::now(),
                });
            }
        }
        self.system_note(path, number, actor, "approved this merge request");
        self.gl_mr_event(path, number, "approved", actor, None, None);
        Ok(())
    }

    /// Withdraw one's approval; 404 when there is none.
    pub fn gl_unapprove(&self, actor: u64, path: &str, iid: u64) -> Result<(), SimError> {
        let number = self.gitlab_number(path, iid, true)?;
        {
            let mut world = self.world();
            let gl = project_mut(&mut world, path)?;
            let list = gl.approvals.entry(number).or_default();
            let before = list.len();
            list.retain(|u| *u != actor);
            if list.len() == before {
                return Err(SimError::NotFound(format!("approval by {actor}")));
            }
            if let Some(pr) = world.repo_mut(path).and_then(|r| r.pulls.get_mut(&number)) {
                pr.reviews
                    .retain(|r| !(r.author == actor && r.state == ReviewState::Approved));
            }
        }
        self.system_note(path, number, actor, "unapproved this merge request");
        self.gl_mr_event(path, number, "unapproved", actor, None, None);
        Ok(())
    }

    /// A line comment on the MR's diff (a `DiffNote`); returns the note id.
    pub fn gl_diff_note(
        &self,
        actor: u64,
        path: &str,
        iid: u64,
        file: &str,
        line: u64,
        body: &str,
    ) -> Result<u64, SimError> {
        let number = self.gitlab_number(path, iid, true)?;
        let id = self.review_comment(actor, path, number, file, line, body)?;
        let world = self.world();
        if let Some(at) = self.at_gitlab(&world, path) {
            let (i, pr) = (&at.repo.issues[&number], &at.repo.pulls[&number]);
            if let Some(c) = pr.review_comments.iter().find(|c| c.id == id) {
                let note = crate::world::Comment {
                    id: c.id,
                    author: c.author,
                    body: c.body.clone(),
                    created_at: c.created_at,
                    updated_at: c.updated_at,
                };
                let on = Noteable::MergeRequest(iid, i, pr, None);
                let payload = events::note(at, on, &note, Some(c), "create");
                self.emit_gitlab(&world, path, "Note Hook", payload);
            }
        }
        Ok(id)
    }

    /// Accept a merge request like `PUT .../merge`: GitLab's refusals first (401, 405
    /// closed/draft/pipeline, 409 sha), then a real merge (406 on conflict), then the
    /// `merge` hook, the target's `Push Hook` and closing the issues it names. With
    /// `squash`, as on GitLab with the "Merge commit" method, the source is squashed onto
    /// its merge base and that commit is merged with a merge commit.
    pub async fn gl_merge(
        &self,
        actor: u64,
        path: &str,
        iid: u64,
        squash: bool,
        sha: Option<&str>,
    ) -> Result<String, MergeRefusal> {
        let number = self.gitlab_number(path, iid, true)?;
        let (dir, target, message, squash_message, head, closes) = {
            let world = self.world();
            let (r, gl) = project_of(&world, path)?;
            if require(&world, r, actor, Permission::Write).is_err() {
                return Err(MergeRefusal::Unauthorized);
            }
            let (i, pr) = (&r.issues[&number], &r.pulls[&number]);
            if pr.merged || i.state != IssueState::Open {
                return Err(MergeRefusal::NotAllowed("405 Method Not Allowed".into()));
            }
            if pr.draft || i.title.starts_with("Draft:") {
                return Err(MergeRefusal::NotAllowed("405 Method Not Allowed".into()));
            }
            if let Some(sha) = sha.filter(|s| *s != pr.head_sha) {
                return Err(MergeRefusal::ShaMismatch(sha.to_owned()));
            }
            if gl.only_allow_merge_if_pipeline_succeeds
                && gl.latest_pipeline(&pr.head_sha).map(|p| p.status.as_str()) != Some("success")
            {
                return Err(MergeRefusal::NotAllowed("405 Method Not Allowed".into()));
            }
            // The project's merge method is "Merge commit": a squash is a squash commit
            // (titled by the MR) merged by the usual merge commit.
            let message = format!(
                "Merge branch '{}' into '{}'\n\n{}\n\nSee merge request {}!{iid}",
                pr.head_ref,
                pr.base_ref,
                i.title,
                r.full_name()
            );
            let closes = if pr.base_ref == r.default_branch {
                closing_iids(i.body.as_deref().unwrap_or_default())
            } else {
                Vec::new()
            };
            (
                r.git_dir.clone(),
                pr.base_ref.clone(),
                message,
                i.title.clone(),
                pr.head_sha.clone(),
                closes,
            )
        };
        let before = git::rev_parse(&dir, &format!("refs/heads/{target}"))
            .await
            .map_err(SimError::from)?;
        let squashed = if squash {
            let sig = {
                let world = self.world();
                let login = world.login(actor).to_owned();
                git::Signature {
                    email: format!("{login}@users.noreply.sim"),
                    name: login,
                }
            };
            Some(
                squash_commit(&dir, &target, &head, &squash_message, &sig)
                    .await
                    .map_err(SimError::from)?,
            )
        } else {
            None
        };
        let merged = match &squashed {
            None => {
                self.merge_pull(actor, path, number, MergeMethod::Merge, None, Some(message))
                    .await
            }
            Some(commit) => {
                // Merge the squash commit in the source's place, then put the source back.
                self.set_pull_head(path, number, commit);
                let merged = self
                    .merge_pull(actor, path, number, MergeMethod::Merge, None, Some(message))
                    .await;
                self.set_pull_head(path, number, &head);
                merged
            }
        };
        let new = match merged {
            Ok(sha) => sha,
            Err(SimError::NotMergeable(m)) if m.contains("conflict") => {
                return Err(MergeRefusal::Conflict);
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(commit) = squashed {
            project_mut(&mut self.world(), path)?
                .squash_commits
                .insert(number, commit);
        }
        self.gl_mr_event(path, number, "merge", actor, None, None);
        let commits = git::new_commits(&dir, before.as_slice(), &new)
            .await
            .map_err(SimError::from)?;
        let update = RefUpdate {
            name: format!("refs/heads/{target}"),
            before,
            after: Some(new.clone()),
            forced: false,
        };
        self.gl_push_event(path, actor, &update, &commits);
        for issue in closes {
            let open = self
                .gitlab_number(path, issue, false)
                .ok()
                .and_then(|n| self.world().repo(path).map(|r| r.issues[&n].state));
            if open == Some(IssueState::Open) {
                self.gl_edit_issue(
                    actor,
                    path,
                    issue,
                    GlIssueEdit {
                        state: Some(IssueState::Closed),
                        ..Default::default()
                    },
                )?;
            }
        }
        Ok(new)
    }

    fn gl_push_event(&self, path: &str, pusher: u64, update: &RefUpdate, commits: &[CommitInfo]) {
        let world = self.world();
        let Some(at) = self.at_gitlab(&world, path) else {
            return;
        };
        let mut payload = events::push(at, update, commits, pusher);
        let event = if update.name.starts_with("refs/tags/") {
            payload["object_kind"] = json!("tag_push");
            payload["event_name"] = json!("tag_push");
            "Tag Push Hook"
        } else {
            "Push Hook"
        };
        self.emit_gitlab(&world, path, event, payload);
    }

    /// After a push to a GitLab project: a `Push Hook` per ref, then an MR `update`
    /// with `oldrev` for each open MR whose source branch moved.
    pub(crate) async fn gitlab_after_push(
        &self,
        path: &str,
        pusher: u64,
        updates: &[(RefUpdate, Vec<CommitInfo>)],
    ) {
        if project_of(&self.world(), path).is_err() {
            return;
        }
        for (update, commits) in updates {
            self.gl_push_event(path, pusher, update, commits);
            let (Some(branch), Some(new)) = (
                update.name.strip_prefix("refs/heads/"),
                update.after.as_deref(),
            ) else {
                continue;
            };
            let moved: Vec<u64> = {
                let world = self.world();
                let Ok((r, _)) = project_of(&world, path) else {
                    return;
                };
                r.pulls
                    .values()
                    .filter(|p| p.head_ref == branch && p.head_sha == new && !p.merged)
                    .filter(|p| r.issues[&p.number].state == IssueState::Open)
                    .map(|p| p.number)
                    .collect()
            };
            let head = commits.last();
            for number in moved {
                let old = update.before.as_deref();
                self.gl_mr_event(path, number, "update", pusher, old, head);
            }
        }
    }
}

impl Sim {
    /// Point pull request `number`'s head at `sha` (see the squash in [`Sim::gl_merge`]).
    fn set_pull_head(&self, path: &str, number: u64, sha: &str) {
        if let Some(pr) = self
            .world()
            .repo_mut(path)
            .and_then(|r| r.pulls.get_mut(&number))
        {
            sha.clone_into(&mut pr.head_sha);
        }
    }
}

/// GitLab's squash: one commit holding the source's tree, on the merge base of the
/// source and the target, with the MR's title as its message.
async fn squash_commit(
    dir: &std::path::Path,
    target: &str,
    head: &str,
    message: &str,
    sig: &git::Signature,
) -> Result<String, git::GitError> {
    let target = format!("refs/heads/{target}");
    let base = git::ok(dir, &["merge-base", &target, head], None, None).await?;
    let tree = format!("{head}^{{tree}}");
    git::ok(
        dir,
        &["commit-tree", &tree, "-p", &base, "-m", message],
        None,
        Some(sig),
    )
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn gitlab_closing_keywords_name_issue_iids() {
        assert_eq!(super::closing_iids("Closes #2, fixing #5."), vec![2, 5]);
    }
}
