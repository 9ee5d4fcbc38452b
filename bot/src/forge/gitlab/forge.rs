//! The [`Forge`] trait for [`GitlabForge`]: which endpoint builder each method uses.

use std::borrow::Cow;

use ::gitlab::api::AsyncQuery;
use ::gitlab::api::projects::{issues as gi, labels as gl, merge_requests as gm};
use async_trait::async_trait;
use serde::Deserialize;
use tracing::Instrument;
use webhooks::ForgeKind;

use super::types::*;
use super::{GitlabForge, build_err, map_api};
use crate::forge::ok_or_none;
use crate::forge::*;

#[async_trait]
impl Forge for GitlabForge {
    fn kind(&self) -> ForgeKind {
        ForgeKind::GitLab
    }

    fn host(&self) -> &str {
        &self.host
    }

    async fn issue(&self, repo: &RepoPath, number: u64) -> ForgeResult<Issue> {
        let ep = gi::Issue::builder()
            .project(repo.as_str())
            .issue(number)
            .build()
            .map_err(|e| build_err("issue", repo)(e.to_string()))?;
        Ok(self.one::<GlIssue, _>("issue", repo, ep).await?.into())
    }

    async fn create_issue(&self, repo: &RepoPath, new: &NewIssue) -> ForgeResult<Issue> {
        let ep = gi::CreateIssue::builder()
            .project(repo.as_str())
            .title(new.title.as_str())
            .description(new.body.as_str())
            .labels(new.labels.iter().map(String::as_str))
            .build()
            .map_err(|e| build_err("create_issue", repo)(e.to_string()))?;
        Ok(self
            .one::<GlIssue, _>("create_issue", repo, ep)
            .await?
            .into())
    }

    async fn set_issue_state(&self, repo: &RepoPath, number: u64, s: State) -> ForgeResult<()> {
        let event = match s {
            State::Open => gi::IssueStateEvent::Reopen,
            State::Closed => gi::IssueStateEvent::Close,
        };
        let ep = gi::EditIssue::builder()
            .project(repo.as_str())
            .issue(number)
            .state_event(event)
            .build()
            .map_err(|e| build_err("set_issue_state", repo)(e.to_string()))?;
        self.ignore("set_issue_state", repo, ep).await
    }

    async fn issues_with_label(&self, repo: &RepoPath, label: &str) -> ForgeResult<Vec<Issue>> {
        let ep = gi::Issues::builder()
            .project(repo.as_str())
            .state(::gitlab::api::issues::IssueState::Opened)
            .label(label)
            .build()
            .map_err(|e| build_err("issues_with_label", repo)(e.to_string()))?;
        let all: Vec<GlIssue> = self.all("issues_with_label", repo, ep).await?;
        Ok(all.into_iter().map(Issue::from).collect())
    }

    async fn label_added_by(
        &self,
        repo: &RepoPath,
        number: u64,
        label: &str,
    ) -> ForgeResult<Option<String>> {
        #[derive(Deserialize)]
        struct Named {
            name: String,
        }
        #[derive(Deserialize)]
        struct Event {
            action: String,
            user: Option<GlUser>,
            label: Option<Named>,
        }
        let ep = gi::IssueResourceLabelEvents::builder()
            .project(repo.as_str())
            .issue(number)
            .build()
            .map_err(|e| build_err("label_added_by", repo)(e.to_string()))?;
        let events: Vec<Event> = self.all("label_added_by", repo, ep).await?;
        // Oldest first: the last "add" is who put the label there now.
        Ok(events
            .into_iter()
            .filter(|e| e.action == "add" && e.label.as_ref().is_some_and(|l| l.name == label))
            .filter_map(|e| e.user.map(|u| u.username))
            .next_back())
    }

