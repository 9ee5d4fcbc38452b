//! World objects as GitHub's REST API answers with them. Webhooks carry objects of
//! their own shapes, built in [`super::webhook`]; the leaf helpers here (times, ids, URL
//! templates) serve both. A field GitHub sends that the world does not model is sent
//! with a fixed, type-correct value so clients that require it parse.

use serde_json::{Value, json};

use crate::world::{
    Comment, Issue, Label, PullRequest, Reaction, Repo, Review, ReviewComment, World,
};

/// The simulator's public addresses, needed for every `*_url` field.
#[derive(Debug, Clone)]
pub struct Urls {
    /// e.g. `http://127.0.0.1:PORT/api/github` (what `api.github.com` is on GitHub).
    pub api: String,
    /// e.g. `http://127.0.0.1:PORT` (what `github.com` is on GitHub).
    pub web: String,
}

/// RFC 3339 in UTC with whole seconds, as GitHub writes timestamps.
pub fn time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub fn opt_time(secs: Option<i64>) -> Value {
    secs.map(|s| Value::String(time(s))).unwrap_or(Value::Null)
}

/// GitHub's opaque GraphQL node id; clients only need it to be a stable string.
pub(crate) fn node_id(prefix: &str, id: u64) -> String {
    format!("{prefix}_sim{id}")
}

impl Urls {
    pub fn repo_api(&self, repo: &Repo) -> String {
        format!("{}/repos/{}", self.api, repo.full_name())
    }

    pub fn repo_web(&self, repo: &Repo) -> String {
        format!("{}/{}", self.web, repo.full_name())
    }

    /// A user (or bot) as the "simple user" object GitHub embeds everywhere.
    pub fn user(&self, world: &World, id: u64) -> Value {
        let (login, kind) = world
            .users
            .get(&id)
            .map(|u| (u.login.as_str(), u.kind))
            .unwrap_or(("ghost", "User"));
        let u = format!("{}/users/{login}", self.api);
        json!({
            "login": login,
            "id": id,
            "node_id": node_id("U", id),
            "avatar_url": format!("{}/avatars/{login}", self.web),
            "gravatar_id": "",
            "url": u,
            "html_url": format!("{}/{login}", self.web),
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
            "user_view_type": "public",
            "site_admin": false,
        })
    }

    /// The full repository object, as `GET /repos/{o}/{r}` answers.
    pub fn repo(&self, world: &World, repo: &Repo) -> Value {
        let a = self.repo_api(repo);
        let owner_id = world.user_by_login(&repo.owner).map(|u| u.id).unwrap_or(0);
        let owner = self.user(world, owner_id);
        let open = repo
            .issues
            .values()
            .filter(|i| i.state == crate::world::IssueState::Open)
            .count();
        let created = time(repo.created_at);
        let mut v = json!({
            "id": repo.id,
            "node_id": node_id("R", repo.id),
            "name": repo.name,
            "full_name": repo.full_name(),
            "private": false,
            "owner": owner,
            "html_url": self.repo_web(repo),
            "description": null,
            "fork": false,
            "url": a,
            "created_at": created,
            "updated_at": created,
            "pushed_at": created,
            "git_url": format!("{}.git", self.repo_web(repo)),
            "ssh_url": format!("git@sim:{}.git", repo.full_name()),
            "clone_url": format!("{}.git", self.repo_web(repo)),
            "svn_url": self.repo_web(repo),
            "homepage": null,
            "size": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": null,
            "has_issues": true,
            "has_projects": false,
            "has_downloads": true,
            "has_wiki": false,
            "has_pages": false,
            "has_discussions": false,
            "forks_count": 0,
            "mirror_url": null,
            "archived": false,
            "disabled": false,
            "open_issues_count": open,
            "license": null,
            "allow_forking": true,
            "forks": 0,
            "open_issues": open,
            "watchers": 0,
            "default_branch": repo.default_branch,
            "is_template": false,
            "topics": [],
            "visibility": "public",
            "web_commit_signoff_required": false,
            "custom_properties": {},
            "allow_merge_commit": true,
            "allow_squash_merge": true,
            "allow_rebase_merge": true,
            "allow_auto_merge": false,
            "allow_update_branch": false,
            "delete_branch_on_merge": false,
            "use_squash_pr_title_as_default": false,
        });
        for (key, tail) in REPO_URL_TEMPLATES {
            v[*key] = json!(format!("{a}{tail}"));
        }
        v
    }

