//! Commit statuses, check runs and pushes: what CI and `git push` do to a repository.

use std::collections::BTreeMap;

use serde_json::json;

use super::{now, repo_of, require};
use crate::Sim;
use crate::error::SimError;
use crate::git;
use crate::github::events::{self, RefUpdate};
use crate::world::{CheckRun, CommitStatus, IssueState, Permission, Repo};

/// A commit status to create.
#[derive(Debug, Clone, Default)]
pub struct StatusInput {
    pub state: String,
    pub context: Option<String>,
    pub description: Option<String>,
    pub target_url: Option<String>,
}

/// A check run to create or update; `None` fields are left as they are on update.
#[derive(Debug, Clone, Default)]
pub struct CheckRunInput {
    pub name: Option<String>,
    pub head_sha: Option<String>,
    pub status: Option<String>,
    pub conclusion: Option<String>,
    pub details_url: Option<String>,
    pub external_id: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
}

const STATES: [&str; 4] = ["error", "failure", "pending", "success"];

impl Sim {
    /// Whether `context` passes on `sha`: its latest status is `success`, or a check run
    /// of that name concluded `success`, `neutral` or `skipped`.
    pub(crate) fn check_passed(&self, repo: &Repo, sha: &str, context: &str) -> bool {
        let status = repo
            .statuses
            .iter()
            .rev()
            .find(|s| s.sha == sha && s.context == context);
        if status.is_some_and(|s| s.state == "success") {
            return true;
        }
        repo.check_runs
            .iter()
            .rev()
            .find(|c| c.head_sha == sha && c.name == context)
            .is_some_and(|c| {
                matches!(
                    c.conclusion.as_deref(),
                    Some("success" | "neutral" | "skipped")
                )
            })
    }

    /// Create a commit status on `sha` (needs write); returns its id.
    pub async fn create_status(
        &self,
        actor: u64,
        repo: &str,
        sha: &str,
        input: StatusInput,
    ) -> Result<u64, SimError> {
        let git_dir = {
            let world = self.world();
            let r = repo_of(&world, repo)?;
            require(&world, r, actor, Permission::Write)?;
            r.git_dir.clone()
        };
        if !STATES.contains(&input.state.as_str()) {
            return Err(SimError::Invalid(format!("state is not one of {STATES:?}")));
        }
        let commit = git::commit(&git_dir, sha)
            .await?
            .ok_or_else(|| SimError::Invalid(format!("No commit found for SHA: {sha}")))?;
        let branches: Vec<String> = git::refs(&git_dir)
            .await?
            .into_iter()
            .filter(|(_, target)| *target == commit.sha)
            .filter_map(|(name, _)| name.strip_prefix("refs/heads/").map(str::to_owned))
            .collect();
        let mut world = self.world();
        let id = world.next_id();
        let status = CommitStatus {
            id,
            sha: commit.sha.clone(),
            state: input.state,
            context: input.context.unwrap_or_else(|| "default".into()),
            description: input.description,
            target_url: input.target_url,
            creator: actor,
            created_at: now(),
        };
        world
            .repo_mut(repo)
            .expect("checked above")
            .statuses
            .push(status.clone());
        let r = world.repo(repo).expect("checked above");
        self.emit(
            r,
            "status",
            events::status(self.at(&world, r), &status, &commit, &branches),
        );
        Ok(id)
    }

    /// Create a check run (needs write); returns its id.
    pub async fn create_check_run(
        &self,
        actor: u64,
        repo: &str,
        input: CheckRunInput,
    ) -> Result<u64, SimError> {
        let git_dir = {
            let world = self.world();
            let r = repo_of(&world, repo)?;
            require(&world, r, actor, Permission::Write)?;
            r.git_dir.clone()
        };
        let (Some(name), Some(head_sha)) = (input.name.clone(), input.head_sha.clone()) else {
            return Err(SimError::Invalid("name and head_sha are required".into()));
        };
        let sha = git::rev_parse(&git_dir, &head_sha)
            .await?
            .ok_or_else(|| SimError::Invalid(format!("No commit found for SHA: {head_sha}")))?;
        let mut world = self.world();
        let id = world.next_id();
        let t = now();
        let completed = input.conclusion.is_some() || input.status.as_deref() == Some("completed");
        let run = CheckRun {
            id,
            head_sha: sha,
            name,
            status: if completed {
                "completed".into()
            } else {
                input.status.unwrap_or_else(|| "queued".into())
            },
            conclusion: input.conclusion,
            details_url: input.details_url,
            external_id: input.external_id,
            title: input.title,
            summary: input.summary,
            started_at: t,
            completed_at: completed.then_some(t),
        };
        world
            .repo_mut(repo)
            .expect("checked above")
            .check_runs
            .push(run.clone());
        let r = world.repo(repo).expect("checked above");
        self.emit(
            r,
            "check_run",
            events::check_run(self.at(&world, r), &run, "created", actor),
        );
        Ok(id)
    }

