//! World objects as GitLab's JSON, for REST answers and (in the hook dialect, where
//! users carry `email` and timestamps differ) for webhook payloads. Fields GitLab sends
//! that the world does not model get fixed, type-correct values so clients parse them.

use serde_json::{Value, json};

use super::model::{GitlabProject, Pipeline};
use crate::github::render::Urls;
use crate::world::{
    Comment, Issue, IssueState, Label, PullRequest, Reaction, Repo, ReviewComment, World,
};

/// RFC 3339 with milliseconds, as GitLab's REST API writes timestamps.
pub fn time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// `2015-05-17 17:06:40 UTC`, as note and pipeline hooks write timestamps.
pub fn hook_time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}

pub fn opt_time(secs: Option<i64>) -> Value {
    secs.map(|s| Value::String(time(s))).unwrap_or(Value::Null)
}

pub fn project_web(urls: &Urls, repo: &Repo) -> String {
    format!("{}/{}", urls.web, repo.full_name())
}

/// A user as the REST API embeds it (`author`, `user`, members).
pub fn user(urls: &Urls, world: &World, id: u64) -> Value {
    let login = world.login(id);
    json!({
        "id": id,
        "username": login,
        "name": login,
        "state": "active",
        "locked": false,
        "avatar_url": format!("{}/avatars/{login}", urls.web),
        "web_url": format!("{}/{login}", urls.web),
    })
}

/// A user as hooks embed it (`user`, with `email`).
pub fn hook_user(urls: &Urls, world: &World, id: u64) -> Value {
    let login = world.login(id);
    json!({
        "id": id,
        "name": login,
        "username": login,
        "avatar_url": format!("{}/avatars/{login}", urls.web),
        "email": format!("{login}@users.noreply.sim"),
    })
}

/// GitLab's project object in hooks (`project`, and MRs' `source`/`target`), with
/// the legacy `homepage`, `url`, `ssh_url` and `http_url` that most hooks still carry.
pub fn hook_project(urls: &Urls, repo: &Repo) -> Value {
    let web = project_web(urls, repo);
    let git = format!("{web}.git");
    let ssh = format!("git@sim:{}.git", repo.full_name());
    let mut v = hook_project_current(urls, repo);
    v["homepage"] = json!(web);
    v["url"] = json!(git);
    v["ssh_url"] = json!(ssh);
    v["http_url"] = json!(git);
    v
}

/// The project as pipeline hooks carry it: without the legacy fields.
pub fn hook_project_current(urls: &Urls, repo: &Repo) -> Value {
    let web = project_web(urls, repo);
    let git = format!("{web}.git");
    let ssh = format!("git@sim:{}.git", repo.full_name());
    json!({
        "id": repo.id,
        "name": repo.name,
        "description": "",
        "web_url": web,
        "avatar_url": null,
        "git_ssh_url": ssh,
        "git_http_url": git,
        "namespace": repo.owner,
        "visibility_level": 20,
        "path_with_namespace": repo.full_name(),
        "default_branch": repo.default_branch,
        "ci_config_path": null,
    })
}

/// The legacy `repository` object hooks still carry: issue, merge request and note
/// hooks name only what it is; push hooks add where to clone it.
pub fn hook_repository(urls: &Urls, repo: &Repo, push: bool) -> Value {
    let web = project_web(urls, repo);
    let mut v = json!({
        "name": repo.name,
        "url": format!("{web}.git"),
        "description": "",
        "homepage": web,
    });
    if push {
        v["git_http_url"] = json!(format!("{web}.git"));
        v["git_ssh_url"] = json!(format!("git@sim:{}.git", repo.full_name()));
        v["visibility_level"] = json!(20);
    }
    v
}

