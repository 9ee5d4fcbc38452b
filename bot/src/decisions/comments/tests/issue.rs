//! On a slung issue: the status comment as the bead moves, its labels, a refused
//! sling's reply.

use super::*;

#[test]
fn status_comment_for_a_working_polecat() {
    let mut b = bead(BeadStatus::InProgress);
    b.hook = Some("github:octo/hello/polecat/nux".into());
    b.branch = Some("gt/gt-k3x9-fix-the-flux".into());
    b.attempts = 2;
    insta::assert_snapshot!(status_comment(&b), @r"
    <!-- gastown:status gt-k3x9 -->
    **Gastown** · bead `gt-k3x9` is **working**: a polecat is working on it.

    | | |
    |---|---|
    | slung by | @mara |
    | rig | `github:octo/hello` |
    | polecat | nux |
    | branch | `gt/gt-k3x9-fix-the-flux` |
    | attempt | 2 |
    | status | `in_progress` |
    ");
}

#[test]
fn status_comment_for_a_queued_bead() {
    insta::assert_snapshot!(status_comment(&bead(BeadStatus::Open)), @r"
    <!-- gastown:status gt-k3x9 -->
    **Gastown** · bead `gt-k3x9` is **queued**: waiting for a free polecat.

    | | |
    |---|---|
    | slung by | @mara |
    | rig | `github:octo/hello` |
    | status | `open` |
    ");
}

#[test]
fn status_comment_for_a_bead_whose_town_cannot_start() {
    let mut b = bead(BeadStatus::Open);
    let e = runner::RunnerError::Image {
        step: "pull".into(),
        detail: "/var/lib/gastown/towns/default: no such image".into(),
    };
    b.metadata["town_error"] = serde_json::json!(town_trouble(&e));
    insta::assert_snapshot!(status_comment(&b), @r"
    <!-- gastown:status gt-k3x9 -->
    **Gastown** · bead `gt-k3x9` is **queued**: the town could not start: the town image is missing or could not be built; build it on the bot's host, or point `GT_RUNNER_IMAGE` at one that exists.

    | | |
    |---|---|
    | slung by | @mara |
    | rig | `github:octo/hello` |
    | status | `open` |
    ");
}

#[test]
fn status_comment_when_the_town_directory_cannot_be_made() {
    let mut b = bead(BeadStatus::Open);
    b.metadata["town_error"] = serde_json::json!(TOWN_DIR_TROUBLE);
    insta::assert_snapshot!(status_comment(&b), @r"
    <!-- gastown:status gt-k3x9 -->
    **Gastown** · bead `gt-k3x9` is **queued**: the town could not start: the bot cannot create the town's directory in its data directory (`GT_DATA_DIR`); check that it exists and the bot may write there.

    | | |
    |---|---|
    | slung by | @mara |
    | rig | `github:octo/hello` |
    | status | `open` |
    ");
}

#[test]
fn each_status_has_a_headline_and_what_comes_next() {
    let lines: Vec<String> = BeadStatus::ALL
        .iter()
        .map(|s| {
            status_comment(&bead(*s))
                .lines()
                .nth(1)
                .unwrap()
                .to_string()
        })
        .collect();
    insta::assert_snapshot!(lines.join("\n"), @r"
    **Gastown** · bead `gt-k3x9` is **queued**: waiting for a free polecat.
    **Gastown** · bead `gt-k3x9` is **hooked**: a polecat has picked it up.
    **Gastown** · bead `gt-k3x9` is **working**: a polecat is working on it.
    **Gastown** · bead `gt-k3x9` is **blocked**: waiting for the work it depends on.
    **Gastown** · bead `gt-k3x9` is **in review**: the refinery is checking the change.
    **Gastown** · bead `gt-k3x9` is **done**: nothing left to do.
    **Gastown** · bead `gt-k3x9` is **failed**: it gave up after its retries; a person is needed.
    **Gastown** · bead `gt-k3x9` is **removed**: the bead was deleted.
    ");
}

#[test]
fn status_comment_of_work_sent_back_says_why() {
    let mut b = bead(BeadStatus::InProgress);
    b.hook = Some("github:octo/hello/polecat/furiosa".into());
    b.branch = Some("gt/gt-k3x9-fix-the-flux".into());
    b.attempts = 3;
    b.metadata["pull_request"] = serde_json::json!(7);
    b.metadata["rework"] = serde_json::json!({
        "attempt": 1, "max": 3, "bead": "gt-r1",
        "reason": "quality gate `test` failed | twice\nsee the log",
    });
    insta::assert_snapshot!(status_comment(&b), @r"
    <!-- gastown:status gt-k3x9 -->
    **Gastown** · bead `gt-k3x9` is **working**: a polecat is working on it.

    | | |
    |---|---|
    | slung by | @mara |
    | rig | `github:octo/hello` |
    | polecat | furiosa |
    | branch | `gt/gt-k3x9-fix-the-flux` |
    | pull request | #7 |
    | attempt | 3 |
    | rework | 1 of 3: quality gate `test` failed   twice see the log |
    | status | `in_progress` |
    ");
}

/// The status comment of a PR whose approval was given on an earlier commit, in the
/// words the refinery's decision writes.
#[test]
fn status_comment_when_an_approval_is_of_an_earlier_commit() {
    use crate::forge::ReviewState;
    use crate::loops::refinery::review::{Feedback, Given, Next, decide};
    let mut f = Feedback::default();
    f.reviews.insert(
        "mara".into(),
        Given {
            id: "review:7".into(),
            state: ReviewState::Approved,
            body: String::new(),
            commit: Some("1111111111111111111111111111111111111111".into()),
        },
    );
    let head = "2a2b2c2d2e2f2a2b2c2d2e2f2a2b2c2d2e2f2a2b";
    let Next::Wait(what) = decide(&f, &Default::default(), true, head) else {
        panic!("a stale approval must not merge");
    };
    let mut b = bead(BeadStatus::Review);
    b.branch = Some("gt/gt-k3x9-fix-the-flux".into());
    b.metadata["pull_request"] = serde_json::json!(7);
    b.metadata["waiting_for"] = serde_json::json!(what);
    insta::assert_snapshot!(status_comment(&b), @r"
    <!-- gastown:status gt-k3x9 -->
    **Gastown** · bead `gt-k3x9` is **in review**: the refinery is checking the change.

    | | |
    |---|---|
    | slung by | @mara |
    | rig | `github:octo/hello` |
    | branch | `gt/gt-k3x9-fix-the-flux` |
    | pull request | #7 |
    | waiting for | a new approval: mara approved an earlier commit, and the branch is now at `2a2b2c2d2e2f` |
    | status | `review` |
    ");
}

/// Each thing a PR in review can wait for, as the status comment's "waiting for" row
/// says it.
#[test]
fn what_a_pull_request_waits_for() {
    use crate::forge::ReviewState;
    use crate::loops::refinery::review::{Feedback, Given, Next, decide};
    let head = "2a2b2c2d2e2f2a2b2c2d2e2f2a2b2c2d2e2f2a2b";
    let approved = {
        let mut f = Feedback::default();
        f.reviews.insert(
            "mara".into(),
            Given {
                id: "review:7".into(),
                state: ReviewState::Approved,
                body: String::new(),
                commit: Some(head.into()),
            },
        );
        f
    };
    let mut checks = approved.clone();
    checks.waiting_checks.push(("ci/test".into(), "pending"));
    let wait =
        |f: &Feedback, auto_merge: bool| match decide(f, &Default::default(), auto_merge, head) {
            Next::Wait(what) => what,
            other => panic!("{other:?}"),
        };
    let waits = [
        wait(&Feedback::default(), true),
        wait(&checks, true),
        wait(&approved, false),
        waiting_for_the_forge("Pull Request is not mergeable"),
    ];
    let rows: Vec<String> = waits
        .iter()
        .map(|w| {
            let mut b = bead(BeadStatus::Review);
            b.metadata["waiting_for"] = serde_json::json!(w);
            status_comment(&b)
                .lines()
                .find(|l| l.starts_with("| waiting for"))
                .unwrap()
                .to_string()
        })
        .collect();
    insta::assert_snapshot!(rows.join("\n"), @r"
    | waiting for | an approving review |
    | waiting for | required check `ci/test` (pending) |
    | waiting for | a person to merge it (auto_merge is off) |
    | waiting for | the forge to allow the merge: Pull Request is not mergeable |
    ");
}

#[test]
fn a_town_that_cannot_start_says_what_to_do() {
    use runner::RunnerError as E;
    let errors = [
        E::DockerUnreachable {
            socket: "/var/run/docker.sock".into(),
            source: bollard::errors::Error::SocketNotFoundError("/var/run/docker.sock".into()),
        },
        E::Image {
            step: "debootstrap".into(),
            detail: "/srv/towns: exit 1".into(),
        },
        E::Docker {
            action: "start container/../gt-town".into(),
            source: bollard::errors::Error::RequestTimeoutError,
        },
        E::DuplicateTownContainers {
            town: "default".into(),
            count: 2,
            ids: "a1, b2".into(),
        },
        E::TownRootMismatch {
            town: "default".into(),
            container: "gt-town-`default`".into(),
            found: "/old".into(),
            wanted: "/new".into(),
        },
        E::Blocking("/srv/towns/default".into()),
    ];
    let said: Vec<String> = errors.iter().map(town_trouble).collect();
    insta::assert_snapshot!(format!("{}\n{TOWN_DIR_TROUBLE}", said.join("\n")), @r"
    the runner cannot reach Docker; start the Docker daemon on the bot's host, or run agents unisolated with `GT_RUNNER=local`
    the town image is missing or could not be built; build it on the bot's host, or point `GT_RUNNER_IMAGE` at one that exists
    Docker failed to start container .. gt-town; the bot's log has the details
    2 containers claim this town; remove all but one with `docker rm -f`
    its container `gt-town-default` was made for another setup; remove it with `docker rm -f` and the bot makes a new one
    the runner could not set it up; the bot's log has the details
    the bot cannot create the town's directory in its data directory (`GT_DATA_DIR`); check that it exists and the bot may write there
    ");
}

#[test]
fn a_refusal_names_the_user_and_cannot_be_injected() {
    insta::assert_snapshot!(
        sling_refused_comment("eve<img src=x>", "gt:sling`", &marker("refused", "github:o/r#3:eve")),
        @r"
    <!-- gastown:refused github:o/r#3:eve -->
    @eveimgsrcx, only people with write access to this repository can sling work to Gastown, so the `gt:sling` label was not acted on. A maintainer can add it instead.
    "
    );
}

#[test]
fn each_status_shows_at_most_one_label_described_on_the_forge() {
    let shown: Vec<String> = BeadStatus::ALL
        .iter()
        .map(|&s| match StatusLabel::of(s) {
            Some(l) => format!("{s}: {} ({})", l.name(), l.description()),
            None => format!("{s}: none"),
        })
        .collect();
    insta::assert_snapshot!(shown.join("\n"), @r"
    open: none
    hooked: gt:hooked (Gastown: a polecat has picked this up)
    in_progress: gt:working (Gastown: a polecat is working on this)
    blocked: none
    review: gt:review (Gastown: the change is with the refinery)
    closed: none
    failed: none
    tombstone: none
    ");
    for label in StatusLabel::ALL {
        assert_eq!(StatusLabel::named(label.name()), Some(label));
    }
    assert_eq!(StatusLabel::named("gt:sling"), None);
}