    pub fn label(&self, repo: &Repo, label: &Label) -> Value {
        json!({
            "id": label.id,
            "node_id": node_id("LA", label.id),
            "url": format!("{}/labels/{}", self.repo_api(repo), encode(&label.name)),
            "name": label.name,
            "color": label.color,
            "default": false,
            "description": label.description,
        })
    }

    fn labels_of(&self, repo: &Repo, names: &[String]) -> Value {
        Value::Array(
            names
                .iter()
                .filter_map(|n| repo.label(n))
                .map(|l| self.label(repo, l))
                .collect(),
        )
    }

    pub fn issue(&self, world: &World, repo: &Repo, issue: &Issue) -> Value {
        let a = format!("{}/issues/{}", self.repo_api(repo), issue.number);
        let html_kind = if issue.is_pull { "pull" } else { "issues" };
        let mut v = json!({
            "url": a,
            "repository_url": self.repo_api(repo),
            "labels_url": format!("{a}/labels{{/name}}"),
            "comments_url": format!("{a}/comments"),
            "events_url": format!("{a}/events"),
            "html_url": format!("{}/{html_kind}/{}", self.repo_web(repo), issue.number),
            "id": issue.id,
            "node_id": node_id("I", issue.id),
            "number": issue.number,
            "title": issue.title,
            "user": self.user(world, issue.author),
            "labels": self.labels_of(repo, &issue.labels),
            "state": issue.state.as_str(),
            "state_reason": match issue.state {
                crate::world::IssueState::Closed => json!("completed"),
                crate::world::IssueState::Open => Value::Null,
            },
            "locked": false,
            "assignee": null,
            "assignees": [],
            "milestone": null,
            "comments": issue.comments.len(),
            "created_at": time(issue.created_at),
            "updated_at": time(issue.updated_at),
            "closed_at": opt_time(issue.closed_at),
            "closed_by": issue.closed_by.map(|u| self.user(world, u)),
            "author_association": association(world, repo, issue.author),
            "active_lock_reason": null,
            "body": issue.body,
            "reactions": reactions(&a),
            "timeline_url": format!("{a}/timeline"),
            "performed_via_github_app": null,
            "draft": false,
        });
        if issue.is_pull {
            let p = format!("{}/pulls/{}", self.repo_api(repo), issue.number);
            let h = format!("{}/pull/{}", self.repo_web(repo), issue.number);
            let merged_at = repo.pulls.get(&issue.number).and_then(|p| p.merged_at);
            v["pull_request"] = json!({
                "url": p,
                "html_url": h,
                "diff_url": format!("{h}.diff"),
                "patch_url": format!("{h}.patch"),
                "merged_at": opt_time(merged_at),
            });
            v["draft"] = json!(repo.pulls.get(&issue.number).is_some_and(|p| p.draft));
        }
        v
    }

    pub fn comment(&self, world: &World, repo: &Repo, number: u64, c: &Comment) -> Value {
        let a = format!("{}/issues/comments/{}", self.repo_api(repo), c.id);
        json!({
            "url": a,
            "html_url": format!("{}/issues/{number}#issuecomment-{}", self.repo_web(repo), c.id),
            "issue_url": format!("{}/issues/{number}", self.repo_api(repo)),
            "id": c.id,
            "node_id": node_id("IC", c.id),
            "user": self.user(world, c.author),
            "created_at": time(c.created_at),
            "updated_at": time(c.updated_at),
            "author_association": association(world, repo, c.author),
            "body": c.body,
            "reactions": reaction_counts(&a, repo.reactions.get(&c.id)),
            "performed_via_github_app": null,
        })
    }

    /// A reaction on a comment, as `POST .../reactions` answers it.
    pub fn reaction(&self, world: &World, r: &Reaction) -> Value {
        json!({
            "id": r.id,
            "node_id": node_id("REA", r.id),
            "user": self.user(world, r.user),
            "content": r.content,
            "created_at": time(r.created_at),
        })
    }

