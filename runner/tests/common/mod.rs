//! Shared test fixtures: a real git repository served over smart HTTP by
//! `git http-backend`, guarded by the token an agent must present.

#![allow(dead_code)]

pub mod backend;
pub mod docker;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use base64::Engine;
use runner::{AgentId, AgentState, AgentStatus, Runner, TownId};
use tokio::io::AsyncWriteExt;

pub const TOKEN: &str = "gt-test-token-5f1c9e";

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Creates `<root>/octo/hello.git` (bare) with one commit on `main`.
pub fn make_remote(root: &Path) -> PathBuf {
    let work = root.join("seed");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join("README"), "hello from octo\n").unwrap();
    git(&work, &["add", "README"]);
    git(&work, &["commit", "-qm", "initial"]);
    let bare = root.join("octo/hello.git");
    std::fs::create_dir_all(bare.parent().unwrap()).unwrap();
    git(
        root,
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    git(&bare, &["config", "http.receivepack", "true"]);
    bare
}

#[derive(Clone)]
struct GitServer {
    project_root: PathBuf,
    expected_auth: String,
}

/// Serves `project_root` at `http://127.0.0.1:<port>/git/...`, demanding basic auth
/// `agent:<TOKEN>` the way the bot's endpoint does.
pub async fn serve_git(project_root: &Path) -> SocketAddr {
    let state = GitServer {
        project_root: project_root.to_path_buf(),
        expected_auth: format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("agent:{TOKEN}"))
        ),
    };
    let app = axum::Router::new().fallback(cgi).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener.into_std().unwrap()).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
    });
    addr
}

async fn cgi(
    State(server): State<GitServer>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == server.expected_auth);
    if !authorized {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("WWW-Authenticate", "Basic realm=\"gastown\"")
            .body(Body::from("token required"))
            .unwrap();
    }
    let path = uri.path().strip_prefix("/git").unwrap_or(uri.path());
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", &server.project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", path)
        .env("REQUEST_METHOD", method.as_str())
        .env("QUERY_STRING", uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_USER", "agent")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let out = child.wait_with_output().await.unwrap();
    writer.await.unwrap();
    let raw = out.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| {
            raw.windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, i + 2))
        })
        .expect("CGI output has a header block");
    let mut response = Response::builder();
    for line in String::from_utf8_lossy(&raw[..split.0]).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("status") {
            let code: u16 = value.trim()[..3].parse().unwrap();
            response = response.status(code);
        } else {
            response = response.header(name.trim(), value.trim());
        }
    }
    response.body(Body::from(raw[split.1..].to_vec())).unwrap()
}

pub fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub fn agent(id: &str) -> AgentId {
    AgentId::new(id).unwrap()
}

/// Polls until the agent is no longer running; panics with its log after `timeout`.
pub async fn wait_exit(
    runner: &dyn Runner,
    town: &TownId,
    agent: &AgentId,
    timeout: Duration,
) -> AgentState {
    let deadline = Instant::now() + timeout;
    loop {
        let states = runner.agents(town).await.unwrap();
        let state = states
            .into_iter()
            .find(|s| &s.agent == agent)
            .expect("the agent is listed");
        if state.status != AgentStatus::Running {
            return state;
        }
        if Instant::now() > deadline {
            panic!(
                "agent {agent} still running after {timeout:?}; log:\n{}",
                log(runner, town, agent).await
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn log(runner: &dyn Runner, town: &TownId, agent: &AgentId) -> String {
    let (bytes, _) = runner.output(town, agent, 0).await.unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Every file under `dir` whose bytes contain `needle` (the token must never be stored).
pub fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let t = entry.file_type().unwrap();
            if t.is_dir() {
                stack.push(entry.path());
            } else if t.is_file()
                && std::fs::read(entry.path())
                    .unwrap_or_default()
                    .windows(needle.len())
                    .any(|w| w == needle.as_bytes())
            {
                hits.push(entry.path());
            }
        }
    }
    hits
}
