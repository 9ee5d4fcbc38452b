//! Every GitLab REST field the bot reads, in one table with the documented GitLab
//! response it comes from, checked against the simulator's answers. When the bot starts
//! reading a new field, it goes in this table; the simulator then has to serve it the
//! way GitLab documents it.

use forge_sim::{ForgeSim, SimOptions};
use serde_json::Value;

const PROJECT: &str = "town/tools/hello";

/// JSON types as GitLab documents them; `Nullable` accepts null too.
#[derive(Debug, Clone, Copy)]
enum Ty {
    Num,
    Str,
    Bool,
    Arr,
    Nullable(&'static Ty),
}

const STR: Ty = Ty::Str;

/// (what the bot calls, GET path relative to the project, field path — `[]` for "each
/// element" — type, the GitLab API documentation it comes from)
const FIELDS: &[(&str, &str, &str, Ty, &str)] = &[
    (
        "issue",
        "/issues/1",
        "iid",
        Ty::Num,
        "api/issues.md#single-project-issue",
    ),
    (
        "issue",
        "/issues/1",
        "title",
        Ty::Str,
        "api/issues.md#single-project-issue",
    ),
    (
        "issue",
        "/issues/1",
        "description",
        Ty::Nullable(&STR),
        "api/issues.md#single-project-issue",
    ),
    (
        "issue",
        "/issues/1",
        "state",
        Ty::Str,
        "api/issues.md#single-project-issue",
    ),
    (
        "issue",
        "/issues/1",
        "labels",
        Ty::Arr,
        "api/issues.md#single-project-issue",
    ),
    (
        "issue",
        "/issues/1",
        "author.username",
        Ty::Str,
        "api/issues.md#single-project-issue",
    ),
    (
        "issue",
        "/issues/1",
        "web_url",
        Ty::Str,
        "api/issues.md#single-project-issue",
    ),
    (
        "comments",
        "/issues/1/notes",
        "[].id",
        Ty::Num,
        "api/notes.md#list-project-issue-notes",
    ),
    (
        "comments",
        "/issues/1/notes",
        "[].body",
        Ty::Str,
        "api/notes.md#list-project-issue-notes",
    ),
    (
        "comments",
        "/issues/1/notes",
        "[].author.username",
        Ty::Str,
        "api/notes.md#list-project-issue-notes",
    ),
    (
        "comments",
        "/issues/1/notes",
        "[].created_at",
        Ty::Str,
        "api/notes.md#list-project-issue-notes",
    ),
    (
        "comments",
        "/issues/1/notes",
        "[].system",
        Ty::Bool,
        "api/notes.md#list-project-issue-notes",
    ),
    (
        "comments",
        "/issues/1/notes",
        "[].type",
        Ty::Nullable(&STR),
        "api/notes.md#list-project-issue-notes",
    ),
    (
        "label_added_by",
        "/issues/1/resource_label_events",
        "[].action",
        Ty::Str,
        "api/resource_label_events.md#list-project-issue-label-events",
    ),
    (
        "label_added_by",
        "/issues/1/resource_label_events",
        "[].user.username",
        Ty::Str,
        "api/resource_label_events.md#list-project-issue-label-events",
    ),
    (
        "label_added_by",
        "/issues/1/resource_label_events",
        "[].label.name",
        Ty::Str,
        "api/resource_label_events.md#list-project-issue-label-events",
    ),
    (
        "pull_request",
        "/merge_requests/1",
        "iid",
        Ty::Num,
        "api/merge_requests.md#get-single-mr",
    ),
    (
        "pull_request",
        "/merge_requests/1",
        "title",
        Ty::Str,
        "api/merge_requests.md#get-single-mr",
    ),
    (
        "pull_request",
        "/merge_requests/1",
        "description",
        Ty::Nullable(&STR),
        "api/merge_requests.md#get-single-mr",
    ),
    (
        "pull_request",
        "/merge_requests/1",
        "state",
        Ty::Str,
        "api/merge_requests.md#get-single-mr",
    ),
    (
        "pull_request",
        "/merge_requests/1",
        "source_branch",
        Ty::Str,
        "api/merge_requests.md#get-single-mr",
    ),
    (
        "pull_request",
        "/merge_requests/1",
        "target_branch",
        Ty::Str,
        "api/merge_requests.md#get-single-mr",
    ),
    (
        "pull_request",
        "/merge_requests/1",
        "sha",
        Ty::Nullable(&STR),
        "api/merge_requests.md#get-single-mr",
    ),
    (
        "pull_request",
        "/merge_requests/1",
        "author.username",
        Ty::Str,
        "api/merge_requests.md#get-single-mr",
    ),
    (
        "pull_request",
        "/merge_requests/1",
        "web_url",
        Ty::Str,
        "api/merge_requests.md#get-single-mr",
    ),
    (
        "merge",
        "/merge_requests/1",
        "merge_commit_sha",
        Ty::Nullable(&STR),
        "api/merge_requests.md#get-single-mr",
    ),
    (
        "merge",
        "/merge_requests/1",
        "squash_commit_sha",
        Ty::Nullable(&STR),
        "api/merge_requests.md#get-single-mr",
    ),
    (
        "reviews",
        "/merge_requests/1/approvals",
        "approved_by",
        Ty::Arr,
        "api/merge_request_approvals.md#for-a-merge-request",
    ),
    (
        "reviews",
        "/merge_requests/1/approvals",
        "approved_by[].user.username",
        Ty::Str,
        "api/merge_request_approvals.md#for-a-merge-request",
    ),
    (
        "reviews",
        "/merge_requests/1/reviewers",
        "",
        Ty::Arr,
        "api/merge_requests.md#get-single-merge-request-reviewers",
    ),
    (
        "checks",
        "/repository/commits/{sha}/statuses",
        "[].id",
        Ty::Num,
        "api/commits.md#list-the-statuses-of-a-commit",
    ),
    (
        "checks",
        "/repository/commits/{sha}/statuses",
        "[].name",
        Ty::Str,
        "api/commits.md#list-the-statuses-of-a-commit",
    ),
    (
        "checks",
        "/repository/commits/{sha}/statuses",
        "[].status",
        Ty::Str,
        "api/commits.md#list-the-statuses-of-a-commit",
    ),
    (
        "checks",
        "/repository/commits/{sha}/statuses",
        "[].target_url",
        Ty::Nullable(&STR),
        "api/commits.md#list-the-statuses-of-a-commit",
    ),
    (
        "checks",
        "/pipelines?ref=main",
        "[].status",
        Ty::Str,
        "api/pipelines.md#list-project-pipelines",
    ),
    (
        "checks",
        "/pipelines?ref=main",
        "[].web_url",
        Ty::Nullable(&STR),
        "api/pipelines.md#list-project-pipelines",
    ),
    (
        "permission",
        "/members/all/{devi}",
        "access_level",
        Ty::Num,
        "api/members.md#get-a-member-of-a-group-or-project-including-inherited-and-invited-members",
    ),
    (
        "required_checks",
        "",
        "only_allow_merge_if_pipeline_succeeds",
        Ty::Bool,
        "api/projects.md#get-a-single-project",
    ),
];

/// `/users?username=` is not under the project.
const USER_FIELDS: &[(&str, Ty)] = &[("[].id", Ty::Num), ("[].username", Ty::Str)];

fn check(ty: Ty, v: &Value) -> bool {
    match ty {
        Ty::Num => v.is_u64() || v.is_i64(),
        Ty::Str => v.is_string(),
        Ty::Bool => v.is_boolean(),
        Ty::Arr => v.is_array(),
        Ty::Nullable(inner) => v.is_null() || check(*inner, v),
    }
}

/// The values at `path` (`a.b`, `[].a`, `a[].b`); empty when a key is missing.
fn at<'v>(v: &'v Value, path: &str) -> Vec<&'v Value> {
    if path.is_empty() {
        return vec![v];
    }
    let (head, rest) = match path.find(['.', '[']) {
        Some(0) if path.starts_with("[]") => {
            let rest = path[2..].trim_start_matches('.');
            return v
                .as_array()
                .map(|a| a.iter().flat_map(|e| at(e, rest)).collect())
                .unwrap_or_default();
        }
        Some(i) => (&path[..i], path[i..].trim_start_matches('.')),
        None => (path, ""),
    };
    match v.get(head) {
        Some(child) => at(child, rest),
        None => Vec::new(),
    }
}