    fn branch(&self, world: &World, repo: &Repo, branch: &str, sha: &str) -> Value {
        let owner_id = world.user_by_login(&repo.owner).map(|u| u.id).unwrap_or(0);
        json!({
            "label": format!("{}:{branch}", repo.owner),
            "ref": branch,
            "sha": sha,
            "user": self.user(world, owner_id),
            "repo": self.repo(world, repo),
        })
    }

    pub fn pull(&self, world: &World, repo: &Repo, issue: &Issue, pr: &PullRequest) -> Value {
        let a = format!("{}/pulls/{}", self.repo_api(repo), pr.number);
        let ia = format!("{}/issues/{}", self.repo_api(repo), pr.number);
        let h = format!("{}/pull/{}", self.repo_web(repo), pr.number);
        let state = issue.state.as_str();
        let open = !pr.merged && issue.state == crate::world::IssueState::Open;
        json!({
            "url": a,
            "id": pr.id,
            "node_id": node_id("PR", pr.id),
            "html_url": h,
            "diff_url": format!("{h}.diff"),
            "patch_url": format!("{h}.patch"),
            "issue_url": ia,
            "number": pr.number,
            "state": state,
            "locked": false,
            "title": issue.title,
            "user": self.user(world, issue.author),
            "body": issue.body,
            "created_at": time(issue.created_at),
            "updated_at": time(issue.updated_at),
            "closed_at": opt_time(issue.closed_at),
            "merged_at": opt_time(pr.merged_at),
            "merge_commit_sha": pr.merge_commit_sha,
            "assignee": null,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "labels": self.labels_of(repo, &issue.labels),
            "milestone": null,
            "commits_url": format!("{a}/commits"),
            "review_comments_url": format!("{a}/comments"),
            "review_comment_url": format!("{}/pulls/comments{{/number}}", self.repo_api(repo)),
            "comments_url": format!("{ia}/comments"),
            "statuses_url": format!("{}/statuses/{}", self.repo_api(repo), pr.head_sha),
            "head": self.branch(world, repo, &pr.head_ref, &pr.head_sha),
            "base": self.branch(world, repo, &pr.base_ref, &pr.base_sha),
            "_links": {
                "self": {"href": a},
                "html": {"href": h},
                "issue": {"href": ia},
                "comments": {"href": format!("{ia}/comments")},
                "review_comments": {"href": format!("{a}/comments")},
                "review_comment": {"href": format!("{}/pulls/comments{{/number}}", self.repo_api(repo))},
                "commits": {"href": format!("{a}/commits")},
                "statuses": {"href": format!("{}/statuses/{}", self.repo_api(repo), pr.head_sha)},
            },
            "author_association": association(world, repo, issue.author),
            "auto_merge": null,
            "active_lock_reason": null,
            "draft": pr.draft,
            "merged": pr.merged,
            "mergeable": if open { json!(pr.mergeable) } else { Value::Null },
            "rebaseable": if open { json!(pr.mergeable) } else { Value::Null },
            "mergeable_state": match (open, pr.mergeable) {
                (true, Some(true)) => "clean",
                (true, Some(false)) => "dirty",
                _ => "unknown",
            },
            "merged_by": pr.merged_by.map(|u| self.user(world, u)),
            "comments": issue.comments.len(),
            "review_comments": pr.review_comments.len(),
            "maintainer_can_modify": false,
            "commits": 1,
            "additions": 0,
            "deletions": 0,
            "changed_files": 0,
        })
    }

    pub fn review(&self, world: &World, repo: &Repo, number: u64, r: &Review) -> Value {
        let p = format!("{}/pulls/{number}", self.repo_api(repo));
        let h = format!(
            "{}/pull/{number}#pullrequestreview-{}",
            self.repo_web(repo),
            r.id
        );
        json!({
            "id": r.id,
            "node_id": node_id("PRR", r.id),
            "user": self.user(world, r.author),
            "body": r.body,
            "commit_id": r.commit_id,
            "submitted_at": time(r.submitted_at),
            "state": r.state.as_str(),
            "html_url": h,
            "pull_request_url": p,
            "author_association": association(world, repo, r.author),
            "_links": {"html": {"href": h}, "pull_request": {"href": p}},
        })
    }