/// The REST project (`GET /projects/:id`).
pub fn project(urls: &Urls, repo: &Repo, gl: &GitlabProject) -> Value {
    let web = project_web(urls, repo);
    let top = repo.owner.split('/').next().unwrap_or_default();
    json!({
        "id": repo.id,
        "description": null,
        "name": repo.name,
        "name_with_namespace": repo.full_name().replace('/', " / "),
        "path": repo.name,
        "path_with_namespace": repo.full_name(),
        "created_at": time(repo.created_at),
        "default_branch": repo.default_branch,
        "ssh_url_to_repo": format!("git@sim:{}.git", repo.full_name()),
        "http_url_to_repo": format!("{web}.git"),
        "web_url": web,
        "visibility": "public",
        "namespace": {
            "id": repo.id + 1_000_000,
            "name": repo.owner.rsplit('/').next().unwrap_or_default(),
            "path": repo.owner.rsplit('/').next().unwrap_or_default(),
            "kind": "group",
            "full_path": repo.owner,
            "parent_id": null,
            "web_url": format!("{}/groups/{}", urls.web, repo.owner),
        },
        "archived": false,
        "issues_enabled": true,
        "merge_requests_enabled": true,
        "merge_method": "merge",
        "squash_option": "default_off",
        "only_allow_merge_if_pipeline_succeeds": gl.only_allow_merge_if_pipeline_succeeds,
        "only_allow_merge_if_all_discussions_are_resolved": false,
        "remove_source_branch_after_merge": false,
        "open_issues_count": repo.issues.values().filter(|i| !i.is_pull && i.state == IssueState::Open).count(),
        "_links": {"self": format!("{}{}/projects/{}", urls.web, super::API_PREFIX, repo.id)},
        "top_level_namespace": top,
    })
}

/// A label as hooks embed it.
pub fn hook_label(repo: &Repo, l: &Label) -> Value {
    json!({
        "id": l.id,
        "title": l.name,
        "color": format!("#{}", l.color),
        "project_id": repo.id,
        "created_at": time(repo.created_at),
        "updated_at": time(repo.created_at),
        "template": false,
        "description": l.description,
        "type": "ProjectLabel",
        "group_id": null,
    })
}

/// The labels on an issue or MR, in hook form.
pub fn hook_labels(repo: &Repo, names: &[String]) -> Vec<Value> {
    names
        .iter()
        .filter_map(|n| repo.label(n))
        .map(|l| hook_label(repo, l))
        .collect()
}

/// A label as `GET /projects/:id/labels/:name` answers it.
pub fn label(repo: &Repo, l: &Label) -> Value {
    let count = |open: bool| {
        repo.issues
            .values()
            .filter(|i| !i.is_pull && (i.state == IssueState::Open) == open)
            .filter(|i| i.labels.iter().any(|n| n.eq_ignore_ascii_case(&l.name)))
            .count()
    };
    json!({
        "id": l.id,
        "name": l.name,
        "color": format!("#{}", l.color),
        "text_color": "#FFFFFF",
        "description": l.description,
        "description_html": l.description.clone().unwrap_or_default(),
        "open_issues_count": count(true),
        "closed_issues_count": count(false),
        "open_merge_requests_count": 0,
        "subscribed": false,
        "priority": null,
        "is_project_label": true,
    })
}

fn state(issue: &Issue, pr: Option<&PullRequest>) -> &'static str {
    match (issue.state, pr) {
        (_, Some(p)) if p.merged => "merged",
        (IssueState::Open, _) => "opened",
        (IssueState::Closed, _) => "closed",
    }
}

