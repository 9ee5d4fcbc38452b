//! Landing work that passed: `pr` opens (or updates) one pull/merge request and
//! puts the refinery's verdict on the tested commit; `direct` fast-forwards the
//! target and closes the issue.

use serde_json::json;

use super::gates::Report;
use super::{Context, Refinery, RefineryError, Step, ai_review, follow};
use crate::decisions::comments;
use crate::decisions::meta;
use crate::forge::{CheckState, CommitStatus, NewPullRequest};
use crate::gitgate::Landed;
use crate::lifecycle::{self, Cause};
use crate::store::{self, BeadStatus};

impl Refinery {
    /// `pr`: open (or update) the PR, put the verdict on the tested commit, and wait
    /// for people. `note` is added to the PR's body (e.g. the protected files it
    /// changes).
    pub(super) async fn land_pr(
        &self,
        cx: &Context,
        report: Option<&Report>,
        review: &ai_review::ReviewNote<'_>,
        note: &str,
    ) -> Result<Step, RefineryError> {
        let gates = report.map(|r| r.gates.as_slice()).unwrap_or_default();
        let body = comments::pull_request_body(&cx.task, &cx.mr, cx.issue, gates, review, note);
        // As the forge client will write it, so an unchanged body is not written again.
        let body = self.config.redactor.redact(&body);
        let pr = self.open_pull_request(cx, &body).await?;
        // A report here is the verified one: its head is where the mirror has the branch.
        let sha = report.map_or(pr.head_sha.as_str(), |r| r.head_sha.as_str());
        let status = CommitStatus {
            context: comments::REFINERY_STATUS_CONTEXT.into(),
            state: CheckState::Success,
            description: comments::refinery_passed_status(gates.len(), review.needs_a_person()),
            target_url: None,
        };
        cx.forge.set_status(&cx.repo, sha, &status).await?;
        let (mr_id, task_id, rig_id, now) = (
            cx.mr.id.clone(),
            cx.task.id.clone(),
            cx.rig.id.clone(),
            self.clock.now_ms(),
        );
        let url = pr.url.clone();
        let head = sha.to_string();
        // Every head the PR is put up for review at, in order: an approval whose commit
        // is unknown (GitLab's) counts only while there has been just one.
        let mut heads = cx.task_meta.review_heads.clone();
        if heads.last() != Some(&head) {
            heads.push(head.clone());
        }
        self.store
            .write(move |c| {
                let forge_ref = store::ForgeRef::merge_request(&rig_id, pr.number).to_string();
                meta::update_merge_request(c, &mr_id, now, |m| {
                    m.review_head = Some(head);
                    m.pull_request = Some(pr.number);
                })?;
                let mr = store::set_forge_ref(c, &mr_id, &forge_ref)?;
                let payload = json!({ "pull_request": pr.number, "url": url });
                let cause = Cause::new("refinery", &payload);
                lifecycle::advance(c, &mr.id, BeadStatus::Review, cause, now)?;
                // Look at the PR once now: it may be approved already (a rework).
                follow::bump_nudge(c, &mr, now)?;
                let task = meta::update_task(c, &task_id, now, |t| {
                    t.review_heads = heads;
                    t.pull_request = Some(pr.number);
                })?;
                crate::lifecycle::outbox::queue_bead_update(c, &task, now)?;
                Ok(())
            })
            .await?;
        Ok(Step::Moved)
    }

    /// The refinery's PR for this task: found by its head branch or marker (a second
    /// merge request of a rework, a restart), else opened; an existing one gets the
    /// latest body.
    async fn open_pull_request(
        &self,
        cx: &Context,
        body: &str,
    ) -> Result<crate::forge::PullRequest, RefineryError> {
        let branch = cx.mr_meta.branch.as_deref().unwrap_or_default();
        let marker = comments::pull_request_marker(&cx.task.id);
        if let Some(existing) = cx
            .forge
            .open_pull_requests(&cx.repo)
            .await?
            .into_iter()
            .find(|p| p.head == branch || p.body.contains(&marker))
        {
            if existing.body != body {
                let update = crate::forge::PullRequestUpdate {
                    title: None,
                    body: Some(body.to_string()),
                    state: None,
                };
                return Ok(cx
                    .forge
                    .update_pull_request(&cx.repo, existing.number, &update)
                    .await?);
            }
            return Ok(existing);
        }
        let new = NewPullRequest {
            title: comments::pull_request_title(&cx.task),
            body: body.to_string(),
            head: branch.to_string(),
            base: cx.target.clone(),
            draft: false,
        };
        let pr = cx.forge.create_pull_request(&cx.repo, &new).await?;
        tracing::info!(number = pr.number, url = %pr.url, "pull request opened");
        Ok(pr)
    }

