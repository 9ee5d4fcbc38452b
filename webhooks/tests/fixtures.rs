//! Every shared fixture parses, and the events we act on carry the values its raw JSON
//! holds. Expected values are read from the JSON, never hard-coded, so refreshed
//! fixtures keep testing the parser rather than breaking the tests. Cases the fixtures
//! lack (label diffs, merged PRs, diff notes...) are built by editing a fixture copy.

mod common;

use serde_json::Value;
use webhooks::{
    CiKind, CiStatus, CommentAction, CommentTarget, ForgeEvent, ForgeKind, IssueAction, ParseError,
    PullRequestAction, RepoRef, ReviewState,
};

const GITHUB_HOST: &str = "fallback.github.test";
const GITLAB_HOST: &str = "fallback.gitlab.test";

fn fallback_host(forge: ForgeKind) -> &'static str {
    match forge {
        ForgeKind::GitHub => GITHUB_HOST,
        ForgeKind::GitLab => GITLAB_HOST,
    }
}

fn parse(forge: ForgeKind, event: &str, body: &[u8]) -> Result<Vec<ForgeEvent>, ParseError> {
    webhooks::parse(forge, fallback_host(forge), event, body)
}

fn parse_value(forge: ForgeKind, event: &str, v: &Value) -> Vec<ForgeEvent> {
    parse(forge, event, &serde_json::to_vec(v).unwrap()).expect("edited fixture parses")
}

fn load(rel: &str) -> Option<Value> {
    let dir = common::fixtures_dir()?;
    Some(serde_json::from_slice(&common::read(&dir, rel)).expect("fixture is JSON"))
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

fn u64_at(v: &Value, ptr: &str) -> Option<u64> {
    v.pointer(ptr).and_then(Value::as_u64)
}

/// `key` of each object in the array at `ptr`.
fn names_at(v: &Value, ptr: &str, key: &str) -> Vec<String> {
    let items = v.pointer(ptr).and_then(Value::as_array);
    items
        .into_iter()
        .flatten()
        .filter_map(|l| l[key].as_str().map(str::to_owned))
        .collect()
}

fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap().to_ascii_lowercase()
}

fn check_repo(repo: &RepoRef, forge: ForgeKind, v: &Value, name: &str) {
    let (base, path, web) = match forge {
        ForgeKind::GitHub => ("/repository", "full_name", "html_url"),
        ForgeKind::GitLab => ("/project", "path_with_namespace", "web_url"),
    };
    assert_eq!(repo.forge, forge, "{name}");
    assert_eq!(
        Some(repo.path.as_str()),
        str_at(v, &format!("{base}/{path}")),
        "{name}"
    );
    assert_eq!(repo.id, u64_at(v, &format!("{base}/id")), "{name}");
    let branch = str_at(v, &format!("{base}/default_branch"));
    assert_eq!(repo.default_branch.as_deref(), branch, "{name}");
    let host = str_at(v, &format!("{base}/{web}")).map_or(fallback_host(forge).into(), host_of);
    assert_eq!(repo.host, host, "{name}");
}

fn check_ignored(
    ev: &ForgeEvent,
    forge: ForgeKind,
    event: &str,
    action: Option<&str>,
    v: &Value,
    name: &str,
) {
    let ForgeEvent::Ignored(e) = ev else {
        panic!("{name}: expected Ignored, got {ev:?}")
    };
    assert_eq!(e.event, event, "{name}");
    assert_eq!(e.action.as_deref(), action, "{name}");
    let key = match forge {
        ForgeKind::GitHub => "repository",
        ForgeKind::GitLab => "project",
    };
    match &e.repo {
        Some(repo) => check_repo(repo, forge, v, name),
        None => assert!(v[key].is_null(), "{name}: repo dropped"),
    }
}

/// Pull the payload out of the variant we expect, or fail naming the fixture.
macro_rules! expect {
    ($ev:expr, $variant:path, $name:expr) => {
        match $ev {
            $variant(e) => e,
            other => panic!(
                "{}: expected {}, got {other:?}",
                $name,
                stringify!($variant)
            ),
        }
    };
}

