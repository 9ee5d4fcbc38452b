//! Which issues a slung issue depends on, as its body says: a line `Depends on #12` or
//! `Blocked by #12` (also `owner/repo#12`, or `group/project#12` on GitLab, and lists:
//! `Depends on #12, #13 and #14`). Only prose counts: references in code blocks, inline
//! code and quotes are someone's words, not the author's wish.

use std::sync::LazyLock;

use regex::Regex;

/// An issue named in a body: `repo` is `None` for this repository's own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IssueRef {
    pub repo: Option<String>,
    pub number: u64,
}

impl std::fmt::Display for IssueRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.repo {
            Some(r) => write!(f, "{r}#{}", self.number),
            None => write!(f, "#{}", self.number),
        }
    }
}

/// At most this many dependencies are read from one body.
pub const MAX_DEPENDENCIES: usize = 20;

static PHRASE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:depends\s+on|blocked\s+by)\s*:?\s+").expect("a valid regex")
});

static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:,|and\b)?\s*(?:([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+))?#([0-9]{1,9})\b")
        .expect("a valid regex")
});

/// The issues `body` depends on, in the order written, each once.
pub fn parse(body: &str) -> Vec<IssueRef> {
    let mut out: Vec<IssueRef> = Vec::new();
    for line in super::markdown::prose_lines(body) {
        for phrase in PHRASE.find_iter(&line) {
            let mut rest = &line[phrase.end()..];
            while let Some(c) = REFERENCE.captures(rest) {
                let whole = c.get(0).expect("a match");
                let number = c[2].parse().unwrap_or(0);
                let r = IssueRef {
                    repo: c.get(1).map(|m| m.as_str().to_string()),
                    number,
                };
                if number > 0 && !out.contains(&r) && out.len() < MAX_DEPENDENCIES {
                    out.push(r);
                }
                rest = &rest[whole.end()..];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here(n: u64) -> IssueRef {
        IssueRef {
            repo: None,
            number: n,
        }
    }

    fn there(repo: &str, n: u64) -> IssueRef {
        IssueRef {
            repo: Some(repo.into()),
            number: n,
        }
    }

    #[test]
    fn dependencies_are_read_from_the_prose_of_a_body() {
        let rows: Vec<(&str, Vec<IssueRef>)> = vec![
            ("Depends on #12", vec![here(12)]),
            ("blocked by #7.", vec![here(7)]),
            (
                "Depends on: #12, #13 and #14",
                vec![here(12), here(13), here(14)],
            ),
            (
                "This depends on octo/api#3 first",
                vec![there("octo/api", 3)],
            ),
            (
                "Blocked by group/sub/project#9",
                vec![there("group/sub/project", 9)],
            ),
            ("Depends on #12\nDepends on #12", vec![here(12)]),
            ("Fixes #12", vec![]),
            ("Depends on issue twelve", vec![]),
            ("Depends on #0", vec![]),
            ("> Depends on #12", vec![]),
            ("```\nDepends on #12\n```\nDepends on #13", vec![here(13)]),
            ("~~~md\nBlocked by #4\n~~~", vec![]),
            ("    Depends on #12 (an indented code block)", vec![]),
            ("Write `Depends on #12` to wait", vec![]),
            ("Depends on #12abc", vec![]),
        ];
        for (body, expected) in rows {
            assert_eq!(parse(body), expected, "{body:?}");
        }
    }

    #[test]
    fn at_most_twenty_are_read() {
        let body = (1..=30)
            .map(|n| format!("#{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        assert_eq!(parse(&format!("Depends on {body}")).len(), MAX_DEPENDENCIES);
    }

    #[test]
    fn references_print_as_written() {
        assert_eq!(here(12).to_string(), "#12");
        assert_eq!(there("octo/api", 3).to_string(), "octo/api#3");
    }
}
