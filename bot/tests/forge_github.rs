//! `GithubForge` against a small axum fake serving GitHub's REST shapes: one issue,
//! comments over three pages with real `Link` headers, every permission level, adding
//! a label that has to be created first, rate limits seen through octocrab, merges.

mod forge_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use bot::forge::github::{GithubAuth, GithubForge};
use bot::forge::resilience::Secret;
use bot::forge::*;
use forge_support::{Log, NOW_SECS, policy, serve};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Fake {
    log: Log,
    hits: Arc<AtomicUsize>,
}

fn issue_json(n: u64) -> Value {
    json!({
        "id": 1000 + n, "number": n, "title": format!("Issue {n}"), "body": "Do the thing",
        "state": "open", "labels": [{"id": 1, "name": "gt:sling", "color": "ededed"}],
        "user": {"login": "alice", "id": 1}, "html_url": format!("https://github.com/octo/hello/issues/{n}"),
        "comments": 250, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
    })
}

async fn issue(State(f): State<Fake>, Path((_o, _r, n)): Path<(String, String, u64)>) -> Response {
    if n == 2 && f.hits.fetch_add(1, Ordering::SeqCst) == 0 {
        // First hit on #2: the primary rate limit is spent.
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        h.insert(
            "x-ratelimit-reset",
            (NOW_SECS + 42).to_string().parse().unwrap(),
        );
        let body = json!({"message": "API rate limit exceeded for installation ID 1."});
        return (StatusCode::FORBIDDEN, h, Json(body)).into_response();
    }
    if n == 404 {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response();
    }
    Json(issue_json(n)).into_response()
}

const TOTAL_COMMENTS: u64 = 250;

async fn comments(
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let per_page: u64 = q.get("per_page").and_then(|v| v.parse().ok()).unwrap_or(30);
    let page: u64 = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1);
    let last = TOTAL_COMMENTS.div_ceil(per_page);
    let start = (page - 1) * per_page;
    let items: Vec<Value> = (start..(start + per_page).min(TOTAL_COMMENTS))
        .map(|i| {
            json!({"id": i + 1, "body": format!("comment {}", i + 1),
                   "user": {"login": "bob", "id": 2},
                   "html_url": format!("https://github.com/octo/hello/issues/1#issuecomment-{}", i + 1),
                   "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z"})
        })
        .collect();
    let host = headers.get("host").unwrap().to_str().unwrap();
    let link = |p: u64, rel: &str| {
        format!(
            "<http://{host}{}?per_page={per_page}&page={p}>; rel=\"{rel}\"",
            uri.path()
        )
    };
    let mut rels = vec![];
    if page < last {
        rels.push(link(page + 1, "next"));
        rels.push(link(last, "last"));
    }
    if page > 1 {
        rels.push(link(1, "first"));
        rels.push(link(page - 1, "prev"));
    }
    let mut h = HeaderMap::new();
    if !rels.is_empty() {
        h.insert("link", rels.join(", ").parse().unwrap());
    }
    (h, Json(items)).into_response()
}

