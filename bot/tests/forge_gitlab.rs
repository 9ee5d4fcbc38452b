//! `GitlabForge` against a small axum fake serving GitLab's REST v4 shapes: one issue,
//! notes over three pages (`x-next-page` and `Link` headers, system notes skipped),
//! every access level, adding a label that has to be created first, rate limits.

mod forge_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bot::forge::gitlab::{GitlabForge, permission_from_access_level};
use bot::forge::resilience::Secret;
use bot::forge::*;
use forge_support::{Log, NOW_SECS, policy, serve};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Fake {
    log: Log,
    hits: Arc<AtomicUsize>,
}

const PROJECT: &str = "group/sub/app";

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"message": "404 Not found"})),
    )
        .into_response()
}

fn issue_json(iid: u64) -> Value {
    json!({
        "id": 5000 + iid, "iid": iid, "project_id": 42, "title": format!("Issue {iid}"),
        "description": "Do the thing", "state": "opened", "labels": ["gt:sling"],
        "author": {"id": 1, "username": "alice", "name": "Alice"},
        "web_url": format!("https://gitlab.example.com/{PROJECT}/-/issues/{iid}"),
        "created_at": "2026-01-01T00:00:00.000Z",
    })
}

async fn issue(State(f): State<Fake>, Path((id, iid)): Path<(String, u64)>) -> Response {
    if id != PROJECT {
        return not_found();
    }
    if iid == 2 && f.hits.fetch_add(1, Ordering::SeqCst) == 0 {
        let mut h = HeaderMap::new();
        h.insert("RateLimit-Remaining", "0".parse().unwrap());
        h.insert(
            "RateLimit-Reset",
            (NOW_SECS + 9).to_string().parse().unwrap(),
        );
        return (
            StatusCode::TOO_MANY_REQUESTS,
            h,
            Json(json!({"message": "Retry later"})),
        )
            .into_response();
    }
    Json(issue_json(iid)).into_response()
}

async fn edit_issue(
    State(f): State<Fake>,
    Path((_id, iid)): Path<(String, u64)>,
    body: String,
) -> Response {
    f.log.push(format!("PUT issue {iid}"), Value::String(body));
    Json(issue_json(iid)).into_response()
}

/// 250 user notes with a system note after every 50th: 255 in all.
fn all_notes() -> Vec<Value> {
    let mut out = vec![];
    for i in 1..=250u64 {
        out.push(
            json!({"id": i, "body": format!("note {i}"), "system": false, "type": null,
                        "author": {"id": 2, "username": "bob"},
                        "created_at": "2026-01-02T03:04:05.000Z", "noteable_iid": 1}),
        );
        if i % 50 == 0 {
            out.push(
                json!({"id": 10_000 + i, "body": "added ~1 label", "system": true,
                            "author": {"id": 2, "username": "bob"},
                            "created_at": "2026-01-02T03:04:05.000Z", "noteable_iid": 1}),
            );
        }
    }
    out
}

async fn notes(
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    assert_eq!(q.get("sort").map(String::as_str), Some("asc"));
    let all = all_notes();
    let per_page: usize = q.get("per_page").and_then(|v| v.parse().ok()).unwrap_or(20);
    let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1);
    let total_pages = all.len().div_ceil(per_page);
    let items: Vec<Value> = all
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let host = headers.get("host").unwrap().to_str().unwrap();
    let link = |p: usize, rel: &str| {
        format!(
            "<http://{host}{}?page={p}&per_page={per_page}&sort=asc>; rel=\"{rel}\"",
            uri.path()
        )
    };
    let mut h = HeaderMap::new();
    h.insert("x-page", page.to_string().parse().unwrap());
    h.insert("x-per-page", per_page.to_string().parse().unwrap());
    h.insert("x-total", "255".parse().unwrap());
    h.insert("x-total-pages", total_pages.to_string().parse().unwrap());
    let next = if page < total_pages {
        (page + 1).to_string()
    } else {
        String::new()
    };
    h.insert("x-next-page", next.parse().unwrap());
    let mut rels = vec![link(1, "first"), link(total_pages, "last")];
    if page < total_pages {
        rels.insert(0, link(page + 1, "next"));
    }
    h.insert("link", rels.join(", ").parse().unwrap());
    (h, Json(items)).into_response()
}

