//! What the bot says about dependencies between issues.

use super::*;

#[test]
fn a_task_says_what_it_waits_for() {
    insta::assert_snapshot!(
        waiting_for_blockers(&[("#12".into(), "Add the API".into()), ("octo/db#3".into(), "Schema | v2".into())]),
        @r#"waiting for #12 (Add the API), octo/db#3 (Schema   v2) to land first"#
    );
    insta::assert_snapshot!(waiting_for_unslung(&["#12".into()]), @r#"waiting for #12, not slung yet: sling it, or take it out of the `Depends on` line"#);
    insta::assert_snapshot!(waiting_for_unslung(&["#12".into(), "#13".into()]), @r#"waiting for #12, #13, not slung yet: sling them, or take them out of the `Depends on` line"#);
}

#[test]
fn a_cycle_is_refused_naming_both_ends() {
    insta::assert_snapshot!(
        dependency_cycle("#2", "#1", &marker("dependency-cycle", "gt-k3x9:cycle")),
        @r#"
    <!-- gastown:dependency-cycle gt-k3x9:cycle -->
    **Gastown** · #2 cannot depend on #1: #1 already waits for #2 (directly or through other issues), so neither would ever start. The dependency was not added; take one of the `Depends on` lines out.
    "#
    );
}

#[test]
fn a_blocker_that_gave_up_is_named() {
    insta::assert_snapshot!(blocker_gave_up("#12", BeadStatus::Failed), @r#"#12, which this work depends on, failed: this work waits for it"#);
    insta::assert_snapshot!(blocker_gave_up("octo/api#3", BeadStatus::Closed), @r#"octo/api#3, which this work depends on, was closed without merging: this work waits for it"#);
}
