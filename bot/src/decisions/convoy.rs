//! When a convoy lands: every issue it tracks has landed (its work merged or done) and
//! none of them has a merge request still open, never earlier. A tracked bead that
//! failed, or closed without its work landing, holds the convoy, and the convoy says
//! which.

use crate::store::{BeadStatus, CloseReason};

/// A tracked issue's work, as the landing rule needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    /// How a person names it: `#12`, `octo/api#3`.
    pub name: String,
    pub status: BeadStatus,
    pub close_reason: Option<CloseReason>,
    /// A merge request of it is still open (in the refinery or on the forge).
    pub merge_request_open: bool,
}

impl Tracked {
    fn landed(&self) -> bool {
        crate::store::landed(self.status, self.close_reason) && !self.merge_request_open
    }

    fn gave_up(&self) -> bool {
        self.status == BeadStatus::Failed
            || (self.status == BeadStatus::Closed && !self.landed() && !self.merge_request_open)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landing {
    /// Every tracked issue landed: the convoy lands now.
    Lands,
    /// Work is still under way on these.
    Waits { on: Vec<String> },
    /// These failed or closed without landing: the convoy cannot land until a person
    /// re-slings them or takes them out.
    Held { by: Vec<String> },
    /// It tracks nothing.
    Empty,
}

pub fn landing(tracked: &[Tracked]) -> Landing {
    if tracked.is_empty() {
        return Landing::Empty;
    }
    let held: Vec<String> = tracked
        .iter()
        .filter(|t| t.gave_up())
        .map(|t| t.name.clone())
        .collect();
    if !held.is_empty() {
        return Landing::Held { by: held };
    }
    let waiting: Vec<String> = tracked
        .iter()
        .filter(|t| !t.landed())
        .map(|t| t.name.clone())
        .collect();
    if waiting.is_empty() {
        Landing::Lands
    } else {
        Landing::Waits { on: waiting }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, status: BeadStatus, reason: Option<CloseReason>, mr_open: bool) -> Tracked {
        Tracked {
            name: name.into(),
            status,
            close_reason: reason,
            merge_request_open: mr_open,
        }
    }

    #[test]
    fn a_convoy_lands_only_when_every_tracked_issue_landed() {
        use BeadStatus::*;
        use CloseReason::*;
        let merged = |n| t(n, Closed, Some(Merged), false);
        let rows: Vec<(&str, Vec<Tracked>, Landing)> = vec![
            ("nothing tracked", vec![], Landing::Empty),
            (
                "all merged",
                vec![merged("#1"), merged("#2")],
                Landing::Lands,
            ),
            (
                "done counts as landed",
                vec![merged("#1"), t("#2", Closed, Some(Done), false)],
                Landing::Lands,
            ),
            (
                "one still worked",
                vec![merged("#1"), t("#2", InProgress, None, false)],
                Landing::Waits {
                    on: vec!["#2".into()],
                },
            ),
            (
                "one in review",
                vec![t("#1", Review, None, true), merged("#2")],
                Landing::Waits {
                    on: vec!["#1".into()],
                },
            ),
            (
                "closed, but a merge request of it is still open: never early",
                vec![t("#1", Closed, Some(Merged), true)],
                Landing::Waits {
                    on: vec!["#1".into()],
                },
            ),
            (
                "one failed holds it",
                vec![
                    merged("#1"),
                    t("#2", Failed, None, false),
                    t("#3", Open, None, false),
                ],
                Landing::Held {
                    by: vec!["#2".into()],
                },
            ),
            (
                "one closed unmerged holds it",
                vec![
                    t("#1", Closed, Some(Rejected), false),
                    t("#2", Closed, Some(Wontfix), false),
                ],
                Landing::Held {
                    by: vec!["#1".into(), "#2".into()],
                },
            ),
            (
                "reopened after closing: waits again",
                vec![merged("#1"), t("#2", Open, None, false)],
                Landing::Waits {
                    on: vec!["#2".into()],
                },
            ),
        ];
        for (what, tracked, expected) in rows {
            assert_eq!(landing(&tracked), expected, "{what}");
        }
    }
}