const LEVELS: [(&str, u64, u64); 8] = [
    ("minnie", 11, 5),
    ("gus", 12, 10),
    ("pla", 13, 15),
    ("rep", 14, 20),
    ("dev", 15, 30),
    ("mai", 16, 40),
    ("own", 17, 50),
    ("outsider", 99, 0),
];

async fn users(Query(q): Query<HashMap<String, String>>) -> Response {
    let name = q.get("username").cloned().unwrap_or_default();
    let found: Vec<Value> = LEVELS
        .iter()
        .filter(|(u, _, _)| *u == name)
        .map(|(u, id, _)| json!({"id": id, "username": u, "name": u, "state": "active"}))
        .collect();
    Json(found).into_response()
}

async fn member(Path((_id, uid)): Path<(String, u64)>) -> Response {
    match LEVELS
        .iter()
        .find(|(_, id, level)| *id == uid && *level > 0)
    {
        Some((u, id, level)) => {
            Json(json!({"id": id, "username": u, "access_level": level})).into_response()
        }
        None => not_found(),
    }
}

async fn label(Path((_id, name)): Path<(String, String)>) -> Response {
    if name == "gt:sling" {
        Json(json!({"id": 1, "name": name, "color": "#ededed"})).into_response()
    } else {
        not_found()
    }
}

async fn create_label(State(f): State<Fake>, Path(_id): Path<String>, body: String) -> Response {
    f.log.push("POST labels", Value::String(body));
    (
        StatusCode::CREATED,
        Json(json!({"id": 2, "name": "gt:new", "color": "#1d76db"})),
    )
        .into_response()
}

fn router(f: Fake) -> Router {
    Router::new()
        .route(
            "/api/v4/projects/{id}/issues/{iid}",
            get(issue).put(edit_issue),
        )
        .route("/api/v4/projects/{id}/issues/{iid}/notes", get(notes))
        .route("/api/v4/users", get(users))
        .route(
            "/api/v4/projects/{id}/issues/{iid}/resource_label_events",
            get(|| async {
                Json(json!([
                    {"id": 1, "action": "add", "user": {"id": 1, "username": "alice"}, "label": {"id": 1, "name": "gt:sling"}},
                    {"id": 2, "action": "remove", "user": {"id": 1, "username": "alice"}, "label": {"id": 1, "name": "gt:sling"}},
                    {"id": 3, "action": "add", "user": {"id": 2, "username": "bob"}, "label": {"id": 1, "name": "gt:sling"}},
                    {"id": 4, "action": "add", "user": {"id": 3, "username": "carol"}, "label": {"id": 2, "name": "bug"}},
                ]))
            }),
        )
        .route("/api/v4/projects/{id}/members/all/{uid}", get(member))
        .route("/api/v4/projects/{id}/labels/{name}", get(label))
        .route(
            "/api/v4/projects/{id}/labels",
            axum::routing::post(create_label),
        )
        .with_state(f)
}

async fn forge() -> (GitlabForge, Fake, Arc<forge_support::RecordingSleeper>) {
    let fake = Fake::default();
    let base = serve(router(fake.clone())).await;
    let (p, sleeper) = policy(5, Duration::from_secs(600));
    let gl = GitlabForge::new(&base, "gitlab.example.com", Secret::new("glpat-test"), p).unwrap();
    (gl, fake, sleeper)
}

fn repo() -> RepoPath {
    RepoPath::new(PROJECT)
}

#[tokio::test]
async fn gets_an_issue_by_project_path_and_iid() {
    let (gl, _, _) = forge().await;
    let i = gl.issue(&repo(), 7).await.unwrap();
    assert_eq!(i.number, 7);
    assert_eq!(i.title, "Issue 7");
    assert_eq!(i.labels, vec!["gt:sling".to_string()]);
    assert_eq!(i.author, "alice");
    assert_eq!(i.state, bot::forge::State::Open);
    let missing = gl.issue(&RepoPath::new("other/project"), 1).await;
    assert!(
        matches!(missing, Err(ForgeError::NotFound { call: "issue", .. })),
        "{missing:?}"
    );
}

