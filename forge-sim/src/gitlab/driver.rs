//! The driver's GitLab acts on [`SimHandle`]: what a person does on a GitLab project,
//! addressed by project path and `iid`, plus pipelines as a runner would run them.

use crate::driver::SimHandle;
use crate::error::SimError;
use crate::ops::gitlab::{AwardRefusal, GlIssueEdit, GlStatusInput, MergeRefusal};
use crate::world::{IssueState, Permission};

impl SimHandle {
    /// The base URL to give a GitLab client: `{web}/api/gitlab/api/v4`.
    pub fn gitlab_api_url(&self) -> String {
        format!("{}{}", self.web_url(), super::API_PREFIX)
    }

    fn gl_actor(&self, login: &str) -> Result<u64, SimError> {
        self.sim()
            .world()
            .user_by_login(login)
            .map(|u| u.id)
            .ok_or_else(|| SimError::NoUser(login.to_owned()))
    }

    /// Create GitLab project `group[/sub]/project` with a README on `default_branch`.
    pub async fn create_gitlab_project(
        &self,
        path: &str,
        default_branch: &str,
    ) -> Result<u64, SimError> {
        self.sim().create_gitlab_project(path, default_branch).await
    }

    /// Send the project's hooks to `url` with secret token `token`.
    pub fn set_gitlab_hook(&self, path: &str, url: &str, token: &str) -> Result<(), SimError> {
        self.sim().set_gitlab_hook(path, url, token)
    }

    /// Make `login` a member with GitLab access level 10/20/30/40/50 (0 removes).
    pub fn add_member(&self, path: &str, login: &str, access_level: u64) -> Result<(), SimError> {
        let permission = match access_level {
            50.. => Permission::Admin,
            40..=49 => Permission::Maintain,
            30..=39 => Permission::Write,
            20..=29 => Permission::Triage,
            10..=19 => Permission::Read,
            _ => Permission::None,
        };
        self.sim().grant(path, login, permission)
    }

    /// "Pipelines must succeed" on or off.
    pub fn set_pipelines_must_succeed(&self, path: &str, on: bool) -> Result<(), SimError> {
        self.sim().set_pipelines_must_succeed(path, on)
    }

    /// Open an issue; returns its iid.
    pub async fn gl_open_issue(
        &self,
        as_user: &str,
        path: &str,
        title: &str,
        description: &str,
    ) -> Result<u64, SimError> {
        self.sim()
            .gl_open_issue(self.gl_actor(as_user)?, path, title, Some(description), &[])
    }

    /// Edit an issue as `PUT .../issues/:iid` does (labels, state, title).
    pub fn gl_edit_issue(
        &self,
        as_user: &str,
        path: &str,
        iid: u64,
        edit: GlIssueEdit,
    ) -> Result<(), SimError> {
        self.sim()
            .gl_edit_issue(self.gl_actor(as_user)?, path, iid, edit)
    }

    pub async fn gl_add_label(
        &self,
        as_user: &str,
        path: &str,
        iid: u64,
        label: &str,
    ) -> Result<(), SimError> {
        let edit = GlIssueEdit {
            add_labels: vec![label.to_owned()],
            ..Default::default()
        };
        self.gl_edit_issue(as_user, path, iid, edit)
    }

    pub async fn gl_remove_label(
        &self,
        as_user: &str,
        path: &str,
        iid: u64,
        label: &str,
    ) -> Result<(), SimError> {
        let edit = GlIssueEdit {
            remove_labels: vec![label.to_owned()],
            ..Default::default()
        };
        self.gl_edit_issue(as_user, path, iid, edit)
    }

    pub async fn gl_close_issue(
        &self,
        as_user: &str,
        path: &str,
        iid: u64,
    ) -> Result<(), SimError> {
        let edit = GlIssueEdit {
            state: Some(IssueState::Closed),
            ..Default::default()
        };
        self.gl_edit_issue(as_user, path, iid, edit)
    }