    async fn comments(
        &self,
        repo: &RepoPath,
        number: u64,
        on_pull_request: bool,
    ) -> ForgeResult<Vec<Comment>> {
        let asc = ::gitlab::api::common::SortOrder::Ascending;
        let notes: Vec<GlNote> = if on_pull_request {
            let ep = gm::notes::MergeRequestNotes::builder()
                .project(repo.as_str())
                .merge_request(number)
                .sort(asc)
                .build()
                .map_err(|e| build_err("comments", repo)(e.to_string()))?;
            self.all("comments", repo, ep).await?
        } else {
            let ep = gi::notes::IssueNotes::builder()
                .project(repo.as_str())
                .issue(number)
                .sort(asc)
                .build()
                .map_err(|e| build_err("comments", repo)(e.to_string()))?;
            self.all("comments", repo, ep).await?
        };
        Ok(notes
            .into_iter()
            // Line comments on a diff are review comments, as on GitHub.
            .filter(|n| !n.system && n.kind.as_deref() != Some("DiffNote"))
            .map(|n| self.note(repo, n, number, on_pull_request))
            .collect())
    }

    async fn create_comment(
        &self,
        repo: &RepoPath,
        number: u64,
        on_pull_request: bool,
        body: &str,
    ) -> ForgeResult<Comment> {
        let note: GlNote = if on_pull_request {
            let ep = gm::notes::CreateMergeRequestNote::builder()
                .project(repo.as_str())
                .merge_request(number)
                .body(body)
                .build()
                .map_err(|e| build_err("create_comment", repo)(e.to_string()))?;
            self.one("create_comment", repo, ep).await?
        } else {
            let ep = gi::notes::CreateIssueNote::builder()
                .project(repo.as_str())
                .issue(number)
                .body(body)
                .build()
                .map_err(|e| build_err("create_comment", repo)(e.to_string()))?;
            self.one("create_comment", repo, ep).await?
        };
        Ok(self.note(repo, note, number, on_pull_request))
    }

    async fn edit_comment(
        &self,
        repo: &RepoPath,
        at: &CommentRef,
        body: &str,
    ) -> ForgeResult<Comment> {
        let note: GlNote = if at.on_pull_request {
            let ep = gm::notes::EditMergeRequestNote::builder()
                .project(repo.as_str())
                .merge_request(at.number)
                .note(at.id)
                .body(body)
                .build()
                .map_err(|e| build_err("edit_comment", repo)(e.to_string()))?;
            self.one("edit_comment", repo, ep).await?
        } else {
            let ep = gi::notes::EditIssueNote::builder()
                .project(repo.as_str())
                .issue(at.number)
                .note(at.id)
                .body(body)
                .build()
                .map_err(|e| build_err("edit_comment", repo)(e.to_string()))?;
            self.one("edit_comment", repo, ep).await?
        };
        Ok(self.note(repo, note, at.number, at.on_pull_request))
    }