    /// Update a check run; `completed` is sent when it becomes completed.
    pub fn update_check_run(
        &self,
        actor: u64,
        repo: &str,
        id: u64,
        input: CheckRunInput,
    ) -> Result<(), SimError> {
        let mut world = self.world();
        let r = repo_of(&world, repo)?;
        require(&world, r, actor, Permission::Write)?;
        let r = world.repo_mut(repo).expect("checked above");
        let run = r
            .check_runs
            .iter_mut()
            .find(|c| c.id == id)
            .ok_or_else(|| SimError::NotFound(format!("check run {id}")))?;
        let was_completed = run.status == "completed";
        if let Some(v) = input.name {
            run.name = v;
        }
        if let Some(v) = input.status {
            run.status = v;
        }
        if let Some(v) = input.conclusion {
            run.conclusion = Some(v);
            run.status = "completed".into();
        }
        if input.details_url.is_some() {
            run.details_url = input.details_url;
        }
        if input.external_id.is_some() {
            run.external_id = input.external_id;
        }
        if input.title.is_some() {
            run.title = input.title;
        }
        if input.summary.is_some() {
            run.summary = input.summary;
        }
        let now_completed = run.status == "completed";
        if now_completed && !was_completed {
            run.completed_at = Some(now());
        }
        let run = run.clone();
        let r = world.repo(repo).expect("checked above");
        if now_completed && !was_completed {
            self.emit(
                r,
                "check_run",
                events::check_run(self.at(&world, r), &run, "completed", actor),
            );
        }
        Ok(())
    }

    /// Commit one file onto `branch` (branching from the default branch if new) as the
    /// web editor does (needs write), then announce it like a push; returns the commit.
    pub async fn commit_file(
        &self,
        actor: u64,
        repo: &str,
        branch: &str,
        path: &str,
        content: &str,
        message: &str,
    ) -> Result<String, SimError> {
        let (dir, default_branch, login) = {
            let world = self.world();
            let r = repo_of(&world, repo)?;
            require(&world, r, actor, Permission::Write)?;
            (
                r.git_dir.clone(),
                r.default_branch.clone(),
                world.login(actor).to_owned(),
            )
        };
        let _guard = self.push_lock.lock().await;
        let before = git::refs(&dir).await?;
        let sig = git::Signature {
            email: format!("{login}@users.noreply.sim"),
            name: login,
        };
        let (_, sha) = git::commit_file(
            &dir,
            branch,
            &default_branch,
            path,
            content.as_bytes(),
            message,
            &sig,
        )
        .await?;
        self.after_push(repo, actor, &before).await?;
        Ok(sha)
    }

    /// Delete a branch (needs write), announced like a push that deletes it. The
    /// default branch and protected branches stay: 422, as GitHub refuses them.
    pub async fn delete_branch(
        &self,
        actor: u64,
        repo: &str,
        branch: &str,
    ) -> Result<(), SimError> {
        let dir = {
            let world = self.world();
            let r = repo_of(&world, repo)?;
            require(&world, r, actor, Permission::Write)?;
            if branch == r.default_branch {
                return Err(SimError::Invalid("Cannot delete the default branch".into()));
            }
            if r.protection.contains_key(branch) {
                return Err(SimError::Invalid("Cannot delete a protected branch".into()));
            }
            r.git_dir.clone()
        };
        let _guard = self.push_lock.lock().await;
        let before = git::refs(&dir).await?;
        let name = format!("refs/heads/{branch}");
        if !before.contains_key(&name) {
            return Err(SimError::Invalid("Reference does not exist".into()));
        }
        git::ok(&dir, &["update-ref", "-d", &name], None, None).await?;
        self.after_push(repo, actor, &before).await
    }

    /// After a push by `pusher`: one `push` per changed ref, then `synchronize` for each
    /// open pull request whose head branch moved.
    pub async fn after_push(
        &self,
        repo: &str,
        pusher: u64,
        before: &BTreeMap<String, String>,
    ) -> Result<(), SimError> {
        let git_dir = repo_of(&self.world(), repo)?.git_dir.clone();
        let after = git::refs(&git_dir).await?;
        let mut updates = Vec::new();
        for name in before
            .keys()
            .chain(after.keys().filter(|k| !before.contains_key(*k)))
        {
            let (b, a) = (before.get(name).cloned(), after.get(name).cloned());
            if b == a {
                continue;
            }
            let forced = match (&b, &a) {
                (Some(b), Some(a)) => !git::is_ancestor(&git_dir, b, a).await?,
                _ => false,
            };
            let commits = match &a {
                Some(a) => {
                    // A new branch lists only what no existing ref had, like GitHub.
                    let exclude: Vec<String> = match &b {
                        Some(b) => vec![b.clone()],
                        None => before.values().cloned().collect(),
                    };
                    git::new_commits(&git_dir, &exclude, a).await?
                }
                None => Vec::new(),
            };
            updates.push((
                RefUpdate {
                    name: name.clone(),
                    before: b,
                    after: a,
                    forced,
                },
                commits,
            ));
        }
        {
            let mut world = self.world();
            for (update, commits) in &updates {
                let r = world.repo(repo).expect("checked above");
                self.emit(
                    r,
                    "push",
                    events::push(self.at(&world, r), update, commits, pusher),
                );
                let Some(branch) = update.name.strip_prefix("refs/heads/") else {
                    continue;
                };
                let Some(new_sha) = &update.after else {
                    continue;
                };
                let r = world.repo_mut(repo).expect("checked above");
                let moved: Vec<u64> = r
                    .pulls
                    .values_mut()
                    .filter(|p| p.head_ref == branch && !p.merged)
                    .filter(|p| {
                        r.issues
                            .get(&p.number)
                            .is_some_and(|i| i.state == IssueState::Open)
                    })
                    .map(|p| {
                        p.head_sha = new_sha.clone();
                        p.number
                    })
                    .collect();
                for n in moved {
                    let before_sha = update.before.clone().unwrap_or_default();
                    self.pull_event(
                        &world,
                        repo,
                        n,
                        "synchronize",
                        pusher,
                        json!({"before": before_sha, "after": new_sha}),
                    );
                }
            }
        }
        self.refresh_mergeable(repo).await?;
        self.gitlab_after_push(repo, pusher, &updates).await;
        Ok(())
    }
}
