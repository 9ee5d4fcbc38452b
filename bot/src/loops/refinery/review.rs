//! A refinery PR/MR with people: what the forge says now decides. Changes requested
//! (or comments on the diff) by someone with write access send the work back on the
//! same PR; an approval by such a person, with `auto_merge` and every required check
//! green, merges it; otherwise the status comment says what it waits for.
//!
//! Feedback is handled once: the ids of the reviews and comments a rework was made
//! from are kept on the task, so the same review never sends the work back twice.
//!
//! An approval counts only for the commit it was given on: when a rework or a new
//! rebase moves the PR's head, the refinery waits for a new approval of the new head
//! and the status comment says so. GitHub reviews carry their `commit_id`;
//! GitLab approvals do not, so the bot keeps the MR's head at approval time from the
//! `approval` webhook ([`super::follow::record_approval`]); an approval it has no
//! record of counts only while the MR has only ever had one tested head.

use std::collections::{BTreeMap, BTreeSet};

use super::{Context, Refinery, RefineryError, Step};
use crate::config::repo;
use crate::forge::{CheckState, MergeMethod, MergeOutcome, ReviewState};

/// What the PR's state calls for. Pure: decided from what the forge returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Rework {
        reason: String,
        details: String,
        handled: Vec<String>,
    },
    Merge,
    Wait(String),
}

/// One writer's latest decisive review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Given {
    pub id: String,
    pub state: ReviewState,
    pub body: String,
    /// The commit it was given on, when known.
    pub commit: Option<String>,
}

/// The feedback on a PR, as the refinery weighs it: only people who may write count.
#[derive(Debug, Clone, Default)]
pub struct Feedback {
    /// Latest decisive review per writer.
    pub reviews: BTreeMap<String, Given>,
    /// Diff comments by writers not handled yet: (id, author, where, body).
    pub comments: Vec<(String, String, String, String)>,
    /// Required checks that are not green: name and state.
    pub waiting_checks: Vec<(String, &'static str)>,
}

/// Decide the next step from the feedback on the PR whose tested head is `head`.
/// `handled` holds feedback ids already acted on.
pub fn decide(f: &Feedback, handled: &BTreeSet<String>, auto_merge: bool, head: &str) -> Next {
    let asked: Vec<_> = f
        .reviews
        .iter()
        .filter(|(_, g)| g.state == ReviewState::ChangesRequested && !handled.contains(&g.id))
        .collect();
    let comments: Vec<_> = f
        .comments
        .iter()
        .filter(|(id, ..)| !handled.contains(id))
        .collect();
    if !asked.is_empty() || !comments.is_empty() {
        let who: BTreeSet<&str> = asked
            .iter()
            .map(|(u, _)| u.as_str())
            .chain(comments.iter().map(|(_, u, _, _)| u.as_str()))
            .collect();
        let mut details = String::new();
        for (user, g) in &asked {
            details.push_str(&format!(
                "Review by {user} (changes requested):\n{}\n\n",
                g.body
            ));
        }
        for (_, user, at, body) in &comments {
            details.push_str(&format!("Comment by {user} on {at}:\n{body}\n\n"));
        }
        let handled = asked
            .iter()
            .map(|(_, g)| g.id.clone())
            .chain(comments.iter().map(|(id, ..)| id.clone()))
            .collect();
        return Next::Rework {
            reason: format!(
                "review feedback from {}",
                who.into_iter().collect::<Vec<_>>().join(", ")
            ),
            details: details.trim_end().to_string(),
            handled,
        };
    }
    let approvals: Vec<(&String, &Given)> = f
        .reviews
        .iter()
        .filter(|(_, g)| g.state == ReviewState::Approved)
        .collect();
    if !approvals
        .iter()
        .any(|(_, g)| g.commit.as_deref() == Some(head))
    {
        if approvals.is_empty() {
            return Next::Wait("an approving review".into());
        }
        let who: Vec<&str> = approvals.iter().map(|(u, _)| u.as_str()).collect();
        return Next::Wait(format!(
            "a new approval: {} approved an earlier commit, and the branch is now at `{}`",
            who.join(", "),
            head.get(..12).unwrap_or(head)
        ));
    }
    if let Some((name, state)) = f.waiting_checks.first() {
        return Next::Wait(format!("required check `{name}` ({state})"));
    }
    if !auto_merge {
        return Next::Wait("a person to merge it (auto_merge is off)".into());
    }
    Next::Merge
}

/// The head the PR is in review at: the commit the refinery's verified report tested
/// (a PR opened without a run: the head it was opened at).
fn tested_head(cx: &Context) -> String {
    let reported = cx.mr_meta.report.as_ref().map(|r| r.head_sha.clone());
    reported
        .or_else(|| cx.mr_meta.review_head.clone())
        .unwrap_or_default()
}

impl Refinery {
    /// One look at a PR in review: something happened on it, or it is time to look.
    pub(super) async fn follow(&self, cx: &Context) -> Result<Step, RefineryError> {
        let nudge = cx.mr_meta.nudge;
        let Some(number) = cx.mr_meta.pull_request else {
            return Ok(Step::Waiting);
        };
        let feedback = self.feedback(cx, number).await?;
        let handled: BTreeSet<String> = cx.task_meta.handled_feedback.iter().cloned().collect();
        let next = decide(&feedback, &handled, cx.config.auto_merge, &tested_head(cx));
        tracing::info!(pull_request = number, next = ?next, "following the pull request");
        let (mr_id, now) = (cx.mr.id.clone(), self.clock.now_ms());
        self.store
            .write(move |c| {
                crate::decisions::meta::update_merge_request(c, &mr_id, now, |m| m.nudged = nudge)
                    .map(|_| ())
            })
            .await?;
        match next {
            Next::Rework {
                reason,
                details,
                handled: ids,
            } => {
                let (task_id, now) = (cx.task.id.clone(), self.clock.now_ms());
                let all: Vec<String> = handled.into_iter().chain(ids).collect();
                self.store
                    .write(move |c| {
                        crate::decisions::meta::update_task(c, &task_id, now, |t| {
                            t.handled_feedback = all
                        })
                        .map(|_| ())
                    })
                    .await?;
                self.send_back(cx, &reason, &details, "refinery").await
            }
            Next::Merge => self.merge(cx, number).await,
            Next::Wait(what) => self.waiting_for(cx, Some(what)).await,
        }
    }

