//! What the patrol says: escalations (raised, reminded, critical), the nudge an agent
//! reads, and the status comment's notes while the patrol holds a bead.

use super::*;
use crate::decisions::patrol::Severity;

const MIN: i64 = 60_000;

#[test]
fn a_refinery_out_of_reworks_escalates_naming_who_to_ask() {
    let reason = refinery_gave_up(3, "quality gate `test` failed");
    insta::assert_snapshot!(
        escalation_notice(
            Severity::High,
            &reason,
            REFINERY_GAVE_UP_ACTION,
            "Gate `test` failed (exit 101):\n```\npanicked at src/lib.rs:3\n```",
            &["mara".into(), "eve<b>".into()],
            0,
            &marker("escalation", "gt-e1:0"),
        ),
        @r#"
    <!-- gastown:escalation gt-e1:0 -->
    **Gastown** · escalation · **high**: the refinery cannot land this work and has run out of rework attempts (3). Last problem: quality gate `test` failed.
    Fix the branch by hand, then run `gt beads retry` on the task, or close this issue.
    @mara @eveb, a person is needed.

    <details><summary>What failed</summary>

    ````text
    Gate `test` failed (exit 101):
    ```
    panicked at src/lib.rs:3
    ```
    ````
    </details>

    Remove the `gt:escalated` label to acknowledge it.
    "#
    );
}

#[test]
fn a_report_the_mirror_contradicts_is_escalated_with_what_did_not_match() {
    insta::assert_snapshot!(
        escalation_notice(
            Severity::High,
            REPORT_UNTRUSTED,
            REPORT_UNTRUSTED_ACTION,
            "it says the branch gt/gt-k3x9 is at \"1111111111111111111111111111111111111111\", \
             but the bot's mirror has it at 2222222222222222222222222222222222222222",
            &["mara".into()],
            0,
            &marker("escalation", "gt-e1:0"),
        ),
        @r#"
    <!-- gastown:escalation gt-e1:0 -->
    **Gastown** · escalation · **high**: the refinery's run reported commits that the bot's own copy of the repository contradicts, twice, so its report was not trusted and nothing was landed.
    Look at the branch and the town, then run `gt beads retry` on the task or sling the issue again, or close it.
    @mara, a person is needed.

    <details><summary>What failed</summary>

    ```text
    it says the branch gt/gt-k3x9 is at "1111111111111111111111111111111111111111", but the bot's mirror has it at 2222222222222222222222222222222222222222
    ```
    </details>

    Remove the `gt:escalated` label to acknowledge it.
    "#
    );
}

#[test]
fn a_stuck_polecat_is_escalated_without_naming_anyone_and_reminded_later() {
    insta::assert_snapshot!(
        escalation_notice(
            Severity::Medium,
            &stuck_escalation(60 * MIN),
            "",
            "",
            &[],
            2,
            &marker("escalation", "gt-e1:2"),
        ),
        @r#"
    <!-- gastown:escalation gt-e1:2 -->
    **Gastown** · escalation · **medium** (reminder 2: nobody has acknowledged it yet): a polecat has made no progress for 60 minutes.

    Remove the `gt:escalated` label to acknowledge it.
    "#
    );
}

