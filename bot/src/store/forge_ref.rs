//! What a bead stands for on its forge, as its `forge_ref` column spells it: an issue
//! `{rig}#{n}` or a pull/merge request `{rig}!{n}` (GitLab's own notations, used for
//! both forges). Written and read only here.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeRef {
    pub rig_id: String,
    pub on: RefKind,
    pub number: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    /// `#`: a task bead made from an issue.
    Issue,
    /// `!`: a merge-request bead whose pull/merge request the refinery opened.
    MergeRequest,
}

impl RefKind {
    fn mark(self) -> char {
        match self {
            RefKind::Issue => '#',
            RefKind::MergeRequest => '!',
        }
    }
}

impl ForgeRef {
    /// `github:owner/repo#12`, `gitlab:host/group/project#12`.
    pub fn issue(rig_id: &str, number: u64) -> Self {
        Self {
            rig_id: rig_id.to_string(),
            on: RefKind::Issue,
            number,
        }
    }

    /// `github:owner/repo!7`.
    pub fn merge_request(rig_id: &str, number: u64) -> Self {
        Self {
            rig_id: rig_id.to_string(),
            on: RefKind::MergeRequest,
            number,
        }
    }

    /// The issue number of an issue ref; `None` for anything else.
    pub fn issue_number(forge_ref: &str) -> Option<u64> {
        forge_ref
            .parse::<ForgeRef>()
            .ok()
            .filter(|r| r.on == RefKind::Issue)
            .map(|r| r.number)
    }
}

impl ForgeRef {
    /// The pull/merge request number of a merge-request ref; `None` for anything else.
    pub fn merge_request_number(forge_ref: &str) -> Option<u64> {
        forge_ref
            .parse::<ForgeRef>()
            .ok()
            .filter(|r| r.on == RefKind::MergeRequest)
            .map(|r| r.number)
    }
}

impl fmt::Display for ForgeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.rig_id, self.on.mark(), self.number)
    }
}

/// Text that is not `{rig}#{n}` or `{rig}!{n}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a forge ref (rig#number or rig!number)")]
pub struct NotAForgeRef(pub String);

impl FromStr for ForgeRef {
    type Err = NotAForgeRef;

    /// Split at the last `#` or `!`: repository paths have neither.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || NotAForgeRef(s.to_string());
        let at = s.rfind(['#', '!']).ok_or_else(bad)?;
        let (rig_id, rest) = (&s[..at], &s[at + 1..]);
        let on = if s[at..].starts_with('#') {
            RefKind::Issue
        } else {
            RefKind::MergeRequest
        };
        let number = rest.parse().map_err(|_| bad())?;
        if rig_id.is_empty() {
            return Err(bad());
        }
        Ok(ForgeRef {
            rig_id: rig_id.to_string(),
            on,
            number,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_are_written_and_read_back_one_way() {
        let issue = ForgeRef::issue("gitlab:gl.example/g/sub/p", 12);
        assert_eq!(issue.to_string(), "gitlab:gl.example/g/sub/p#12");
        assert_eq!(issue.to_string().parse(), Ok(issue));
        let mr = ForgeRef::merge_request("github:127.0.0.1:8080/octo/hello", 7);
        assert_eq!(mr.to_string(), "github:127.0.0.1:8080/octo/hello!7");
        assert_eq!(mr.to_string().parse(), Ok(mr));

        assert_eq!(ForgeRef::issue_number("github:o/r#3"), Some(3));
        assert_eq!(ForgeRef::issue_number("github:o/r!3"), None);
        for bad in [
            "github:o/r",
            "github:o/r#",
            "github:o/r#x",
            "#3",
            "github:o/r#-1",
        ] {
            assert!(bad.parse::<ForgeRef>().is_err(), "{bad}");
        }
    }
}
