//! CI objects as GitHub's JSON: commit statuses, check runs and the GitHub App they
//! belong to. Split from [`super::render`] only to keep files small.

use serde_json::{Value, json};

use super::render::{Urls, node_id, opt_time, time};
use crate::world::{CheckRun, CommitStatus, Repo, World};

impl Urls {
    pub fn status(&self, world: &World, repo: &Repo, s: &CommitStatus) -> Value {
        json!({
            "url": format!("{}/statuses/{}", self.repo_api(repo), s.sha),
            "avatar_url": format!("{}/avatars/{}", self.web, world.login(s.creator)),
            "id": s.id,
            "node_id": node_id("SC", s.id),
            "state": s.state,
            "description": s.description,
            "target_url": s.target_url,
            "context": s.context,
            "created_at": time(s.created_at),
            "updated_at": time(s.created_at),
            "creator": self.user(world, s.creator),
        })
    }

    /// The GitHub App every check run in the simulator belongs to.
    pub fn app(&self, world: &World, repo: &Repo) -> Value {
        let owner_id = world.user_by_login(&repo.owner).map(|u| u.id).unwrap_or(0);
        json!({
            "id": 1,
            "slug": "gastown-sim",
            "node_id": node_id("A", 1),
            "owner": self.user(world, owner_id),
            "name": "gastown-sim",
            "description": "",
            "external_url": self.web,
            "html_url": format!("{}/apps/gastown-sim", self.web),
            "created_at": time(repo.created_at),
            "updated_at": time(repo.created_at),
            "permissions": app_permissions(),
            "events": ["check_run", "issue_comment", "issues", "pull_request", "pull_request_review", "push", "status"],
        })
    }

    pub fn check_run(&self, world: &World, repo: &Repo, c: &CheckRun) -> Value {
        let a = format!("{}/check-runs/{}", self.repo_api(repo), c.id);
        let pulls: Vec<Value> = repo
            .pulls
            .values()
            .filter(|p| p.head_sha == c.head_sha)
            .map(|p| {
                json!({
                    "url": format!("{}/pulls/{}", self.repo_api(repo), p.number),
                    "id": p.id,
                    "number": p.number,
                    "head": {"ref": p.head_ref, "sha": p.head_sha, "repo": {"id": repo.id, "url": self.repo_api(repo), "name": repo.name}},
                    "base": {"ref": p.base_ref, "sha": p.base_sha, "repo": {"id": repo.id, "url": self.repo_api(repo), "name": repo.name}},
                })
            })
            .collect();
        json!({
            "id": c.id,
            "node_id": node_id("CR", c.id),
            "head_sha": c.head_sha,
            "external_id": c.external_id.clone().unwrap_or_default(),
            "url": a,
            "html_url": format!("{}/runs/{}", self.repo_web(repo), c.id),
            "details_url": c.details_url,
            "status": c.status,
            "conclusion": c.conclusion,
            "started_at": time(c.started_at),
            "completed_at": opt_time(c.completed_at),
            "output": {
                "title": c.title,
                "summary": c.summary,
                "text": null,
                "annotations_count": 0,
                "annotations_url": format!("{a}/annotations"),
            },
            "name": c.name,
            "check_suite": {
                "id": c.id,
                "node_id": node_id("CS", c.id),
                "head_branch": null,
                "head_sha": c.head_sha,
                "status": c.status,
                "conclusion": c.conclusion,
                "url": format!("{}/check-suites/{}", self.repo_api(repo), c.id),
                "before": null,
                "after": null,
                "pull_requests": pulls.clone(),
                "app": self.app(world, repo),
                "created_at": time(c.started_at),
                "updated_at": time(c.completed_at.unwrap_or(c.started_at)),
            },
            "app": self.app(world, repo),
            "pull_requests": pulls,
            "deployment": null,
        })
    }
}

/// The simulated app's permissions: write where the bot writes, read for every other
/// permission GitHub lists for apps (real payloads list them all when granted).
pub fn app_permissions() -> Value {
    const WRITE: [&str; 5] = ["checks", "contents", "issues", "pull_requests", "statuses"];
    const READ: [&str; 18] = [
        "actions",
        "administration",
        "deployments",
        "members",
        "metadata",
        "organization_administration",
        "organization_hooks",
        "organization_packages",
        "organization_plan",
        "organization_projects",
        "organization_user_blocking",
        "packages",
        "pages",
        "repository_hooks",
        "repository_projects",
        "security_events",
        "team_discussions",
        "vulnerability_alerts",
    ];
    let mut m = serde_json::Map::new();
    for k in WRITE {
        m.insert(k.into(), json!("write"));
    }
    for k in READ {
        m.insert(k.into(), json!("read"));
    }
    Value::Object(m)
}
