//! GitLab webhook payloads, shaped like the real ones (see `shared/fixtures/gitlab`):
//! `Issue Hook`, `Note Hook`, `Merge Request Hook`, `Pipeline Hook` and `Push Hook`.
//! Values come from the world; what it does not model is sent empty or fixed.

use serde_json::{Value, json};

use super::model::{GitlabProject, Pipeline};
use super::render::{
    hook_labels, hook_project, hook_project_current, hook_repository, hook_time, hook_user,
    merge_status, project_web, time,
};
use crate::git::CommitInfo;
use crate::github::events::RefUpdate;
use crate::github::render::Urls;
use crate::world::{Comment, Issue, IssueState, PullRequest, Repo, ReviewComment, World};

/// Where an event happens.
#[derive(Clone, Copy)]
pub struct At<'a> {
    pub urls: &'a Urls,
    pub world: &'a World,
    pub repo: &'a Repo,
    pub gl: &'a GitlabProject,
}

const ZERO: &str = "0000000000000000000000000000000000000000";

fn state_id(issue: &Issue, pr: Option<&PullRequest>) -> u64 {
    match (issue.state, pr) {
        (_, Some(p)) if p.merged => 3,
        (IssueState::Open, _) => 1,
        (IssueState::Closed, _) => 2,
    }
}

fn state_name(issue: &Issue, pr: Option<&PullRequest>) -> &'static str {
    match state_id(issue, pr) {
        3 => "merged",
        1 => "opened",
        _ => "closed",
    }
}

/// `object_attributes` of an issue.
fn issue_attributes(at: At<'_>, iid: u64, i: &Issue) -> Value {
    let At { urls, repo, .. } = at;
    json!({
        "id": i.id,
        "iid": iid,
        "title": i.title,
        "assignee_ids": [],
        "assignee_id": null,
        "author_id": i.author,
        "project_id": repo.id,
        "created_at": time(i.created_at),
        "updated_at": time(i.updated_at),
        "updated_by_id": null,
        "last_edited_at": null,
        "last_edited_by_id": null,
        "relative_position": 0,
        "description": i.body.clone().unwrap_or_default(),
        "milestone_id": null,
        "state_id": state_id(i, None),
        "confidential": false,
        "discussion_locked": false,
        "due_date": null,
        "moved_to_id": null,
        "duplicated_to_id": null,
        "time_estimate": 0,
        "total_time_spent": 0,
        "time_change": 0,
        "human_total_time_spent": null,
        "human_time_estimate": null,
        "human_time_change": null,
        "weight": 0,
        "url": format!("{}/-/issues/{iid}", project_web(urls, repo)),
        "state": state_name(i, None),
        "severity": "unknown",
        "escalation_status": "",
        "escalation_policy": {"id": 0, "name": ""},
        "closed_at": i.closed_at.map(time),
        "labels": hook_labels(repo, &i.labels),
    })
}

fn last_commit(urls: &Urls, repo: &Repo, c: Option<&CommitInfo>, sha: &str) -> Value {
    let (message, name, email, ts) = c
        .map(|c| {
            (
                c.message.clone(),
                c.author_name.clone(),
                c.author_email.clone(),
                c.timestamp,
            )
        })
        .unwrap_or_default();
    json!({
        "id": sha,
        "message": message,
        "title": message.lines().next().unwrap_or_default(),
        "timestamp": chrono::DateTime::from_timestamp(ts, 0).unwrap_or_default().to_rfc3339(),
        "url": format!("{}/-/commit/{sha}", project_web(urls, repo)),
        "author": {"name": name, "email": email},
    })
}

