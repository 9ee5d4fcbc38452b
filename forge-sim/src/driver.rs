//! [`SimHandle`]: the simulator as a test or `gt demo` drives it. Each method is what a
//! person would do on the forge (open an issue, label it, approve a pull request), a
//! read for assertions, or a fault to inject. Acts go through [`crate::ops`], so they
//! check permissions and send webhooks exactly like the same act through the API.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::delivery::Delivery;
use crate::error::SimError;
use crate::faults::FaultKind;
use crate::git::{self, MergeMethod};
use crate::ops::{IssuePatch, NewPull, StatusInput};
use crate::world::{
    Comment, CommitStatus, Issue, IssueState, Permission, PullRequest, ReviewState,
};
use crate::{Sim, ops};

/// A user the driver created: its login and API token (also its git password).
#[derive(Debug, Clone, Serialize)]
pub struct UserHandle {
    pub id: u64,
    pub login: String,
    pub token: String,
}

struct Inner {
    sim: Arc<Sim>,
    addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
    _tmp: Option<tempfile::TempDir>,
}

/// A running simulator. Cheap to clone; the server stops and its temporary directory
/// is removed when the last clone is dropped.
#[derive(Clone)]
pub struct SimHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.inner.addr)
            .finish()
    }
}

impl SimHandle {
    pub(crate) fn new(
        sim: Arc<Sim>,
        addr: SocketAddr,
        stop: tokio::sync::oneshot::Sender<()>,
        tmp: Option<tempfile::TempDir>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                sim,
                addr,
                _stop: stop,
                _tmp: tmp,
            }),
        }
    }

    /// The shared core, for the control API and advanced tests.
    pub fn sim(&self) -> &Arc<Sim> {
        &self.inner.sim
    }

    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The base URL to give an API client (octocrab's `base_uri`).
    pub fn github_api_url(&self) -> String {
        self.sim().urls.api.clone()
    }

    /// The web root (what `https://github.com` is on GitHub).
    pub fn web_url(&self) -> String {
        self.sim().urls.web.clone()
    }

    /// The smart-HTTP clone URL of `owner/name`.
    pub fn git_url(&self, repo: &str) -> String {
        format!("{}/{repo}.git", self.sim().urls.web)
    }

    /// The control API's base URL (see [`crate::control`]).
    pub fn control_url(&self) -> String {
        format!("{}/_sim", self.sim().urls.web)
    }

    fn actor(&self, login: &str) -> Result<u64, SimError> {
        self.sim()
            .world()
            .user_by_login(login)
            .map(|u| u.id)
            .ok_or_else(|| SimError::NoUser(login.to_owned()))
    }

    // People and repositories.

    pub async fn add_user(&self, login: &str) -> Result<UserHandle, SimError> {
        let u = self.sim().add_user(login)?;
        Ok(UserHandle {
            id: u.id,
            login: u.login,
            token: u.token,
        })
    }

    /// A user's handle (token included) by login.
    pub async fn user(&self, login: &str) -> Result<UserHandle, SimError> {
        let world = self.sim().world();
        let u = world
            .user_by_login(login)
            .ok_or_else(|| SimError::NoUser(login.to_owned()))?;
        Ok(UserHandle {
            id: u.id,
            login: u.login.clone(),
            token: u.token.clone(),
        })
    }

    pub async fn grant(
        &self,
        repo: &str,
        login: &str,
        permission: Permission,
    ) -> Result<(), SimError> {
        self.sim().grant(repo, login, permission)
    }

    /// Create `owner/name` (and the owner, if new) with a README on `default_branch`.
    pub async fn create_repo(&self, repo: &str, default_branch: &str) -> Result<u64, SimError> {
        self.sim().create_repo(repo, default_branch).await
    }

    /// Send `repo`'s webhooks to `url`, signed with `secret`.
    pub async fn set_hook(&self, repo: &str, url: &str, secret: &str) -> Result<(), SimError> {
        self.sim().set_hook(repo, url, secret)
    }

    pub async fn protect_branch(
        &self,
        repo: &str,
        branch: &str,
        required_contexts: &[&str],
    ) -> Result<(), SimError> {
        self.sim().protect_branch(repo, branch, required_contexts)
    }

    pub async fn create_label(
        &self,
        as_user: &str,
        repo: &str,
        name: &str,
        color: &str,
    ) -> Result<(), SimError> {
        self.sim()
            .create_label(self.actor(as_user)?, repo, name, color, None)
            .map(|_| ())
    }

    // Issues and comments.

    pub async fn open_issue(
        &self,
        as_user: &str,
        repo: &str,
        title: &str,
        body: &str,
    ) -> Result<u64, SimError> {
        self.sim()
            .open_issue(self.actor(as_user)?, repo, title, Some(body), &[])
    }

    pub async fn add_label(
        &self,
        as_user: &str,
        repo: &str,
        number: u64,
        label: &str,
    ) -> Result<(), SimError> {
        self.sim()
            .add_labels(self.actor(as_user)?, repo, number, &[label.to_owned()])
    }

    pub async fn remove_label(
        &self,
        as_user: &str,
        repo: &str,
        number: u64,
        label: &str,
    ) -> Result<(), SimError> {
        self.sim()
            .remove_label(self.actor(as_user)?, repo, number, label)
    }

    /// Comment on an issue or pull request; returns the comment id.
    pub async fn comment(
        &self,
        as_user: &str,
        repo: &str,
        number: u64,
        body: &str,
    ) -> Result<u64, SimError> {
        self.sim().comment(self.actor(as_user)?, repo, number, body)
    }

    pub async fn edit_comment(
        &self,
        as_user: &str,
        repo: &str,
        comment_id: u64,
        body: &str,
    ) -> Result<(), SimError> {
        self.sim()
            .edit_comment(self.actor(as_user)?, repo, comment_id, body)
            .map(|_| ())
    }

    pub async fn close_issue(
        &self,
        as_user: &str,
        repo: &str,
        number: u64,
    ) -> Result<(), SimError> {
        let patch = IssuePatch {
            state: Some(IssueState::Closed),
            ..Default::default()
        };
        self.sim()
            .edit_issue(self.actor(as_user)?, repo, number, patch)
    }

    /// Edit an issue's body, as its author or a maintainer does (an `edited` webhook).
    pub async fn edit_issue_body(
        &self,
        as_user: &str,
        repo: &str,
        number: u64,
        body: &str,
    ) -> Result<(), SimError> {
        let patch = IssuePatch {
            body: Some(body.to_string()),
            ..Default::default()
        };
        self.sim()
            .edit_issue(self.actor(as_user)?, repo, number, patch)
    }

    pub async fn reopen_issue(
        &self,
        as_user: &str,
        repo: &str,
        number: u64,
    ) -> Result<(), SimError> {
        let patch = IssuePatch {
            state: Some(IssueState::Open),
            ..Default::default()
        };
        self.sim()
            .edit_issue(self.actor(as_user)?, repo, number, patch)
    }

    /// React to a comment (a review comment when `on_diff`) with GitHub reaction
    /// `content`; returns the reaction id (the one already there when `as_user` gave
    /// that content before).
    pub async fn react(
        &self,
        as_user: &str,
        repo: &str,
        comment_id: u64,
        on_diff: bool,
        content: &str,
    ) -> Result<u64, SimError> {
        self.sim()
            .react(self.actor(as_user)?, repo, comment_id, on_diff, content)
            .map(|(r, _)| r.id)
    }

    // Code and pull requests.

    /// Commit one file onto `branch` (branching from the default branch if new), as the
    /// web editor does, and send the `push` webhook; returns the new commit sha.
    pub async fn commit_file(
        &self,
        as_user: &str,
        repo: &str,
        branch: &str,
        path: &str,
        content: &str,
        message: &str,
    ) -> Result<String, SimError> {
        self.sim()
            .commit_file(self.actor(as_user)?, repo, branch, path, content, message)
            .await
    }

    pub async fn open_pull(
        &self,
        as_user: &str,
        repo: &str,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<u64, SimError> {
        let new = NewPull {
            title: title.to_owned(),
            body: Some(body.to_owned()),
            head: head.to_owned(),
            base: base.to_owned(),
            draft: false,
        };
        self.sim().open_pull(self.actor(as_user)?, repo, new).await
    }

    pub async fn approve(&self, as_user: &str, repo: &str, pr: u64) -> Result<u64, SimError> {
        self.sim()
            .review(self.actor(as_user)?, repo, pr, ReviewState::Approved, None)
    }

    pub async fn request_changes(
        &self,
        as_user: &str,
        repo: &str,
        pr: u64,
        body: &str,
    ) -> Result<u64, SimError> {
        self.sim().review(
            self.actor(as_user)?,
            repo,
            pr,
            ReviewState::ChangesRequested,
            Some(body),
        )
    }

    pub async fn review_comment(
        &self,
        as_user: &str,
        repo: &str,
        pr: u64,
        path: &str,
        line: u64,
        body: &str,
    ) -> Result<u64, SimError> {
        self.sim()
            .review_comment(self.actor(as_user)?, repo, pr, path, line, body)
    }

    /// Press the merge button; returns the new commit on the base branch.
    pub async fn merge_pr(
        &self,
        as_user: &str,
        repo: &str,
        pr: u64,
        method: MergeMethod,
    ) -> Result<String, SimError> {
        self.sim()
            .merge_pull(self.actor(as_user)?, repo, pr, method, None, None)
            .await
    }

    /// Report a commit status as CI would.
    pub async fn set_status(
        &self,
        as_user: &str,
        repo: &str,
        sha: &str,
        state: &str,
        context: &str,
    ) -> Result<u64, SimError> {
        let input = StatusInput {
            state: state.to_owned(),
            context: Some(context.to_owned()),
            ..Default::default()
        };
        self.sim()
            .create_status(self.actor(as_user)?, repo, sha, input)
            .await
    }

    // Reads for assertions.

    pub async fn issue(&self, repo: &str, number: u64) -> Option<Issue> {
        self.sim().world().repo(repo)?.issues.get(&number).cloned()
    }

    pub async fn comments(&self, repo: &str, number: u64) -> Vec<Comment> {
        self.issue(repo, number)
            .await
            .map(|i| i.comments)
            .unwrap_or_default()
    }

    /// The reactions on a comment (an issue, pull request conversation or review
    /// comment), oldest first, as (login, content).
    pub async fn reactions(&self, repo: &str, comment_id: u64) -> Vec<(String, String)> {
        let world = self.sim().world();
        world
            .repo(repo)
            .and_then(|r| r.reactions.get(&comment_id))
            .map(|rs| {
                rs.iter()
                    .map(|x| (world.login(x.user).to_owned(), x.content.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub async fn labels(&self, repo: &str, number: u64) -> Vec<String> {
        self.issue(repo, number)
            .await
            .map(|i| i.labels)
            .unwrap_or_default()
    }

    pub async fn pull_requests(&self, repo: &str) -> Vec<PullRequest> {
        self.sim()
            .world()
            .repo(repo)
            .map(|r| r.pulls.values().cloned().collect())
            .unwrap_or_default()
    }

    pub async fn statuses(&self, repo: &str, sha: &str) -> Vec<CommitStatus> {
        let world = self.sim().world();
        world
            .repo(repo)
            .map(|r| {
                r.statuses
                    .iter()
                    .filter(|s| s.sha == sha)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The commit a branch points at in the real repository.
    pub async fn branch_sha(&self, repo: &str, branch: &str) -> Result<Option<String>, SimError> {
        let dir = ops::repo_of(&self.sim().world(), repo)?.git_dir.clone();
        Ok(git::rev_parse(&dir, &format!("refs/heads/{branch}")).await?)
    }

    /// One commit of the real repository (parents, message, changed paths).
    pub async fn commit(&self, repo: &str, rev: &str) -> Result<Option<git::CommitInfo>, SimError> {
        let dir = ops::repo_of(&self.sim().world(), repo)?.git_dir.clone();
        Ok(git::commit(&dir, rev).await?)
    }

    /// Every ref of the real repository.
    pub async fn refs(&self, repo: &str) -> Result<BTreeMap<String, String>, SimError> {
        let dir = ops::repo_of(&self.sim().world(), repo)?.git_dir.clone();
        Ok(git::refs(&dir).await?)
    }

    /// A file's content at a ref, from the real repository.
    pub async fn read_file(
        &self,
        repo: &str,
        rev: &str,
        path: &str,
    ) -> Result<Option<Vec<u8>>, SimError> {
        let dir = ops::repo_of(&self.sim().world(), repo)?.git_dir.clone();
        Ok(git::read_file(&dir, rev, path).await?.map(|(b, _)| b))
    }

    /// The delivery log, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.sim().deliveries.log()
    }

    /// Sync point: wait until `n` deliveries have finished (sent, failed or dropped).
    pub async fn wait_for_deliveries(&self, n: usize, timeout: Duration) -> Result<(), SimError> {
        self.sim().deliveries.wait_done(n, timeout).await
    }

    /// Sync point: wait until every delivery logged so far has finished.
    pub async fn wait_for_all_deliveries(&self, timeout: Duration) -> Result<(), SimError> {
        let n = self.sim().deliveries.log().len();
        self.sim().deliveries.wait_done(n, timeout).await
    }

    /// Send a logged delivery again, as GitHub's "Redeliver" button does.
    pub fn redeliver(&self, guid: &str) -> bool {
        self.sim().deliveries.redeliver(guid)
    }

    // Faults.

    /// The next `n` API requests under `path_prefix` (e.g. `/repos/o/r/issues`) fail
    /// with `status` (a 5xx).
    pub fn fail_next(&self, n: u32, status: u16, path_prefix: Option<&str>) {
        self.sim().faults.inject(
            FaultKind::ServerError(status),
            n,
            path_prefix.map(str::to_owned),
        );
    }

    /// The next `n` API requests hit the primary rate limit, resetting in `reset_in`.
    pub fn rate_limit_next(&self, n: u32, reset_in: Duration) {
        self.sim()
            .faults
            .inject(FaultKind::PrimaryRateLimit { reset_in }, n, None);
    }

    /// The next `n` API requests hit a secondary limit (`status` 403 or 429).
    pub fn secondary_limit_next(&self, n: u32, status: u16, retry_after: Duration) {
        self.sim().faults.inject(
            FaultKind::SecondaryRateLimit {
                status,
                retry_after,
            },
            n,
            None,
        );
    }

    /// The next `n` API requests are answered after `delay`.
    pub fn slow_next(&self, n: u32, delay: Duration) {
        self.sim().faults.inject(FaultKind::Delay(delay), n, None);
    }

    /// The next `n` git pushes are declined by a pre-receive hook, as a forge's push
    /// rule or branch protection declines them.
    pub fn decline_pushes(&self, n: u32) {
        self.sim().faults.decline_pushes(n);
    }

    pub fn drop_deliveries(&self, n: u32) {
        self.sim().deliveries.drop_next(n);
    }

    pub fn duplicate_deliveries(&self, n: u32) {
        self.sim().deliveries.duplicate_next(n);
    }

    pub fn clear_faults(&self) {
        self.sim().faults.clear();
    }
}
