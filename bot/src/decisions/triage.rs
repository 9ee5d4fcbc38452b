//! What ingest settles by itself, so the worker never reads it: a comment whose only
//! possible effect is to address the bot, when its text addresses nobody.
//!
//! Most deliveries a busy repository sends are conversation among people. Working each
//! one would cost the worker a read, a full parse and a write; the answer is already
//! known from the text that ingest's one pass over the body picked out. The decision is
//! the command parser's own, so a comment it settles is one the worker would have let
//! go, and one it cannot rule out goes to the worker as before.

use webhooks::Route;

use super::command;

/// Why a delivery needs no work, or `None` when the worker must read it. `names` are
/// the bot's logins on the delivery's forge.
pub fn settled(route: &Route, names: &[&str]) -> Option<&'static str> {
    let text = route.comment.as_deref()?;
    // Without `@` nobody is mentioned, and without `/` no line is a command; `&` and
    // `\` could spell either in Markdown (`&#64;`, `\/`). Most comments stop here,
    // before the Markdown parse.
    let may_address = text.contains(['@', '/', '&', '\\']);
    if may_address && command::parse(text, names).is_some() {
        return None;
    }
    Some(NOBODY)
}

/// What `gt inbox` shows for a comment settled at ingest.
pub const NOBODY: &str = "a comment that addresses nobody: nothing to do";

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(text: &str) -> Route {
        Route {
            comment: Some(text.into()),
            ..Route::default()
        }
    }

    #[test]
    fn people_talking_among_themselves_settle_at_ingest() {
        for text in [
            "LGTM, thanks!",
            "see https://example.com/a/b",
            "",
            "email me: a@b.c",
        ] {
            assert_eq!(
                settled(&comment(text), &["gastown"]),
                Some(NOBODY),
                "{text}"
            );
        }
    }

    #[test]
    fn anything_the_parser_reads_as_addressed_goes_to_the_worker() {
        for text in [
            "/gt sling",
            "hey @gastown can you plan this",
            "- /gt approve",
        ] {
            assert_eq!(settled(&comment(text), &["gastown"]), None, "{text}");
        }
    }

    #[test]
    fn the_shortcut_never_settles_what_the_parser_would_answer() {
        // Markdown can spell `/` and `@` without the characters themselves.
        for text in [
            "&#47;gt stop",
            "&#x2F;gt stop",
            "&sol;gt stop",
            "&#64;gastown what next?",
            "&commat;gastown hi",
            "\\/gt retry",
            "*/gt* help",
            "/g*t* help",
            "`/gt stop` is how",
            "> /gt stop",
        ] {
            let answered = command::parse(text, &["gastown"]).is_some();
            assert_eq!(
                settled(&comment(text), &["gastown"]).is_none(),
                answered,
                "{text}"
            );
        }
    }

    #[test]
    fn deliveries_that_are_not_such_comments_always_go_to_the_worker() {
        assert_eq!(settled(&Route::default(), &["gastown"]), None);
    }
}