    pub fn review_comment(
        &self,
        world: &World,
        repo: &Repo,
        number: u64,
        c: &ReviewComment,
    ) -> Value {
        let a = format!("{}/pulls/comments/{}", self.repo_api(repo), c.id);
        let p = format!("{}/pulls/{number}", self.repo_api(repo));
        let h = format!("{}/pull/{number}#discussion_r{}", self.repo_web(repo), c.id);
        json!({
            "url": a,
            "pull_request_review_id": c.review_id,
            "id": c.id,
            "node_id": node_id("PRRC", c.id),
            "diff_hunk": "",
            "path": c.path,
            "position": c.line,
            "original_position": c.line,
            "commit_id": c.commit_id,
            "original_commit_id": c.commit_id,
            "user": self.user(world, c.author),
            "body": c.body,
            "created_at": time(c.created_at),
            "updated_at": time(c.updated_at),
            "html_url": h,
            "pull_request_url": p,
            "author_association": association(world, repo, c.author),
            "_links": {"self": {"href": a}, "html": {"href": h}, "pull_request": {"href": p}},
            "reactions": reaction_counts(&a, repo.reactions.get(&c.id)),
            "start_line": null,
            "original_start_line": null,
            "start_side": null,
            "line": c.line,
            "original_line": c.line,
            "side": "RIGHT",
            "subject_type": "line",
        })
    }
}

/// GitHub's `author_association` from the person's access to the repository.
pub(crate) fn association(world: &World, repo: &Repo, user: u64) -> &'static str {
    if world.login(user).eq_ignore_ascii_case(&repo.owner) {
        return "OWNER";
    }
    if repo.collaborators.contains_key(&user) {
        "COLLABORATOR"
    } else {
        "NONE"
    }
}

/// The reaction rollup of something nobody can react to in the simulator (issues).
pub(crate) fn reactions(url: &str) -> Value {
    reaction_counts(url, None)
}

/// The reaction rollup GitHub embeds in a comment: how many of each content.
pub(crate) fn reaction_counts(url: &str, given: Option<&Vec<Reaction>>) -> Value {
    let given = given.map_or(&[][..], Vec::as_slice);
    let mut v = json!({
        "url": format!("{url}/reactions"),
        "total_count": given.len(),
    });
    for content in crate::ops::GITHUB_REACTIONS {
        v[content] = json!(given.iter().filter(|r| r.content == content).count());
    }
    v
}

/// Percent-encode a path segment (label names have spaces and colons).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) const REPO_URL_TEMPLATES: &[(&str, &str)] = &[
    ("forks_url", "/forks"),
    ("keys_url", "/keys{/key_id}"),
    ("collaborators_url", "/collaborators{/collaborator}"),
    ("teams_url", "/teams"),
    ("hooks_url", "/hooks"),
    ("issue_events_url", "/issues/events{/number}"),
    ("events_url", "/events"),
    ("assignees_url", "/assignees{/user}"),
    ("branches_url", "/branches{/branch}"),
    ("tags_url", "/tags"),
    ("blobs_url", "/git/blobs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"),
    ("trees_url", "/git/trees{/sha}"),
    ("statuses_url", "/statuses/{sha}"),
    ("languages_url", "/languages"),
    ("stargazers_url", "/stargazers"),
    ("contributors_url", "/contributors"),
    ("subscribers_url", "/subscribers"),
    ("subscription_url", "/subscription"),
    ("commits_url", "/commits{/sha}"),
    ("git_commits_url", "/git/commits{/sha}"),
    ("comments_url", "/comments{/number}"),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("contents_url", "/contents/{+path}"),
    ("compare_url", "/compare/{base}...{head}"),
    ("merges_url", "/merges"),
    ("archive_url", "/{archive_format}{/ref}"),
    ("downloads_url", "/downloads"),
    ("issues_url", "/issues{/number}"),
    ("pulls_url", "/pulls{/number}"),
    ("milestones_url", "/milestones{/number}"),
    (
        "notifications_url",
        "/notifications{?since,all,participating}",
    ),
    ("labels_url", "/labels{/name}"),
    ("releases_url", "/releases{/id}"),
    ("deployments_url", "/deployments"),
];
