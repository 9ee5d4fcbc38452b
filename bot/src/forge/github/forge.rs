//! The [`Forge`] trait for [`GithubForge`]: which REST endpoint each method calls.

use async_trait::async_trait;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;
use webhooks::ForgeKind;

use super::types::*;
use super::{GithubForge, file_path, seg};
use crate::forge::ok_or_none;
use crate::forge::*;

#[async_trait]
impl Forge for GithubForge {
    fn kind(&self) -> ForgeKind {
        ForgeKind::GitHub
    }

    fn host(&self) -> &str {
        &self.host
    }

    async fn issue(&self, repo: &RepoPath, number: u64) -> ForgeResult<Issue> {
        let route = Self::route(repo, &format!("issues/{number}"));
        Ok(self.get::<GhIssue>("issue", repo, &route).await?.into())
    }

    async fn create_issue(&self, repo: &RepoPath, new: &NewIssue) -> ForgeResult<Issue> {
        let body = json!({"title": new.title, "body": new.body, "labels": new.labels});
        let route = Self::route(repo, "issues");
        let i: GhIssue = self
            .send("create_issue", repo, http::Method::POST, &route, &body)
            .await?;
        Ok(i.into())
    }

    async fn set_issue_state(&self, repo: &RepoPath, number: u64, s: State) -> ForgeResult<()> {
        let route = Self::route(repo, &format!("issues/{number}"));
        let body = json!({"state": state_str(s)});
        let _: serde_json::Value = self
            .send("set_issue_state", repo, http::Method::PATCH, &route, &body)
            .await?;
        Ok(())
    }

    async fn issues_with_label(&self, repo: &RepoPath, label: &str) -> ForgeResult<Vec<Issue>> {
        let route = Self::route(repo, &format!("issues?state=open&labels={}", seg(label)));
        let all: Vec<GhIssue> = self.all("issues_with_label", repo, &route).await?;
        Ok(all
            .into_iter()
            .filter(|i| i.pull_request.is_none())
            .map(Issue::from)
            .collect())
    }

    async fn label_added_by(
        &self,
        repo: &RepoPath,
        number: u64,
        label: &str,
    ) -> ForgeResult<Option<String>> {
        #[derive(Deserialize)]
        struct Event {
            event: String,
            actor: Option<GhUser>,
            label: Option<GhLabel>,
        }
        let route = Self::route(repo, &format!("issues/{number}/events"));
        let events: Vec<Event> = self.all("label_added_by", repo, &route).await?;
        // Events come oldest first: the last "labeled" is who put it there now.
        Ok(events
            .into_iter()
            .filter(|e| e.event == "labeled" && e.label.as_ref().is_some_and(|l| l.name == label))
            .filter_map(|e| e.actor.map(|a| a.login))
            .next_back())
    }

    async fn comments(
        &self,
        repo: &RepoPath,
        number: u64,
        on_pull_request: bool,
    ) -> ForgeResult<Vec<Comment>> {
        let route = Self::route(repo, &format!("issues/{number}/comments"));
        let all: Vec<GhComment> = self.all("comments", repo, &route).await?;
        Ok(all
            .into_iter()
            .map(|c| c.into_comment(number, on_pull_request))
            .collect())
    }

    async fn create_comment(
        &self,
        repo: &RepoPath,
        number: u64,
        on_pull_request: bool,
        body: &str,
    ) -> ForgeResult<Comment> {
        let route = Self::route(repo, &format!("issues/{number}/comments"));
        let c: GhComment = self
            .send(
                "create_comment",
                repo,
                http::Method::POST,
                &route,
                &json!({"body": body}),
            )
            .await?;
        Ok(c.into_comment(number, on_pull_request))
    }

    async fn edit_comment(
        &self,
        repo: &RepoPath,
        at: &CommentRef,
        body: &str,
    ) -> ForgeResult<Comment> {
        let route = Self::route(repo, &format!("issues/comments/{}", at.id));
        let c: GhComment = self
            .send(
                "edit_comment",
                repo,
                http::Method::PATCH,
                &route,
                &json!({"body": body}),
            )
            .await?;
        Ok(c.into_comment(at.number, at.on_pull_request))
    }

    async fn add_reaction(
        &self,
        repo: &RepoPath,
        at: &CommentRef,
        reaction: Reaction,
    ) -> ForgeResult<()> {
        // 201 for a new reaction, 200 with the caller's existing one: either is done.
        let route = Self::reactions_route(repo, at);
        let body = json!({"content": reaction.github()});
        let _: GhReaction = self
            .send("add_reaction", repo, http::Method::POST, &route, &body)
            .await?;
        Ok(())
    }

