//! git smart HTTP for axum, served by `git http-backend` run as a CGI program, so clones
//! and pushes are exactly git's own (protocol v2, side-band progress, hooks) with no
//! reimplementation of the pack protocol.
//!
//! The caller decides who may do what (authentication, which repository a path names);
//! this crate only runs one request through git. Two ways to answer:
//! - [`serve`] streams git's output to the client as git writes it, so a large clone
//!   starts at once and is never held in memory;
//! - [`serve_to_end`] waits for git to exit first, for callers that must act on the
//!   repository's new state before answering (a push's updated refs).
//!
//! The request body is streamed into git as it arrives, never held in memory, and
//! counted: past [`CgiRequest::max_body`] git is killed before it sees the end of the
//! body and the client is answered 413 (at once when the declared length is over).
//! A body of unknown length (git's client sends large pushes chunked) reaches git with
//! no `CONTENT_LENGTH`, which `git http-backend` reads to its end.

use std::fmt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};

use axum::body::{Body, Bytes, HttpBody as _};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Longest CGI header block git may write before its body.
const MAX_HEAD: usize = 64 * 1024;
/// Size of one streamed body chunk.
const CHUNK: usize = 64 * 1024;

/// One request to run through `git http-backend`.
pub struct CgiRequest {
    /// `GIT_PROJECT_ROOT`: every repository served lives under it.
    pub project_root: PathBuf,
    /// The repository and service under the root, e.g. `/octo/hello.git/info/refs`.
    /// Built by the caller from what it resolved, never copied blindly from the URL.
    pub path_info: String,
    /// `REMOTE_USER`: git enables `receive-pack` (pushing) only when it is set, and
    /// hands it to hooks.
    pub remote_user: String,
    /// Extra environment for git and the hooks it runs. Values may be secrets (forge
    /// credentials for a hook), so [`CgiRequest`]'s `Debug` shows only the names.
    pub env: Vec<(String, String)>,
    /// Largest request body accepted; a larger one is answered 413.
    pub max_body: usize,
}

impl fmt::Debug for CgiRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("CgiRequest")
            .field("project_root", &self.project_root)
            .field("path_info", &self.path_info)
            .field("remote_user", &self.remote_user)
            .field("env", &names)
            .field("max_body", &self.max_body)
            .finish()
    }
}

