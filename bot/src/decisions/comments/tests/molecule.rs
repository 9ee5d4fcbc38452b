//! On an issue slung with a formula: the steps' checklist in the status comment, a
//! step waiting for a person, a formula that does not expand, an approval, work that
//! changed no file.

use super::*;

fn item(step: &str, title: &str, state: ItemState) -> ChecklistItem {
    ChecklistItem {
        step: step.into(),
        title: title.into(),
        state,
        leg: false,
    }
}

// The issue's words are shown with mentions broken by a zero-width space.
#[allow(clippy::invisible_characters)]
#[test]
fn the_status_comment_lists_the_steps_as_a_checklist() {
    let mut b = bead(BeadStatus::InProgress);
    b.hook = Some("github:octo/hello/polecat/nux".into());
    let items = [
        item("reproduce", "Reproduce: Fix the flux", ItemState::Done),
        item("fix", "Fix it, @everyone <b>now</b>", ItemState::Gate),
        item("review", "A person reviews", ItemState::Todo),
        ChecklistItem {
            leg: true,
            ..item("docs", "Document it", ItemState::Working)
        },
    ];
    insta::assert_snapshot!(status_comment_with(&b, Some(("bugfix@1", &items))), @r"
    <!-- gastown:status gt-k3x9 -->
    **Gastown** · bead `gt-k3x9` is **working**: a polecat is working on it.

    | | |
    |---|---|
    | slung by | @mara |
    | rig | `github:octo/hello` |
    | polecat | nux |
    | status | `in_progress` |

    **Steps** · formula `bugfix@1`

    - [x] `reproduce` Reproduce: Fix the flux
    - [ ] `fix` Fix it, @​everyone &lt;b>now&lt;/b> · *its gate runs*
    - [ ] `review` A person reviews
    - [ ] `docs` Document it (leg) · *working*
    ");
}

#[test]
fn a_step_waiting_for_a_person_says_how_to_approve_it() {
    let b = bead(BeadStatus::Blocked);
    let items = [
        item("write", "Write it", ItemState::Done),
        item("look", "A person looks", ItemState::Approval),
    ];
    insta::assert_snapshot!(status_comment_with(&b, Some(("reviewed@1", &items))), @r"
    <!-- gastown:status gt-k3x9 -->
    **Gastown** · bead `gt-k3x9` is **waiting for approval**: step `look` waits for a person with write access to approve it.

    | | |
    |---|---|
    | slung by | @mara |
    | rig | `github:octo/hello` |
    | status | `blocked` |

    **Steps** · formula `reviewed@1`

    - [x] `write` Write it
    - [ ] `look` A person looks · *waiting for approval*: comment `/gt approve` or add the `gt:approved` label
    ");
}

#[test]
fn a_formula_that_does_not_expand_is_said_with_where() {
    let problems = ".gastown/formulas/broken.yaml@main:7:13: steps[0].needs[0]: `b` is not a step of this formula";
    insta::assert_snapshot!(formula_refused("broken", problems, &marked("formula-refused")), @r"
    <!-- gastown:formula-refused gt-k3x9:1 -->
    Gastown could not expand the formula `broken` for this issue, so nothing was slung:

    ```text
    .gastown/formulas/broken.yaml@main:7:13: steps[0].needs[0]: `b` is not a step of this formula
    ```

    Fix it and add the label again.
    ");
}

#[test]
fn an_approval_names_who_approved_which_step() {
    insta::assert_snapshot!(step_approved("look", "mara", &marked("approved")), @r"
    <!-- gastown:approved gt-k3x9:1 -->
    @mara approved step `look`; a polecat takes the next step.
    ");
}

#[allow(clippy::invisible_characters)]
#[test]
fn work_that_changed_no_file_closes_with_what_each_step_found() {
    let steps = [
        ("read".to_string(), "The flux is fine".to_string()),
        (
            "report".to_string(),
            "Nothing to change; see @ana's note".to_string(),
        ),
    ];
    insta::assert_snapshot!(nothing_to_land("main", &steps, &marked("unchanged")), @r"
    <!-- gastown:unchanged gt-k3x9:1 -->
    The work is done and changed no file, so there is nothing to merge into `main`. Closing this issue.

    **What each step found**

    - `read` The flux is fine
    - `report` Nothing to change; see @​ana's note
    ");
}