    async fn feedback(&self, cx: &Context, number: u64) -> Result<Feedback, RefineryError> {
        let mut f = Feedback::default();
        // Where approvals without a commit id were given: the bot's record of the
        // approval webhooks; else, while the PR has only had one tested head, that one.
        let recorded = &cx.task_meta.approvals;
        let heads = cx.task_meta.review_heads.len();
        let head = tested_head(cx);
        for r in cx.forge.reviews(&cx.repo, number).await? {
            if !self.may_write(cx, &r.author).await? {
                continue;
            }
            match r.state {
                ReviewState::Commented => {}
                ReviewState::Dismissed => {
                    f.reviews.remove(&r.author);
                }
                state => {
                    let commit = r
                        .commit_sha
                        .or_else(|| recorded.get(&r.author).cloned())
                        .or_else(|| (heads <= 1 && !head.is_empty()).then(|| head.clone()));
                    f.reviews.insert(
                        r.author.clone(),
                        Given {
                            id: format!("review:{}", r.id),
                            state,
                            body: r.body,
                            commit,
                        },
                    );
                }
            }
        }
        for c in cx.forge.review_comments(&cx.repo, number).await? {
            if !self.may_write(cx, &c.author).await? {
                continue;
            }
            let at = match (&c.path, c.line) {
                (Some(p), Some(l)) => format!("{p}:{l}"),
                (Some(p), None) => p.clone(),
                _ => "the diff".into(),
            };
            f.comments
                .push((format!("comment:{}", c.id), c.author, at, c.body));
        }
        let required = cx.forge.required_checks(&cx.repo, &cx.target).await?;
        if !required.is_empty() {
            let checks = cx.forge.checks(&cx.repo, &tested_head(cx)).await?;
            for name in required {
                let state = checks
                    .iter()
                    .filter(|c| c.name == name)
                    .map(|c| c.state)
                    .next_back();
                let label = match state {
                    Some(CheckState::Success) => continue,
                    Some(CheckState::Pending) => "pending",
                    Some(CheckState::Failure) => "failing",
                    Some(CheckState::Error) => "erroring",
                    None => "not reported yet",
                };
                f.waiting_checks.push((name, label));
            }
        }
        Ok(f)
    }

    /// Only reviews by people who may write count, checked as the worker checks a
    /// sling (and from the same cache).
    async fn may_write(&self, cx: &Context, user: &str) -> Result<bool, RefineryError> {
        let permission = self
            .forges
            .permission(
                cx.forge.as_ref(),
                &cx.repo,
                user,
                &self.clock,
                &self.config.permissions,
            )
            .await?;
        Ok(permission.can_command())
    }