/// Cases the fixtures lack, built by editing a fixture copy.
#[path = "fixtures/edited.rs"]
mod edited;

fn comment_action(a: &str) -> CommentAction {
    match a {
        "created" | "create" => CommentAction::Created,
        "edited" | "update" => CommentAction::Edited,
        _ => CommentAction::Deleted,
    }
}

fn github_check_status(status: Option<&str>, conclusion: Option<&str>) -> CiStatus {
    match (status, conclusion) {
        (_, Some("success")) => CiStatus::Success,
        (_, Some("failure" | "timed_out" | "action_required" | "startup_failure")) => {
            CiStatus::Failure
        }
        (_, Some("cancelled")) => CiStatus::Cancelled,
        (_, Some("skipped")) => CiStatus::Skipped,
        (_, Some(_)) | (Some("completed"), None) => CiStatus::Neutral,
        (Some("in_progress"), None) => CiStatus::Running,
        _ => CiStatus::Pending,
    }
}

fn check_github(event: &str, v: &Value, events: &[ForgeEvent], name: &str) {
    assert_eq!(events.len(), 1, "{name}: one event per GitHub delivery");
    let ev = &events[0];
    let gh = ForgeKind::GitHub;
    let action = str_at(v, "/action");
    let sender = str_at(v, "/sender/login");
    match (event, action) {
        (
            "issues",
            Some(a @ ("opened" | "edited" | "closed" | "reopened" | "labeled" | "unlabeled")),
        ) => {
            let e = expect!(ev, ForgeEvent::Issue, name);
            check_repo(&e.repo, gh, v, name);
            assert_eq!(Some(e.actor.login.as_str()), sender, "{name}");
            assert_eq!(e.actor.id, u64_at(v, "/sender/id"), "{name}");
            assert_eq!(Some(e.number), u64_at(v, "/issue/number"), "{name}");
            assert_eq!(Some(e.title.as_str()), str_at(v, "/issue/title"), "{name}");
            assert_eq!(e.labels, names_at(v, "/issue/labels", "name"), "{name}");
            let label = || str_at(v, "/label/name").expect("label").to_owned();
            let want = match a {
                "opened" => IssueAction::Opened,
                "edited" => IssueAction::Edited,
                "closed" => IssueAction::Closed,
                "reopened" => IssueAction::Reopened,
                "labeled" => IssueAction::Labeled { label: label() },
                _ => IssueAction::Unlabeled { label: label() },
            };
            assert_eq!(e.action, want, "{name}");
        }
        ("issue_comment", Some(a @ ("created" | "edited" | "deleted"))) => {
            let e = expect!(ev, ForgeEvent::Comment, name);
            check_repo(&e.repo, gh, v, name);
            assert_eq!(Some(e.actor.login.as_str()), sender, "{name}");
            let number = u64_at(v, "/issue/number").unwrap();
            let want = if v["issue"]["pull_request"].is_null() {
                CommentTarget::Issue { number }
            } else {
                CommentTarget::PullRequest { number }
            };
            assert_eq!(e.target, want, "{name}");
            assert_eq!(Some(e.comment_id), u64_at(v, "/comment/id"), "{name}");
            assert_eq!(Some(e.body.as_str()), str_at(v, "/comment/body"), "{name}");
            assert_eq!(e.action, comment_action(a), "{name}");
        }
        ("pull_request", Some(a @ ("opened" | "synchronize" | "closed" | "reopened"))) => {
            let e = expect!(ev, ForgeEvent::PullRequest, name);
            check_repo(&e.repo, gh, v, name);
            assert_eq!(Some(e.actor.login.as_str()), sender, "{name}");
            assert_eq!(Some(e.number), u64_at(v, "/number"), "{name}");
            assert_eq!(
                Some(e.head_branch.as_str()),
                str_at(v, "/pull_request/head/ref")
            );
            assert_eq!(e.head_sha.as_deref(), str_at(v, "/pull_request/head/sha"));
            assert_eq!(
                Some(e.base_branch.as_str()),
                str_at(v, "/pull_request/base/ref")
            );
            let merged = v["pull_request"]["merged"].as_bool() == Some(true);
            assert_eq!(e.merged, merged, "{name}");
            let want = match a {
                "opened" => PullRequestAction::Opened,
                "synchronize" => PullRequestAction::Synchronize,
                "reopened" => PullRequestAction::Reopened,
                _ if merged => PullRequestAction::Merged,
                _ => PullRequestAction::Closed,
            };
            assert_eq!(e.action, want, "{name}");
        }
        ("pull_request_review", Some(a @ ("submitted" | "dismissed"))) => {
            let e = expect!(ev, ForgeEvent::Review, name);
            check_repo(&e.repo, gh, v, name);
            assert_eq!(Some(e.actor.login.as_str()), sender, "{name}");
            assert_eq!(Some(e.number), u64_at(v, "/pull_request/number"), "{name}");
            assert_eq!(
                e.commit_sha.as_deref(),
                str_at(v, "/review/commit_id"),
                "{name}"
            );
            let state = str_at(v, "/review/state").unwrap().to_ascii_lowercase();
            let want = match (a, state.as_str()) {
                ("dismissed", _) => ReviewState::Dismissed,
                (_, "approved") => ReviewState::Approved,
                (_, "changes_requested") => ReviewState::ChangesRequested,
                _ => ReviewState::Commented,
            };
            assert_eq!(e.state, want, "{name}");
        }
        ("pull_request_review_comment", Some(a @ ("created" | "edited" | "deleted"))) => {
            let e = expect!(ev, ForgeEvent::ReviewComment, name);
            check_repo(&e.repo, gh, v, name);
            assert_eq!(Some(e.actor.login.as_str()), sender, "{name}");
            let number = u64_at(v, "/pull_request/number").unwrap();
            assert_eq!(e.target, CommentTarget::PullRequest { number }, "{name}");
            assert_eq!(Some(e.comment_id), u64_at(v, "/comment/id"), "{name}");
            assert_eq!(e.action, comment_action(a), "{name}");
        }
        ("check_run", Some("completed" | "created" | "rerequested")) => {
            let e = expect!(ev, ForgeEvent::Ci, name);
            check_repo(&e.repo, gh, v, name);
            assert_eq!(e.kind, CiKind::CheckRun);
            assert_eq!(e.actor.as_ref().map(|a| a.login.as_str()), sender, "{name}");
            assert_eq!(
                Some(e.name.as_str()),
                str_at(v, "/check_run/name"),
                "{name}"
            );
            assert_eq!(
                Some(e.sha.as_str()),
                str_at(v, "/check_run/head_sha"),
                "{name}"
            );
            let status = str_at(v, "/check_run/status");
            let conclusion = str_at(v, "/check_run/conclusion");
            assert_eq!(e.status, github_check_status(status, conclusion), "{name}");
            let mut prs = names_numbers(v, "/check_run/pull_requests");
            for n in names_numbers(v, "/check_run/check_suite/pull_requests") {
                if !prs.contains(&n) {
                    prs.push(n);
                }
            }
            assert_eq!(e.pull_requests, prs, "{name}");
        }
        ("check_suite", Some("completed" | "requested" | "rerequested")) => {
            let e = expect!(ev, ForgeEvent::Ci, name);
            check_repo(&e.repo, gh, v, name);
            assert_eq!(e.kind, CiKind::CheckSuite);
            assert_eq!(
                Some(e.sha.as_str()),
                str_at(v, "/check_suite/head_sha"),
                "{name}"
            );
            assert_eq!(e.branch.as_deref(), str_at(v, "/check_suite/head_branch"));
            let status = str_at(v, "/check_suite/status");
            let conclusion = str_at(v, "/check_suite/conclusion");
            assert_eq!(e.status, github_check_status(status, conclusion), "{name}");
            let prs = names_numbers(v, "/check_suite/pull_requests");
            assert_eq!(e.pull_requests, prs, "{name}");
        }
        ("status", _) => {
            let e = expect!(ev, ForgeEvent::Ci, name);
            check_repo(&e.repo, gh, v, name);
            assert_eq!(e.kind, CiKind::Status);
            assert_eq!(Some(e.name.as_str()), str_at(v, "/context"), "{name}");
            assert_eq!(Some(e.sha.as_str()), str_at(v, "/sha"), "{name}");
            assert_eq!(e.branch.as_deref(), str_at(v, "/branches/0/name"), "{name}");
            let want = match str_at(v, "/state") {
                Some("pending") => CiStatus::Pending,
                Some("success") => CiStatus::Success,
                _ => CiStatus::Failure,
            };
            assert_eq!(e.status, want, "{name}");
        }
        ("push", _) => {
            let e = expect!(ev, ForgeEvent::Push, name);
            check_repo(&e.repo, gh, v, name);
            assert_eq!(Some(e.actor.login.as_str()), sender, "{name}");
            assert_eq!(Some(e.git_ref.as_str()), str_at(v, "/ref"), "{name}");
            assert_eq!(Some(e.before.as_str()), str_at(v, "/before"), "{name}");
            assert_eq!(Some(e.after.as_str()), str_at(v, "/after"), "{name}");
            assert_eq!(Some(e.commit_count), v["commits"].as_array().map(Vec::len));
        }
        ("installation" | "installation_repositories", Some(a)) => {
            let e = expect!(ev, ForgeEvent::Installation, name);
            assert_eq!(Some(e.actor.login.as_str()), sender, "{name}");
            assert_eq!(e.action, a, "{name}");
            assert_eq!(
                Some(e.installation_id),
                u64_at(v, "/installation/id"),
                "{name}"
            );
            let account = str_at(v, "/installation/account/login");
            assert_eq!(Some(e.account.as_str()), account, "{name}");
            let mut repos = names_at(v, "/repositories", "full_name");
            repos.extend(names_at(v, "/repositories_added", "full_name"));
            repos.extend(names_at(v, "/repositories_removed", "full_name"));
            assert_eq!(e.repositories, repos, "{name}");
        }
        ("ping", _) => {
            let e = expect!(ev, ForgeEvent::Ping, name);
            assert_eq!(e.hook_id, u64_at(v, "/hook_id"), "{name}");
            assert_eq!(e.zen.as_deref(), str_at(v, "/zen"), "{name}");
            check_repo(e.repo.as_ref().expect("ping repo"), gh, v, name);
        }
        _ => check_ignored(ev, gh, event, action, v, name),
    }
}

