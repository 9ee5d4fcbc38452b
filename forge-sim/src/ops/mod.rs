//! What happens when someone acts on the forge. REST handlers and the driver both call
//! these, so a label added through the API and one added by a test are the same thing:
//! the world changes, permissions are checked, and the matching webhook is queued.
//! Webhooks are queued here and nowhere else.

mod commits;
pub mod gitlab;
mod issues;
mod pulls;
mod reactions;

pub use commits::{CheckRunInput, StatusInput};
pub use issues::IssuePatch;
pub use pulls::{NewPull, PullPatch};
pub use reactions::GITHUB_REACTIONS;

use serde_json::Value;

use crate::error::SimError;
use crate::github::events::At;
use crate::world::{Hook, Label, Permission, Repo, User, World};
use crate::{Sim, git};

/// The time the world records, in unix seconds.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A fresh API token in GitHub's personal-token format.
fn token() -> String {
    format!("ghp_sim{:032x}", rand::random::<u128>())
}

/// Fail unless `actor` has at least `needed` on `repo`.
pub(crate) fn require(
    world: &World,
    repo: &Repo,
    actor: u64,
    needed: Permission,
) -> Result<(), SimError> {
    if world.permission(repo, actor) >= needed {
        return Ok(());
    }
    Err(SimError::Forbidden {
        login: world.login(actor).to_owned(),
        repo: repo.full_name(),
        needed: needed.role_name(),
    })
}

pub(crate) fn repo_of<'w>(world: &'w World, full_name: &str) -> Result<&'w Repo, SimError> {
    world
        .repo(full_name)
        .ok_or_else(|| SimError::NoRepo(full_name.to_owned()))
}

impl Sim {
    /// Queue a delivery of `payload` to `repo`'s hook, if it has one.
    pub(crate) fn emit(&self, repo: &Repo, event: &str, payload: Value) {
        if let Some(hook) = &repo.hook {
            tracing::debug!(repo = %repo.full_name(), event, "queue delivery");
            let target = crate::delivery::Target {
                repo: repo.full_name(),
                repo_id: repo.id,
                hook_id: hook.id,
                url: hook.url.clone(),
                secret: hook.secret.clone(),
            };
            self.deliveries.enqueue(target, event, payload);
        }
    }

    pub(crate) fn at<'a>(&'a self, world: &'a World, repo: &'a Repo) -> At<'a> {
        At {
            urls: &self.urls,
            world,
            repo,
        }
    }

    /// Create a user with a fresh token; fails if the login is taken.
    pub fn add_user(&self, login: &str) -> Result<User, SimError> {
        let mut world = self.world();
        if world.user_by_login(login).is_some() {
            return Err(SimError::Exists(format!("user {login}")));
        }
        let id = world.next_id();
        let user = User {
            id,
            login: login.to_owned(),
            token: token(),
            kind: "User",
        };
        world.users.insert(id, user.clone());
        Ok(user)
    }

    /// Give `login` a role on `repo` (replacing any earlier one).
    pub fn grant(&self, repo: &str, login: &str, permission: Permission) -> Result<(), SimError> {
        let mut world = self.world();
        let user = world
            .user_by_login(login)
            .ok_or_else(|| SimError::NoUser(login.to_owned()))?
            .id;
        let repo = world
            .repo_mut(repo)
            .ok_or_else(|| SimError::NoRepo(repo.to_owned()))?;
        if permission == Permission::None {
            repo.collaborators.remove(&user);
        } else {
            repo.collaborators.insert(user, permission);
        }
        Ok(())
    }

    /// Create `owner/name` with a real bare repository holding an initial commit. The
    /// owner is created as a user if needed and is the repository's admin.
    pub async fn create_repo(
        &self,
        full_name: &str,
        default_branch: &str,
    ) -> Result<u64, SimError> {
        let (owner, name) = full_name
            .split_once('/')
            .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
            .ok_or_else(|| {
                SimError::Invalid(format!("repository must be owner/name: {full_name}"))
            })?;
        if self.world().repo_id(full_name).is_some() {
            return Err(SimError::Exists(format!("repository {full_name}")));
        }
        if self.world().user_by_login(owner).is_none() {
            self.add_user(owner)?;
        }
        let git_dir = self.data_dir.join(owner).join(format!("{name}.git"));
        let sig = git::Signature {
            name: owner.to_owned(),
            email: format!("{owner}@users.noreply.sim"),
        };
        git::init_bare(&git_dir, default_branch, name, &sig).await?;
        let mut world = self.world();
        // Checked again: another caller may have created it while git ran.
        if world.repo_id(full_name).is_some() {
            return Err(SimError::Exists(format!("repository {full_name}")));
        }
        let id = world.next_id();
        world.repo_paths.insert(full_name.to_ascii_lowercase(), id);
        world.repos.insert(
            id,
            Repo {
                id,
                owner: owner.to_owned(),
                name: name.to_owned(),
                default_branch: default_branch.to_owned(),
                git_dir,
                created_at: now(),
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
        Ok(id)
    }

    /// Point `repo`'s webhook at `url`, signed with `secret`.
    pub fn set_hook(&self, repo: &str, url: &str, secret: &str) -> Result<(), SimError> {
        let mut world = self.world();
        let id = world.next_id();
        if let Some(rid) = world.repo_id(repo)
            && world.gitlab.contains_key(&rid)
        {
            return Err(SimError::Invalid(format!(
                "{repo} is a GitLab project: use set_gitlab_hook"
            )));
        }
        let repo = world
            .repo_mut(repo)
            .ok_or_else(|| SimError::NoRepo(repo.to_owned()))?;
        repo.hook = Some(Hook {
            id,
            url: url.to_owned(),
            secret: secret.to_owned(),
        });
        Ok(())
    }

    /// Require `contexts` to pass on `branch` (empty: the branch is unprotected).
    pub fn protect_branch(
        &self,
        repo: &str,
        branch: &str,
        contexts: &[&str],
    ) -> Result<(), SimError> {
        let mut world = self.world();
        let repo = world
            .repo_mut(repo)
            .ok_or_else(|| SimError::NoRepo(repo.to_owned()))?;
        if contexts.is_empty() {
            repo.protection.remove(branch);
        } else {
            repo.protection.insert(
                branch.to_owned(),
                contexts.iter().map(|c| c.to_string()).collect(),
            );
        }
        Ok(())
    }

    /// Create a label; a name that exists (case-insensitively) is an error, as on GitHub.
    pub fn create_label(
        &self,
        actor: u64,
        repo: &str,
        name: &str,
        color: &str,
        description: Option<&str>,
    ) -> Result<Label, SimError> {
        let mut world = self.world();
        require(&world, repo_of(&world, repo)?, actor, Permission::Triage)?;
        let id = world.next_id();
        let r = world.repo_mut(repo).expect("checked above");
        if r.label(name).is_some() {
            return Err(SimError::Exists(format!("label {name}")));
        }
        let label = Label {
            id,
            name: name.to_owned(),
            color: color.trim_start_matches('#').to_owned(),
            description: description.map(str::to_owned),
        };
        r.labels.push(label.clone());
        Ok(label)
    }
}
