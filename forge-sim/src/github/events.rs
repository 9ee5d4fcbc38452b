//! Webhook payloads: which objects each event and action carries, rendered as webhooks
//! carry them ([`super::webhook`]). Every payload names the app installation, since the
//! simulator models the bot as an installed GitHub App.

use serde_json::{Value, json};

use super::render::time;
pub use super::webhook::At;
use crate::git::CommitInfo;
use crate::world::{
    CheckRun, Comment, CommitStatus, Issue, Label, PullRequest, Review, ReviewComment,
};

/// The installation id every payload names.
pub const INSTALLATION_ID: u64 = 1;

/// Fields every payload ends with.
fn envelope(at: At<'_>, sender: u64, mut v: Value) -> Value {
    v["repository"] = at.repository(false);
    v["sender"] = at.user(sender);
    v["installation"] =
        json!({"id": INSTALLATION_ID, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="});
    v
}

/// `issues` with any action; `label` for labeled/unlabeled, `changes` for edited.
pub fn issues(
    at: At<'_>,
    issue: &Issue,
    action: &str,
    sender: u64,
    label: Option<&Label>,
    changes: Option<Value>,
) -> Value {
    let mut v = json!({"action": action, "issue": at.issue(issue)});
    if let Some(label) = label {
        v["label"] = at.label(label);
    }
    if let Some(changes) = changes {
        v["changes"] = changes;
    }
    envelope(at, sender, v)
}

pub fn issue_comment(
    at: At<'_>,
    issue: &Issue,
    comment: &Comment,
    action: &str,
    sender: u64,
    changes: Option<Value>,
) -> Value {
    let mut v = json!({
        "action": action,
        "issue": at.issue(issue),
        "comment": at.issue_comment(issue.number, comment),
    });
    if let Some(changes) = changes {
        v["changes"] = changes;
    }
    envelope(at, sender, v)
}

/// `pull_request`; `extra` carries `before`/`after` (synchronize), `label`, `changes`.
pub fn pull_request(
    at: At<'_>,
    issue: &Issue,
    pr: &PullRequest,
    action: &str,
    sender: u64,
    extra: Value,
) -> Value {
    let mut v = json!({
        "action": action,
        "number": pr.number,
        "pull_request": at.pull_request(issue, pr),
    });
    if let Value::Object(extra) = extra {
        for (k, x) in extra {
            v[k] = x;
        }
    }
    envelope(at, sender, v)
}

pub fn pull_request_review(at: At<'_>, issue: &Issue, pr: &PullRequest, review: &Review) -> Value {
    let v = json!({
        "action": "submitted",
        "review": at.review(pr.number, review),
        "pull_request": at.simple_pull_request(issue, pr),
    });
    envelope(at, review.author, v)
}

/// `pull_request_review_comment`: a comment on a line of the diff.
pub fn pull_request_review_comment(
    at: At<'_>,
    issue: &Issue,
    pr: &PullRequest,
    comment: &ReviewComment,
    action: &str,
) -> Value {
    let v = json!({
        "action": action,
        "comment": at.review_comment(pr.number, comment),
        "pull_request": at.simple_pull_request(issue, pr),
    });
    envelope(at, comment.author, v)
}

/// `status`: `branches` are the branches whose tip is the commit, as GitHub lists them.
pub fn status(at: At<'_>, s: &CommitStatus, c: &CommitInfo, branches: &[String]) -> Value {
    let (repo, a) = (at.repo, at.urls.repo_api(at.repo));
    let v = json!({
        "id": s.id,
        "sha": s.sha,
        "name": repo.full_name(),
        "target_url": s.target_url,
        "context": s.context,
        "description": s.description,
        "state": s.state,
        "commit": at.status_commit(c, Some(s.creator)),
        "branches": branches.iter().map(|b| json!({
            "name": b,
            "commit": {"sha": s.sha, "url": format!("{a}/commits/{}", s.sha)},
            "protected": repo.protection.contains_key(b),
        })).collect::<Vec<_>>(),
        "created_at": time(s.created_at),
        "updated_at": time(s.created_at),
    });
    envelope(at, s.creator, v)
}

pub fn check_run(at: At<'_>, c: &CheckRun, action: &str, sender: u64) -> Value {
    let v = json!({"action": action, "check_run": at.check_run(c)});
    envelope(at, sender, v)
}

/// What a push changed on one ref.
#[derive(Debug, Clone)]
pub struct RefUpdate {
    pub name: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub forced: bool,
}

const ZERO: &str = "0000000000000000000000000000000000000000";

pub fn push(at: At<'_>, update: &RefUpdate, commits: &[CommitInfo], pusher: u64) -> Value {
    let web = at.urls.repo_web(at.repo);
    let login = at.world.login(pusher).to_owned();
    let as_json = |c: &CommitInfo| {
        let person = json!({"name": c.author_name, "email": c.author_email, "username": login});
        json!({
            "id": c.sha,
            "tree_id": c.tree,
            "distinct": true,
            "message": c.message,
            "timestamp": time(c.timestamp),
            "url": format!("{web}/commit/{}", c.sha),
            "author": person,
            "committer": person,
            "added": c.added,
            "removed": c.removed,
            "modified": c.modified,
        })
    };
    let before = update.before.as_deref().unwrap_or(ZERO);
    let after = update.after.as_deref().unwrap_or(ZERO);
    let mut v = json!({
        "ref": update.name,
        "before": before,
        "after": after,
        "created": update.before.is_none(),
        "deleted": update.after.is_none(),
        "forced": update.forced,
        "base_ref": null,
        "compare": format!("{web}/compare/{}...{}", &before[..12], &after[..12]),
        "commits": commits.iter().map(as_json).collect::<Vec<_>>(),
        "head_commit": commits.last().map(as_json),
        "pusher": {"name": login, "email": format!("{login}@users.noreply.sim")},
    });
    v = envelope(at, pusher, v);
    v["repository"] = at.repository(true);
    v
}