fn names_numbers(v: &Value, ptr: &str) -> Vec<u64> {
    let items = v.pointer(ptr).and_then(Value::as_array);
    items
        .into_iter()
        .flatten()
        .filter_map(|p| p["number"].as_u64())
        .collect()
}

/// GitLab's iid, or the number its URL ends in when a payload lost the field.
fn gitlab_iid(v: &Value, base: &str) -> u64 {
    u64_at(v, &format!("{base}/iid")).unwrap_or_else(|| {
        let url = str_at(v, &format!("{base}/url")).expect("iid or url");
        url.rsplit('/')
            .next()
            .unwrap()
            .parse()
            .expect("url ends in iid")
    })
}

fn gitlab_pipeline_status(s: &str) -> CiStatus {
    match s {
        "created" | "waiting_for_resource" | "preparing" | "pending" | "scheduled" => {
            CiStatus::Pending
        }
        "running" => CiStatus::Running,
        "success" => CiStatus::Success,
        "failed" => CiStatus::Failure,
        "canceled" => CiStatus::Cancelled,
        "skipped" => CiStatus::Skipped,
        _ => CiStatus::Neutral,
    }
}

fn check_gitlab(event: &str, v: &Value, events: &[ForgeEvent], name: &str) {
    let gl = ForgeKind::GitLab;
    let action = str_at(v, "/object_attributes/action");
    let user = str_at(v, "/user/username");
    let kind = str_at(v, "/object_kind");
    let ev = &events[0];
    match (event, kind, action) {
        ("Issue Hook", Some("issue" | "work_item"), Some(a @ ("open" | "close" | "reopen"))) => {
            assert_eq!(events.len(), 1, "{name}");
            let e = expect!(ev, ForgeEvent::Issue, name);
            check_repo(&e.repo, gl, v, name);
            assert_eq!(Some(e.actor.login.as_str()), user, "{name}");
            assert_eq!(e.actor.id, u64_at(v, "/user/id"), "{name}");
            assert_eq!(e.number, gitlab_iid(v, "/object_attributes"), "{name}");
            assert_eq!(
                Some(e.title.as_str()),
                str_at(v, "/object_attributes/title")
            );
            assert_eq!(e.labels, names_at(v, "/labels", "title"), "{name}");
            let want = match a {
                "open" => IssueAction::Opened,
                "close" => IssueAction::Closed,
                _ => IssueAction::Reopened,
            };
            assert_eq!(e.action, want, "{name}");
        }
        ("Note Hook", Some("note"), _) => {
            assert_eq!(events.len(), 1, "{name}");
            let e = match ev {
                ForgeEvent::Comment(e) | ForgeEvent::ReviewComment(e) => e,
                other => panic!("{name}: expected a comment, got {other:?}"),
            };
            let diff_note = !v["object_attributes"]["position"].is_null();
            assert_eq!(
                matches!(ev, ForgeEvent::ReviewComment(_)),
                diff_note,
                "{name}"
            );
            check_repo(&e.repo, gl, v, name);
            assert_eq!(Some(e.actor.login.as_str()), user, "{name}");
            assert_eq!(
                Some(e.comment_id),
                u64_at(v, "/object_attributes/id"),
                "{name}"
            );
            assert_eq!(Some(e.body.as_str()), str_at(v, "/object_attributes/note"));
            assert_eq!(
                e.action,
                comment_action(action.unwrap_or("create")),
                "{name}"
            );
            let want = match str_at(v, "/object_attributes/noteable_type") {
                Some("Issue") => CommentTarget::Issue {
                    number: gitlab_iid(v, "/issue"),
                },
                Some("MergeRequest") => CommentTarget::PullRequest {
                    number: gitlab_iid(v, "/merge_request"),
                },
                Some(other) => CommentTarget::Other {
                    kind: other.to_ascii_lowercase(),
                },
                None => panic!("{name}: no noteable_type"),
            };
            assert_eq!(e.target, want, "{name}");
        }
        ("Merge Request Hook", Some("merge_request"), Some(a)) => {
            assert_eq!(events.len(), 1, "{name}");
            let oldrev = !v["object_attributes"]["oldrev"].is_null();
            let want = match a {
                "open" => PullRequestAction::Opened,
                "reopen" => PullRequestAction::Reopened,
                "close" => PullRequestAction::Closed,
                "merge" => PullRequestAction::Merged,
                "update" if oldrev => PullRequestAction::Synchronize,
                _ => return check_ignored(ev, gl, event, action, v, name),
            };
            let e = expect!(ev, ForgeEvent::PullRequest, name);
            check_repo(&e.repo, gl, v, name);
            assert_eq!(Some(e.actor.login.as_str()), user, "{name}");
            assert_eq!(e.number, gitlab_iid(v, "/object_attributes"), "{name}");
            assert_eq!(e.action, want, "{name}");
            assert_eq!(e.merged, want == PullRequestAction::Merged, "{name}");
            let sha = str_at(v, "/object_attributes/last_commit/id");
            assert_eq!(e.head_sha.as_deref(), sha, "{name}");
        }
        ("Pipeline Hook", Some("pipeline"), _) => {
            let e = expect!(ev, ForgeEvent::Ci, name);
            check_repo(&e.repo, gl, v, name);
            assert_eq!(e.kind, CiKind::Pipeline);
            assert_eq!(e.actor.as_ref().map(|a| a.login.as_str()), user, "{name}");
            let attrs = &v["object_attributes"];
            let name_or_ref = attrs["name"].as_str().or(attrs["ref"].as_str());
            assert_eq!(Some(e.name.as_str()), name_or_ref, "{name}");
            assert_eq!(Some(e.sha.as_str()), attrs["sha"].as_str(), "{name}");
            let status = gitlab_pipeline_status(attrs["status"].as_str().unwrap());
            assert_eq!(e.status, status, "{name}");
            let mr: Vec<u64> = u64_at(v, "/merge_request/iid").into_iter().collect();
            assert_eq!(e.pull_requests, mr, "{name}");
        }
        ("Push Hook", Some("push"), _) => {
            let e = expect!(ev, ForgeEvent::Push, name);
            check_repo(&e.repo, gl, v, name);
            assert_eq!(Some(e.actor.login.as_str()), str_at(v, "/user_username"));
            assert_eq!(Some(e.git_ref.as_str()), str_at(v, "/ref"), "{name}");
            assert_eq!(Some(e.after.as_str()), str_at(v, "/after"), "{name}");
            let count = u64_at(v, "/total_commits_count").map(|n| n as usize);
            assert_eq!(Some(e.commit_count), count, "{name}");
        }
        _ => {
            assert_eq!(events.len(), 1, "{name}");
            check_ignored(ev, gl, event, action, v, name);
        }
    }
}