    /// `direct`: fast-forward the target to the tested commit and close the issue; a
    /// target that moved since the run means rebasing and testing again.
    pub(super) async fn land_direct(
        &self,
        cx: &Context,
        report: &Report,
    ) -> Result<Step, RefineryError> {
        let landed = self
            .gateway
            .land(&cx.rig_target(), &report.head_sha, &cx.target)
            .await?;
        tracing::info!(sha = %report.head_sha, target = %cx.target, outcome = ?landed, "direct landing");
        if landed == Landed::TargetMoved {
            let why = format!(
                "{} moved since the run; rebasing and testing again",
                cx.target
            );
            return self.test_again(cx, why).await;
        }
        let (sha, target) = (report.head_sha.clone(), cx.target.clone());
        let payload = json!({ "landed": sha, "target": target });
        let body = move |_: &store::Tx<'_>, _: &store::Bead, marker: &str| {
            Ok(comments::landed_comment(&target, &sha, marker))
        };
        let sha = report.head_sha.clone();
        self.close_with_comment(
            cx,
            store::CloseReason::Merged,
            payload,
            "landed",
            &sha,
            body,
        )
        .await
    }

    /// The work is over: the merge request and its task close for `reason`, and the
    /// issue gets the comment `body` makes (from the task's molecule, if it needs it)
    /// and is closed. One transaction; the comment is posted once, keyed by `kind`
    /// and `sha`.
    async fn close_with_comment(
        &self,
        cx: &Context,
        reason: store::CloseReason,
        payload: serde_json::Value,
        kind: &'static str,
        sha: &str,
        body: impl FnOnce(&store::Tx<'_>, &store::Bead, &str) -> Result<String, store::StoreError>
        + Send
        + 'static,
    ) -> Result<Step, RefineryError> {
        let (mr_id, task, now) = (cx.mr.id.clone(), cx.task.clone(), self.clock.now_ms());
        let (issue, rig_id) = (cx.issue, cx.rig.id.clone());
        let key = format!("{}:{kind}:{sha}", task.id);
        self.store
            .write(move |c| {
                let text = body(c, &task, &comments::marker(kind, &key))?;
                for id in [&mr_id, &task.id] {
                    let cause = Cause::new("refinery", &payload);
                    lifecycle::move_to(c, id, BeadStatus::Closed, Some(reason), cause, now)?;
                }
                if let Some(number) = issue {
                    let on = crate::lifecycle::outbox::CommentOn {
                        rig_id: &rig_id,
                        bead_id: Some(&task.id),
                        number,
                        close_issue: true,
                    };
                    crate::lifecycle::outbox::queue_comment(c, &on, kind, &key, |_| text, now)?;
                }
                Ok(())
            })
            .await?;
        Ok(Step::Moved)
    }

    /// The branch holds nothing the target does not (a molecule whose steps changed
    /// no file, work someone else already landed): no pull request to review, the
    /// task is done and the issue says so, with what each step found.
    pub(super) async fn nothing_to_land(
        &self,
        cx: &Context,
        report: &Report,
    ) -> Result<Step, RefineryError> {
        let (sha, target) = (report.head_sha.clone(), cx.target.clone());
        tracing::info!(%sha, %target, "nothing to land: the branch changes nothing");
        let payload = json!({ "nothing_to_land": sha, "target": target });
        let body = move |c: &store::Tx<'_>, task: &store::Bead, marker: &str| {
            let steps: Vec<(String, String)> = match crate::lifecycle::molecule::of_task(c, task)? {
                Some(view) => crate::lifecycle::molecule::done_so_far(&view)
                    .into_values()
                    .map(|(id, _, summary)| (id, summary))
                    .collect(),
                None => Vec::new(),
            };
            Ok(comments::nothing_to_land(&target, &steps, marker))
        };
        let sha = report.head_sha.clone();
        self.close_with_comment(
            cx,
            store::CloseReason::Done,
            payload,
            "unchanged",
            &sha,
            body,
        )
        .await
    }
}
