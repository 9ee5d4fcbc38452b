//! `check_run`, `check_suite` and `status`: three generations of GitHub CI reporting,
//! all folded into [`CiEvent`].

use serde::Deserialize;

use super::{Repository, User};
use crate::ParseError;
use crate::de::Delivery;
use crate::event::{CiEvent, CiKind, CiStatus, ForgeEvent};

#[derive(Deserialize)]
struct PullRef {
    number: Option<u64>,
}

/// PR numbers from every `pull_requests` array in the payload, first-seen order. GitHub
/// only fills them for PRs whose head is in the same repository, so they may be empty.
fn pr_numbers<'a>(lists: impl IntoIterator<Item = Option<&'a Vec<PullRef>>>) -> Vec<u64> {
    let mut out = Vec::new();
    for n in lists
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|p| p.number)
    {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// A check's state: the conclusion once there is one, else the progress status.
/// Unknown conclusions are `Neutral` (finished, not a failure); unknown statuses are
/// `Pending` because GitHub has not said the check is done.
fn check_status(status: Option<&str>, conclusion: Option<&str>) -> CiStatus {
    match conclusion {
        Some("success") => CiStatus::Success,
        Some("failure" | "timed_out" | "action_required" | "startup_failure") => CiStatus::Failure,
        Some("cancelled") => CiStatus::Cancelled,
        Some("skipped") => CiStatus::Skipped,
        Some(_) => CiStatus::Neutral,
        None => match status {
            Some("in_progress") => CiStatus::Running,
            Some("completed") => CiStatus::Neutral,
            _ => CiStatus::Pending,
        },
    }
}

#[derive(Deserialize)]
struct CheckRunPayload {
    check_run: CheckRun,
    repository: Repository,
    sender: Option<User>,
}

#[derive(Deserialize)]
struct CheckRun {
    name: Option<String>,
    head_sha: String,
    status: Option<String>,
    conclusion: Option<String>,
    html_url: Option<String>,
    pull_requests: Option<Vec<PullRef>>,
    check_suite: Option<SuiteRef>,
}

#[derive(Deserialize)]
struct SuiteRef {
    head_branch: Option<String>,
    pull_requests: Option<Vec<PullRef>>,
}

pub(super) fn check_run(d: &Delivery, action: &str) -> Result<Option<ForgeEvent>, ParseError> {
    // `requested_action` is a button press in the check's UI, not a result.
    if !matches!(action, "completed" | "created" | "rerequested") {
        return Ok(None);
    }
    let p: CheckRunPayload = d.read()?;
    let run = p.check_run;
    let suite = run.check_suite.as_ref();
    Ok(Some(ForgeEvent::Ci(CiEvent {
        repo: p.repository.into_ref(d.host),
        actor: p.sender.map(Into::into),
        kind: CiKind::CheckRun,
        name: run.name.clone().unwrap_or_default(),
        status: check_status(run.status.as_deref(), run.conclusion.as_deref()),
        pull_requests: pr_numbers([
            run.pull_requests.as_ref(),
            suite.and_then(|s| s.pull_requests.as_ref()),
        ]),
        branch: suite.and_then(|s| s.head_branch.clone()),
        sha: run.head_sha,
        url: run.html_url,
    })))
}

#[derive(Deserialize)]
struct CheckSuitePayload {
    check_suite: CheckSuite,
    repository: Repository,
    sender: Option<User>,
}

#[derive(Deserialize)]
struct CheckSuite {
    head_sha: String,
    head_branch: Option<String>,
    status: Option<String>,
    conclusion: Option<String>,
    pull_requests: Option<Vec<PullRef>>,
    app: Option<App>,
}

#[derive(Deserialize)]
struct App {
    name: Option<String>,
    slug: Option<String>,
}

pub(super) fn check_suite(d: &Delivery, action: &str) -> Result<Option<ForgeEvent>, ParseError> {
    if !matches!(action, "completed" | "requested" | "rerequested") {
        return Ok(None);
    }
    let p: CheckSuitePayload = d.read()?;
    let suite = p.check_suite;
    // A suite has no name of its own; it is the app's set of runs for one commit.
    let name = suite
        .app
        .and_then(|a| a.name.or(a.slug))
        .unwrap_or_else(|| "check_suite".to_owned());
    Ok(Some(ForgeEvent::Ci(CiEvent {
        repo: p.repository.into_ref(d.host),
        actor: p.sender.map(Into::into),
        kind: CiKind::CheckSuite,
        name,
        status: check_status(suite.status.as_deref(), suite.conclusion.as_deref()),
        pull_requests: pr_numbers([suite.pull_requests.as_ref()]),
        branch: suite.head_branch,
        sha: suite.head_sha,
        url: None,
    })))
}

#[derive(Deserialize)]
struct StatusPayload {
    sha: String,
    state: Option<String>,
    context: Option<String>,
    target_url: Option<String>,
    branches: Option<Vec<BranchName>>,
    repository: Repository,
    sender: Option<User>,
}

#[derive(Deserialize)]
struct BranchName {
    name: Option<String>,
}

pub(super) fn status(d: &Delivery) -> Result<ForgeEvent, ParseError> {
    let p: StatusPayload = d.read()?;
    let status = match p.state.as_deref() {
        Some("pending") => CiStatus::Pending,
        Some("success") => CiStatus::Success,
        Some("failure" | "error") => CiStatus::Failure,
        _ => CiStatus::Neutral,
    };
    Ok(ForgeEvent::Ci(CiEvent {
        repo: p.repository.into_ref(d.host),
        actor: p.sender.map(Into::into),
        kind: CiKind::Status,
        name: p.context.unwrap_or_else(|| "default".to_owned()),
        sha: p.sha,
        // The branches whose head is this commit; the first is as good a guess as any.
        branch: p.branches.into_iter().flatten().find_map(|b| b.name),
        status,
        pull_requests: Vec::new(),
        url: p.target_url,
    }))
}
