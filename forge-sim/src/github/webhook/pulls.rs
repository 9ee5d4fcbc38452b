//! Pull requests, reviews and line comments as webhooks carry them.

use serde_json::{Value, json};

use super::At;
use crate::github::render::{node_id, opt_time, time};
use crate::world::{Issue, IssueState, PullRequest, Review, ReviewComment, ReviewState};

/// A review's state as webhooks spell it (the REST API says `APPROVED`).
fn review_state(state: ReviewState) -> &'static str {
    match state {
        ReviewState::Approved => "approved",
        ReviewState::ChangesRequested => "changes_requested",
        ReviewState::Commented => "commented",
    }
}

impl At<'_> {
    fn branch(&self, branch: &str, sha: &str) -> Value {
        json!({
            "label": format!("{}:{branch}", self.repo.owner),
            "ref": branch,
            "sha": sha,
            "user": self.user(self.owner_id()),
            "repo": self.repository(false),
        })
    }

    /// The "simple" pull request that review and review-comment events carry: no
    /// merge state, no counts.
    pub fn simple_pull_request(&self, issue: &Issue, pr: &PullRequest) -> Value {
        let api = self.repo_api();
        let a = format!("{api}/pulls/{}", pr.number);
        let ia = format!("{api}/issues/{}", pr.number);
        let h = format!("{}/pull/{}", self.repo_web(), pr.number);
        let statuses = format!("{api}/statuses/{}", pr.head_sha);
        let review_comment = format!("{api}/pulls/comments{{/number}}");
        json!({
            "url": a,
            "id": pr.id,
            "node_id": node_id("PR", pr.id),
            "html_url": h,
            "diff_url": format!("{h}.diff"),
            "patch_url": format!("{h}.patch"),
            "issue_url": ia,
            "number": pr.number,
            "state": issue.state.as_str(),
            "locked": false,
            "title": issue.title,
            "user": self.user(issue.author),
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
            "labels": self.labels(&issue.labels),
            "milestone": null,
            "draft": pr.draft,
            "commits_url": format!("{a}/commits"),
            "review_comments_url": format!("{a}/comments"),
            "review_comment_url": review_comment,
            "comments_url": format!("{ia}/comments"),
            "statuses_url": statuses,
            "head": self.branch(&pr.head_ref, &pr.head_sha),
            "base": self.branch(&pr.base_ref, &pr.base_sha),
            "_links": {
                "self": {"href": a},
                "html": {"href": h},
                "issue": {"href": ia},
                "comments": {"href": format!("{ia}/comments")},
                "review_comments": {"href": format!("{a}/comments")},
                "review_comment": {"href": review_comment},
                "commits": {"href": format!("{a}/commits")},
                "statuses": {"href": statuses},
            },
            "author_association": self.association(issue.author),
            "auto_merge": null,
            "active_lock_reason": null,
        })
    }

    /// The full pull request that `pull_request` events carry: the simple one plus
    /// its merge state and counts, as the webhook docs define it.
    pub fn pull_request(&self, issue: &Issue, pr: &PullRequest) -> Value {
        let open = !pr.merged && issue.state == IssueState::Open;
        let full = json!({
            "merged": pr.merged,
            "mergeable": if open { json!(pr.mergeable) } else { Value::Null },
            "rebaseable": if open { json!(pr.mergeable) } else { Value::Null },
            "mergeable_state": match (open, pr.mergeable) {
                (true, Some(true)) => "clean",
                (true, Some(false)) => "dirty",
                _ => "unknown",
            },
            "merged_by": pr.merged_by.map(|u| self.user(u)),
            "comments": issue.comments.len(),
            "review_comments": pr.review_comments.len(),
            "maintainer_can_modify": false,
            "commits": 1,
            "additions": 0,
            "deletions": 0,
            "changed_files": 0,
        });
        let mut v = self.simple_pull_request(issue, pr);
        if let (Value::Object(v), Value::Object(full)) = (&mut v, full) {
            v.extend(full);
        }
        v
    }

    pub fn review(&self, number: u64, r: &Review) -> Value {
        let p = format!("{}/pulls/{number}", self.repo_api());
        let h = format!(
            "{}/pull/{number}#pullrequestreview-{}",
            self.repo_web(),
            r.id
        );
        json!({
            "id": r.id,
            "node_id": node_id("PRR", r.id),
            "user": self.user(r.author),
            "body": r.body,
            "commit_id": r.commit_id,
            "submitted_at": time(r.submitted_at),
            "state": review_state(r.state),
            "html_url": h,
            "pull_request_url": p,
            "author_association": self.association(r.author),
            "_links": {"html": {"href": h}, "pull_request": {"href": p}},
        })
    }

    /// A comment on a line of the diff; on GitHub every one belongs to a review.
    pub fn review_comment(&self, number: u64, c: &ReviewComment) -> Value {
        // The REST object's fields, with the user as webhooks embed one.
        let mut v = self.urls.review_comment(self.world, self.repo, number, c);
        v["user"] = self.user(c.author);
        v
    }
}
