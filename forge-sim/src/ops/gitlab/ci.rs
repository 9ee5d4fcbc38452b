//! GitLab CI: pipelines (run by the driver as a runner would) and commit statuses,
//! which GitLab keeps as jobs of an `external` pipeline on the commit; both send
//! `Pipeline Hook` when a pipeline's status changes.

use super::{project_mut, project_of};
use crate::Sim;
use crate::error::SimError;
use crate::git;
use crate::gitlab::events;
use crate::gitlab::model::Pipeline;
use crate::ops::{now, repo_of, require};
use crate::world::{CommitStatus, IssueState, Permission};

/// A commit status as `POST /projects/:id/statuses/:sha` takes it.
#[derive(Debug, Clone, Default)]
pub struct GlStatusInput {
    pub state: String,
    pub name: Option<String>,
    pub git_ref: Option<String>,
    pub target_url: Option<String>,
    pub description: Option<String>,
}

const STATES: [&str; 6] = [
    "pending", "running", "success", "failed", "canceled", "skipped",
];

/// An external pipeline's status from its jobs' latest statuses.
fn derived(latest: &[&str]) -> &'static str {
    if latest.contains(&"failed") {
        "failed"
    } else if latest.iter().any(|s| matches!(*s, "running" | "pending")) {
        "running"
    } else if latest.contains(&"canceled") {
        "canceled"
    } else if latest.iter().all(|s| *s == "skipped") {
        "skipped"
    } else {
        "success"
    }
}

impl Sim {
    /// Start a pipeline on `git_ref` (a branch; needs developer), status `running`;
    /// returns its id.
    pub async fn gl_run_pipeline(
        &self,
        actor: u64,
        path: &str,
        git_ref: &str,
        source: &str,
    ) -> Result<u64, SimError> {
        let dir = {
            let world = self.world();
            let (r, _) = project_of(&world, path)?;
            require(&world, r, actor, Permission::Write)?;
            r.git_dir.clone()
        };
        let sha = git::rev_parse(&dir, &format!("refs/heads/{git_ref}"))
            .await?
            .ok_or_else(|| SimError::Invalid(format!("Reference not found: {git_ref}")))?;
        let before = git::commit(&dir, &format!("{sha}^")).await?.map(|c| c.sha);
        let id = {
            let mut world = self.world();
            let id = world.next_id();
            let gl = project_mut(&mut world, path)?;
            let t = now();
            gl.pipelines.push(Pipeline {
                id,
                iid: gl.pipelines.len() as u64 + 1,
                git_ref: git_ref.to_owned(),
                sha: sha.clone(),
                before_sha: before.unwrap_or_else(|| "0".repeat(40)),
                status: "running".into(),
                source: source.to_owned(),
                user: actor,
                created_at: t,
                started_at: Some(t),
                finished_at: None,
            });
            id
        };
        self.gl_pipeline_event(path, id).await;
        Ok(id)
    }

    /// Finish (or move) pipeline `id` to `status` (`success`, `failed`, ...).
    pub async fn gl_finish_pipeline(
        &self,
        path: &str,
        id: u64,
        status: &str,
    ) -> Result<(), SimError> {
        if !STATES.contains(&status) {
            return Err(SimError::Invalid(format!(
                "status is not one of {STATES:?}"
            )));
        }
        {
            let mut world = self.world();
            let gl = project_mut(&mut world, path)?;
            let p = gl
                .pipelines
                .iter_mut()
                .find(|p| p.id == id)
                .ok_or_else(|| SimError::NotFound(format!("pipeline {id}")))?;
            p.status = status.to_owned();
            p.finished_at = p.finished().then(now);
        }
        self.gl_pipeline_event(path, id).await;
        Ok(())
    }