#[tokio::test]
async fn pages_through_notes_and_skips_system_notes() {
    let (gl, _, _) = forge().await;
    let all = gl.comments(&repo(), 1, false).await.unwrap();
    assert_eq!(all.len(), 250);
    assert_eq!(all[0].body, "note 1");
    assert_eq!(
        all[249].at,
        CommentRef {
            number: 1,
            on_pull_request: false,
            id: 250,
            on_diff: false,
        }
    );
    assert!(all.iter().all(|c| !c.body.starts_with("added")));
    assert_eq!(
        all[0].url,
        "https://gitlab.example.com/group/sub/app/-/issues/1#note_1"
    );
}

#[tokio::test]
async fn maps_every_access_level() {
    let (gl, _, _) = forge().await;
    for (user, want) in [
        ("minnie", Permission::None),
        ("gus", Permission::Read),
        ("pla", Permission::Read),
        ("rep", Permission::Triage),
        ("dev", Permission::Write),
        ("mai", Permission::Maintain),
        ("own", Permission::Admin),
        ("outsider", Permission::None),
        ("no-such-user", Permission::None),
    ] {
        assert_eq!(gl.permission(&repo(), user).await.unwrap(), want, "{user}");
    }
    assert_eq!(permission_from_access_level(60), Permission::Admin);
    assert_eq!(permission_from_access_level(0), Permission::None);
}

#[tokio::test]
async fn adding_a_missing_label_creates_it_with_its_colour() {
    let (gl, fake, _) = forge().await;
    let specs = [
        LabelSpec {
            name: "gt:sling".into(),
            color: "ededed".into(),
            description: None,
        },
        LabelSpec {
            name: "gt:new".into(),
            color: "1d76db".into(),
            description: Some("made by the bot".into()),
        },
    ];
    gl.add_labels(&repo(), 3, &specs).await.unwrap();
    let log = fake.log.entries();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0].0, "POST labels");
    let created: HashMap<String, String> =
        form_urlencoded::parse(log[0].1.as_str().unwrap().as_bytes())
            .into_owned()
            .collect();
    assert_eq!(created["name"], "gt:new");
    assert_eq!(created["color"], "#1d76db");
    assert_eq!(created["description"], "made by the bot");
    assert_eq!(log[1].0, "PUT issue 3");
    let edit: HashMap<String, String> =
        form_urlencoded::parse(log[1].1.as_str().unwrap().as_bytes())
            .into_owned()
            .collect();
    assert_eq!(edit["add_labels"], "gt:sling,gt:new");
}

#[tokio::test]
async fn waits_out_gitlab_rate_limits() {
    let (gl, fake, sleeper) = forge().await;
    assert_eq!(gl.issue(&repo(), 2).await.unwrap().number, 2);
    assert_eq!(fake.hits.load(Ordering::SeqCst), 2);
    assert_eq!(sleeper.sleeps(), vec![Duration::from_secs(10)]);
}

#[test]
fn debug_output_hides_the_token() {
    let (p, _) = policy(1, Duration::from_secs(1));
    let gl = GitlabForge::new(
        "http://127.0.0.1:1",
        "gitlab.example.com",
        Secret::new("glpat-sekrit"),
        p,
    )
    .unwrap();
    assert!(!format!("{gl:?}").contains("sekrit"));
}

#[tokio::test]
async fn an_outage_fails_as_unavailable_naming_call_and_repo() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = Router::new().route(
        "/api/v4/projects/{id}/merge_requests/{iid}",
        get(move || {
            h.fetch_add(1, Ordering::SeqCst);
            async { (StatusCode::BAD_GATEWAY, "<html>bad gateway</html>") }
        }),
    );
    let base = serve(app).await;
    let (p, sleeper) = policy(3, Duration::from_secs(60));
    let gl = GitlabForge::new(&base, "gitlab.example.com", Secret::new("t"), p).unwrap();
    match gl.pull_request(&repo(), 4).await {
        Err(
            e @ ForgeError::Unavailable {
                call: "pull_request",
                attempts: 3,
                ..
            },
        ) => {
            assert!(e.to_string().contains(PROJECT), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert_eq!(sleeper.sleeps().len(), 2);
}

#[tokio::test]
async fn finds_who_added_a_label_from_label_events() {
    let (gl, _, _) = forge().await;
    let who = gl.label_added_by(&repo(), 1, "gt:sling").await.unwrap();
    assert_eq!(who.as_deref(), Some("bob"));
    assert_eq!(gl.label_added_by(&repo(), 1, "nope").await.unwrap(), None);
}
