//! Acts on GitLab projects. Each one reuses the forge-neutral act in [`crate::ops`]
//! (permissions, the change to the world) and then queues GitLab's webhook; the
//! neutral acts send nothing for a GitLab project because its hook lives in
//! [`crate::gitlab::model::GitlabProject`], not in [`crate::world::Repo::hook`].
//! GitLab reports several changes as one event (all label changes of an edit are one
//! `update` with `changes.labels`), so the acts snapshot before and compare after.

mod awards;
mod ci;
mod issues;
mod mrs;

pub use awards::AwardRefusal;
pub use ci::GlStatusInput;
pub use issues::GlIssueEdit;
pub use mrs::MergeRefusal;

use serde_json::Value;

use crate::error::SimError;
use crate::gitlab::events::At;
use crate::gitlab::model::{GitlabHook, GitlabProject};
use crate::world::{Repo, World};
use crate::{Sim, git};

/// The GitLab project `path` (or the error a missing one is).
pub(crate) fn project_of<'w>(
    world: &'w World,
    path: &str,
) -> Result<(&'w Repo, &'w GitlabProject), SimError> {
    let repo = world
        .repo(path)
        .ok_or_else(|| SimError::NoRepo(path.to_owned()))?;
    let gl = world
        .gitlab
        .get(&repo.id)
        .ok_or_else(|| SimError::NoRepo(path.to_owned()))?;
    Ok((repo, gl))
}

pub(crate) fn project_mut<'w>(
    world: &'w mut World,
    path: &str,
) -> Result<&'w mut GitlabProject, SimError> {
    let id = world
        .repo_id(path)
        .ok_or_else(|| SimError::NoRepo(path.to_owned()))?;
    world
        .gitlab
        .get_mut(&id)
        .ok_or_else(|| SimError::NoRepo(path.to_owned()))
}

impl Sim {
    /// Queue a GitLab hook delivery (`event` is the `X-Gitlab-Event` value).
    pub(crate) fn emit_gitlab(&self, world: &World, path: &str, event: &str, payload: Value) {
        let Ok((repo, gl)) = project_of(world, path) else {
            return;
        };
        if let Some(hook) = &gl.hook {
            tracing::debug!(project = %path, event, "queue gitlab delivery");
            let target = crate::delivery::Target {
                repo: repo.full_name(),
                repo_id: repo.id,
                hook_id: hook.id,
                url: hook.url.clone(),
                secret: hook.token.clone(),
            };
            self.deliveries
                .enqueue_gitlab(target, event, payload, &self.urls.web);
        }
    }

    pub(crate) fn at_gitlab<'a>(&'a self, world: &'a World, path: &str) -> Option<At<'a>> {
        let (repo, gl) = project_of(world, path).ok()?;
        Some(At {
            urls: &self.urls,
            world,
            repo,
            gl,
        })
    }

    /// Create the GitLab project `group[/sub...]/project` with a README on
    /// `default_branch`. Nobody is a member yet; namespaces are not users.
    pub async fn create_gitlab_project(
        &self,
        path: &str,
        default_branch: &str,
    ) -> Result<u64, SimError> {
        let (namespace, name) = path
            .rsplit_once('/')
            .filter(|(ns, n)| !n.is_empty() && !ns.is_empty() && !ns.split('/').any(str::is_empty))
            .ok_or_else(|| {
                SimError::Invalid(format!("project path must be group/project: {path}"))
            })?;
        if self.world().repo_id(path).is_some() {
            return Err(SimError::Exists(format!("project {path}")));
        }
        let git_dir = self.data_dir.join(namespace).join(format!("{name}.git"));
        let top = namespace.split('/').next().unwrap_or(namespace);
        let sig = git::Signature {
            name: top.to_owned(),
            email: format!("{top}@users.noreply.sim"),
        };
        git::init_bare(&git_dir, default_branch, name, &sig).await?;
        let mut world = self.world();
        if world.repo_id(path).is_some() {
            return Err(SimError::Exists(format!("project {path}")));
        }
        let id = world.next_id();
        world.repo_paths.insert(path.to_ascii_lowercase(), id);
        world.repos.insert(
            id,
            Repo {
                id,
                owner: namespace.to_owned(),
                name: name.to_owned(),
                default_branch: default_branch.to_owned(),
                git_dir,
                created_at: super::now(),
                collaborators: Default::default(),
                labels: Vec::new(),
                issues: Default::default(),
                pulls: Default::default(),
                statuses: Vec::new(),
                check_runs: Vec::new(),
                protection: Default::default(),
                hook: None,
                next_number: 1,
                reactions: Default::default(),
            },
        );
        world.gitlab.insert(id, GitlabProject::default());
        Ok(id)
    }

    /// Point the project's hook at `url` with secret token `token`.
    pub fn set_gitlab_hook(&self, path: &str, url: &str, token: &str) -> Result<(), SimError> {
        let mut world = self.world();
        let id = world.next_id();
        project_mut(&mut world, path)?.hook = Some(GitlabHook {
            id,
            url: url.to_owned(),
            token: token.to_owned(),
        });
        Ok(())
    }

    /// "Pipelines must succeed" (`only_allow_merge_if_pipeline_succeeds`).
    pub fn set_pipelines_must_succeed(&self, path: &str, on: bool) -> Result<(), SimError> {
        project_mut(&mut self.world(), path)?.only_allow_merge_if_pipeline_succeeds = on;
        Ok(())
    }

    /// The world number of issue `iid`, or of merge request `iid` when `mr`.
    pub fn gitlab_number(&self, path: &str, iid: u64, mr: bool) -> Result<u64, SimError> {
        let world = self.world();
        let (_, gl) = project_of(&world, path)?;
        let map = if mr { &gl.mrs } else { &gl.issues };
        map.get(&iid).copied().ok_or(SimError::NoIssue(iid))
    }
}