    async fn gl_pipeline_event(&self, path: &str, id: u64) {
        let Some((dir, sha)) = ({
            let world = self.world();
            project_of(&world, path).ok().and_then(|(r, gl)| {
                let p = gl.pipelines.iter().find(|p| p.id == id)?;
                Some((r.git_dir.clone(), p.sha.clone()))
            })
        }) else {
            return;
        };
        let commit = git::commit(&dir, &sha).await.ok().flatten();
        let world = self.world();
        let Some(at) = self.at_gitlab(&world, path) else {
            return;
        };
        let Some(p) = at.gl.pipelines.iter().find(|p| p.id == id) else {
            return;
        };
        let mr = at
            .repo
            .pulls
            .values()
            .filter(|pr| pr.head_ref == p.git_ref && !pr.merged)
            .filter(|pr| at.repo.issues[&pr.number].state == IssueState::Open)
            .find_map(|pr| {
                let iid = at.gl.mr_iid(pr.number)?;
                Some((iid, &at.repo.issues[&pr.number], pr))
            });
        let payload = events::pipeline(at, p, commit.as_ref(), mr);
        self.emit_gitlab(&world, path, "Pipeline Hook", payload);
    }

    /// Create a commit status (needs developer); returns its id. The commit's
    /// `external` pipeline follows its jobs and is announced when its status changes.
    pub async fn gl_create_status(
        &self,
        actor: u64,
        path: &str,
        sha: &str,
        input: GlStatusInput,
    ) -> Result<u64, SimError> {
        let dir = {
            let world = self.world();
            let (r, _) = project_of(&world, path)?;
            require(&world, r, actor, Permission::Write)?;
            r.git_dir.clone()
        };
        if !STATES.contains(&input.state.as_str()) {
            return Err(SimError::Invalid(format!("state is not one of {STATES:?}")));
        }
        let commit = git::commit(&dir, sha)
            .await?
            .ok_or_else(|| SimError::NotFound(format!("commit {sha}")))?;
        let git_ref = match input.git_ref.clone() {
            Some(r) => r,
            None => git::refs(&dir)
                .await?
                .into_iter()
                .find(|(_, t)| *t == commit.sha)
                .and_then(|(n, _)| n.strip_prefix("refs/heads/").map(str::to_owned))
                .unwrap_or_else(|| {
                    repo_of(&self.world(), path)
                        .map(|r| r.default_branch.clone())
                        .unwrap_or_default()
                }),
        };
        let (id, pipeline, changed) = {
            let mut world = self.world();
            let id = world.next_id();
            let pipeline_id = world.next_id();
            let name = input.name.unwrap_or_else(|| "default".into());
            let t = now();
            let r = world.repo_mut(path).expect("checked above");
            r.statuses.push(CommitStatus {
                id,
                sha: commit.sha.clone(),
                state: input.state.clone(),
                context: name,
                description: input.description,
                target_url: input.target_url,
                creator: actor,
                created_at: t,
            });
            let mut latest: Vec<&str> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for s in r.statuses.iter().rev().filter(|s| s.sha == commit.sha) {
                if seen.insert(s.context.clone()) {
                    latest.push(s.state.as_str());
                }
            }
            let status = derived(&latest).to_owned();
            let gl = project_mut(&mut world, path)?;
            let existing = gl
                .pipelines
                .iter_mut()
                .find(|p| p.sha == commit.sha && p.source == "external");
            let (pipeline, changed) = match existing {
                Some(p) => {
                    let changed = p.status != status;
                    p.status = status;
                    p.finished_at = p.finished().then_some(t);
                    (p.id, changed)
                }
                None => {
                    let iid = gl.pipelines.len() as u64 + 1;
                    let mut p = Pipeline {
                        id: pipeline_id,
                        iid,
                        git_ref,
                        sha: commit.sha.clone(),
                        before_sha: commit
                            .parents
                            .first()
                            .cloned()
                            .unwrap_or_else(|| "0".repeat(40)),
                        status,
                        source: "external".into(),
                        user: actor,
                        created_at: t,
                        started_at: Some(t),
                        finished_at: None,
                    };
                    p.finished_at = p.finished().then_some(t);
                    gl.pipelines.push(p);
                    (pipeline_id, true)
                }
            };
            (id, pipeline, changed)
        };
        if changed {
            self.gl_pipeline_event(path, pipeline).await;
        }
        Ok(id)
    }
}
