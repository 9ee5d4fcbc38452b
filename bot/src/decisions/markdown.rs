//! What the author of a Markdown text says, as opposed to what it shows or cites: its
//! prose lines, outside code blocks, quotes and HTML, with inline code blanked out.
//! Commands, mentions and dependency lines are read from these only, so a comment that
//! quotes a command or shows one in a code block never runs it.
//!
//! Parsed with pulldown-cmark (CommonMark, as GitHub and GitLab render it) rather than
//! by line heuristics: lists, lazy continuation lines and fences inside list items are
//! where hand-rolled scanners go wrong.

use pulldown_cmark::{Event, Parser, Tag, TagEnd};

/// Stands in for an inline code span, so that a line made of "`/gt stop`" does not
/// start with `/gt` and a mention inside backticks is not a mention.
const CODE: &str = "\u{fffc}";

/// The prose lines of `body`, in order, each trimmed; soft and hard line breaks inside
/// a paragraph end a line, as they do on the forge's page.
pub fn prose_lines(body: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    // Depth inside what is not the author's prose: code blocks, quotes, HTML blocks.
    let mut hidden = 0usize;
    let end_line = |line: &mut String, lines: &mut Vec<String>| {
        let t = line.trim();
        if !t.is_empty() {
            lines.push(t.to_string());
        }
        line.clear();
    };
    for event in Parser::new(body) {
        match event {
            Event::Start(Tag::CodeBlock(_) | Tag::BlockQuote(_) | Tag::HtmlBlock) => {
                end_line(&mut line, &mut lines);
                hidden += 1;
            }
            Event::End(TagEnd::CodeBlock | TagEnd::BlockQuote(_) | TagEnd::HtmlBlock) => {
                hidden = hidden.saturating_sub(1);
            }
            _ if hidden > 0 => {}
            Event::Text(t) => line.push_str(&t),
            Event::Code(_) | Event::InlineHtml(_) | Event::Html(_) => line.push_str(CODE),
            Event::SoftBreak | Event::HardBreak => end_line(&mut line, &mut lines),
            Event::Start(Tag::Item) => end_line(&mut line, &mut lines),
            Event::End(
                TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::Item | TagEnd::TableCell,
            ) => end_line(&mut line, &mut lines),
            _ => {}
        }
    }
    end_line(&mut line, &mut lines);
    lines
}

/// Whether `text` mentions `@name` (case-insensitively, as forges match logins): not
/// inside a word or an e-mail address, and not a longer login that starts the same.
pub fn mentions(text: &str, name: &str) -> bool {
    let (lower, name) = (text.to_lowercase(), name.to_lowercase());
    let needle = format!("@{name}");
    lower.match_indices(&needle).any(|(at, _)| {
        let before = lower[..at].chars().next_back();
        let after = lower[at + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_quotes_and_html_are_not_prose() {
        let body = "Please:\n/gt stop\n\n```\n/gt retry\n```\n\n> /gt sling\n\n    /gt ack\n\n\
                    <!-- /gt help -->\n\n`/gt status` is how\n\n- /gt approve\n- item `x`\n";
        assert_eq!(
            prose_lines(body),
            [
                "Please:",
                "/gt stop",
                "\u{fffc} is how",
                "/gt approve",
                "item \u{fffc}"
            ]
        );
    }

    #[test]
    fn a_fence_inside_a_list_item_is_code() {
        let body = "1. first\n   ```\n   /gt stop\n   ```\n2. /gt status\n";
        assert_eq!(prose_lines(body), ["first", "/gt status"]);
    }

    #[test]
    fn mentions_are_whole_logins() {
        assert!(mentions("@gastown-bot split this", "gastown-bot"));
        assert!(mentions("hey @Gastown-Bot, please", "gastown-bot"));
        assert!(!mentions("@gastown-bots do it", "gastown-bot"));
        assert!(!mentions("mail me at x@gastown-bot.example", "gastown-bot"));
        assert!(!mentions("nobody here", "gastown-bot"));
    }
}
