//! World objects as GitHub's webhook payloads carry them. GitHub documents webhook
//! objects apart from REST ones, and they differ: a review's state is `approved` in a
//! webhook and `APPROVED` over REST; an issue in a webhook has no `closed_by`; a review
//! event carries a "simple" pull request without the merge fields; users carry no
//! `user_view_type`. So each object here is written out with the fields the webhook
//! docs list (checked against octokit's published schema and real payloads by
//! `tests/webhook_schema.rs` and `tests/payload_faithfulness.rs`), never derived from
//! the REST shape in [`super::render`]; only leaf helpers (times, ids, URL templates)
//! are shared. A field the world does not model is sent with a fixed, type-correct
//! value, as in the REST shapes.

mod ci;
mod pulls;

use serde_json::{Value, json};

use super::render::{
    Urls, association, encode, node_id, opt_time, reaction_counts, reactions, time,
};
use crate::world::{Comment, Issue, IssueState, Label, Repo, World};

/// Where an event happens: the addresses, the world and the repository. Every webhook
/// object is rendered from here.
#[derive(Clone, Copy)]
pub struct At<'a> {
    pub urls: &'a Urls,
    pub world: &'a World,
    pub repo: &'a Repo,
}

impl At<'_> {
    fn repo_api(&self) -> String {
        self.urls.repo_api(self.repo)
    }

    fn repo_web(&self) -> String {
        self.urls.repo_web(self.repo)
    }

    fn association(&self, user: u64) -> &'static str {
        association(self.world, self.repo, user)
    }

    /// A user as webhooks embed one (`sender`, `user`, `owner`, ...).
    pub fn user(&self, id: u64) -> Value {
        let (login, kind) = self
            .world
            .users
            .get(&id)
            .map(|u| (u.login.as_str(), u.kind))
            .unwrap_or(("ghost", "User"));
        let api = &self.urls.api;
        let web = &self.urls.web;
        let u = format!("{api}/users/{login}");
        json!({
            "login": login,
            "id": id,
            "node_id": node_id("U", id),
            "avatar_url": format!("{web}/avatars/{login}"),
            "gravatar_id": "",
            "url": u,
            "html_url": format!("{web}/{login}"),
            "followers_url": format!("{u}/followers"),
            "following_url": format!("{u}/following{{/other_user}}"),
            "gists_url": format!("{u}/gists{{/gist_id}}"),
            "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
            "subscriptions_url": format!("{u}/subscriptions"),
            "organizations_url": format!("{u}/orgs"),
            "repos_url": format!("{u}/repos"),
            "events_url": format!("{u}/events{{/privacy}}"),
            "received_events_url": format!("{u}/received_events"),
            "type": kind,
            "site_admin": false,
        })
    }

    fn owner_id(&self) -> u64 {
        self.world
            .user_by_login(&self.repo.owner)
            .map(|u| u.id)
            .unwrap_or(0)
    }

    /// The `repository` every payload names. `push` deliveries differ, as on GitHub:
    /// unix-second `created_at`/`pushed_at`, an owner with name and email, and the
    /// legacy `stargazers` and `master_branch`.
    pub fn repository(&self, push: bool) -> Value {
        // The webhook repository has the REST object's fields; what differs is its
        // owner (a webhook user), and in a push its timestamps (integers) and two keys.
        let repo = self.repo;
        let mut v = self.urls.repo(self.world, repo);
        let mut owner = self.user(self.owner_id());
        if push {
            owner["name"] = json!(repo.owner);
            owner["email"] = json!(format!("{}@users.noreply.sim", repo.owner));
            v["created_at"] = json!(repo.created_at);
            v["pushed_at"] = json!(repo.created_at);
            v["stargazers"] = json!(0);
            v["master_branch"] = json!(repo.default_branch);
        }
        v["owner"] = owner;
        v
    }

    pub fn label(&self, label: &Label) -> Value {
        json!({
            "id": label.id,
            "node_id": node_id("LA", label.id),
            "url": format!("{}/labels/{}", self.repo_api(), encode(&label.name)),
            "name": label.name,
            "color": label.color,
            "default": false,
            "description": label.description,
        })
    }

    fn labels(&self, names: &[String]) -> Value {
        names
            .iter()
            .filter_map(|n| self.repo.label(n))
            .map(|l| self.label(l))
            .collect()
    }

    /// An issue, or a pull request seen as an issue (`issue_comment` on a PR). Who
    /// closed it is not part of the webhook issue: GitHub names them as the `sender`.
    pub fn issue(&self, issue: &Issue) -> Value {
        let a = format!("{}/issues/{}", self.repo_api(), issue.number);
        let kind = if issue.is_pull { "pull" } else { "issues" };
        let pr = self.repo.pulls.get(&issue.number);
        let mut v = json!({
            "url": a,
            "repository_url": self.repo_api(),
            "labels_url": format!("{a}/labels{{/name}}"),
            "comments_url": format!("{a}/comments"),
            "events_url": format!("{a}/events"),
            "html_url": format!("{}/{kind}/{}", self.repo_web(), issue.number),
            "id": issue.id,
            "node_id": node_id("I", issue.id),
            "number": issue.number,
            "title": issue.title,
            "user": self.user(issue.author),
            "labels": self.labels(&issue.labels),
            "state": issue.state.as_str(),
            "locked": false,
            "assignee": null,
            "assignees": [],
            "milestone": null,
            "comments": issue.comments.len(),
            "created_at": time(issue.created_at),
            "updated_at": time(issue.updated_at),
            "closed_at": opt_time(issue.closed_at),
            "author_association": self.association(issue.author),
            "active_lock_reason": null,
            "draft": pr.is_some_and(|p| p.draft),
            "performed_via_github_app": null,
            "body": issue.body,
            "reactions": reactions(&a),
            "timeline_url": format!("{a}/timeline"),
            "state_reason": match issue.state {
                IssueState::Closed => json!("completed"),
                IssueState::Open => Value::Null,
            },
        });
        if issue.is_pull {
            let h = format!("{}/pull/{}", self.repo_web(), issue.number);
            v["pull_request"] = json!({
                "url": format!("{}/pulls/{}", self.repo_api(), issue.number),
                "html_url": h,
                "diff_url": format!("{h}.diff"),
                "patch_url": format!("{h}.patch"),
                "merged_at": opt_time(pr.and_then(|p| p.merged_at)),
            });
        }
        v
    }

    /// A comment on an issue or on a pull request's conversation.
    pub fn issue_comment(&self, number: u64, c: &Comment) -> Value {
        let a = format!("{}/issues/comments/{}", self.repo_api(), c.id);
        json!({
            "url": a,
            "html_url": format!("{}/issues/{number}#issuecomment-{}", self.repo_web(), c.id),
            "issue_url": format!("{}/issues/{number}", self.repo_api()),
            "id": c.id,
            "node_id": node_id("IC", c.id),
            "user": self.user(c.author),
            "created_at": time(c.created_at),
            "updated_at": time(c.updated_at),
            "author_association": self.association(c.author),
            "body": c.body,
            "reactions": reaction_counts(&a, self.repo.reactions.get(&c.id)),
            "performed_via_github_app": null,
        })
    }
}
