//! The refinery's one-off comments on the issue: reworks, landings, a
//! broken `.gastown.yaml`, an AI review that could not run.

use super::*;

#[test]
fn a_rework_shows_the_gate_output_without_its_tokens() {
    let details = "Gate `leak` failed (exit 3):\nfound ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8\n\
                   OPENAI_API_KEY=sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123\nerror: bad";
    insta::assert_snapshot!(
        rework_comment(1, 3, "quality gate `leak` failed", details, &marker("rework", "gt-k3x9:rework:1")),
        @r"
    <!-- gastown:rework gt-k3x9:rework:1 -->
    **Gastown** · the refinery sent this work back (rework 1 of 3): quality gate `leak` failed.
    A polecat is reworking the same branch.

    <details><summary>What failed</summary>

    ```text
    Gate `leak` failed (exit 3):
    found [REDACTED]
    OPENAI_API_KEY=[REDACTED]
    error: bad
    ```
    </details>
    "
    );
}

#[test]
fn a_broken_gastown_yaml_is_named_problem_by_problem() {
    let problems = ".gastown.yaml:3: quality_gates[0].timeout_secs: expected an integer\n\
                    .gastown.yaml:7: `merge_strategy`: unknown value `yolo`";
    insta::assert_snapshot!(repo_config_invalid(problems, &marked("config-invalid")), @r"
    <!-- gastown:config-invalid gt-k3x9:1 -->
    **Gastown** · the refinery cannot land this work: `.gastown.yaml` is not valid.

    - `.gastown.yaml:3: quality_gates[0].timeout_secs: expected an integer`
    - `.gastown.yaml:7: 'merge_strategy': unknown value 'yolo'`

    Fix the file on the target branch; the refinery checks it again and goes on.
    ");
}

#[test]
// The snapshot holds the zero-width space that keeps a quoted @mention from pinging.
#[allow(clippy::invisible_characters)]
fn an_ai_review_that_could_not_run_holds_the_work() {
    use crate::loops::refinery::ai_review::ReviewError;
    let errors = [
        ReviewError::Timeout(120).to_string(),
        ReviewError::Refused {
            status: 429,
            body: "rate limited\n@mara `see` sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123".into(),
        }
        .to_string(),
    ];
    let said: Vec<String> = errors
        .iter()
        .map(|e| review_failed(e, &marked("review-failed")))
        .collect();
    insta::assert_snapshot!(said.join("\n"), @r"
    <!-- gastown:review-failed gt-k3x9:1 -->
    **Gastown** · the refinery's AI review could not run: the review model did not answer within 120 s. Nothing lands without it; the refinery tries again.

    <!-- gastown:review-failed gt-k3x9:1 -->
    **Gastown** · the refinery's AI review could not run: the review model answered HTTP 429: rate limited @​mara  see  [REDACTED]. Nothing lands without it; the refinery tries again.
    ");
}

#[test]
fn a_direct_landing_names_the_target_and_the_commit() {
    insta::assert_snapshot!(
        landed_comment("main`", "2a2b2c2d2e2f2a2b2c2d2e2f2a2b2c2d2e2f2a2b", &marked("landed")),
        @r"
    <!-- gastown:landed gt-k3x9:1 -->
    **Gastown** · the refinery landed this work on `main` in 2a2b2c2d2e2f2a2b2c2d2e2f2a2b2c2d2e2f2a2b, after rebasing it and running the quality gates.
    "
    );
}

#[test]
fn a_rework_for_each_verdict_of_the_gates() {
    use crate::decisions::gates::{GateSpec, Report, Verdict, judge};
    let gate = |name: &str, passed: bool, exit_code: Option<i32>, timed_out: bool| GateResult {
        name: name.into(),
        passed,
        exit_code,
        timed_out,
        duration_ms: 1000,
        output_tail: format!("{name} output\n"),
    };
    let spec = |name: &str| GateSpec {
        name: name.into(),
        run: format!("make {name}"),
        timeout_secs: 60,
    };
    let reports = [
        (
            Report {
                conflict: Some(vec!["src/lib.rs".into(), "README.md".into()]),
                ..Default::default()
            },
            vec![spec("test")],
        ),
        (Report::default(), vec![spec("test"), spec("lint")]),
        (
            Report {
                gates: vec![
                    gate("test", false, Some(101), false),
                    gate("slow", false, None, true),
                    gate("lint", false, None, false),
                    gate("fmt", true, Some(0), false),
                ],
                ..Default::default()
            },
            vec![spec("test"), spec("slow"), spec("lint"), spec("fmt")],
        ),
    ];
    let said: Vec<String> = reports
        .iter()
        .map(|(report, asked)| match judge(report, asked) {
            Verdict::Rework { reason, details } => {
                rework_comment(1, 3, &reason, &details, &marked("rework"))
            }
            Verdict::Passed => panic!("{report:?} must not pass"),
        })
        .collect();
    insta::assert_snapshot!(said.join("\n"), @r"
    <!-- gastown:rework gt-k3x9:1 -->
    **Gastown** · the refinery sent this work back (rework 1 of 3): the branch does not rebase onto the target branch.
    A polecat is reworking the same branch.

    <details><summary>What failed</summary>

    ```text
    Conflicting files:
    - src/lib.rs
    - README.md
    ```
    </details>

    <!-- gastown:rework gt-k3x9:1 -->
    **Gastown** · the refinery sent this work back (rework 1 of 3): gates did not run: test, lint.
    A polecat is reworking the same branch.

    <!-- gastown:rework gt-k3x9:1 -->
    **Gastown** · the refinery sent this work back (rework 1 of 3): quality gate `test`, `slow`, `lint` failed.
    A polecat is reworking the same branch.

    <details><summary>What failed</summary>

    ```text
    Gate `test` failed (exit 101):
    test output


    Gate `slow` timed out:
    slow output


    Gate `lint` failed (did not run):
    lint output
    ```
    </details>
    ");
}

/// People's feedback on a PR ([`crate::loops::refinery::review::decide`]) as the rework
/// comment quotes it.
#[test]
fn a_rework_from_review_feedback_quotes_it() {
    use crate::forge::ReviewState;
    use crate::loops::refinery::review::{Feedback, Given, Next, decide};
    let mut f = Feedback::default();
    f.reviews.insert(
        "mara".into(),
        Given {
            id: "review:7".into(),
            state: ReviewState::ChangesRequested,
            body: "Please add a test.".into(),
            commit: None,
        },
    );
    f.comments.push((
        "comment:9".into(),
        "eve".into(),
        "src/lib.rs:12".into(),
        "This unwrap can panic.".into(),
    ));
    let Next::Rework {
        reason, details, ..
    } = decide(&f, &Default::default(), true, "2a2b2c2d2e2f")
    else {
        panic!("changes requested must send the work back");
    };
    insta::assert_snapshot!(rework_comment(2, 3, &reason, &details, &marked("rework")), @r"
    <!-- gastown:rework gt-k3x9:1 -->
    **Gastown** · the refinery sent this work back (rework 2 of 3): review feedback from eve, mara.
    A polecat is reworking the same branch.

    <details><summary>What failed</summary>

    ```text
    Review by mara (changes requested):
    Please add a test.

    Comment by eve on src/lib.rs:12:
    This unwrap can panic.
    ```
    </details>
    ");
}

/// A model's rejection as the rework comment shows it: its first line as the reason,
/// its comments as the details.
#[test]
fn a_rework_from_the_ai_review() {
    use crate::decisions::ai_verdict::{AiVerdict, ReviewComment};
    let v = AiVerdict {
        approve: false,
        summary: "The change skips the error path.\nOtherwise fine.".into(),
        comments: vec![
            ReviewComment {
                path: Some("src/lib.rs".into()),
                line: Some(3),
                body: "Off by one.".into(),
            },
            ReviewComment {
                path: None,
                line: None,
                body: "No test covers the new branch.".into(),
            },
        ],
    };
    insta::assert_snapshot!(
        rework_comment(1, 3, &ai_review_rejected(&v.summary), &v.findings(), &marked("rework")),
        @r"
    <!-- gastown:rework gt-k3x9:1 -->
    **Gastown** · the refinery sent this work back (rework 1 of 3): the AI review rejected it: The change skips the error path..
    A polecat is reworking the same branch.

    <details><summary>What failed</summary>

    ```text
    AI review: The change skips the error path.
    Otherwise fine.

    - src/lib.rs:3: Off by one.
    - general: No test covers the new branch.
    ```
    </details>
    "
    );
    insta::assert_snapshot!(ai_review_rejected(""), @"the AI review rejected it: no reason given");
}

#[test]
fn a_persons_rework_is_not_counted_as_the_refinerys() {
    insta::assert_snapshot!(
        rework_comment(2, PERSONS_REWORK, "@mara asked for changes", "Use the builder.", &marked("rework")),
        @r#"
    <!-- gastown:rework gt-k3x9:1 -->
    **Gastown** · this work was sent back (rework 2): @mara asked for changes.
    A polecat is reworking the same branch.

    <details><summary>What failed</summary>

    ```text
    Use the builder.
    ```
    </details>
    "#
    );
}