/// Why a request could not be served.
#[derive(Debug, thiserror::Error)]
pub enum CgiError {
    #[error("request body larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("reading the request body: {0}")]
    Body(String),
    #[error("starting git http-backend: {0}")]
    Spawn(std::io::Error),
    #[error("talking to git http-backend: {0}")]
    Io(#[from] std::io::Error),
    #[error("git http-backend wrote no CGI header ({status}): {stderr}")]
    Malformed { status: ExitStatus, stderr: String },
}

impl CgiError {
    /// The status to answer the client with.
    pub fn status(&self) -> StatusCode {
        match self {
            CgiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            CgiError::Body(_) => StatusCode::BAD_REQUEST,
            CgiError::Spawn(_) | CgiError::Io(_) | CgiError::Malformed { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl IntoResponse for CgiError {
    fn into_response(self) -> Response {
        (self.status(), format!("{self}\n")).into_response()
    }
}

/// Serve `req` with `git http-backend`, streaming git's output as it is written. The
/// git process is killed if the client goes away before the body is read, or if the
/// request body turns out larger than allowed (the answer is then cut short, or 413
/// when git has not answered yet).
pub async fn serve(cgi: CgiRequest, req: Request) -> Result<Response, CgiError> {
    let (mut child, feed) = start(&cgi, req)?;
    let mut feed = Some(feed);
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let stderr = tokio::spawn(read_all(stderr));
    let mut out = BufReader::new(stdout);
    let head = tokio::select! {
        head = read_head(&mut out) => head?,
        failed = failure(&mut feed) => {
            kill_git(&mut child).await;
            return Err(failed.error);
        }
    };
    let Some(head) = head else {
        let status = child.wait().await?;
        let stderr = stderr.await.unwrap_or_default();
        return Err(malformed(status, &stderr));
    };
    let state = Streaming {
        out,
        child,
        stderr,
        feed,
    };
    let body = futures_util::stream::unfold(Some(state), |state| async move {
        let mut s = state?;
        let mut buf = vec![0u8; CHUNK];
        let read = tokio::select! {
            read = s.out.read(&mut buf) => read,
            failed = failure(&mut s.feed) => {
                tracing::warn!(error = %failed.error, "request body refused while git answered");
                kill_git(&mut s.child).await;
                return Some((Err(std::io::Error::other(failed.error)), None));
            }
        };
        match read {
            Ok(0) => {
                s.finish().await;
                None
            }
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), Some(s)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    Ok(response(&head, Body::from_stream(body)))
}

/// Serve `req` with `git http-backend` and answer only after git has exited, so every
/// effect of the request (a push's ref updates, its hooks) is done when this returns.
/// A body over the limit kills git before it has read the body to its end, so a push
/// cut short can never be taken as complete.
pub async fn serve_to_end(cgi: CgiRequest, req: Request) -> Result<Response, CgiError> {
    let (mut child, feed) = start(&cgi, req)?;
    let mut feed = Some(feed);
    let stdout = tokio::spawn(read_bytes(child.stdout.take().expect("stdout is piped")));
    let stderr = tokio::spawn(read_all(child.stderr.take().expect("stderr is piped")));
    let status = tokio::select! {
        status = child.wait() => status?,
        failed = failure(&mut feed) => {
            kill_git(&mut child).await;
            return Err(failed.error);
        }
    };
    // git exited on its own having read what it needed: the rest of the body is moot.
    drop(feed);
    let stdout = stdout.await.unwrap_or_default();
    let stderr = stderr.await.unwrap_or_default();
    log_stderr(status, &stderr);
    let Some(end) = head_end(&stdout) else {
        return Err(malformed(status, &stderr));
    };
    let (head, body) = (&stdout[..end.0], &stdout[end.0 + end.1..]);
    Ok(response(head, Body::from(body.to_vec())))
}

/// The running process behind a streamed body.
struct Streaming {
    out: BufReader<ChildStdout>,
    child: Child,
    stderr: tokio::task::JoinHandle<String>,
    /// Still feeding the request body, while `Some`.
    feed: Option<Feed>,
}

impl Streaming {
    /// Reap git once its output is read, and say what it wrote on stderr.
    async fn finish(mut self) {
        match self.child.wait().await {
            Ok(status) => log_stderr(status, &self.stderr.await.unwrap_or_default()),
            Err(e) => tracing::warn!(error = %e, "waiting for git http-backend"),
        }
    }
}

/// Kill git and reap it.
async fn kill_git(child: &mut Child) {
    if let Err(e) = child.kill().await {
        tracing::warn!(error = %e, "killing git http-backend");
    }
}

/// The task copying the request body into git; aborted when dropped.
struct Feed(tokio::task::JoinHandle<Result<(), FeedError>>);

impl Drop for Feed {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why the body stopped before its end. git's stdin is held here, open, so that git
/// never reads a cut-short body to an end of file as if it were whole: it is killed
/// first, then this is dropped.
struct FeedError {
    error: CgiError,
    _stdin: Option<ChildStdin>,
}

/// Resolves only if feeding the body fails; pending forever once it is fed whole.
async fn failure(feed: &mut Option<Feed>) -> FeedError {
    if let Some(f) = feed.as_mut() {
        let fed = (&mut f.0).await;
        *feed = None;
        match fed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return e,
            Err(e) => {
                return FeedError {
                    error: CgiError::Body(e.to_string()),
                    _stdin: None,
                };
            }
        }
    }
    std::future::pending().await
}

/// Copy the body into git's stdin as it arrives, counting it against `max`.
async fn feed(body: Body, mut stdin: ChildStdin, max: usize) -> Result<(), FeedError> {
    let mut chunks = body.into_data_stream();
    let mut total = 0usize;
    while let Some(chunk) = chunks.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                return Err(FeedError {
                    error: CgiError::Body(e.to_string()),
                    _stdin: Some(stdin),
                });
            }
        };
        total = total.saturating_add(chunk.len());
        if total > max {
            return Err(FeedError {
                error: CgiError::TooLarge { max },
                _stdin: Some(stdin),
            });
        }
        if stdin.write_all(&chunk).await.is_err() {
            // git stopped reading: it has what it needs, or fails and says why.
            return Ok(());
        }
    }
    // The whole body: dropping stdin is git's end of file.
    Ok(())
}

/// Start git with the CGI environment and a task feeding it the body as it arrives. A
/// body declared larger than allowed is refused before git runs.
fn start(cgi: &CgiRequest, req: Request) -> Result<(Child, Feed), CgiError> {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // hyper's body knows a declared `Content-Length`; a body built in memory its size.
    let length = body.size_hint().exact().or(declared);
    if length.is_some_and(|n| n > cgi.max_body as u64) {
        return Err(CgiError::TooLarge { max: cgi.max_body });
    }
    let h = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut cmd = Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", &cgi.project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", &cgi.path_info)
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("QUERY_STRING", parts.uri.query().unwrap_or_default())
        .env("CONTENT_TYPE", h(header::CONTENT_TYPE))
        .env("HTTP_CONTENT_ENCODING", h(header::CONTENT_ENCODING))
        .env(
            "GIT_PROTOCOL",
            h(header::HeaderName::from_static("git-protocol")),
        )
        .env("REMOTE_USER", &cgi.remote_user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .envs(cgi.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Unknown (chunked): no CONTENT_LENGTH, and git reads its stdin to the end.
    if let Some(n) = length {
        cmd.env("CONTENT_LENGTH", n.to_string());
    }
    let mut child = cmd.spawn().map_err(CgiError::Spawn)?;
    let stdin = child.stdin.take().expect("stdin is piped");
    // A separate task, so git can write output while it still reads input.
    let feed = Feed(tokio::spawn(feed(body, stdin, cgi.max_body)));
    Ok((child, feed))
}

/// The CGI header block, without its blank line; `None` if git ended before one.
async fn read_head(out: &mut BufReader<ChildStdout>) -> Result<Option<Vec<u8>>, CgiError> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if out.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        if line == b"\r\n" || line == b"\n" {
            return Ok(Some(head));
        }
        head.extend_from_slice(&line);
        if head.len() > MAX_HEAD {
            return Ok(None);
        }
    }
}

async fn read_bytes(mut r: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut buf = Vec::new();
    let _ = r.read_to_end(&mut buf).await;
    buf
}

async fn read_all(mut r: impl AsyncRead + Unpin) -> String {
    let mut buf = Vec::new();
    let _ = r.read_to_end(&mut buf).await;
    String::from_utf8_lossy(&buf).into_owned()
}

fn malformed(status: ExitStatus, stderr: &str) -> CgiError {
    CgiError::Malformed {
        status,
        stderr: stderr.trim().to_owned(),
    }
}

fn log_stderr(status: ExitStatus, stderr: &str) {
    let stderr = stderr.trim();
    if !status.success() {
        tracing::warn!(%status, stderr, "git http-backend failed");
    } else if !stderr.is_empty() {
        tracing::debug!(stderr, "git http-backend");
    }
}

/// Where the header block ends in buffered CGI output: its length and the separator's.
fn head_end(out: &[u8]) -> Option<(usize, usize)> {
    let crlf = out.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = out.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(c), Some(l)) if l < c => Some((l, 2)),
        (Some(c), _) => Some((c, 4)),
        (None, Some(l)) => Some((l, 2)),
        (None, None) => None,
    }
}

/// A response from CGI headers (`Status:` becomes the status) and a body.
fn response(head: &[u8], body: Body) -> Response {
    let mut status = StatusCode::OK;
    let mut response = Response::new(body);
    for line in String::from_utf8_lossy(head).lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("status") {
            status = v
                .split_whitespace()
                .next()
                .and_then(|c| c.parse().ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(status);
        } else if let (Ok(k), Ok(v)) = (
            header::HeaderName::try_from(k.trim()),
            HeaderValue::from_str(v),
        ) {
            response.headers_mut().append(k, v);
        }
    }
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests;