#[test]
fn every_fixture_parses_to_the_event_its_json_describes() {
    let Some(dir) = common::fixtures_dir() else {
        return;
    };
    let fixtures = common::load_all(&dir);
    let count = |forge| fixtures.iter().filter(|f| f.forge == forge).count();
    assert!(
        count(ForgeKind::GitHub) >= 40,
        "too few GitHub fixtures in {}",
        dir.display()
    );
    assert!(
        count(ForgeKind::GitLab) >= 20,
        "too few GitLab fixtures in {}",
        dir.display()
    );
    for f in &fixtures {
        let v: Value = serde_json::from_slice(&f.body).expect("fixture is JSON");
        let events = parse(f.forge, &f.event, &f.body)
            .unwrap_or_else(|e| panic!("{} ({}): {e}", f.name, f.event));
        assert!(!events.is_empty(), "{}: no events", f.name);
        match f.forge {
            ForgeKind::GitHub => check_github(&f.event, &v, &events, &f.name),
            ForgeKind::GitLab => check_gitlab(&f.event, &v, &events, &f.name),
        }
        // Ingest routes on `route`, the worker on the parsed event: they must agree on
        // the repository or deliveries would drain in the wrong queue.
        let route = webhooks::route(f.forge, &f.event, &f.body).expect("route");
        let parsed = events[0].repo().map(|r| r.path.as_str());
        assert_eq!(route.repo_path.as_deref(), parsed, "{}", f.name);
        // Ingest settles a comment by the text `route` picks out, without the parse:
        // that text must be the whole of what the delivery is.
        if let Some(text) = &route.comment {
            match &events[..] {
                [ForgeEvent::Comment(c)] => assert_eq!(&c.body, text, "{}", f.name),
                [ForgeEvent::Ignored(_)] => {}
                other => panic!("{}: a comment's text was picked out of {other:?}", f.name),
            }
        }
    }
}

#[test]
fn garbage_and_truncated_bodies_are_errors() {
    let events = [
        (ForgeKind::GitHub, "issues"),
        (ForgeKind::GitHub, "push"),
        (ForgeKind::GitHub, "no_such_event"),
        (ForgeKind::GitLab, "Issue Hook"),
        (ForgeKind::GitLab, "Pipeline Hook"),
        (ForgeKind::GitLab, "System Hook"),
    ];
    let garbage: [&[u8]; 7] = [
        b"",
        b"not json",
        b"{",
        b"[1,2]",
        b"\"str\"",
        b"{}{}",
        b"\xff\xfe",
    ];
    for (forge, event) in events {
        for body in garbage {
            assert!(parse(forge, event, body).is_err(), "{event}: {body:?}");
        }
    }
    let Some(dir) = common::fixtures_dir() else {
        return;
    };
    for f in common::load_all(&dir) {
        let end = f.body.trim_ascii_end().len();
        for cut in [1, end / 3, end / 2, end - 1] {
            let r = parse(f.forge, &f.event, &f.body[..cut]);
            assert!(r.is_err(), "{} cut at {cut}: {r:?}", f.name);
        }
    }
}