    async fn add_reaction(
        &self,
        repo: &RepoPath,
        at: &CommentRef,
        reaction: Reaction,
    ) -> ForgeResult<()> {
        const CALL: &str = "add_reaction";
        let name = reaction.gitlab();
        // GitLab refuses a second award of a name by the same user, so look first.
        if self.own_award(CALL, repo, at, name).await?.is_some() {
            return Ok(());
        }
        match self.create_award(CALL, repo, at, name).await {
            Ok(()) => Ok(()),
            // The refusal of a duplicate is a 404 ("Award Emoji Name has already been
            // taken"), as is a note that is gone: the bot's award there now tells.
            Err(e @ ForgeError::NotFound { .. }) => {
                match self.own_award(CALL, repo, at, name).await? {
                    Some(_) => Ok(()),
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn remove_reaction(
        &self,
        repo: &RepoPath,
        at: &CommentRef,
        reaction: Reaction,
    ) -> ForgeResult<()> {
        const CALL: &str = "remove_reaction";
        let Some(award) = self.own_award(CALL, repo, at, reaction.gitlab()).await? else {
            return Ok(());
        };
        match self.delete_award(CALL, repo, at, award).await {
            // 404: removed meanwhile, which is what was wanted.
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
        const CALL: &str = "add_labels";
        for spec in labels {
            let ep = gl::Label::builder()
                .project(repo.as_str())
                .label(spec.name.as_str())
                .build()
                .map_err(|e| build_err(CALL, repo)(e.to_string()))?;
            let found: Option<serde_json::Value> = ok_or_none(self.one(CALL, repo, ep).await)?;
            if found.is_some() {
                continue;
            }
            let color = format!("#{}", spec.color.trim_start_matches('#'));
            let mut b = gl::CreateLabel::builder();
            b.project(repo.as_str())
                .name(spec.name.as_str())
                .color(color.as_str());
            if let Some(d) = &spec.description {
                b.description(d.as_str());
            }
            let ep = b
                .build()
                .map_err(|e| build_err(CALL, repo)(e.to_string()))?;
            match self.ignore(CALL, repo, ep).await {
                // 409: created meanwhile by someone else, which is what we wanted.
                Ok(()) | Err(ForgeError::Rejected { status: 409, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let mut b = gi::EditIssue::builder();
        b.project(repo.as_str()).issue(number);
        for spec in labels {
            b.add_label(Cow::Borrowed(spec.name.as_str()));
        }
        let ep = b
            .build()
            .map_err(|e| build_err(CALL, repo)(e.to_string()))?;
        self.ignore(CALL, repo, ep).await
    }

    async fn remove_label(&self, repo: &RepoPath, number: u64, label: &str) -> ForgeResult<()> {
        // GitLab ignores removing a label the issue does not carry.
        let ep = gi::EditIssue::builder()
            .project(repo.as_str())
            .issue(number)
            .remove_label(label)
            .build()
            .map_err(|e| build_err("remove_label", repo)(e.to_string()))?;
        self.ignore("remove_label", repo, ep).await
    }

    async fn permission(&self, repo: &RepoPath, user: &str) -> ForgeResult<Permission> {
        const CALL: &str = "permission";
        let ep = ::gitlab::api::users::Users::builder()
            .username(user)
            .build()
            .map_err(|e| build_err(CALL, repo)(e.to_string()))?;
        let users: Vec<GlUser> = self.one(CALL, repo, ep).await?;
        let Some(u) = users
            .into_iter()
            .find(|u| u.username.eq_ignore_ascii_case(user))
        else {
            return Ok(Permission::None);
        };
        #[derive(Deserialize)]
        struct Member {
            access_level: u64,
        }
        let ep = ::gitlab::api::projects::members::AllProjectMember::builder()
            .project(repo.as_str())
            .user(u.id)
            .build()
            .map_err(|e| build_err(CALL, repo)(e.to_string()))?;
        let m: Option<Member> = ok_or_none(self.one(CALL, repo, ep).await)?;
        Ok(m.map_or(Permission::None, |m| {
            permission_from_access_level(m.access_level)
        }))
    }

    async fn create_pull_request(
        &self,
        repo: &RepoPath,
        new: &NewPullRequest,
    ) -> ForgeResult<PullRequest> {
        // GitLab marks drafts by the title prefix.
        let title = if new.draft && !new.title.starts_with("Draft:") {
            format!("Draft: {}", new.title)
        } else {
            new.title.clone()
        };
        let ep = gm::CreateMergeRequest::builder()
            .project(repo.as_str())
            .source_branch(new.head.as_str())
            .target_branch(new.base.as_str())
            .title(title)
            .description(new.body.as_str())
            .build()
            .map_err(|e| build_err("create_pull_request", repo)(e.to_string()))?;
        let mr: GlMr = self.one("create_pull_request", repo, ep).await?;
        Ok(mr.into())
    }

    async fn update_pull_request(
        &self,
        repo: &RepoPath,
        number: u64,
        update: &PullRequestUpdate,
    ) -> ForgeResult<PullRequest> {
        let mut b = gm::EditMergeRequest::builder();
        b.project(repo.as_str()).merge_request(number);
        if let Some(t) = &update.title {
            b.title(t.as_str());
        }
        if let Some(d) = &update.body {
            b.description(d.as_str());
        }
        if let Some(s) = update.state {
            b.state_event(match s {
                State::Open => gm::MergeRequestStateEvent::Reopen,
                State::Closed => gm::MergeRequestStateEvent::Close,
            });
        }
        let ep = b
            .build()
            .map_err(|e| build_err("update_pull_request", repo)(e.to_string()))?;
        let mr: GlMr = self.one("update_pull_request", repo, ep).await?;
        Ok(mr.into())
    }

    async fn pull_request(&self, repo: &RepoPath, number: u64) -> ForgeResult<PullRequest> {
        let ep = gm::MergeRequest::builder()
            .project(repo.as_str())
            .merge_request(number)
            .build()
            .map_err(|e| build_err("pull_request", repo)(e.to_string()))?;
        let mr: GlMr = self.one("pull_request", repo, ep).await?;
        Ok(mr.into())
    }

    async fn open_pull_requests(&self, repo: &RepoPath) -> ForgeResult<Vec<PullRequest>> {
        let ep = gm::MergeRequests::builder()
            .project(repo.as_str())
            .state(::gitlab::api::merge_requests::MergeRequestState::Opened)
            .build()
            .map_err(|e| build_err("open_pull_requests", repo)(e.to_string()))?;
        let all: Vec<GlMr> = self.all("open_pull_requests", repo, ep).await?;
        Ok(all.into_iter().map(PullRequest::from).collect())
    }

    async fn reviews(&self, repo: &RepoPath, number: u64) -> ForgeResult<Vec<Review>> {
        const CALL: &str = "reviews";
        let ep = gm::approvals::MergeRequestApprovals::builder()
            .project(repo.as_str())
            .merge_request(number)
            .build()
            .map_err(|e| build_err(CALL, repo)(e.to_string()))?;
        let approvals: GlApprovals = self.one(CALL, repo, ep).await?;
        let mut out: Vec<Review> = approvals
            .approved_by
            .into_iter()
            .map(|a| Review {
                id: a.user.id,
                author: a.user.username,
                state: ReviewState::Approved,
                body: String::new(),
                commit_sha: None,
            })
            .collect();
        let ep = gm::MergeRequestReviewers::builder()
            .project(repo.as_str())
            .merge_request(number)
            .build()
            .map_err(|e| build_err(CALL, repo)(e.to_string()))?;
        // Older GitLab has no reviewer states; a 404 there means "none requested changes".
        let reviewers: Vec<GlReviewer> =
            ok_or_none(self.one(CALL, repo, ep).await)?.unwrap_or_default();
        out.extend(
            reviewers
                .into_iter()
                .filter(|r| r.state.as_deref() == Some("requested_changes"))
                .map(|r| Review {
                    id: r.user.id,
                    author: r.user.username,
                    state: ReviewState::ChangesRequested,
                    body: String::new(),
                    commit_sha: None,
                }),
        );
        let ep = gm::notes::MergeRequestNotes::builder()
            .project(repo.as_str())
            .merge_request(number)
            .sort(::gitlab::api::common::SortOrder::Ascending)
            .build()
            .map_err(|e| build_err(CALL, repo)(e.to_string()))?;
        let notes: Vec<GlNote> = self.all(CALL, repo, ep).await?;
        out.extend(
            notes
                .into_iter()
                .filter(|n| !n.system && n.kind.as_deref() != Some("DiffNote"))
                .map(|n| Review {
                    id: n.id,
                    author: n.author.username,
                    state: ReviewState::Commented,
                    body: n.body,
                    commit_sha: None,
                }),
        );
        Ok(out)
    }

    async fn review_comments(
        &self,
        repo: &RepoPath,
        number: u64,
    ) -> ForgeResult<Vec<ReviewComment>> {
        let ep = gm::notes::MergeRequestNotes::builder()
            .project(repo.as_str())
            .merge_request(number)
            .sort(::gitlab::api::common::SortOrder::Ascending)
            .build()
            .map_err(|e| build_err("review_comments", repo)(e.to_string()))?;
        let notes: Vec<GlNote> = self.all("review_comments", repo, ep).await?;
        Ok(notes
            .into_iter()
            .filter(|n| !n.system && n.kind.as_deref() == Some("DiffNote"))
            .map(|n| {
                let (path, line) = n.position.map_or((None, None), |p| {
                    (p.new_path.or(p.old_path), p.new_line.or(p.old_line))
                });
                ReviewComment {
                    id: n.id,
                    author: n.author.username,
                    body: n.body,
                    path,
                    line,
                }
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
        let mut b = gm::MergeMergeRequest::builder();
        b.project(repo.as_str())
            .merge_request(number)
            .squash(method == MergeMethod::Squash);
        if let Some(sha) = expected_head {
            b.sha(sha);
        }
        let ep = b
            .build()
            .map_err(|e| build_err("merge", repo)(e.to_string()))?;
        match self.one::<GlMr, _>("merge", repo, ep).await {
            Ok(mr) => Ok(MergeOutcome::Merged {
                sha: mr
                    .merge_commit_sha
                    .or(mr.squash_commit_sha)
                    .or(mr.sha)
                    .unwrap_or_default(),
            }),
            // 405 not mergeable, 406 conflicts, 409 head moved (sha), 422 refused.
            Err(ForgeError::Rejected {
                status: 405 | 406 | 409 | 422,
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
        use ::gitlab::api::projects::repository::commits::{CommitStatusState, CreateCommitStatus};
        let state = match status.state {
            CheckState::Pending => CommitStatusState::Pending,
            CheckState::Success => CommitStatusState::Success,
            // GitLab has no "error" state: both are a failed status.
            CheckState::Failure | CheckState::Error => CommitStatusState::Failed,
        };
        // GitLab keeps a status description in a 255-character string column.
        let description: String = status.description.chars().take(255).collect();
        let mut b = CreateCommitStatus::builder();
        b.project(repo.as_str())
            .commit(sha)
            .state(state)
            .name(status.context.as_str())
            .description(description.as_str());
        if let Some(u) = &status.target_url {
            b.target_url(u.as_str());
        }
        let ep = b
            .build()
            .map_err(|e| build_err("set_status", repo)(e.to_string()))?;
        self.ignore("set_status", repo, ep).await
    }

    async fn checks(&self, repo: &RepoPath, git_ref: &str) -> ForgeResult<Vec<CheckResult>> {
        use ::gitlab::api::projects::pipelines::{PipelineOrderBy, Pipelines};
        use ::gitlab::api::projects::repository::commits::CommitStatuses;
        const CALL: &str = "checks";
        let ep = CommitStatuses::builder()
            .project(repo.as_str())
            .commit(git_ref)
            .build()
            .map_err(|e| build_err(CALL, repo)(e.to_string()))?;
        let mut statuses: Vec<GlStatus> = self.all(CALL, repo, ep).await?;
        // Newest first, so the first per name is its current state.
        statuses.sort_by_key(|s| std::cmp::Reverse(s.id));
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<CheckResult> = statuses
            .into_iter()
            .filter(|s| seen.insert(s.name.clone()))
            .map(|s| CheckResult {
                name: s.name,
                state: check_state(&s.status),
                url: s.target_url,
            })
            .collect();
        let mut b = Pipelines::builder();
        b.project(repo.as_str())
            .order_by(PipelineOrderBy::Id)
            .sort(::gitlab::api::common::SortOrder::Descending);
        if is_sha(git_ref) {
            b.sha(git_ref);
        } else {
            b.ref_(git_ref);
        }
        let ep = b
            .build()
            .map_err(|e| build_err(CALL, repo)(e.to_string()))?;
        let pipelines: Vec<GlPipeline> = self.one(CALL, repo, ep).await?;
        if let Some(p) = pipelines.into_iter().next() {
            out.push(CheckResult {
                name: "pipeline".into(),
                state: check_state(&p.status),
                url: p.web_url,
            });
        }
        Ok(out)
    }

    async fn required_checks(&self, repo: &RepoPath, _branch: &str) -> ForgeResult<Vec<String>> {
        #[derive(Deserialize)]
        struct Project {
            #[serde(default)]
            only_allow_merge_if_pipeline_succeeds: bool,
        }
        let ep = ::gitlab::api::projects::Project::builder()
            .project(repo.as_str())
            .build()
            .map_err(|e| build_err("required_checks", repo)(e.to_string()))?;
        let p: Project = self.one("required_checks", repo, ep).await?;
        Ok(if p.only_allow_merge_if_pipeline_succeeds {
            vec!["pipeline".into()]
        } else {
            vec![]
        })
    }

    async fn file(
        &self,
        repo: &RepoPath,
        path: &str,
        git_ref: &str,
    ) -> ForgeResult<Option<Vec<u8>>> {
        let ep = ::gitlab::api::projects::repository::files::FileRaw::builder()
            .project(repo.as_str())
            .file_path(path)
            .ref_(git_ref)
            .build()
            .map_err(|e| build_err("file", repo)(e.to_string()))?;
        let r = ::gitlab::api::raw(ep)
            .query_async(&self.rest)
            .instrument(Self::span("file", repo))
            .await
            .map_err(|e| map_api("file", repo, e));
        ok_or_none(r)
    }

    async fn delete_branch(&self, repo: &RepoPath, branch: &str) -> ForgeResult<()> {
        // The crate puts the name into the path as it is given: encode it here, or a
        // `gt/...` branch would be two path segments.
        let encoded =
            percent_encoding::utf8_percent_encode(branch, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let ep = ::gitlab::api::projects::repository::branches::DeleteBranch::builder()
            .project(repo.as_str())
            .branch(encoded)
            .build()
            .map_err(|e| build_err("delete_branch", repo)(e.to_string()))?;
        match self.ignore("delete_branch", repo, ep).await {
            Ok(()) | Err(ForgeError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn git_remote(&self, repo: &RepoPath) -> ForgeResult<GitRemote> {
        self.remote(repo).await
    }
}

/// Award emoji on a note: the note is reached through its issue, or its merge request
/// (diff notes included).
impl GitlabForge {
    /// The id of the bot's own award `name` on the note, if it is there.
    async fn own_award(
        &self,
        call: &'static str,
        repo: &RepoPath,
        at: &CommentRef,
        name: &str,
    ) -> ForgeResult<Option<u64>> {
        let awards: Vec<GlAward> = if at.on_pull_request {
            let ep = gm::notes::awards::MergeRequestNoteAwards::builder()
                .project(repo.as_str())
                .merge_request(at.number)
                .note(at.id)
                .build()
                .map_err(|e| build_err(call, repo)(e.to_string()))?;
            self.all(call, repo, ep).await?
        } else {
            let ep = gi::notes::awards::IssueNoteAwards::builder()
                .project(repo.as_str())
                .issue(at.number)
                .note(at.id)
                .build()
                .map_err(|e| build_err(call, repo)(e.to_string()))?;
            self.all(call, repo, ep).await?
        };
        let me = self.me(call, repo).await?;
        Ok(awards
            .into_iter()
            .find(|a| a.name == name && a.user.username.eq_ignore_ascii_case(me))
            .map(|a| a.id))
    }

    async fn create_award(
        &self,
        call: &'static str,
        repo: &RepoPath,
        at: &CommentRef,
        name: &str,
    ) -> ForgeResult<()> {
        if at.on_pull_request {
            let ep = gm::notes::awards::CreateMergeRequestNoteAward::builder()
                .project(repo.as_str())
                .merge_request(at.number)
                .note(at.id)
                .name(name)
                .build()
                .map_err(|e| build_err(call, repo)(e.to_string()))?;
            self.ignore(call, repo, ep).await
        } else {
            let ep = gi::notes::awards::CreateIssueNoteAward::builder()
                .project(repo.as_str())
                .issue(at.number)
                .note(at.id)
                .name(name)
                .build()
                .map_err(|e| build_err(call, repo)(e.to_string()))?;
            self.ignore(call, repo, ep).await
        }
    }

    async fn delete_award(
        &self,
        call: &'static str,
        repo: &RepoPath,
        at: &CommentRef,
        award: u64,
    ) -> ForgeResult<()> {
        if at.on_pull_request {
            let ep = gm::notes::awards::DeleteMergeRequestNoteAward::builder()
                .project(repo.as_str())
                .merge_request(at.number)
                .note(at.id)
                .award(award)
                .build()
                .map_err(|e| build_err(call, repo)(e.to_string()))?;
            self.ignore(call, repo, ep).await
        } else {
            let ep = gi::notes::awards::DeleteIssueNoteAward::builder()
                .project(repo.as_str())
                .issue(at.number)
                .note(at.id)
                .award(award)
                .build()
                .map_err(|e| build_err(call, repo)(e.to_string()))?;
            self.ignore(call, repo, ep).await
        }
    }
}
