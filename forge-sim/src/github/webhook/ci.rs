//! CI objects as webhooks carry them: the commit a `status` event names, check runs and
//! the GitHub App they belong to.

use serde_json::{Value, json};

use super::At;
use crate::git::CommitInfo;
use crate::github::render::{node_id, opt_time, time};
use crate::github::render_ci::app_permissions;
use crate::world::CheckRun;

/// The app every check run in the simulator belongs to, and its homepage.
const APP_SLUG: &str = "gastown-sim";

impl At<'_> {
    /// The commit a `status` event names (its git data, and the accounts of its author
    /// and committer when known).
    pub fn status_commit(&self, c: &CommitInfo, author: Option<u64>) -> Value {
        let a = self.repo_api();
        let web = self.repo_web();
        let person =
            json!({"name": c.author_name, "email": c.author_email, "date": time(c.timestamp)});
        let user = author.map(|u| self.user(u)).unwrap_or(Value::Null);
        json!({
            "sha": c.sha,
            "node_id": format!("C_sim{}", &c.sha[..12.min(c.sha.len())]),
            "commit": {
                "author": person,
                "committer": person,
                "message": c.message,
                "tree": {"sha": c.tree, "url": format!("{a}/git/trees/{}", c.tree)},
                "url": format!("{a}/git/commits/{}", c.sha),
                "comment_count": 0,
                "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null},
            },
            "url": format!("{a}/commits/{}", c.sha),
            "html_url": format!("{web}/commit/{}", c.sha),
            "comments_url": format!("{a}/commits/{}/comments", c.sha),
            "author": user,
            "committer": user,
            "parents": c.parents.iter().map(|p| json!({
                "sha": p,
                "url": format!("{a}/commits/{p}"),
                "html_url": format!("{web}/commit/{p}"),
            })).collect::<Vec<_>>(),
        })
    }

    fn app_homepage(&self) -> String {
        self.urls.web.clone()
    }

    fn app(&self) -> Value {
        let web = &self.urls.web;
        json!({
            "id": 1,
            "slug": APP_SLUG,
            "node_id": node_id("A", 1),
            "owner": self.user(self.owner_id()),
            "name": APP_SLUG,
            "description": "",
            "external_url": self.app_homepage(),
            "html_url": format!("{web}/apps/{APP_SLUG}"),
            "created_at": time(self.repo.created_at),
            "updated_at": time(self.repo.created_at),
            "permissions": app_permissions(),
            "events": ["check_run", "issue_comment", "issues", "pull_request", "pull_request_review", "push", "status"],
        })
    }

    /// A check run. Without a details URL of its own, GitHub links the app's homepage
    /// (the REST shape says `null` there); a run with no deployment has no
    /// `deployment` key.
    pub fn check_run(&self, c: &CheckRun) -> Value {
        let repo = self.repo;
        let api = self.repo_api();
        let a = format!("{api}/check-runs/{}", c.id);
        let side = |branch: &str, sha: &str| json!({"ref": branch, "sha": sha, "repo": {"id": repo.id, "url": api, "name": repo.name}});
        let pulls: Vec<Value> = repo
            .pulls
            .values()
            .filter(|p| p.head_sha == c.head_sha)
            .map(|p| {
                json!({
                    "url": format!("{api}/pulls/{}", p.number),
                    "id": p.id,
                    "number": p.number,
                    "head": side(&p.head_ref, &p.head_sha),
                    "base": side(&p.base_ref, &p.base_sha),
                })
            })
            .collect();
        json!({
            "id": c.id,
            "node_id": node_id("CR", c.id),
            "head_sha": c.head_sha,
            "external_id": c.external_id.clone().unwrap_or_default(),
            "url": a,
            "html_url": format!("{}/runs/{}", self.repo_web(), c.id),
            "details_url": c.details_url.clone().unwrap_or_else(|| self.app_homepage()),
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
                "url": format!("{api}/check-suites/{}", c.id),
                "before": null,
                "after": null,
                "pull_requests": pulls.clone(),
                "app": self.app(),
                "created_at": time(c.started_at),
                "updated_at": time(c.completed_at.unwrap_or(c.started_at)),
            },
            "app": self.app(),
            "pull_requests": pulls,
        })
    }
}
