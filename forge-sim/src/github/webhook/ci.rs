//! CI objects as webhooks carry them: the commit a `status` event names, check runs and
//! the GitHub App they belong to.

use serde_json::{Value, json};

use super::At;
use crate::git::CommitInfo;
use crate::github::render::time;
use crate::world::CheckRun;

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

    /// The REST check run, as the webhook docs define it: `details_url` is always a
    /// string (the app's homepage when the run names none), there is no `deployment`,
    /// and the app's owner is a webhook user.
    pub fn check_run(&self, c: &CheckRun) -> Value {
        let mut v = self.urls.check_run(self.world, self.repo, c);
        if v["details_url"].is_null() {
            v["details_url"] = json!(self.urls.web);
        }
        if let Some(run) = v.as_object_mut() {
            run.remove("deployment");
        }
        let owner = self.user(self.owner_id());
        v["app"]["owner"] = owner.clone();
        v["check_suite"]["app"]["owner"] = owner;
        v
    }
}
