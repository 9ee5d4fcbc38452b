use super::*;

const BOT: &[&str] = &["gastown-bot"];

fn commands(body: &str) -> Vec<Result<Command, CommandError>> {
    match parse(body, BOT) {
        Some(Addressed::Commands(lines)) => lines.into_iter().map(|l| l.command).collect(),
        other => panic!("expected commands in {body:?}, got {other:?}"),
    }
}

fn one(body: &str) -> Result<Command, CommandError> {
    let mut all = commands(body);
    assert_eq!(all.len(), 1, "{body:?}");
    all.remove(0)
}

fn problem(body: &str) -> String {
    one(body).expect_err(body).problem
}

fn here(n: u64) -> IssueRef {
    IssueRef {
        repo: None,
        number: n,
    }
}

#[test]
fn each_command_parses() {
    let cases: &[(&str, Command)] = &[
        ("/gt status", Command::Status),
        ("/gt stop", Command::Stop),
        ("/gt retry", Command::Retry),
        ("/gt approve", Command::Approve),
        ("/gt ack", Command::Ack),
        ("/gt help", Command::Help),
        ("/gt", Command::Help),
        ("/gt STATUS", Command::Status),
        ("/gt convoy status", Command::ConvoyStatus),
        (
            "/gt rework use   the builder, not new()",
            Command::Rework("use the builder, not new()".into()),
        ),
        ("/gt sling", Command::Sling(SlingArgs::default())),
    ];
    for (body, want) in cases {
        assert_eq!(one(body).as_ref(), Ok(want), "{body}");
    }
}

#[test]
fn sling_takes_formula_rig_priority_and_vars() {
    let Ok(Command::Sling(args)) =
        one("/gt sling formula=bugfix rig=acme/api priority=1 area=auth depth=2")
    else {
        panic!("not a sling");
    };
    assert_eq!(args.formula.as_deref(), Some("bugfix"));
    assert_eq!(args.rig.as_deref(), Some("acme/api"));
    assert_eq!(args.priority, Some(1));
    assert_eq!(
        args.vars.into_iter().collect::<Vec<_>>(),
        [("area".into(), "auth".into()), ("depth".into(), "2".into())]
    );
}

#[test]
fn bad_arguments_say_what_is_wrong_and_show_the_form() {
    assert_eq!(
        problem("/gt sling priority=9"),
        "priority is 0 (highest) to 4, not `9`"
    );
    assert_eq!(
        problem("/gt sling now"),
        "`now` is not an option: write `key=value`"
    );
    assert_eq!(problem("/gt sling formula="), "`formula=` needs a value");
    assert_eq!(
        problem("/gt sling 9lives=1"),
        "`9lives` is not a variable name (letters, digits and `_`)"
    );
    assert_eq!(
        problem("/gt stop now"),
        "`/gt stop` takes no arguments (got `now`)"
    );
    assert_eq!(problem("/gt rework"), "say what to change");
    assert_eq!(
        problem("/gt convoy create #1 #2"),
        "give the convoy a title"
    );
    assert_eq!(
        problem("/gt convoy create Release"),
        "name at least one issue, like `#12`"
    );
    assert_eq!(
        problem("/gt convoy add #3 soon"),
        "`soon` is not an issue: write `#12` or `owner/repo#12`"
    );
    let e = one("/gt sling priority=high").unwrap_err();
    assert_eq!(e.usage, Some(USAGE[0].1));
}

#[test]
fn an_unknown_command_has_no_single_form() {
    let e = one("/gt merge-everything").unwrap_err();
    assert_eq!(e.problem, "`/gt merge-everything` is not a command");
    assert_eq!(e.usage, None);
}

#[test]
fn convoys_name_their_issues() {
    assert_eq!(
        one("/gt convoy create \"Release 2.0\" #1, #2 acme/web#3"),
        Ok(Command::ConvoyCreate {
            title: "Release 2.0".into(),
            issues: vec![
                here(1),
                here(2),
                IssueRef {
                    repo: Some("acme/web".into()),
                    number: 3
                }
            ],
        })
    );
    assert_eq!(
        one("/gt convoy add gt-k3x9 #4 #4"),
        Ok(Command::ConvoyAdd {
            convoy: Some("gt-k3x9".into()),
            issues: vec![here(4)],
        })
    );
    assert_eq!(
        one("/gt convoy add group/sub/project#7"),
        Ok(Command::ConvoyAdd {
            convoy: None,
            issues: vec![IssueRef {
                repo: Some("group/sub/project".into()),
                number: 7
            }],
        })
    );
}

#[test]
fn several_lines_run_in_order_and_a_bad_one_does_not_hide_the_rest() {
    let all = commands("Thanks!\n/gt stop\n/gt frobnicate\n/gt retry\n");
    assert_eq!(all.len(), 3);
    assert_eq!(all[0], Ok(Command::Stop));
    assert!(all[1].is_err());
    assert_eq!(all[2], Ok(Command::Retry));
}

#[test]
fn commands_in_code_quotes_or_mid_sentence_do_nothing() {
    for body in [
        "```\n/gt stop\n```",
        "> /gt stop",
        "    /gt stop",
        "`/gt stop`",
        "Run /gt stop when you are done",
        "<!-- /gt stop -->",
        "> @gastown-bot stop everything",
        "`@gastown-bot` is our bot",
    ] {
        assert_eq!(parse(body, BOT), None, "{body:?}");
    }
}

#[test]
fn a_mention_without_commands_goes_to_the_mayor() {
    assert_eq!(
        parse("@gastown-bot split this into API, UI and docs\n", BOT),
        Some(Addressed::Mayor(
            "@gastown-bot split this into API, UI and docs".into()
        ))
    );
    // A comment with commands runs them; its prose is not a second request.
    assert!(matches!(
        parse("@gastown-bot please\n/gt status", BOT),
        Some(Addressed::Commands(_))
    ));
    assert_eq!(parse("@someone-else what do you think?", BOT), None);
}

#[test]
fn lines_are_compared_with_whitespace_collapsed() {
    let Some(Addressed::Commands(lines)) = parse("/gt   sling   priority=1 ", BOT) else {
        panic!()
    };
    assert_eq!(lines[0].text, "sling priority=1");
}
