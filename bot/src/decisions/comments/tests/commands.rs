//! What the bot answers when it is addressed: each `/gt` line's outcome, the help,
//! the refusal for someone who may not command the town, and the Mayor's replies.
//! (The Mayor's words are model output: mentions in them are broken with a zero-width
//! space, which the snapshots show.)
#![allow(clippy::invisible_characters)]

use super::*;
use crate::decisions::command::{Addressed, parse};
use crate::decisions::deps::IssueRef;
use crate::store::CloseReason;

/// A token-shaped string a model might repeat from something it read.
const TOKEN: &str = "ghp_0123456789abcdefghijABCDEFGHIJ012345";

fn done(line: &str, said: &str) -> Outcome {
    Outcome {
        line: line.into(),
        result: Ok(said.into()),
    }
}

/// A `/gt` line as the worker answers it when it does not parse: its problem, its
/// form, and the commands table when no form fits.
fn misread(line: &str) -> Outcome {
    let Some(Addressed::Commands(lines)) = parse(&format!("/gt {line}"), &["gastown-bot"]) else {
        panic!("`/gt {line}` is not a command line");
    };
    let e = lines[0]
        .command
        .clone()
        .expect_err("a line that does not parse");
    Outcome {
        line: lines[0].text.trim_start_matches("/gt ").into(),
        result: Err(Refusal {
            problem: e.problem,
            usage: e.usage,
            show_help: e.usage.is_none(),
        }),
    }
}

fn sling_action() -> ActionTaken {
    ActionTaken {
        tool: "gt_sling".into(),
        summary: "slung #12 as gt-k3x9".into(),
        link: Some("https://github.com/octo/hello/issues/12".into()),
    }
}

fn escalation_action() -> ActionTaken {
    ActionTaken {
        tool: "gt_ack".into(),
        summary: "acknowledged the escalation gt-e1".into(),
        link: None,
    }
}

/// What no text the bot writes from a model's or a user's words may carry.
fn assert_harmless(text: &str, marker: &str) {
    assert!(!text.contains("@everyone"), "a raw mention in:\n{text}");
    assert!(
        !text.replacen(marker, "", 1).contains("<!--"),
        "a comment marker that is not the bot's in:\n{text}"
    );
    assert!(!text.contains(TOKEN), "the token in:\n{text}");
}