async fn permission(
    State(f): State<Fake>,
    Path((_o, _r, user)): Path<(String, String, String)>,
) -> Response {
    f.log.push(format!("permission {user}"), Value::Null);
    let (permission, role) = match user.as_str() {
        "ada" => ("admin", "admin"),
        "max" => ("write", "maintain"),
        "wes" => ("write", "write"),
        "tia" => ("read", "triage"),
        "rob" => ("read", "read"),
        "nob" => ("none", "none"),
        // GitHub answers 404 for users that do not exist.
        _ => return (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response(),
    };
    Json(json!({"permission": permission, "role_name": role, "user": {"login": user}}))
        .into_response()
}

async fn get_label(Path((_o, _r, name)): Path<(String, String, String)>) -> Response {
    if name == "gt:sling" {
        Json(json!({"id": 1, "name": name, "color": "ededed"})).into_response()
    } else {
        (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response()
    }
}

async fn create_label(State(f): State<Fake>, Json(body): Json<Value>) -> Response {
    f.log.push("POST labels", body.clone());
    (
        StatusCode::CREATED,
        Json(json!({"id": 2, "name": body["name"], "color": body["color"]})),
    )
        .into_response()
}

async fn add_issue_labels(State(f): State<Fake>, Json(body): Json<Value>) -> Response {
    f.log.push("POST issue labels", body.clone());
    Json(json!([{"id": 1, "name": "gt:sling"}, {"id": 2, "name": "gt:new"}])).into_response()
}

async fn merge(
    State(f): State<Fake>,
    Path((_o, _r, n)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> Response {
    f.log.push(format!("PUT merge {n}"), body);
    match n {
        5 => (
            StatusCode::METHOD_NOT_ALLOWED,
            Json(json!({"message": "Pull Request is not mergeable"})),
        )
            .into_response(),
        6 => (
            StatusCode::CONFLICT,
            Json(json!({"message": "Head branch was modified."})),
        )
            .into_response(),
        _ => Json(json!({"sha": "abc123", "merged": true, "message": "merged"})).into_response(),
    }
}

async fn contents(
    headers: HeaderMap,
    Path((_o, _r, path)): Path<(String, String, String)>,
) -> Response {
    if path == "big.bin" {
        // Over 1 MB: no content, only a download URL.
        let host = headers.get("host").unwrap().to_str().unwrap();
        return Json(
            json!({"type": "file", "encoding": "none", "content": "", "path": path,
                           "download_url": format!("http://{host}/raw/big.bin")}),
        )
        .into_response();
    }
    if path == ".gastown.yaml" {
        Json(
            json!({"type": "file", "encoding": "base64", "content": "c3RyYXRlZ3k6\nIHByCg==\n",
                    "path": path, "name": path}),
        )
        .into_response()
    } else {
        (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response()
    }
}

fn router(f: Fake, enterprise: bool) -> Router {
    let api = Router::new()
        .route("/repos/{o}/{r}/issues/{n}", get(issue))
        .route("/repos/{o}/{r}/issues/{n}/comments", get(comments))
        .route(
            "/repos/{o}/{r}/collaborators/{u}/permission",
            get(permission),
        )
        .route("/repos/{o}/{r}/labels/{name}", get(get_label))
        .route("/repos/{o}/{r}/labels", post(create_label))
        .route("/repos/{o}/{r}/issues/{n}/labels", post(add_issue_labels))
        .route("/repos/{o}/{r}/pulls/{n}/merge", put(merge))
        .route("/repos/{o}/{r}/contents/{*path}", get(contents))
        .route("/raw/big.bin", get(|| async { vec![7u8; 2 * 1024 * 1024] }))
        .route(
            "/repos/{o}/{r}/issues/{n}/events",
            get(|| async {
                Json(json!([
                    {"id": 1, "event": "labeled", "actor": {"login": "alice"}, "label": {"name": "gt:sling", "color": "ededed"}},
                    {"id": 2, "event": "unlabeled", "actor": {"login": "alice"}, "label": {"name": "gt:sling", "color": "ededed"}},
                    {"id": 3, "event": "labeled", "actor": {"login": "bob"}, "label": {"name": "gt:sling", "color": "ededed"}},
                    {"id": 4, "event": "labeled", "actor": {"login": "carol"}, "label": {"name": "bug", "color": "ff0000"}},
                    {"id": 5, "event": "closed", "actor": {"login": "dan"}},
                ]))
            }),
        )
        .route(
            "/repos/{o}/{r}/branches/{b}/protection/required_status_checks",
            get(|| async {
                (
                    StatusCode::NOT_FOUND,
                    Json(json!({"message": "Branch not protected"})),
                )
            }),
        )
        .with_state(f);
    // Served at the root (github.com) or only under /api/v3 (Enterprise).
    if enterprise {
        Router::new().nest("/api/v3", api)
    } else {
        api
    }
}

async fn forge(base_suffix: &str) -> (GithubForge, Fake, Arc<forge_support::RecordingSleeper>) {
    let fake = Fake::default();
    let base = serve(router(fake.clone(), !base_suffix.is_empty())).await;
    let (p, sleeper) = policy(5, Duration::from_secs(600));
    let gh = GithubForge::new(
        &format!("{base}{base_suffix}"),
        "github.com",
        GithubAuth::Token(Secret::new("ghp_test")),
        p,
    )
    .unwrap();
    (gh, fake, sleeper)
}

fn repo() -> RepoPath {
    RepoPath::new("octo/hello")
}

#[tokio::test]
async fn gets_an_issue() {
    let (gh, _, _) = forge("").await;
    let i = gh.issue(&repo(), 1).await.unwrap();
    assert_eq!(i.number, 1);
    assert_eq!(i.title, "Issue 1");
    assert_eq!(i.labels, vec!["gt:sling".to_string()]);
    assert_eq!(i.author, "alice");
    assert_eq!(i.state, bot::forge::State::Open);
    assert!(!i.is_pull_request);
    match gh.issue(&repo(), 404).await {
        Err(ForgeError::NotFound {
            call: "issue",
            repo,
        }) => assert_eq!(repo, "octo/hello"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn enterprise_base_path_is_kept() {
    let (gh, _, _) = forge("/api/v3").await;
    assert_eq!(gh.issue(&repo(), 3).await.unwrap().number, 3);
}

#[tokio::test]
async fn follows_link_headers_through_every_page() {
    let (gh, _, _) = forge("").await;
    let all = gh.comments(&repo(), 1, false).await.unwrap();
    assert_eq!(all.len(), TOTAL_COMMENTS as usize);
    assert_eq!(all[0].at.id, 1);
    assert_eq!(all[249].body, "comment 250");
    assert!(all.windows(2).all(|w| w[0].at.id < w[1].at.id));
    assert_eq!(all[0].created_at, 1_767_323_045_000);
    assert_eq!(all[0].at.number, 1);
}

#[tokio::test]
async fn maps_every_permission_level() {
    let (gh, _, _) = forge("").await;
    for (user, want) in [
        ("ada", Permission::Admin),
        ("max", Permission::Maintain),
        ("wes", Permission::Write),
        ("tia", Permission::Triage),
        ("rob", Permission::Read),
        ("nob", Permission::None),
        ("nobody-at-all", Permission::None),
    ] {
        assert_eq!(gh.permission(&repo(), user).await.unwrap(), want, "{user}");
    }
}

/// The worker (who slings) and the refinery (whose reviews count) ask through the same
/// cache: a user's permission is asked of the forge once per `permissions.cache_secs`.
#[tokio::test]
async fn a_permission_is_asked_once_while_it_is_fresh() {
    use bot::clock::{ManualClock, SharedClock};
    use bot::config::PermissionsConfig;

    let (gh, fake, _) = forge("").await;
    let forges = bot::forge::registry::Forges::new().with(Arc::new(gh));
    let client = forges
        .get(webhooks::ForgeKind::GitHub, "github.com")
        .unwrap();
    let manual = ManualClock::new(0);
    let clock: SharedClock = manual.clone();
    let settings = PermissionsConfig { cache_secs: 60 };
    let asked = |user: &str| {
        let what = format!("permission {user}");
        fake.log
            .entries()
            .iter()
            .filter(|(w, _)| *w == what)
            .count()
    };
    let ask = |user: &'static str| {
        let (forges, client, clock, settings) = (&forges, &client, &clock, &settings);
        async move {
            forges
                .permission(client.as_ref(), &repo(), user, clock, settings)
                .await
                .unwrap()
        }
    };

    assert_eq!(ask("wes").await, Permission::Write);
    assert_eq!(ask("WES").await, Permission::Write, "logins are case-blind");
    assert_eq!(ask("rob").await, Permission::Read);
    assert_eq!((asked("wes"), asked("WES"), asked("rob")), (1, 0, 1));
    manual.advance(59_999);
    ask("wes").await;
    assert_eq!(asked("wes"), 1, "still fresh");
    manual.advance(1);
    ask("wes").await;
    assert_eq!(asked("wes"), 2, "asked again once stale");
}

#[tokio::test]
async fn adding_a_missing_label_creates_it_with_its_colour() {
    let (gh, fake, _) = forge("").await;
    let specs = [
        LabelSpec {
            name: "gt:sling".into(),
            color: "ededed".into(),
            description: None,
        },
        LabelSpec {
            name: "gt:new".into(),
            color: "#1d76db".into(),
            description: Some("made by the bot".into()),
        },
    ];
    gh.add_labels(&repo(), 1, &specs).await.unwrap();
    let log = fake.log.entries();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0].0, "POST labels");
    assert_eq!(
        log[0].1,
        json!({"name": "gt:new", "color": "1d76db", "description": "made by the bot"})
    );
    assert_eq!(log[1].0, "POST issue labels");
    assert_eq!(log[1].1, json!({"labels": ["gt:sling", "gt:new"]}));
}

#[tokio::test]
async fn waits_out_the_primary_rate_limit_through_octocrab() {
    let (gh, fake, sleeper) = forge("").await;
    assert_eq!(gh.issue(&repo(), 2).await.unwrap().number, 2);
    assert_eq!(fake.hits.load(Ordering::SeqCst), 2);
    assert_eq!(sleeper.sleeps(), vec![Duration::from_secs(43)]);
}

#[tokio::test]
async fn merge_sends_method_and_sha_and_reports_refusals() {
    let (gh, fake, _) = forge("").await;
    let ok = gh
        .merge(&repo(), 7, MergeMethod::Squash, Some("deadbeef"))
        .await
        .unwrap();
    assert_eq!(
        ok,
        MergeOutcome::Merged {
            sha: "abc123".into()
        }
    );
    let no = gh
        .merge(&repo(), 5, MergeMethod::Merge, None)
        .await
        .unwrap();
    assert!(
        matches!(no, MergeOutcome::NotMergeable { ref reason } if reason.contains("not mergeable"))
    );
    let moved = gh
        .merge(&repo(), 6, MergeMethod::Merge, Some("old"))
        .await
        .unwrap();
    assert!(matches!(moved, MergeOutcome::NotMergeable { .. }));
    let log = fake.log.entries();
    assert_eq!(
        log[0].1,
        json!({"merge_method": "squash", "sha": "deadbeef"})
    );
}

#[tokio::test]
async fn files_decode_base64_and_missing_ones_are_none() {
    let (gh, _, _) = forge("").await;
    let f = gh.file(&repo(), ".gastown.yaml", "main").await.unwrap();
    assert_eq!(f.as_deref(), Some(&b"strategy: pr\n"[..]));
    assert_eq!(gh.file(&repo(), "nope.txt", "main").await.unwrap(), None);
    let big = gh.file(&repo(), "big.bin", "main").await.unwrap().unwrap();
    assert_eq!(big.len(), 2 * 1024 * 1024);
    assert!(
        gh.required_checks(&repo(), "main")
            .await
            .unwrap()
            .is_empty()
    );
}

#[test]
fn auth_debug_never_shows_secrets() {
    let a = GithubAuth::Token(Secret::new("ghp_supersecret"));
    assert!(!format!("{a:?}").contains("supersecret"));
    let b = GithubAuth::App {
        app_id: 7,
        private_key_pem: Secret::new("-----BEGIN"),
    };
    assert!(!format!("{b:?}").contains("BEGIN"));
}

/// A throwaway RSA key in PEM, made at test time so no key lives in the repository.
fn test_app_key() -> String {
    use aws_lc_rs::encoding::AsDer;
    use base64::Engine as _;
    let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&kp).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

#[tokio::test]
async fn github_app_auth_mints_and_caches_an_installation_token() {
    let lookups = Arc::new(AtomicUsize::new(0));
    let mints = Arc::new(AtomicUsize::new(0));
    let seen_auth = Log::default();
    let (l, m, a) = (lookups.clone(), mints.clone(), seen_auth.clone());
    let app = Router::new()
        .route(
            "/repos/{o}/{r}/installation",
            get(move |h: HeaderMap| {
                let l = l.clone();
                async move {
                    l.fetch_add(1, Ordering::SeqCst);
                    let auth = h["authorization"].to_str().unwrap().to_owned();
                    // The app's JWT: header.claims.signature.
                    assert!(auth.starts_with("Bearer ") && auth.matches('.').count() == 2, "{auth}");
                    Json(json!({"id": 77, "app_id": 7}))
                }
            }),
        )
        .route(
            "/app/installations/{id}/access_tokens",
            post(move |Path(id): Path<u64>| {
                let m = m.clone();
                async move {
                    assert_eq!(id, 77);
                    m.fetch_add(1, Ordering::SeqCst);
                    let expires = (chrono_like_now_plus_hour()).to_string();
                    (StatusCode::CREATED, Json(json!({"token": "ghs_installation", "expires_at": expires, "permissions": {}})))
                }
            }),
        )
        .route(
            "/repos/{o}/{r}",
            get(|Path((o, r)): Path<(String, String)>| async move {
                Json(json!({"clone_url": format!("https://github.com/{o}/{r}.git")}))
            }),
        )
        .route(
            "/repos/{o}/{r}/issues/{n}",
            get(move |h: HeaderMap, Path((_o, _r, n)): Path<(String, String, u64)>| {
                let a = a.clone();
                async move {
                    a.push(h["authorization"].to_str().unwrap(), Value::Null);
                    Json(issue_json(n))
                }
            }),
        );
    let base = serve(app).await;
    let (p, _) = policy(3, Duration::from_secs(60));
    let auth = GithubAuth::App {
        app_id: 7,
        private_key_pem: Secret::new(test_app_key()),
    };
    let gh = GithubForge::new(&base, "github.com", auth, p).unwrap();
    assert_eq!(gh.issue(&repo(), 1).await.unwrap().number, 1);
    assert_eq!(gh.issue(&repo(), 2).await.unwrap().number, 2);
    assert_eq!(
        lookups.load(Ordering::SeqCst),
        1,
        "installation looked up once"
    );
    assert_eq!(
        mints.load(Ordering::SeqCst),
        1,
        "token minted once and reused"
    );
    for (auth, _) in seen_auth.entries() {
        assert!(auth.ends_with("ghs_installation"), "{auth}");
    }
    // git gets the installation's token too, the cached one while it is valid.
    let remote = gh.git_remote(&repo()).await.unwrap();
    assert_eq!(remote.username, "x-access-token");
    assert_eq!(remote.password.expose(), "ghs_installation");
    assert_eq!(remote.url, format!("https://github.com/{}.git", repo()));
    assert_eq!(mints.load(Ordering::SeqCst), 1, "no new token for git");
}

/// An RFC 3339 time an hour from now, as GitHub writes `expires_at`.
fn chrono_like_now_plus_hour() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant), enough for a test timestamp.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[tokio::test]
async fn connection_failures_through_octocrab_are_retried_then_unavailable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (p, sleeper) = policy(3, Duration::from_secs(60));
    let gh = GithubForge::new(
        &format!("http://127.0.0.1:{port}"),
        "github.com",
        GithubAuth::Token(Secret::new("t")),
        p,
    )
    .unwrap();
    match gh.issue(&repo(), 1).await {
        Err(ForgeError::Unavailable {
            call: "issue",
            repo,
            attempts: 3,
            ..
        }) => {
            assert_eq!(repo, "octo/hello")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sleeper.sleeps().len(), 2);
}

#[tokio::test]
async fn a_comment_is_not_posted_twice_after_a_bad_gateway() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = Router::new().route(
        "/repos/{o}/{r}/issues/{n}/comments",
        post(move || {
            h.fetch_add(1, Ordering::SeqCst);
            async {
                (
                    StatusCode::BAD_GATEWAY,
                    Json(json!({"message": "Bad gateway"})),
                )
            }
        }),
    );
    let base = serve(app).await;
    let (p, _) = policy(5, Duration::from_secs(60));
    let gh = GithubForge::new(&base, "github.com", GithubAuth::Token(Secret::new("t")), p).unwrap();
    let r = gh.create_comment(&repo(), 1, false, "hello").await;
    assert!(
        matches!(
            r,
            Err(ForgeError::Unavailable {
                call: "create_comment",
                attempts: 1,
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn finds_who_added_a_label_from_issue_events() {
    let (gh, _, _) = forge("").await;
    let who = gh.label_added_by(&repo(), 1, "gt:sling").await.unwrap();
    assert_eq!(who.as_deref(), Some("bob"));
    assert_eq!(gh.label_added_by(&repo(), 1, "nope").await.unwrap(), None);
}