#[tokio::test]
async fn every_gitlab_field_the_bot_reads_is_served_as_documented() {
    let sim = ForgeSim::start(SimOptions::default()).await.unwrap();
    sim.create_gitlab_project(PROJECT, "main").await.unwrap();
    let bot = sim.add_user("gastown-bot").await.unwrap();
    sim.add_member(PROJECT, "gastown-bot", 40).unwrap();
    let devi = sim.add_user("devi").await.unwrap();
    sim.add_member(PROJECT, "devi", 30).unwrap();
    // One of everything the table reads: an issue with a label and a note, a merge
    // request with an approval, a status and a pipeline.
    let iid = sim
        .gl_open_issue("devi", PROJECT, "Fix the flux", "broken")
        .await
        .unwrap();
    sim.gl_add_label("devi", PROJECT, iid, "gt:sling")
        .await
        .unwrap();
    sim.gl_comment("devi", PROJECT, iid, false, "me too")
        .await
        .unwrap();
    sim.commit_file("devi", PROJECT, "feature", "a.txt", "a\n", "add a")
        .await
        .unwrap();
    let mr = sim
        .gl_open_mr("devi", PROJECT, "feature", "main", "Add a", "")
        .await
        .unwrap();
    sim.gl_approve("gastown-bot", PROJECT, mr)
        .await
        .expect("approve");
    let sha = sim.branch_sha(PROJECT, "main").await.unwrap().unwrap();
    sim.gl_set_status("devi", PROJECT, &sha, "success", "lint")
        .await
        .unwrap();
    let pipeline = sim.run_pipeline("devi", PROJECT, "main").await.unwrap();
    sim.finish_pipeline(PROJECT, pipeline, "success")
        .await
        .unwrap();

    let client = reqwest::Client::new();
    let base = format!(
        "{}/projects/{}",
        sim.gitlab_api_url(),
        PROJECT.replace('/', "%2F")
    );
    let get = |url: String| {
        let client = client.clone();
        let token = bot.token.clone();
        async move {
            let res = client
                .get(&url)
                .header("PRIVATE-TOKEN", token)
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success(), "GET {url}: {}", res.status());
            res.json::<Value>().await.unwrap()
        }
    };
    let mut problems = Vec::new();
    for (call, path, field, ty, doc) in FIELDS {
        let path = path
            .replace("{sha}", &sha)
            .replace("{devi}", &devi.id.to_string());
        let body = get(format!("{base}{path}")).await;
        let values = at(&body, field);
        if values.is_empty() {
            problems.push(format!(
                "{call}: GET {path} has no `{field}` (GitLab docs {doc})"
            ));
        }
        for v in values {
            if !check(*ty, v) {
                problems.push(format!(
                    "{call}: GET {path} `{field}` is {v}, documented as {ty:?} ({doc})"
                ));
            }
        }
    }
    let users = get(format!("{}/users?username=devi", sim.gitlab_api_url())).await;
    for (field, ty) in USER_FIELDS {
        let values = at(&users, field);
        if values.is_empty() || !values.iter().all(|v| check(*ty, v)) {
            problems.push(format!(
                "permission: GET /users `{field}` (GitLab docs api/users.md#list-users)"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