#[test]
fn each_command_line_is_answered_in_order_with_a_tick_or_a_cross_and_the_right_form() {
    let outcomes = [
        done("sling formula=bugfix", &slung("gt-k3x9", Some("bugfix"))),
        misread("sling priority=9"),
        done("status", "gt-k3x9 is in_progress; attempt 1 of 3"),
    ];
    insta::assert_snapshot!(command_answer("mara", &outcomes, &marked("answer")), @r#"
    <!-- gastown:answer gt-k3x9:1 -->
    @mara

    ✅ `/gt sling formula=bugfix`: slung as gt-k3x9 with the formula `bugfix`; the status comment follows it

    ❌ `/gt sling priority=9`: priority is 0 (highest) to 4, not `9`. The form is `/gt sling [formula=<name>] [rig=<owner/repo>] [priority=<0-4>] [key=value…]`.

    ✅ `/gt status`: gt-k3x9 is in_progress; attempt 1 of 3
    "#);
}

#[test]
fn an_unknown_command_is_answered_with_the_table_of_commands() {
    let outcomes = [misread("frobnicate the flux")];
    insta::assert_snapshot!(command_answer("mara", &outcomes, &marked("answer")), @r#"
    <!-- gastown:answer gt-k3x9:1 -->
    @mara

    ❌ `/gt frobnicate the flux`: `/gt frobnicate` is not a command.

    <details><summary>Commands</summary>

    | Command | What it does |
    |---|---|
    | `/gt sling [formula=<name>] [rig=<owner/repo>] [priority=<0-4>] [key=value…]` | sling this issue to a polecat (a formula, priority and vars optional) |
    | `/gt status` | this issue's work; on a convoy's tracking issue, the town's |
    | `/gt stop` | stop the work on this issue and close it as won't-fix |
    | `/gt retry` | run failed or stopped work again, or now if it waits to retry |
    | `/gt approve` | approve the formula step waiting for a person |
    | `/gt rework <what to change>` | on a refinery pull request: send it back with these words |
    | `/gt convoy create <title> #1 #2 …` | a convoy of these issues that lands together |
    | `/gt convoy add [<convoy bead>] #3 …` | add issues to this tracking issue's convoy (or the one named) |
    | `/gt convoy status` | the convoy this thread tracks or belongs to |
    | `/gt ack` | acknowledge the escalations about this work |
    | `/gt help` | this list |
    </details>
    "#);
}

#[test]
fn a_refusal_that_asks_for_the_help_shows_the_table_beside_its_form() {
    let refused = Outcome {
        line: "approve".into(),
        result: Err(Refusal {
            problem: "no formula step of gt-k3x9 waits for a person".into(),
            usage: Some("/gt approve"),
            show_help: true,
        }),
    };
    let stopped = Outcome {
        line: "stop".into(),
        result: Err(Refusal::new("gt-k3x9 is closed: its work already landed")),
    };
    let answer = command_answer("mara", &[refused, stopped], &marked("answer"));
    insta::assert_snapshot!(answer, @r#"
    <!-- gastown:answer gt-k3x9:1 -->
    @mara

    ❌ `/gt approve`: no formula step of gt-k3x9 waits for a person. The form is `/gt approve`.

    ❌ `/gt stop`: gt-k3x9 is closed: its work already landed.

    <details><summary>Commands</summary>

    | Command | What it does |
    |---|---|
    | `/gt sling [formula=<name>] [rig=<owner/repo>] [priority=<0-4>] [key=value…]` | sling this issue to a polecat (a formula, priority and vars optional) |
    | `/gt status` | this issue's work; on a convoy's tracking issue, the town's |
    | `/gt stop` | stop the work on this issue and close it as won't-fix |
    | `/gt retry` | run failed or stopped work again, or now if it waits to retry |
    | `/gt approve` | approve the formula step waiting for a person |
    | `/gt rework <what to change>` | on a refinery pull request: send it back with these words |
    | `/gt convoy create <title> #1 #2 …` | a convoy of these issues that lands together |
    | `/gt convoy add [<convoy bead>] #3 …` | add issues to this tracking issue's convoy (or the one named) |
    | `/gt convoy status` | the convoy this thread tracks or belongs to |
    | `/gt ack` | acknowledge the escalations about this work |
    | `/gt help` | this list |
    </details>
    "#);
    assert_eq!(answer.matches("<details>").count(), 1, "one table for all");
}

#[test]
fn help_asked_beside_a_mistake_lists_the_commands_once() {
    let outcomes = [misread("frobnicate"), done("help", &help_answer())];
    let answer = command_answer("mara", &outcomes, &marked("answer"));
    insta::assert_snapshot!(answer, @r#"
    <!-- gastown:answer gt-k3x9:1 -->
    @mara

    ❌ `/gt frobnicate`: `/gt frobnicate` is not a command.

    ✅ `/gt help`:

    Commands go on a line of their own, outside code and quotes; several run in order. Mention the bot with anything else to ask the Mayor.

    | Command | What it does |
    |---|---|
    | `/gt sling [formula=<name>] [rig=<owner/repo>] [priority=<0-4>] [key=value…]` | sling this issue to a polecat (a formula, priority and vars optional) |
    | `/gt status` | this issue's work; on a convoy's tracking issue, the town's |
    | `/gt stop` | stop the work on this issue and close it as won't-fix |
    | `/gt retry` | run failed or stopped work again, or now if it waits to retry |
    | `/gt approve` | approve the formula step waiting for a person |
    | `/gt rework <what to change>` | on a refinery pull request: send it back with these words |
    | `/gt convoy create <title> #1 #2 …` | a convoy of these issues that lands together |
    | `/gt convoy add [<convoy bead>] #3 …` | add issues to this tracking issue's convoy (or the one named) |
    | `/gt convoy status` | the convoy this thread tracks or belongs to |
    | `/gt ack` | acknowledge the escalations about this work |
    | `/gt help` | this list |
    "#);
    assert_eq!(answer.matches("| Command | What it does |").count(), 1);
}

#[test]
fn an_answer_of_several_lines_goes_below_its_command() {
    let town = ["agents    1 working, 2 idle, 1 live session(s)".to_string()];
    let convoy = "<!-- gastown:status gt-c0nv -->\n**Gastown** · convoy `gt-c0nv` **in progress**";
    let outcomes = [
        done("status", &town_status(&town, Some(convoy))),
        done("ack", "acknowledged 1 escalation"),
    ];
    let answer = command_answer("mara", &outcomes, &marked("answer"));
    insta::assert_snapshot!(answer, @r#"
    <!-- gastown:answer gt-k3x9:1 -->
    @mara

    ✅ `/gt status`:

    this repository in the town:

    ```text
    agents    1 working, 2 idle, 1 live session(s)
    ```

    **Gastown** · convoy `gt-c0nv` **in progress**

    ✅ `/gt ack`: acknowledged 1 escalation
    "#);
    assert_eq!(
        answer.matches("<!--").count(),
        1,
        "only the answer's own marker"
    );
}

#[test]
fn a_command_line_with_backticks_is_quoted_without_them() {
    let outcomes = [done("status `now`", "gt-k3x9 is open")];
    insta::assert_snapshot!(command_answer("mara", &outcomes, &marked("answer")), @r#"
    <!-- gastown:answer gt-k3x9:1 -->
    @mara

    ✅ `/gt status now`: gt-k3x9 is open
    "#);
}

#[test]
fn help_lists_every_command_with_its_form_and_what_it_does() {
    let help = help_answer();
    insta::assert_snapshot!(help, @r#"
    Commands go on a line of their own, outside code and quotes; several run in order. Mention the bot with anything else to ask the Mayor.

    | Command | What it does |
    |---|---|
    | `/gt sling [formula=<name>] [rig=<owner/repo>] [priority=<0-4>] [key=value…]` | sling this issue to a polecat (a formula, priority and vars optional) |
    | `/gt status` | this issue's work; on a convoy's tracking issue, the town's |
    | `/gt stop` | stop the work on this issue and close it as won't-fix |
    | `/gt retry` | run failed or stopped work again, or now if it waits to retry |
    | `/gt approve` | approve the formula step waiting for a person |
    | `/gt rework <what to change>` | on a refinery pull request: send it back with these words |
    | `/gt convoy create <title> #1 #2 …` | a convoy of these issues that lands together |
    | `/gt convoy add [<convoy bead>] #3 …` | add issues to this tracking issue's convoy (or the one named) |
    | `/gt convoy status` | the convoy this thread tracks or belongs to |
    | `/gt ack` | acknowledge the escalations about this work |
    | `/gt help` | this list |
    "#);
    assert!(help.ends_with(&help_table()));
    for (name, usage) in crate::decisions::command::USAGE {
        assert!(help_table().contains(&format!("| `{usage}` |")), "{name}");
    }
}

#[test]
fn someone_without_write_access_is_told_a_maintainer_can_ask_instead() {
    insta::assert_snapshot!(needs_write_access("eve", &marked("refused")), @r#"
    <!-- gastown:refused gt-k3x9:1 -->
    @eve, only people with write access to this repository can give Gastown commands or ask its Mayor, so this comment was not acted on. A maintainer can ask instead.
    "#);
}

#[test]
fn a_login_with_markdown_in_it_is_named_without_it() {
    let login = "eve*_[pwn](https://x.test)`<b>@everyone";
    let said = needs_write_access(login, &marked("refused"));
    insta::assert_snapshot!(said, @r#"
    <!-- gastown:refused gt-k3x9:1 -->
    @eve_pwnhttpsx.testbeveryone, only people with write access to this repository can give Gastown commands or ask its Mayor, so this comment was not acted on. A maintainer can ask instead.
    "#);
    assert_harmless(&said, &marked("refused"));
    assert_eq!(
        command_answer(login, &[done("status", "gt-k3x9 is open")], "")
            .lines()
            .nth(1),
        Some("@eve_pwnhttpsx.testbeveryone")
    );
}

#[test]
fn free_text_without_a_model_lists_the_commands_that_work_without_one() {
    insta::assert_snapshot!(mayor_off("mara", &marked("answer")), @r#"
    <!-- gastown:answer gt-k3x9:1 -->
    @mara, this town has no model configured, so the Mayor cannot answer free text. These commands work without one:

    | Command | What it does |
    |---|---|
    | `/gt sling [formula=<name>] [rig=<owner/repo>] [priority=<0-4>] [key=value…]` | sling this issue to a polecat (a formula, priority and vars optional) |
    | `/gt status` | this issue's work; on a convoy's tracking issue, the town's |
    | `/gt stop` | stop the work on this issue and close it as won't-fix |
    | `/gt retry` | run failed or stopped work again, or now if it waits to retry |
    | `/gt approve` | approve the formula step waiting for a person |
    | `/gt rework <what to change>` | on a refinery pull request: send it back with these words |
    | `/gt convoy create <title> #1 #2 …` | a convoy of these issues that lands together |
    | `/gt convoy add [<convoy bead>] #3 …` | add issues to this tracking issue's convoy (or the one named) |
    | `/gt convoy status` | the convoy this thread tracks or belongs to |
    | `/gt ack` | acknowledge the escalations about this work |
    | `/gt help` | this list |
    "#);
}

#[test]
fn the_mayor_answers_with_what_its_tools_did_linking_what_they_touched() {
    let text = "I slung #12 to a polecat and acknowledged the escalation about it.\n\n\
                The status comment on #12 follows the work.\n";
    insta::assert_snapshot!(
        mayor_answer("mara", text, &[sling_action(), escalation_action()], &marked("mayor")),
        @r#"
    <!-- gastown:mayor gt-k3x9:1 -->
    @mara

    I slung #12 to a polecat and acknowledged the escalation about it.

    The status comment on #12 follows the work.

    <details><summary>What the Mayor did</summary>

    Actions taken:
    - `gt_sling`: slung #12 as gt-k3x9 (https://github.com/octo/hello/issues/12)
    - `gt_ack`: acknowledged the escalation gt-e1
    </details>
    "#
    );
}

#[test]
fn the_mayor_says_so_when_it_took_no_action() {
    insta::assert_snapshot!(
        mayor_answer("mara", "  Nothing is waiting in this repository.  ", &[], &marked("mayor")),
        @r#"
    <!-- gastown:mayor gt-k3x9:1 -->
    @mara

    Nothing is waiting in this repository.

    <details><summary>What the Mayor did</summary>

    No action was taken.
    </details>
    "#
    );
}

#[test]
fn a_mayor_that_fails_after_one_action_says_why_and_what_it_had_done() {
    insta::assert_snapshot!(
        mayor_failed(
            "mara",
            "the model did not answer within 60 s",
            &[sling_action()],
            &marked("mayor"),
        ),
        @r#"
    <!-- gastown:mayor gt-k3x9:1 -->
    @mara, the Mayor could not answer: the model did not answer within 60 s. Ask again, or use a `/gt` command (`/gt help` lists them).

    Actions taken:
    - `gt_sling`: slung #12 as gt-k3x9 (https://github.com/octo/hello/issues/12)
    "#
    );
    insta::assert_snapshot!(
        mayor_failed("mara", "the model could not be reached: connection refused", &[], &marked("mayor")),
        @r#"
    <!-- gastown:mayor gt-k3x9:1 -->
    @mara, the Mayor could not answer: the model could not be reached: connection refused. Ask again, or use a `/gt` command (`/gt help` lists them).

    No action was taken.
    "#
    );
}

#[test]
fn the_mayors_words_cannot_ping_forge_a_marker_or_show_a_token() {
    let login = "eve_*[x]";
    let text = format!(
        "@everyone the work is done.\n\
         <!-- gastown:status gt-x -->\n\
         The token was {TOKEN}, and @mara/@octo/team should look.\n"
    );
    let link = ActionTaken {
        link: Some("https://github.com/octo/hello/issues/12) [click](https://evil.test".into()),
        ..sling_action()
    };
    let said = mayor_answer(login, &text, &[link], &marked("mayor"));
    insta::assert_snapshot!(said, @r#"
    <!-- gastown:mayor gt-k3x9:1 -->
    @eve_x

    @​everyone the work is done.
    &lt;!-- gastown:status gt-x -->
    The token was [REDACTED], and @​mara/@​octo/team should look.

    <details><summary>What the Mayor did</summary>

    Actions taken:
    - `gt_sling`: slung #12 as gt-k3x9
    </details>
    "#);
    assert_harmless(&said, &marked("mayor"));
}

#[test]
fn a_long_answer_from_the_mayor_is_cut_with_a_note_of_what_was_cut() {
    let text = format!("{}\n{}", "a".repeat(5000), "b".repeat(5000));
    let said = mayor_answer("mara", &text, &[], &marked("mayor"));
    assert!(said.contains("[… 1809 bytes cut …]"), "{said}");
    assert!(said.len() < 8 * 1024 + 400);
}

#[test]
fn a_sling_names_its_bead_and_formula() {
    insta::assert_snapshot!(slung("gt-k3x9", None), @r#"slung as gt-k3x9; the status comment follows it"#);
    insta::assert_snapshot!(slung("gt-k3x9", Some("bug`fix <b>@everyone")), @r#"slung as gt-k3x9 with the formula `bugfixbeveryone`; the status comment follows it"#);
}

#[test]
fn a_convoy_names_the_issues_it_tracks_here_and_elsewhere() {
    let issues = [
        IssueRef {
            repo: None,
            number: 12,
        },
        IssueRef {
            repo: Some("octo/web".into()),
            number: 3,
        },
    ];
    insta::assert_snapshot!(convoy_created("gt-c0nv", &issues), @r#"convoy gt-c0nv tracks #12, octo/web#3; its tracking issue opens on the forge"#);
    insta::assert_snapshot!(convoy_added("gt-c0nv", &issues[..1]), @r#"convoy gt-c0nv now tracks #12 too"#);
}

#[test]
fn a_status_comment_quoted_in_an_answer_loses_its_markers() {
    let status = "<!-- gastown:status gt-c0nv -->\n  <!-- gastown:convoy gt-c0nv -->\n\
                  **Gastown** · convoy `gt-c0nv` **in progress**\n\n- [ ] #12 Add the API";
    insta::assert_snapshot!(without_markers(status), @r#"
    **Gastown** · convoy `gt-c0nv` **in progress**

    - [ ] #12 Add the API
    "#);
}

#[test]
fn status_on_a_tracking_issue_shows_the_town_and_the_convoy() {
    let town = [
        "agents    1 working, 2 idle, 1 live session(s)".to_string(),
        "escalations none waiting".to_string(),
    ];
    let convoy = "<!-- gastown:status gt-c0nv -->\n\
                  **Gastown** · convoy `gt-c0nv` **in progress**: waiting for #12.\n\n\
                  - [ ] #12 Add the API · `in_progress`";
    let said = town_status(&town, Some(convoy));
    insta::assert_snapshot!(said, @r#"
    this repository in the town:

    ```text
    agents    1 working, 2 idle, 1 live session(s)
    escalations none waiting
    ```

    **Gastown** · convoy `gt-c0nv` **in progress**: waiting for #12.

    - [ ] #12 Add the API · `in_progress`
    "#);
    assert!(!said.contains("<!--"));
    insta::assert_snapshot!(town_status(&town, None), @r#"
    this repository in the town:

    ```text
    agents    1 working, 2 idle, 1 live session(s)
    escalations none waiting
    ```
    "#);
}

#[test]
fn status_on_a_slung_issue_says_where_its_work_stands() {
    let mut working = bead(BeadStatus::InProgress);
    working.attempts = 2;
    insta::assert_snapshot!(task_status(&working, 3, Some((1, 3)), Some(7)), @r#"gt-k3x9 is in_progress; attempt 2 of 3; 1 of 3 steps done; its pull request is #7"#);

    let mut merged = bead(BeadStatus::Closed);
    merged.close_reason = Some(CloseReason::Merged);
    merged.attempts = 1;
    insta::assert_snapshot!(task_status(&merged, 3, Some((3, 3)), Some(7)), @r#"gt-k3x9 is closed (merged); 3 of 3 steps done; its pull request is #7"#);

    let mut held = bead(BeadStatus::Open);
    held.attempts = 1;
    held.metadata = serde_json::json!({
        "slung_by": "mara",
        "notice": format!("waiting to retry after a failure (it printed {TOKEN})"),
    });
    let said = task_status(&held, 3, None, None);
    insta::assert_snapshot!(said, @r#"gt-k3x9 is open; attempt 1 of 3. waiting to retry after a failure (it printed [REDACTED])"#);
    assert!(!said.contains(TOKEN));
}

#[test]
fn a_short_text_is_quoted_on_one_line_that_cannot_ping_link_or_hide() {
    insta::assert_snapshot!(quoted("Add the API"), @r#"“Add the API”"#);
    let said = quoted(
        "Fix `it` @everyone\n<!-- gastown:status gt-x -->\r\n[click](https://evil.test) ![x](y)",
    );
    insta::assert_snapshot!(said, @r#"“Fix it @​everyone &lt;!-- gastown:status gt-x -->  click(https:​//evil.test) !x(y)”"#);
    assert!(!said.contains("@everyone") && !said.contains("<!--") && !said.contains('\n'));
    let long = quoted(&"é".repeat(300));
    assert!(long.len() < 300 && long.contains("bytes cut"), "{long}");
}

#[test]
fn a_refusal_from_the_model_api_is_shown_capped_and_without_its_tokens() {
    let body = format!(
        "{{\"error\":\"invalid api key {TOKEN}\",\"detail\":\"{}\"}}",
        "check the key; ".repeat(20)
    );
    let said = mayor_failed(
        "mara",
        &format!("the model answered HTTP 401: {body}"),
        &[sling_action()],
        &marked("mayor"),
    );
    insta::assert_snapshot!(said, @r#"
    <!-- gastown:mayor gt-k3x9:1 -->
    @mara, the Mayor could not answer: the model answered HTTP 401: {"error":"invalid api key [REDACTED]","detail":"check the key; check the key; check the key; check the key; check the key [… 79 bytes cut …] eck the key; check the key; check the key; check the key; check the key; check the key; check the key; check the key; check the key; check the key; "}. Ask again, or use a `/gt` command (`/gt help` lists them).

    Actions taken:
    - `gt_sling`: slung #12 as gt-k3x9 (https://github.com/octo/hello/issues/12)
    "#);
    assert!(!said.contains(TOKEN));
}