/// `object_attributes` of a merge request (also the `merge_request` of a note).
fn mr_attributes(
    at: At<'_>,
    iid: u64,
    i: &Issue,
    pr: &PullRequest,
    head: Option<&CommitInfo>,
) -> Value {
    let At { urls, repo, .. } = at;
    let (merge_status, detailed) = merge_status(pr);
    let draft = pr.draft || i.title.starts_with("Draft:");
    json!({
        "id": pr.id,
        "iid": iid,
        "target_branch": pr.base_ref,
        "source_branch": pr.head_ref,
        "source_project_id": repo.id,
        "target_project_id": repo.id,
        "author_id": i.author,
        "assignee_ids": [],
        "assignee_id": null,
        "reviewer_ids": [],
        "title": i.title,
        "created_at": hook_time(i.created_at),
        "updated_at": hook_time(i.updated_at),
        "milestone_id": null,
        "state": state_name(i, Some(pr)),
        "state_id": state_id(i, Some(pr)),
        "blocking_discussions_resolved": true,
        "work_in_progress": draft,
        "draft": draft,
        "first_contribution": false,
        "merge_status": merge_status,
        "detailed_merge_status": detailed,
        "description": i.body.clone().unwrap_or_default(),
        "url": format!("{}/-/merge_requests/{iid}", project_web(urls, repo)),
        "source": hook_project(urls, repo),
        "target": hook_project(urls, repo),
        "last_edited_at": null,
        "last_edited_by_id": null,
        "last_commit": last_commit(urls, repo, head, &pr.head_sha),
        "merge_commit_sha": pr.merge_commit_sha,
        "total_time_spent": 0,
        "time_change": 0,
        "human_total_time_spent": null,
        "human_time_change": null,
        "human_time_estimate": null,
        "position": 0,
        "labels": hook_labels(repo, &i.labels),
    })
}

fn envelope(at: At<'_>, kind: &str, actor: u64, mut v: Value) -> Value {
    v["object_kind"] = json!(kind);
    v["event_type"] = json!(kind);
    v["user"] = hook_user(at.urls, at.world, actor);
    v["project"] = hook_project(at.urls, at.repo);
    v["repository"] = hook_repository(at.urls, at.repo, false);
    v
}

/// `Issue Hook`; `action` is `open`, `update`, `close` or `reopen`; `changes` holds
/// `{field: {previous, current}}` for what changed.
pub fn issue(at: At<'_>, iid: u64, i: &Issue, action: &str, actor: u64, changes: Value) -> Value {
    let mut attrs = issue_attributes(at, iid, i);
    attrs["action"] = json!(action);
    let v = json!({
        "object_attributes": attrs,
        "labels": hook_labels(at.repo, &i.labels),
        "changes": changes,
        "assignees": [],
        "assignee": null,
    });
    envelope(at, "issue", actor, v)
}

/// `Merge Request Hook`: `open`, `update` (with `oldrev` after a push), `close`,
/// `reopen`, `merge`, `approved`, `unapproved`.
#[allow(clippy::too_many_arguments)]
pub fn merge_request(
    at: At<'_>,
    iid: u64,
    i: &Issue,
    pr: &PullRequest,
    head: Option<&CommitInfo>,
    action: &str,
    actor: u64,
    changes: Value,
    oldrev: Option<&str>,
) -> Value {
    let mut attrs = mr_attributes(at, iid, i, pr, head);
    attrs["action"] = json!(action);
    if let Some(old) = oldrev {
        attrs["oldrev"] = json!(old);
    }
    let v = json!({
        "object_attributes": attrs,
        "labels": hook_labels(at.repo, &i.labels),
        "changes": changes,
        "assignees": [],
        "reviewers": [],
    });
    envelope(at, "merge_request", actor, v)
}