/// An issue as the REST API answers it.
pub fn issue(urls: &Urls, world: &World, repo: &Repo, iid: u64, i: &Issue) -> Value {
    let web = format!("{}/-/issues/{iid}", project_web(urls, repo));
    json!({
        "id": i.id,
        "iid": iid,
        "project_id": repo.id,
        "title": i.title,
        "description": i.body,
        "state": state(i, None),
        "created_at": time(i.created_at),
        "updated_at": time(i.updated_at),
        "closed_at": opt_time(i.closed_at),
        "closed_by": i.closed_by.map(|u| user(urls, world, u)),
        "labels": i.labels,
        "milestone": null,
        "assignees": [],
        "assignee": null,
        "author": user(urls, world, i.author),
        "type": "ISSUE",
        "issue_type": "issue",
        "user_notes_count": i.comments.len(),
        "merge_requests_count": 0,
        "upvotes": 0,
        "downvotes": 0,
        "due_date": null,
        "confidential": false,
        "discussion_locked": null,
        "web_url": web,
        "references": {
            "short": format!("#{iid}"),
            "relative": format!("#{iid}"),
            "full": format!("{}#{iid}", repo.full_name()),
        },
        "_links": {
            "self": format!("{}{}/projects/{}/issues/{iid}", urls.web, super::API_PREFIX, repo.id),
            "notes": format!("{}{}/projects/{}/issues/{iid}/notes", urls.web, super::API_PREFIX, repo.id),
        },
    })
}

/// `merge_status` and `detailed_merge_status` from what the world knows.
pub fn merge_status(pr: &PullRequest) -> (&'static str, &'static str) {
    match pr.mergeable {
        _ if pr.merged => ("merged", "not_open"),
        None => ("checking", "checking"),
        Some(true) => ("can_be_merged", "mergeable"),
        Some(false) => ("cannot_be_merged", "conflict"),
    }
}

/// A merge request as the REST API answers it.
pub fn mr(
    urls: &Urls,
    world: &World,
    repo: &Repo,
    gl: &GitlabProject,
    iid: u64,
    i: &Issue,
    pr: &PullRequest,
) -> Value {
    let web = format!("{}/-/merge_requests/{iid}", project_web(urls, repo));
    let (merge_status, detailed) = merge_status(pr);
    let draft = pr.draft || i.title.starts_with("Draft:");
    let squash = gl.squash_commits.get(&pr.number);
    json!({
        "id": pr.id,
        "iid": iid,
        "project_id": repo.id,
        "title": i.title,
        "description": i.body,
        "state": state(i, Some(pr)),
        "created_at": time(i.created_at),
        "updated_at": time(i.updated_at),
        "merged_by": pr.merged_by.map(|u| user(urls, world, u)),
        "merge_user": pr.merged_by.map(|u| user(urls, world, u)),
        "merged_at": opt_time(pr.merged_at),
        "closed_by": if pr.merged { None } else { i.closed_by.map(|u| user(urls, world, u)) },
        "closed_at": if pr.merged { Value::Null } else { opt_time(i.closed_at) },
        "target_branch": pr.base_ref,
        "source_branch": pr.head_ref,
        "source_project_id": repo.id,
        "target_project_id": repo.id,
        "labels": i.labels,
        "author": user(urls, world, i.author),
        "assignees": [],
        "assignee": null,
        "reviewers": [],
        "draft": draft,
        "work_in_progress": draft,
        "milestone": null,
        "merge_when_pipeline_succeeds": false,
        "merge_status": merge_status,
        "detailed_merge_status": detailed,
        "has_conflicts": pr.mergeable == Some(false),
        "sha": pr.head_sha,
        // The project merges with merge commits, squashed or not.
        "merge_commit_sha": pr.merge_commit_sha,
        "squash_commit_sha": squash,
        "squash": squash.is_some(),
        "user_notes_count": i.comments.len(),
        "should_remove_source_branch": null,
        "force_remove_source_branch": false,
        "diff_refs": {"base_sha": pr.base_sha, "head_sha": pr.head_sha, "start_sha": pr.base_sha},
        "web_url": web,
        "references": {
            "short": format!("!{iid}"),
            "relative": format!("!{iid}"),
            "full": format!("{}!{iid}", repo.full_name()),
        },
    })
}