    /// Comment on an issue (or, with `mr`, a merge request); returns the note id.
    pub async fn gl_comment(
        &self,
        as_user: &str,
        path: &str,
        iid: u64,
        mr: bool,
        body: &str,
    ) -> Result<u64, SimError> {
        self.sim()
            .gl_note(self.gl_actor(as_user)?, path, iid, mr, body)
    }

    /// Award emoji `name` on a note of issue `iid` (of merge request `iid` when `mr`,
    /// diff notes included); returns the award id.
    pub async fn gl_award(
        &self,
        as_user: &str,
        path: &str,
        iid: u64,
        mr: bool,
        note_id: u64,
        name: &str,
    ) -> Result<u64, AwardRefusal> {
        self.sim()
            .gl_award(self.gl_actor(as_user)?, path, iid, mr, note_id, name)
            .map(|a| a.id)
    }

    /// The award emoji on a note (an issue, merge request or diff note), oldest first,
    /// as (username, name).
    pub async fn gl_awards(&self, project: &str, note_id: u64) -> Vec<(String, String)> {
        let world = self.sim().world();
        world
            .repo(project)
            .filter(|r| world.gitlab.contains_key(&r.id))
            .and_then(|r| r.reactions.get(&note_id))
            .map(|rs| {
                rs.iter()
                    .map(|x| (world.login(x.user).to_owned(), x.content.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Open a merge request; returns its iid.
    pub async fn gl_open_mr(
        &self,
        as_user: &str,
        path: &str,
        source: &str,
        target: &str,
        title: &str,
        description: &str,
    ) -> Result<u64, SimError> {
        self.sim()
            .gl_open_mr(
                self.gl_actor(as_user)?,
                path,
                source,
                target,
                title,
                Some(description),
            )
            .await
    }

    pub async fn gl_approve(
        &self,
        as_user: &str,
        path: &str,
        iid: u64,
    ) -> Result<(), MergeRefusal> {
        self.sim()
            .gl_approve(self.gl_actor(as_user)?, path, iid, None)
    }

    pub async fn gl_unapprove(&self, as_user: &str, path: &str, iid: u64) -> Result<(), SimError> {
        self.sim().gl_unapprove(self.gl_actor(as_user)?, path, iid)
    }

    /// A line comment on the MR's diff; returns the note id.
    pub async fn gl_diff_note(
        &self,
        as_user: &str,
        path: &str,
        iid: u64,
        file: &str,
        line: u64,
        body: &str,
    ) -> Result<u64, SimError> {
        self.sim()
            .gl_diff_note(self.gl_actor(as_user)?, path, iid, file, line, body)
    }

    /// Press "Merge" (or "Squash and merge"); returns the new commit on the target.
    pub async fn gl_merge(
        &self,
        as_user: &str,
        path: &str,
        iid: u64,
        squash: bool,
    ) -> Result<String, MergeRefusal> {
        self.sim()
            .gl_merge(self.gl_actor(as_user)?, path, iid, squash, None)
            .await
    }

    /// Report a commit status as an external CI would.
    pub async fn gl_set_status(
        &self,
        as_user: &str,
        path: &str,
        sha: &str,
        state: &str,
        name: &str,
    ) -> Result<u64, SimError> {
        let input = GlStatusInput {
            state: state.to_owned(),
            name: Some(name.to_owned()),
            ..Default::default()
        };
        self.sim()
            .gl_create_status(self.gl_actor(as_user)?, path, sha, input)
            .await
    }

    /// Start a pipeline on branch `git_ref`, as a push would; returns its id.
    pub async fn run_pipeline(
        &self,
        as_user: &str,
        path: &str,
        git_ref: &str,
    ) -> Result<u64, SimError> {
        self.sim()
            .gl_run_pipeline(self.gl_actor(as_user)?, path, git_ref, "push")
            .await
    }

    /// Finish pipeline `id` with `status` (`success`, `failed`, `canceled`, ...).
    pub async fn finish_pipeline(&self, path: &str, id: u64, status: &str) -> Result<(), SimError> {
        self.sim().gl_finish_pipeline(path, id, status).await
    }
}
