//! What the bot says on a convoy's tracking issue. (Mentions in tracked titles are
//! broken with a zero-width space, which the snapshots show.)
#![allow(clippy::invisible_characters)]

use super::*;
use crate::decisions::convoy::Landing;

fn convoy(status: BeadStatus) -> Bead {
    let mut b = bead(status);
    b.id = "gt-c0nv".into();
    b.bead_type = BeadType::Convoy;
    b.title = "Release 2".into();
    b
}

fn items() -> Vec<ConvoyItem> {
    vec![
        ConvoyItem {
            name: "#12".into(),
            title: "Add the API".into(),
            status: BeadStatus::Closed,
            close_reason: Some(crate::store::CloseReason::Merged),
            pull_request: Some(7),
        },
        ConvoyItem {
            name: "octo/web#3".into(),
            title: "Use it in the UI @everyone".into(),
            status: BeadStatus::InProgress,
            close_reason: None,
            pull_request: None,
        },
    ]
}

#[test]
fn the_tracking_issue_lists_its_issues_and_what_the_convoy_waits_for() {
    insta::assert_snapshot!(tracking_issue_title("Release 2"), @r#"Convoy: Release 2"#);
    insta::assert_snapshot!(tracking_issue_body(&marker("convoy", "gt-c0nv")), @r#"
    <!-- gastown:convoy gt-c0nv -->
    This issue tracks a Gastown convoy: a batch of issues that land together. The checklist below is kept up to date by the bot; the issue closes when the last of them has landed.
    "#);
    let waits = Landing::Waits {
        on: vec!["octo/web#3".into()],
    };
    insta::assert_snapshot!(convoy_status(&convoy(BeadStatus::Open), &waits, &items()), @r#"
    <!-- gastown:status gt-c0nv -->
    **Gastown** · convoy `gt-c0nv` **in progress**: waiting for octo/web#3.

    - [x] #12 Add the API · `merged` · PR #7
    - [ ] octo/web#3 Use it in the UI @​everyone · `in_progress`
    "#);
}

#[test]
fn a_held_convoy_names_what_holds_it_and_a_landed_one_says_so_once() {
    let held = Landing::Held {
        by: vec!["octo/web#3".into()],
    };
    insta::assert_snapshot!(convoy_status(&convoy(BeadStatus::Open), &held, &items()), @r#"
    <!-- gastown:status gt-c0nv -->
    **Gastown** · convoy `gt-c0nv` **held**: octo/web#3 failed or closed without landing; re-sling it or take it out of the convoy.

    - [x] #12 Add the API · `merged` · PR #7
    - [ ] octo/web#3 Use it in the UI @​everyone · `in_progress`
    "#);
    insta::assert_snapshot!(
        convoy_landed(&["#12".into(), "octo/web#3".into()], &marker("convoy-landed", "gt-c0nv:1")),
        @r#"
    <!-- gastown:convoy-landed gt-c0nv:1 -->
    **Gastown** · this convoy landed: #12, octo/web#3 all merged. Closing the tracking issue.
    "#
    );
}