    async fn merge(&self, cx: &Context, number: u64) -> Result<Step, RefineryError> {
        // Approved work is merged only onto the target it was tested on.
        let tested_on = cx
            .mr_meta
            .report
            .as_ref()
            .map_or("", |r| r.base_sha.as_str());
        if !tested_on.is_empty() {
            let now_at = self
                .gateway
                .branch_head(&cx.rig_target(), &cx.target)
                .await?;
            if now_at != tested_on {
                let why = format!(
                    "{} moved to {now_at} since the gates ran; rebasing and testing again",
                    cx.target
                );
                return self.test_again(cx, why).await;
            }
        }
        let method = match cx.config.merge_method {
            repo::MergeMethod::Merge => MergeMethod::Merge,
            repo::MergeMethod::Squash => MergeMethod::Squash,
            repo::MergeMethod::Rebase => MergeMethod::Rebase,
        };
        let head = cx.mr_meta.report.as_ref().map(|r| r.head_sha.as_str());
        match cx.forge.merge(&cx.repo, number, method, head).await? {
            MergeOutcome::Merged { sha } => {
                tracing::info!(pull_request = number, sha = %sha, "merged");
                let (rig, now) = (cx.rig.id.clone(), self.clock.now_ms());
                // The forge's webhook says the same; whichever comes first closes.
                self.store
                    .write(move |c| {
                        super::follow::apply_pull_request_closed(
                            c, &rig, number, true, "refinery", now,
                        )
                    })
                    .await?;
                Ok(Step::Moved)
            }
            MergeOutcome::NotMergeable { reason } => {
                let what = crate::decisions::comments::waiting_for_the_forge(&reason);
                self.waiting_for(cx, Some(what)).await
            }
        }
    }

    /// Show on the issue what the PR waits for (once per change).
    async fn waiting_for(&self, cx: &Context, what: Option<String>) -> Result<Step, RefineryError> {
        if cx.task_meta.waiting_for == what {
            return Ok(Step::Waiting);
        }
        let (task_id, now) = (cx.task.id.clone(), self.clock.now_ms());
        self.store
            .write(move |c| {
                let task = crate::decisions::meta::update_task(c, &task_id, now, |t| {
                    t.waiting_for = what
                })?;
                crate::lifecycle::outbox::queue_bead_update(c, &task, now)
            })
            .await?;
        Ok(Step::Waiting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "2222222222222222222222222222222222222222";

    fn review(id: &str, state: ReviewState, body: &str) -> Given {
        Given {
            id: id.into(),
            state,
            body: body.into(),
            commit: Some(HEAD.into()),
        }
    }

    #[test]
    fn changes_requested_go_back_once() {
        let mut f = Feedback::default();
        f.reviews.insert(
            "mara".into(),
            review(
                "review:7",
                ReviewState::ChangesRequested,
                "Say hello, world.",
            ),
        );
        let Next::Rework {
            reason,
            details,
            handled,
        } = decide(&f, &BTreeSet::new(), true, HEAD)
        else {
            panic!("changes requested must go back");
        };
        assert_eq!(reason, "review feedback from mara");
        assert!(details.contains("Say hello, world."));
        let handled: BTreeSet<String> = handled.into_iter().collect();
        assert_eq!(
            decide(&f, &handled, true, HEAD),
            Next::Wait("an approving review".into())
        );
    }

    #[test]
    fn an_approval_merges_only_with_required_checks_green_and_auto_merge_on() {
        let mut f = Feedback::default();
        f.reviews
            .insert("mara".into(), review("review:8", ReviewState::Approved, ""));
        f.waiting_checks.push(("ci/test".into(), "pending"));
        assert_eq!(
            decide(&f, &BTreeSet::new(), true, HEAD),
            Next::Wait("required check `ci/test` (pending)".into())
        );
        f.waiting_checks.clear();
        assert_eq!(decide(&f, &BTreeSet::new(), true, HEAD), Next::Merge);
        assert!(
            matches!(decide(&f, &BTreeSet::new(), false, HEAD), Next::Wait(w) if w.contains("auto_merge is off"))
        );
    }

    #[test]
    fn an_approval_counts_only_for_the_commit_it_was_given_on() {
        let mut f = Feedback::default();
        let mut old = review("review:9", ReviewState::Approved, "");
        old.commit = Some("1111111111111111111111111111111111111111".into());
        f.reviews.insert("mara".into(), old.clone());
        assert_eq!(
            decide(&f, &BTreeSet::new(), true, HEAD),
            Next::Wait(
                "a new approval: mara approved an earlier commit, and the branch is now at \
                 `222222222222`"
                    .into()
            )
        );
        // Not knowing where an approval was given is not knowing it was this head.
        old.commit = None;
        f.reviews.insert("mara".into(), old);
        assert!(
            matches!(decide(&f, &BTreeSet::new(), true, HEAD), Next::Wait(w) if w.starts_with("a new approval"))
        );
        f.reviews.insert(
            "mara".into(),
            review("review:10", ReviewState::Approved, ""),
        );
        assert_eq!(decide(&f, &BTreeSet::new(), true, HEAD), Next::Merge);
    }
}
