//! On the pull/merge request the refinery opens: its title and body, the commit
//! status on the tested commit.

use super::*;

#[test]
fn a_pull_request_quotes_the_summary_without_its_tokens() {
    let task = bead(BeadStatus::Review);
    let mut mr = bead(BeadStatus::Review);
    mr.id = "gt-mr01".into();
    mr.body = "Added the flux.\nUsed glpat-AbCdEfGhIjKlMnOpQrSt to test.".into();
    mr.metadata = serde_json::json!({ "agent": "github:octo/hello/polecat/nux" });
    let gates = [GateResult {
        name: "test".into(),
        passed: true,
        exit_code: Some(0),
        timed_out: false,
        duration_ms: 1200,
        output_tail: String::new(),
    }];
    insta::assert_snapshot!(pull_request_body(&task, &mr, Some(12), &gates, &ReviewNote::Off, ""), @r"
    <!-- gastown:pull-request gt-k3x9 -->
    Closes #12.

    Worked by polecat **nux** on bead `gt-k3x9` (merge request `gt-mr01`).

    > Added the flux.
    > Used [REDACTED] to test.

    ### Quality gates
    | gate | result | time |
    |---|---|---|
    | test | passed | 1.2 s |
    ");
}

#[test]
// The snapshot holds the zero-width space that keeps a quoted @mention from pinging.
#[allow(clippy::invisible_characters)]
fn a_pull_request_with_an_approving_review_its_gates_and_a_note() {
    use crate::decisions::ai_verdict::AiVerdict;
    let task = bead(BeadStatus::Review);
    let mut mr = bead(BeadStatus::Review);
    mr.id = "gt-mr02".into();
    mr.body = "Fixed the flux, @mara.".into();
    let gates = [
        GateResult {
            name: "test|all".into(),
            passed: true,
            exit_code: Some(0),
            timed_out: false,
            duration_ms: 61_250,
            output_tail: String::new(),
        },
        GateResult {
            name: "fmt".into(),
            passed: true,
            exit_code: Some(0),
            timed_out: false,
            duration_ms: 40,
            output_tail: String::new(),
        },
    ];
    let v = AiVerdict {
        approve: true,
        summary: "Looks right.\ncc @eve".into(),
        comments: vec![],
    };
    let note = protected_files_note(&[".github/workflows/ci.yml".into()], false);
    insta::assert_snapshot!(pull_request_title(&task), @"Fix the flux");
    insta::assert_snapshot!(
        pull_request_body(&task, &mr, None, &gates, &ReviewNote::Approved(&v), &note),
        @r"
    <!-- gastown:pull-request gt-k3x9 -->
    Worked by polecat **a polecat** on bead `gt-k3x9` (merge request `gt-mr02`).

    > Fixed the flux, @​mara.

    ### Quality gates
    | gate | result | time |
    |---|---|---|
    | testall | passed | 61.2 s |
    | fmt | passed | 0.0 s |

    ### AI review
    Approved by the review model.

    > Looks right.
    > cc @​eve

    ### Protected files
    This change touches files that decide what CI runs with this repository's secrets, or how Gastown works here:

    - `.github/workflows/ci.yml`

    It lands only through this pull request, once a person with write access has reviewed and approved it.
    "
    );
}

#[test]
fn a_diff_too_big_for_the_ai_review_asks_a_person() {
    insta::assert_snapshot!(
        review_too_big(250_000, 200_000, &marker("review-too-big", "gt-m1:review-too-big")),
        @r"
    <!-- gastown:review-too-big gt-m1:review-too-big -->
    **Gastown** · this change is too big for the AI review: its diff is 250000 bytes, over the limit of 200000 (`review.max_diff_bytes`), and a diff is never reviewed in part. The model did not review it and it will not land on the model's say: **a person needs to review it.** The refinery opens a pull request for it, which lands only with the approval of someone with write access.
    "
    );
    let mr = bead(BeadStatus::Review);
    let body = pull_request_body(
        &bead(BeadStatus::Review),
        &mr,
        Some(12),
        &[],
        &ReviewNote::TooBig {
            bytes: 250_000,
            max: 200_000,
        },
        "",
    );
    insta::assert_snapshot!(body, @r"
    <!-- gastown:pull-request gt-k3x9 -->
    Closes #12.

    Worked by polecat **a polecat** on bead `gt-k3x9` (merge request `gt-k3x9`).


    ### Quality gates
    No quality gates are configured (`quality_gates` in `.gastown.yaml`).

    ### AI review
    Not done: the diff is 250000 bytes, over the review's limit of 200000 (`review.max_diff_bytes`), and a diff is never reviewed in part. **A person must review this change**; it lands only with the approval of someone with write access.
    ");
}

#[test]
fn protected_files_say_a_person_must_approve() {
    let files = vec![
        ".github/workflows/ci.yml".to_string(),
        ".gastown.yaml`<b>".to_string(),
    ];
    insta::assert_snapshot!(protected_files_note(&files, true), @r"
    ### Protected files
    This change touches files that decide what CI runs with this repository's secrets, or how Gastown works here:

    - `.github/workflows/ci.yml`
    - `.gastown.yaml<b>`

    It lands only through this pull request, once a person with write access has reviewed and approved it. `.gastown.yaml` chooses `merge_strategy: direct`, which never applies to such a change.
    ");
    insta::assert_snapshot!(protected_files_note(&files[..1], false), @r"
    ### Protected files
    This change touches files that decide what CI runs with this repository's secrets, or how Gastown works here:

    - `.github/workflows/ci.yml`

    It lands only through this pull request, once a person with write access has reviewed and approved it.
    ");
}

#[test]
fn the_refinery_commit_status_on_the_tested_commit() {
    let said = [
        refinery_passed_status(0, false),
        refinery_passed_status(3, false),
        refinery_passed_status(3, true),
        refinery_rework_status("quality gate `test` failed"),
        refinery_rework_status(&format!("review feedback from {}", "reviewer, ".repeat(20))),
    ];
    insta::assert_snapshot!(format!("{REFINERY_STATUS_CONTEXT}\n{}", said.join("\n")), @r"
    gastown/refinery
    No quality gates in .gastown.yaml; ready for review
    3 quality gates passed on the rebased branch
    Quality gates passed; too big for the AI review: a person must review it
    Sent back for rework: quality gate `test` failed
    Sent back for rework: review feedback from reviewer, reviewer, reviewer, reviewer, reviewer, reviewer, reviewer, reviewer, reviewer, reviewe
    ");
}
