//! How passing work lands: the one rule, pure, so it is tested on its own.
//!
//! - `merge_strategy: direct` is an explicit choice of the repository: only its
//!   `.gastown.yaml` can make it (the server's configuration cannot), and otherwise
//!   work lands through a pull/merge request.
//! - Work that changes a protected file (CI configuration, gastown's settings: see
//!   [`crate::gitgate::protected`]) lands through a pull/merge request whatever the
//!   strategy, even where `.gastown.yaml` allowed agents to change that file.
//! - A pull/merge request is merged by the bot only on an approving review by a person
//!   with write access (and with `auto_merge` on): never on the gates, the AI review or
//!   the agent's word alone. [`super::review::decide`] holds that half; `Landing` says
//!   which applies.

use crate::config::repo::{MergeStrategy, RepoConfig};

/// Where passing work goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landing {
    /// Fast-forward the target branch to the tested commit.
    Direct,
    /// Open (or update) one pull/merge request; the bot merges it only after a person
    /// with write access approves, and only when `auto_merge` is on.
    PullRequest {
        auto_merge: bool,
        /// The protected files the work changes (empty: none), said on the request.
        protected: Vec<String>,
        /// `.gastown.yaml` chose `direct`, and the protected files overrode it.
        direct_refused: bool,
    },
}

/// Decide how work that passed its gates lands in a repository configured by
/// `config`, given the protected files it changes.
pub fn decide(config: &RepoConfig, protected: &[String]) -> Landing {
    let direct = config.merge_strategy == Some(MergeStrategy::Direct);
    if direct && protected.is_empty() {
        return Landing::Direct;
    }
    Landing::PullRequest {
        auto_merge: config.auto_merge,
        protected: protected.to_vec(),
        direct_refused: direct,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(strategy: Option<MergeStrategy>, auto_merge: bool) -> RepoConfig {
        RepoConfig {
            merge_strategy: strategy,
            auto_merge,
            ..RepoConfig::default()
        }
    }

    #[test]
    fn direct_only_where_the_repository_chose_it_and_nothing_protected_changed() {
        assert_eq!(
            decide(&config(Some(MergeStrategy::Direct), false), &[]),
            Landing::Direct
        );
        for strategy in [None, Some(MergeStrategy::Pr)] {
            assert_eq!(
                decide(&config(strategy, true), &[]),
                Landing::PullRequest {
                    auto_merge: true,
                    protected: vec![],
                    direct_refused: false
                },
                "{strategy:?}"
            );
        }
    }

    #[test]
    fn a_protected_change_always_goes_through_a_pull_request() {
        let ci = vec![".github/workflows/ci.yml".to_string()];
        let mut allowed = config(Some(MergeStrategy::Direct), true);
        allowed.allow_protected_changes = vec![".github/workflows".into()];
        assert_eq!(
            decide(&allowed, &ci),
            Landing::PullRequest {
                auto_merge: true,
                protected: ci.clone(),
                direct_refused: true
            }
        );
        assert_eq!(
            decide(&config(None, false), &ci),
            Landing::PullRequest {
                auto_merge: false,
                protected: ci,
                direct_refused: false
            }
        );
    }

    /// The other half of the rule: a pull request merges on a person's approval only,
    /// whatever else is green.
    #[test]
    fn a_pull_request_merges_only_on_an_approval() {
        use crate::loops::refinery::review::{Feedback, Next, decide as next};
        use std::collections::BTreeSet;
        let green = Feedback::default();
        assert!(
            matches!(next(&green, &BTreeSet::new(), true, "2a2b2c2d2e2f2a2b2c2d2e2f2a2b2c2d2e2f2a2b"), Next::Wait(w) if w.contains("approving review"))
        );
    }
}
