//! Webhook payloads, shaped like GitHub's (see `shared/fixtures/github`): the same key
//! paths and JSON types, with values from the world. Every payload names the app
//! installation, since the simulator models the bot as an installed GitHub App.

use serde_json::{Value, json};

use super::render::{Urls, time};
use crate::git::CommitInfo;
use crate::world::{
    CheckRun, Comment, CommitStatus, Issue, Label, PullRequest, Repo, Review, ReviewComment, World,
};

/// The installation id every payload names.
pub const INSTALLATION_ID: u64 = 1;

/// Where an event happens: the addresses, the world and the repository.
#[derive(Clone, Copy)]
pub struct At<'a> {
    pub urls: &'a Urls,
    pub world: &'a World,
    pub repo: &'a Repo,
}

/// Fields every payload ends with.
fn envelope(at: At<'_>, sender: u64, mut v: Value) -> Value {
    let At { urls, world, repo } = at;
    v["repository"] = urls.repo(world, repo, false);
    v["sender"] = urls.user(world, sender);
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
    let At { urls, world, repo } = at;
    let mut v = json!({"action": action, "issue": urls.issue(world, repo, issue)});
    if let Some(label) = label {
        v["label"] = urls.label(repo, label);
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
    let At { urls, world, repo } = at;
    let mut v = json!({
        "action": action,
        "issue": urls.issue(world, repo, issue),
        "comment": urls.comment(world, repo, issue.number, comment),
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
    let At { urls, world, repo } = at;
    let mut v = json!({
        "action": action,
        "number": pr.number,
        "pull_request": urls.pull(world, repo, issue, pr),
    });
    if let Value::Object(extra) = extra {
        for (k, x) in extra {
            v[k] = x;
        }
    }
    envelope(at, sender, v)
}

pub fn pull_request_review(at: At<'_>, issue: &Issue, pr: &PullRequest, review: &Review) -> Value {
    let At { urls, world, repo } = at;
    let v = json!({
        "action": "submitted",
        "review": urls.review(world, repo, pr.number, review),
        "pull_request": urls.pull(world, repo, issue, pr),
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
    let At { urls, world, repo } = at;
    let v = json!({
        "action": action,
        "comment": urls.review_comment(world, repo, pr.number, comment),
        "pull_request": urls.pull(world, repo, issue, pr),
    });
    envelope(at, comment.author, v)
}

/// A commit as the commits API (and the status event) shows it.
pub fn commit(
    urls: &Urls,
    world: &World,
    repo: &Repo,
    c: &CommitInfo,
    author: Option<u64>,
) -> Value {
    let a = urls.repo_api(repo);
    let person = json!({"name": c.author_name, "email": c.author_email, "date": time(c.timestamp)});
    let user = author.map(|u| urls.user(world, u)).unwrap_or(Value::Null);
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
            "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null},
        },
        "url": format!("{a}/commits/{}", c.sha),
        "html_url": format!("{}/commit/{}", urls.repo_web(repo), c.sha),
        "comments_url": format!("{a}/commits/{}/comments", c.sha),
        "author": user,
        "committer": user,
        "parents": c.parents.iter().map(|p| json!({
            "sha": p,
            "url": format!("{a}/commits/{p}"),
            "html_url": format!("{}/commit/{p}", urls.repo_web(repo)),
        })).collect::<Vec<_>>(),
    })
}

/// `status`: `branches` are the branches whose tip is the commit, as GitHub lists them.
pub fn status(at: At<'_>, s: &CommitStatus, c: &CommitInfo, branches: &[String]) -> Value {
    let At { urls, world, repo } = at;
    let a = urls.repo_api(repo);
    let v = json!({
        "id": s.id,
        "sha": s.sha,
        "name": repo.full_name(),
        "target_url": s.target_url,
        "context": s.context,
        "description": s.description,
        "state": s.state,
        "commit": commit(urls, world, repo, c, Some(s.creator)),
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
    let At { urls, world, repo } = at;
    let v = json!({"action": action, "check_run": urls.check_run(world, repo, c)});
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
    let At { urls, world, repo } = at;
    let web = urls.repo_web(repo);
    let login = world.login(pusher).to_owned();
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
    v["repository"] = urls.repo(world, repo, true);
    v
}