    async fn remove_reaction(
        &self,
        repo: &RepoPath,
        at: &CommentRef,
        reaction: Reaction,
    ) -> ForgeResult<()> {
        // GitHub deletes a reaction by its id. Listing shows everyone's, and telling the
        // bot's apart needs its login, which an App's installation token cannot ask
        // for: reacting again answers the bot's own (200), or makes it (201), either
        // way with the id to delete.
        let route = Self::reactions_route(repo, at);
        let body = json!({"content": reaction.github()});
        let mine: GhReaction = self
            .send("remove_reaction", repo, http::Method::POST, &route, &body)
            .await?;
        let route = format!("{route}/{}", mine.id);
        match self
            .send_empty("remove_reaction", repo, http::Method::DELETE, &route)
            .await
        {
            // 404: gone meanwhile, which is what was wanted.
            Ok(()) | Err(ForgeError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn add_labels(
        &self,
        repo: &RepoPath,
        number: u64,
        labels: &[LabelSpec],
    ) -> ForgeResult<()> {
        for spec in labels {
            let route = Self::route(repo, &format!("labels/{}", seg(&spec.name)));
            let found = ok_or_none(self.get::<GhLabel>("add_labels", repo, &route).await)?;
            if found.is_none() {
                let body = json!({
                    "name": spec.name,
                    "color": spec.color.trim_start_matches('#'),
                    "description": spec.description,
                });
                let created: ForgeResult<serde_json::Value> = self
                    .send(
                        "add_labels",
                        repo,
                        http::Method::POST,
                        &Self::route(repo, "labels"),
                        &body,
                    )
                    .await;
                match created {
                    // 422 already_exists: someone created it meanwhile, which is fine.
                    Ok(_) | Err(ForgeError::Rejected { status: 422, .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let names: Vec<&str> = labels.iter().map(|l| l.name.as_str()).collect();
        let route = Self::route(repo, &format!("issues/{number}/labels"));
        let _: serde_json::Value = self
            .send(
                "add_labels",
                repo,
                http::Method::POST,
                &route,
                &json!({"labels": names}),
            )
            .await?;
        Ok(())
    }

    async fn remove_label(&self, repo: &RepoPath, number: u64, label: &str) -> ForgeResult<()> {
        let route = Self::route(repo, &format!("issues/{number}/labels/{}", seg(label)));
        ok_or_none(
            self.send_empty("remove_label", repo, http::Method::DELETE, &route)
                .await,
        )
        .map(|_| ())
    }

    async fn permission(&self, repo: &RepoPath, user: &str) -> ForgeResult<Permission> {
        #[derive(Deserialize)]
        struct Perm {
            permission: String,
            role_name: Option<String>,
        }
        let route = Self::route(repo, &format!("collaborators/{}/permission", seg(user)));
        let p = ok_or_none(self.get::<Perm>("permission", repo, &route).await)?;
        Ok(p.map_or(Permission::None, |p| {
            let by_role = p.role_name.as_deref().map(permission_from);
            match by_role {
                Some(r) if r != Permission::None || p.permission == "none" => r,
                _ => permission_from(&p.permission),
            }
        }))
    }

    async fn create_pull_request(
        &self,
        repo: &RepoPath,
        new: &NewPullRequest,
    ) -> ForgeResult<PullRequest> {
        let body = json!({"title": new.title, "body": new.body, "head": new.head,
                          "base": new.base, "draft": new.draft});
        let p: GhPull = self
            .send(
                "create_pull_request",
                repo,
                http::Method::POST,
                &Self::route(repo, "pulls"),
                &body,
            )
            .await?;
        Ok(p.into())
    }

    async fn update_pull_request(
        &self,
        repo: &RepoPath,
        number: u64,
        update: &PullRequestUpdate,
    ) -> ForgeResult<PullRequest> {
        let mut body = serde_json::Map::new();
        if let Some(t) = &update.title {
            body.insert("title".into(), json!(t));
        }
        if let Some(b) = &update.body {
            body.insert("body".into(), json!(b));
        }
        if let Some(s) = update.state {
            body.insert("state".into(), json!(state_str(s)));
        }
        let route = Self::route(repo, &format!("pulls/{number}"));
        let p: GhPull = self
            .send(
                "update_pull_request",
                repo,
                http::Method::PATCH,
                &route,
                &body.into(),
            )
            .await?;
        Ok(p.into())
    }

    async fn pull_request(&self, repo: &RepoPath, number: u64) -> ForgeResult<PullRequest> {
        let route = Self::route(repo, &format!("pulls/{number}"));
        Ok(self
            .get::<GhPull>("pull_request", repo, &route)
            .await?
            .into())
    }

    async fn open_pull_requests(&self, repo: &RepoPath) -> ForgeResult<Vec<PullRequest>> {
        let route = Self::route(repo, "pulls?state=open");
        let all: Vec<GhPull> = self.all("open_pull_requests", repo, &route).await?;
        Ok(all.into_iter().map(PullRequest::from).collect())
    }

    async fn reviews(&self, repo: &RepoPath, number: u64) -> ForgeResult<Vec<Review>> {
        let route = Self::route(repo, &format!("pulls/{number}/reviews"));
        let all: Vec<GhReview> = self.all("reviews", repo, &route).await?;
        Ok(all
            .into_iter()
            .filter_map(|r| {
                let state = match r.state.as_str() {
                    "APPROVED" => ReviewState::Approved,
                    "CHANGES_REQUESTED" => ReviewState::ChangesRequested,
                    "COMMENTED" => ReviewState::Commented,
                    "DISMISSED" => ReviewState::Dismissed,
                    _ => return None, // PENDING: not submitted yet
                };
                Some(Review {
                    id: r.id,
                    author: login(r.user),
                    state,
                    body: r.body.unwrap_or_default(),
                    commit_sha: r.commit_id,
                })
            })
            .collect())
    }

    async fn review_comments(
        &self,
        repo: &RepoPath,
        number: u64,
    ) -> ForgeResult<Vec<ReviewComment>> {
        let route = Self::route(repo, &format!("pulls/{number}/comments"));
        let all: Vec<GhReviewComment> = self.all("review_comments", repo, &route).await?;
        Ok(all
            .into_iter()
            .map(|c| ReviewComment {
                id: c.id,
                author: login(c.user),
                body: c.body.unwrap_or_default(),
                path: c.path,
                line: c.line.or(c.original_line),
            })
            .collect())
    }

    async fn merge(
        &self,
        repo: &RepoPath,
        number: u64,
        method: MergeMethod,
        expected_head: Option<&str>,
    ) -> ForgeResult<MergeOutcome> {
        let method = match method {
            MergeMethod::Merge => "merge",
            MergeMethod::Squash => "squash",
            MergeMethod::Rebase => "rebase",
        };
        let mut body = json!({"merge_method": method});
        if let Some(sha) = expected_head {
            body["sha"] = json!(sha);
        }
        let route = Self::route(repo, &format!("pulls/{number}/merge"));
        let r: ForgeResult<GhMerge> = self
            .send("merge", repo, http::Method::PUT, &route, &body)
            .await;
        match r {
            Ok(m) => Ok(MergeOutcome::Merged {
                sha: m.sha.unwrap_or_default(),
            }),
            // 405: not mergeable (checks, reviews, conflicts); 409: head moved.
            Err(ForgeError::Rejected {
                status: 405 | 409,
                message,
                ..
            }) => Ok(MergeOutcome::NotMergeable { reason: message }),
            Err(e) => Err(e),
        }
    }

    async fn set_status(
        &self,
        repo: &RepoPath,
        sha: &str,
        status: &CommitStatus,
    ) -> ForgeResult<()> {
        let state = match status.state {
            CheckState::Pending => "pending",
            CheckState::Success => "success",
            CheckState::Failure => "failure",
            CheckState::Error => "error",
        };
        // GitHub rejects descriptions over 140 characters.
        let description: String = status.description.chars().take(140).collect();
        let body = json!({"state": state, "context": status.context,
                          "description": description, "target_url": status.target_url});
        let route = Self::route(repo, &format!("statuses/{sha}"));
        let _: serde_json::Value = self
            .send("set_status", repo, http::Method::POST, &route, &body)
            .await?;
        Ok(())
    }

    async fn checks(&self, repo: &RepoPath, git_ref: &str) -> ForgeResult<Vec<CheckResult>> {
        let r = file_path(git_ref);
        // Statuses come newest first; the first per context is its current state.
        let statuses: Vec<GhStatus> = self
            .all(
                "checks",
                repo,
                &Self::route(repo, &format!("commits/{r}/statuses")),
            )
            .await?;
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<CheckResult> = statuses
            .into_iter()
            .filter(|s| seen.insert(s.context.clone()))
            .map(|s| CheckResult {
                name: s.context,
                state: check_state(&s.state),
                url: s.target_url,
            })
            .collect();
        // Check runs wrap their list in an object octocrab's Page does not know, so page
        // by number until total_count is reached.
        let mut page = 1;
        let mut got = 0;
        loop {
            let route = Self::route(
                repo,
                &format!("commits/{r}/check-runs?per_page=100&page={page}"),
            );
            let runs: GhCheckRuns = self.get("checks", repo, &route).await?;
            let n = runs.check_runs.len() as u64;
            got += n;
            out.extend(runs.check_runs.into_iter().map(|c| CheckResult {
                name: c.name,
                state: if c.status == "completed" {
                    check_state(c.conclusion.as_deref().unwrap_or("failure"))
                } else {
                    CheckState::Pending
                },
                // Like a status's `target_url` (and GitLab's job links): the CI's page,
                // else GitHub's page for the run.
                url: c.details_url.or(c.html_url),
            }));
            if n == 0 || got >= runs.total_count {
                break;
            }
            page += 1;
        }
        Ok(out)
    }

    async fn required_checks(&self, repo: &RepoPath, branch: &str) -> ForgeResult<Vec<String>> {
        #[derive(Deserialize)]
        struct Check {
            context: String,
        }
        #[derive(Deserialize, Default)]
        struct Required {
            #[serde(default)]
            contexts: Vec<String>,
            #[serde(default)]
            checks: Vec<Check>,
        }
        #[derive(Deserialize, Default)]
        struct Protection {
            required_status_checks: Option<Required>,
        }
        #[derive(Deserialize)]
        struct Branch {
            #[serde(default)]
            protected: bool,
            protection: Option<Protection>,
        }
        // The branch's protection summary, which anyone who can read the repository
        // sees; `.../protection/required_status_checks` answers 404 to everyone but
        // admins, which would make a protected branch look unprotected to a writer bot.
        let route = Self::route(repo, &format!("branches/{}", seg(branch)));
        let b = ok_or_none(self.get::<Branch>("required_checks", repo, &route).await)?;
        let Some(Branch {
            protected: true,
            protection: Some(p),
        }) = b
        else {
            return Ok(vec![]);
        };
        let r = p.required_status_checks.unwrap_or_default();
        let mut names = r.contexts;
        for c in r.checks {
            if !names.contains(&c.context) {
                names.push(c.context);
            }
        }
        Ok(names)
    }

    async fn file(
        &self,
        repo: &RepoPath,
        path: &str,
        git_ref: &str,
    ) -> ForgeResult<Option<Vec<u8>>> {
        #[derive(Deserialize)]
        struct Content {
            content: Option<String>,
            encoding: Option<String>,
            download_url: Option<String>,
        }
        let route = Self::route(
            repo,
            &format!("contents/{}?ref={}", file_path(path), seg(git_ref)),
        );
        let Some(c) = ok_or_none(self.get::<Content>("file", repo, &route).await)? else {
            return Ok(None);
        };
        let protocol = |message: String| ForgeError::Protocol {
            call: "file",
            repo: repo.to_string(),
            message,
        };
        match c.encoding.as_deref() {
            Some("base64") => {
                let text: String = c.content.unwrap_or_default().split_whitespace().collect();
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map(Some)
                    .map_err(|e| protocol(format!("{path}: bad base64: {e}")))
            }
            // Files over 1 MB come without content ("none"): fetch the raw bytes.
            Some("none") if c.download_url.is_some() => {
                let url = c.download_url.unwrap_or_default();
                let crab = self.crab(repo).await?;
                let bytes = self
                    .run("file", repo, || async {
                        let resp =
                            octocrab::map_github_error(crab._get(url.as_str()).await?).await?;
                        let body = http_body_util::BodyExt::collect(resp.into_body()).await?;
                        Ok(body.to_bytes())
                    })
                    .await?;
                Ok(Some(bytes.to_vec()))
            }
            other => Err(protocol(format!(
                "{path}: content encoding {other:?} (is it a directory?)"
            ))),
        }
    }

    async fn delete_branch(&self, repo: &RepoPath, branch: &str) -> ForgeResult<()> {
        let route = Self::route(repo, &format!("git/refs/heads/{}", file_path(branch)));
        match self
            .send_empty("delete_branch", repo, http::Method::DELETE, &route)
            .await
        {
            Ok(()) | Err(ForgeError::NotFound { .. }) => Ok(()),
            // GitHub's answer for a ref that is not there (deleted already).
            Err(ForgeError::Rejected {
                status: 422,
                message,
                ..
            }) if message.contains("does not exist") => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn git_remote(&self, repo: &RepoPath) -> ForgeResult<GitRemote> {
        self.remote(repo).await
    }
}