#[test]
fn a_critical_escalation_opens_an_issue_of_its_own() {
    let notice = escalation_notice(
        Severity::Critical,
        &gave_up_escalation(5),
        GAVE_UP_ACTION,
        "fatal: no space left",
        &["ops-team".into()],
        0,
        &marker("escalation", "gt-e1:0"),
    );
    insta::assert_snapshot!(escalation_issue_title("Fix the flux\nnow"), @r#"Gastown escalation: Fix the flux now"#);
    insta::assert_snapshot!(escalation_issue_body(&notice, Some("github:octo/hello#12")), @r#"
    <!-- gastown:escalation gt-e1:0 -->
    **Gastown** · escalation · **critical**: the work failed 5 times and the town stopped retrying it.
    Look at the agent's output below, fix what stops it (the issue's text, the repository, the town), then run `gt beads retry` on the bead or relabel the issue.
    @ops-team, a person is needed.

    <details><summary>What failed</summary>

    ```text
    fatal: no space left
    ```
    </details>

    Remove the `gt:escalated` label to acknowledge it.

    About github:octo/hello#12.
    "#);
}

#[test]
fn an_escalation_caps_a_runaway_log_and_says_how_much_was_cut() {
    let log = format!(
        "starting\n{}Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNpZw\nfatal: gave up",
        "noise\n".repeat(10_000)
    );
    let reason = format!("the refinery's run failed 2 times: {}", "why ".repeat(500));
    let body = escalation_notice(
        Severity::High,
        &reason,
        "",
        &log,
        &["mara".into()],
        0,
        &marker("escalation", "k"),
    );
    assert!(
        body.len() < MAX_DETAILS + 3 * MAX_LINE,
        "{} bytes",
        body.len()
    );
    assert!(body.contains("bytes cut …]\n"), "{body}");
    assert!(
        body.contains("starting\nnoise")
            && body.contains("Authorization: Bearer [REDACTED]\nfatal: gave up\n```"),
        "both ends of the log stay, the fence closes: {body}"
    );
    assert!(!body.contains("eyJ"), "{body}");
    let exited = agent_ended_unfinished(Some(137));
    assert_eq!(exited, "the agent exited with code 137 without gt_done");
}

#[test]
fn what_the_patrol_holds_a_bead_for_shows_on_its_status_comment() {
    let mut waiting = bead(BeadStatus::Open);
    waiting.attempts = 1;
    waiting.metadata["notice"] = serde_json::json!(retry_note(
        "the agent sent no heartbeat for 90 seconds and was stopped",
        1,
        5,
        1_795_622_257_000
    ));
    insta::assert_snapshot!(status_comment(&waiting), @r#"
    <!-- gastown:status gt-k3x9 -->
    **Gastown** · bead `gt-k3x9` is **queued**: attempt 1 of 5 did not finish (the agent sent no heartbeat for 90 seconds and was stopped); the next starts after 2026-11-25T15:57:37Z.

    | | |
    |---|---|
    | slung by | @mara |
    | rig | `github:octo/hello` |
    | status | `open` |
    "#);
    let mut stuck = bead(BeadStatus::InProgress);
    stuck.metadata["notice"] = serde_json::json!(stuck_note(15 * MIN, false));
    insta::assert_snapshot!(status_comment(&stuck), @r#"
    <!-- gastown:status gt-k3x9 -->
    **Gastown** · bead `gt-k3x9` is **working**: the polecat has made no progress for 15 minutes; it was nudged.

    | | |
    |---|---|
    | slung by | @mara |
    | rig | `github:octo/hello` |
    | status | `in_progress` |
    "#);
    let mut paused = bead(BeadStatus::Open);
    paused.metadata["notice"] = serde_json::json!(paused_note(
        &breaker_reason(5, 30 * MIN),
        Some(1_795_622_257_000)
    ));
    insta::assert_snapshot!(status_comment(&paused), @r#"
    <!-- gastown:status gt-k3x9 -->
    **Gastown** · bead `gt-k3x9` is **queued**: dispatch to this repository is paused until 2026-11-25T15:57:37Z (5 attempts failed within 30 minutes); `gt rig resume` ends it sooner.

    | | |
    |---|---|
    | slung by | @mara |
    | rig | `github:octo/hello` |
    | status | `open` |
    "#);
    let mut closed = bead(BeadStatus::Closed);
    closed.metadata["notice"] = serde_json::json!(closed_on_forge("the issue was closed", "mara"));
    insta::assert_snapshot!(status_comment(&closed), @r#"
    <!-- gastown:status gt-k3x9 -->
    **Gastown** · bead `gt-k3x9` is **closed**: the issue was closed by @mara: the polecat was stopped and the work closed; reopen or relabel to sling it again.

    | | |
    |---|---|
    | slung by | @mara |
    | rig | `github:octo/hello` |
    | status | `closed` |
    "#);
}

#[test]
fn the_nudge_tells_a_stuck_agent_what_to_do() {
    insta::assert_snapshot!(nudge(15 * MIN), @r#"gastown: no progress from you for 15 minutes. If you are stuck, say why with `gt agent status --message`, or escalate with `gt agent escalate`; push what you have and call gt_done when the work is finished."#);
    insta::assert_snapshot!(paused_note("alice (gt CLI)", None), @r#"dispatch to this repository is paused by alice (gt CLI); `gt rig resume` ends it"#);
    assert_eq!(
        dead_reason(90_000),
        "the agent sent no heartbeat for 90 seconds and was stopped"
    );
    assert_eq!(
        stuck_reason(120 * MIN),
        "the agent made no progress for 120 minutes and was stopped"
    );
}