/// A note as the REST API answers it; `noteable` is `Issue` or `MergeRequest`.
pub fn note(
    urls: &Urls,
    world: &World,
    noteable: (&str, u64, u64),
    c: &Comment,
    system: bool,
) -> Value {
    let (kind, noteable_id, iid) = noteable;
    json!({
        "id": c.id,
        "type": null,
        "body": c.body,
        "attachment": null,
        "author": user(urls, world, c.author),
        "created_at": time(c.created_at),
        "updated_at": time(c.updated_at),
        "system": system,
        "noteable_id": noteable_id,
        "noteable_type": kind,
        "noteable_iid": iid,
        "project_id": null,
        "resolvable": false,
        "confidential": false,
        "internal": false,
    })
}

/// An award emoji on note `note` (`awardable_type` `Note`), as the award emoji API
/// answers it; `url` is only set for custom emoji, which the simulator has none of.
pub fn award(urls: &Urls, world: &World, note: u64, a: &Reaction) -> Value {
    json!({
        "id": a.id,
        "name": a.content,
        "user": user(urls, world, a.user),
        "created_at": time(a.created_at),
        "updated_at": time(a.created_at),
        "awardable_id": note,
        "awardable_type": "Note",
        "url": null,
    })
}

/// The signed-in user (`GET /user`): the embedded user and the account's own fields.
pub fn current_user(urls: &Urls, world: &World, id: u64) -> Value {
    let mut v = user(urls, world, id);
    let login = world.login(id);
    let bot = world.users.get(&id).is_some_and(|u| u.kind == "Bot");
    for (k, val) in [
        ("created_at", json!(time(0))),
        ("bio", json!("")),
        ("location", json!("")),
        ("public_email", Value::Null),
        ("linkedin", json!("")),
        ("twitter", json!("")),
        ("website_url", json!("")),
        ("organization", json!("")),
        ("job_title", json!("")),
        ("bot", json!(bot)),
        ("last_sign_in_at", Value::Null),
        ("confirmed_at", json!(time(0))),
        ("last_activity_on", Value::Null),
        ("email", json!(format!("{login}@users.noreply.sim"))),
        ("theme_id", json!(1)),
        ("color_scheme_id", json!(1)),
        ("projects_limit", json!(100_000)),
        ("current_sign_in_at", Value::Null),
        ("identities", json!([])),
        ("can_create_group", json!(true)),
        ("can_create_project", json!(true)),
        ("two_factor_enabled", json!(false)),
        ("external", json!(false)),
        ("private_profile", json!(false)),
    ] {
        v[k] = val;
    }
    v
}

/// A line comment on an MR's diff as a `DiffNote` with its `position`.
pub fn diff_note(
    urls: &Urls,
    world: &World,
    repo: &Repo,
    pr: &PullRequest,
    iid: u64,
    c: &ReviewComment,
) -> Value {
    json!({
        "id": c.id,
        "type": "DiffNote",
        "body": c.body,
        "attachment": null,
        "author": user(urls, world, c.author),
        "created_at": time(c.created_at),
        "updated_at": time(c.updated_at),
        "system": false,
        "noteable_id": pr.id,
        "noteable_type": "MergeRequest",
        "noteable_iid": iid,
        "project_id": repo.id,
        "resolvable": true,
        "resolved": false,
        "resolved_by": null,
        "confidential": false,
        "internal": false,
        "commit_id": c.commit_id,
        "position": {
            "base_sha": pr.base_sha,
            "start_sha": pr.base_sha,
            "head_sha": c.commit_id,
            "old_path": c.path,
            "new_path": c.path,
            "position_type": "text",
            "old_line": null,
            "new_line": c.line,
        },
    })
}

/// A pipeline as `GET /projects/:id/pipelines` lists it.
pub fn pipeline(urls: &Urls, repo: &Repo, p: &Pipeline) -> Value {
    json!({
        "id": p.id,
        "iid": p.iid,
        "project_id": repo.id,
        "sha": p.sha,
        "ref": p.git_ref,
        "status": p.status,
        "source": p.source,
        "created_at": time(p.created_at),
        "updated_at": time(p.finished_at.or(p.started_at).unwrap_or(p.created_at)),
        "web_url": format!("{}/-/pipelines/{}", project_web(urls, repo), p.id),
    })
}
