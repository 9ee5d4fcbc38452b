//! The last net: every text the bot writes on a forge (comments, issue and PR/MR
//! bodies and titles, commit statuses) goes through the redactor on its way out,
//! whichever part of the bot wrote it. [`crate::forge::registry::Forges::redacting`] wraps each
//! client the bot acts with.

use std::sync::Arc;

use webhooks::ForgeKind;

use crate::forge::*;
use crate::redact::{Redactor, cap};

/// The most the bot writes in one comment or body, under GitHub's 65,536 characters.
pub const MAX_BODY: usize = 60_000;

pub struct RedactingForge {
    inner: Arc<dyn Forge>,
    redactor: Arc<Redactor>,
}

impl RedactingForge {
    pub fn wrap(inner: Arc<dyn Forge>, redactor: Arc<Redactor>) -> Arc<dyn Forge> {
        Arc::new(Self { inner, redactor })
    }

    fn body(&self, text: &str) -> String {
        cap(&self.redactor.redact(text), MAX_BODY)
    }
}

#[async_trait::async_trait]
impl Forge for RedactingForge {
    fn kind(&self) -> ForgeKind {
        self.inner.kind()
    }

    fn host(&self) -> &str {
        self.inner.host()
    }

    async fn issue(&self, repo: &RepoPath, number: u64) -> ForgeResult<Issue> {
        self.inner.issue(repo, number).await
    }

    async fn create_issue(&self, repo: &RepoPath, new: &NewIssue) -> ForgeResult<Issue> {
        let new = NewIssue {
            title: self.redactor.redact(&new.title),
            body: self.body(&new.body),
            labels: new.labels.clone(),
        };
        self.inner.create_issue(repo, &new).await
    }

    async fn set_issue_state(&self, repo: &RepoPath, number: u64, state: State) -> ForgeResult<()> {
        self.inner.set_issue_state(repo, number, state).await
    }

    async fn issues_with_label(&self, repo: &RepoPath, label: &str) -> ForgeResult<Vec<Issue>> {
        self.inner.issues_with_label(repo, label).await
    }

    async fn label_added_by(
        &self,
        repo: &RepoPath,
        number: u64,
        label: &str,
    ) -> ForgeResult<Option<String>> {
        self.inner.label_added_by(repo, number, label).await
    }

    async fn comments(
        &self,
        repo: &RepoPath,
        number: u64,
        on_pull_request: bool,
    ) -> ForgeResult<Vec<Comment>> {
        self.inner.comments(repo, number, on_pull_request).await
    }

    async fn create_comment(
        &self,
        repo: &RepoPath,
        number: u64,
        on_pull_request: bool,
        body: &str,
    ) -> ForgeResult<Comment> {
        self.inner
            .create_comment(repo, number, on_pull_request, &self.body(body))
            .await
    }

    async fn edit_comment(
        &self,
        repo: &RepoPath,
        at: &CommentRef,
        body: &str,
    ) -> ForgeResult<Comment> {
        self.inner.edit_comment(repo, at, &self.body(body)).await
    }

    async fn add_reaction(
        &self,
        repo: &RepoPath,
        at: &CommentRef,
        reaction: Reaction,
    ) -> ForgeResult<()> {
        self.inner.add_reaction(repo, at, reaction).await
    }

    async fn remove_reaction(
        &self,
        repo: &RepoPath,
        at: &CommentRef,
        reaction: Reaction,
    ) -> ForgeResult<()> {
        self.inner.remove_reaction(repo, at, reaction).await
    }

    async fn add_labels(
        &self,
        repo: &RepoPath,
        number: u64,
        labels: &[LabelSpec],
    ) -> ForgeResult<()> {
        self.inner.add_labels(repo, number, labels).await
    }

    async fn remove_label(&self, repo: &RepoPath, number: u64, label: &str) -> ForgeResult<()> {
        self.inner.remove_label(repo, number, label).await
    }

    async fn delete_branch(&self, repo: &RepoPath, branch: &str) -> ForgeResult<()> {
        self.inner.delete_branch(repo, branch).await
    }

    async fn permission(&self, repo: &RepoPath, user: &str) -> ForgeResult<Permission> {
        self.inner.permission(repo, user).await
    }

    async fn create_pull_request(
        &self,
        repo: &RepoPath,
        new: &NewPullRequest,
    ) -> ForgeResult<PullRequest> {
        let new = NewPullRequest {
            title: self.redactor.redact(&new.title),
            body: self.body(&new.body),
            ..new.clone()
        };
        self.inner.create_pull_request(repo, &new).await
    }

    async fn update_pull_request(
        &self,
        repo: &RepoPath,
        number: u64,
        update: &PullRequestUpdate,
    ) -> ForgeResult<PullRequest> {
        let update = PullRequestUpdate {
            title: update.title.as_deref().map(|t| self.redactor.redact(t)),
            body: update.body.as_deref().map(|b| self.body(b)),
            state: update.state,
        };
        self.inner.update_pull_request(repo, number, &update).await
    }

    async fn pull_request(&self, repo: &RepoPath, number: u64) -> ForgeResult<PullRequest> {
        self.inner.pull_request(repo, number).await
    }

    async fn open_pull_requests(&self, repo: &RepoPath) -> ForgeResult<Vec<PullRequest>> {
        self.inner.open_pull_requests(repo).await
    }

    async fn reviews(&self, repo: &RepoPath, number: u64) -> ForgeResult<Vec<Review>> {
        self.inner.reviews(repo, number).await
    }

    async fn review_comments(
        &self,
        repo: &RepoPath,
        number: u64,
    ) -> ForgeResult<Vec<ReviewComment>> {
        self.inner.review_comments(repo, number).await
    }

    async fn merge(
        &self,
        repo: &RepoPath,
        number: u64,
        method: MergeMethod,
        expected_head: Option<&str>,
    ) -> ForgeResult<MergeOutcome> {
        self.inner.merge(repo, number, method, expected_head).await
    }

    async fn set_status(
        &self,
        repo: &RepoPath,
        sha: &str,
        status: &CommitStatus,
    ) -> ForgeResult<()> {
        let status = CommitStatus {
            description: self.redactor.redact(&status.description),
            ..status.clone()
        };
        self.inner.set_status(repo, sha, &status).await
    }

    async fn checks(&self, repo: &RepoPath, git_ref: &str) -> ForgeResult<Vec<CheckResult>> {
        self.inner.checks(repo, git_ref).await
    }

    async fn required_checks(&self, repo: &RepoPath, branch: &str) -> ForgeResult<Vec<String>> {
        self.inner.required_checks(repo, branch).await
    }

    async fn file(
        &self,
        repo: &RepoPath,
        path: &str,
        git_ref: &str,
    ) -> ForgeResult<Option<Vec<u8>>> {
        self.inner.file(repo, path, git_ref).await
    }

    async fn git_remote(&self, repo: &RepoPath) -> ForgeResult<GitRemote> {
        self.inner.git_remote(repo).await
    }
}