/// What a note is on.
pub enum Noteable<'a> {
    Issue(u64, &'a Issue),
    MergeRequest(u64, &'a Issue, &'a PullRequest, Option<&'a CommitInfo>),
}

/// `Note Hook` for a comment (or a `DiffNote` when `diff` is given).
pub fn note(
    at: At<'_>,
    on: Noteable<'_>,
    c: &Comment,
    diff: Option<&ReviewComment>,
    action: &str,
) -> Value {
    let At { urls, repo, .. } = at;
    let (kind, noteable_id, path, iid) = match &on {
        Noteable::Issue(iid, i) => ("Issue", i.id, "issues", *iid),
        Noteable::MergeRequest(iid, _, pr, _) => ("MergeRequest", pr.id, "merge_requests", *iid),
    };
    let mut attrs = json!({
        "id": c.id,
        "note": c.body,
        "noteable_type": kind,
        "author_id": c.author,
        "created_at": hook_time(c.created_at),
        "updated_at": hook_time(c.updated_at),
        "project_id": repo.id,
        "attachment": null,
        "line_code": null,
        "commit_id": "",
        "noteable_id": noteable_id,
        "system": false,
        "st_diff": null,
        "description": c.body,
        "action": action,
        "type": null,
        "url": format!("{}/-/{path}/{iid}#note_{}", project_web(urls, repo), c.id),
    });
    if let Some(d) = diff {
        attrs["type"] = json!("DiffNote");
        attrs["commit_id"] = json!(d.commit_id);
        attrs["position"] = json!({
            "old_path": d.path, "new_path": d.path, "position_type": "text",
            "old_line": null, "new_line": d.line, "head_sha": d.commit_id,
        });
    }
    let mut v = json!({"project_id": repo.id, "object_attributes": attrs});
    match on {
        Noteable::Issue(iid, i) => {
            let mut issue = issue_attributes(at, iid, i);
            issue["position"] = json!(0);
            issue["branch_name"] = Value::Null;
            v["issue"] = issue;
        }
        Noteable::MergeRequest(iid, i, pr, head) => {
            let mut mr = mr_attributes(at, iid, i, pr, head);
            mr["assignee"] = json!({"name": "", "username": "", "avatar_url": ""});
            v["merge_request"] = mr;
        }
    }
    envelope(at, "note", c.author, v)
}

/// `Pipeline Hook`; `mr` is the merge request whose source branch it ran on, if any.
pub fn pipeline(
    at: At<'_>,
    p: &Pipeline,
    commit: Option<&CommitInfo>,
    mr: Option<(u64, &Issue, &PullRequest)>,
) -> Value {
    let At {
        urls, world, repo, ..
    } = at;
    let duration = p
        .finished_at
        .map(|f| f - p.started_at.unwrap_or(p.created_at));
    let detailed = match p.status.as_str() {
        "success" => "passed",
        other => other,
    };
    let mut v = json!({
        "object_kind": "pipeline",
        "object_attributes": {
            "id": p.id,
            "iid": p.iid,
            "name": null,
            "ref": p.git_ref,
            "tag": false,
            "sha": p.sha,
            "before_sha": p.before_sha,
            "source": p.source,
            "status": p.status,
            "detailed_status": detailed,
            "stages": ["test"],
            "created_at": hook_time(p.created_at),
            "finished_at": p.finished_at.map(hook_time),
            "duration": duration,
            "queued_duration": 0,
            "variables": [],
            "url": format!("{}/-/pipelines/{}", project_web(urls, repo), p.id),
        },
        "merge_request": null,
        "user": hook_user(urls, world, p.user),
        "project": hook_project_current(urls, repo),
        "commit": last_commit(urls, repo, commit, &p.sha),
        "source_pipeline": null,
        "builds": [],
    });
    if let Some((iid, i, pr)) = mr {
        let (merge_status, detailed) = merge_status(pr);
        v["merge_request"] = json!({
            "id": pr.id,
            "iid": iid,
            "title": i.title,
            "source_branch": pr.head_ref,
            "source_project_id": repo.id,
            "target_branch": pr.base_ref,
            "target_project_id": repo.id,
            "state": state_name(i, Some(pr)),
            "merge_status": merge_status,
            "detailed_merge_status": detailed,
            "url": format!("{}/-/merge_requests/{iid}", project_web(urls, repo)),
        });
    }
    v
}

/// `Push Hook` for one ref.
pub fn push(at: At<'_>, update: &RefUpdate, commits: &[CommitInfo], pusher: u64) -> Value {
    let At {
        urls, world, repo, ..
    } = at;
    let web = project_web(urls, repo);
    let login = world.login(pusher);
    let as_json = |c: &CommitInfo| {
        json!({
            "id": c.sha,
            "message": c.message,
            "title": c.message.lines().next().unwrap_or_default(),
            "timestamp": chrono::DateTime::from_timestamp(c.timestamp, 0).unwrap_or_default().to_rfc3339(),
            "url": format!("{web}/-/commit/{}", c.sha),
            "author": {"name": c.author_name, "email": c.author_email},
            "added": c.added,
            "modified": c.modified,
            "removed": c.removed,
        })
    };
    // GitLab lists at most 20 commits, newest last, and counts them all.
    let shown: Vec<Value> = commits.iter().rev().take(20).rev().map(as_json).collect();
    json!({
        "object_kind": "push",
        "event_name": "push",
        "before": update.before.as_deref().unwrap_or(ZERO),
        "after": update.after.as_deref().unwrap_or(ZERO),
        "ref": update.name,
        "ref_protected": update.name == format!("refs/heads/{}", repo.default_branch),
        "checkout_sha": update.after,
        "message": null,
        "user_id": pusher,
        "user_name": login,
        "user_username": login,
        "user_email": format!("{login}@users.noreply.sim"),
        "user_avatar": format!("{}/avatars/{login}", urls.web),
        "project_id": repo.id,
        "project": hook_project(urls, repo),
        "repository": hook_repository(urls, repo, true),
        "commits": shown,
        "total_commits_count": commits.len(),
    })
}
