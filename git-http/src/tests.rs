use super::*;

use axum::body::to_bytes;
use axum::http::Method;
use std::time::Duration;
use tokio::sync::mpsc;

/// A root holding one empty bare repository, `r.git`.
fn root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("git")
        .args(["init", "--bare", "--quiet"])
        .arg(dir.path().join("r.git"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .status()
        .unwrap()
        .success();
    assert!(ok);
    dir
}

fn cgi(root: &tempfile::TempDir, path_info: &str, max_body: usize) -> CgiRequest {
    CgiRequest {
        project_root: root.path().to_owned(),
        path_info: path_info.into(),
        remote_user: "tester".into(),
        env: vec![("GT_SECRET".into(), "hunter2".into())],
        max_body,
    }
}

fn get(uri: &str) -> Request {
    Request::builder()
        .method(Method::GET)
        .uri(uri)
        .body(Body::empty())
        .unwrap()
}

async fn text(r: Response) -> String {
    let bytes = to_bytes(r.into_body(), usize::MAX).await.unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test]
async fn advertises_refs_streamed_and_to_end() {
    let root = root();
    let uri = "/r.git/info/refs?service=git-upload-pack";
    for streamed in [true, false] {
        let c = cgi(&root, "/r.git/info/refs", 1024);
        let r = if streamed {
            serve(c, get(uri)).await.unwrap()
        } else {
            serve_to_end(c, get(uri)).await.unwrap()
        };
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/x-git-upload-pack-advertisement"
        );
        let body = text(r).await;
        assert!(
            body.starts_with("001e# service=git-upload-pack\n"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_missing_repository_is_git_s_404() {
    let root = root();
    let c = cgi(&root, "/nope.git/info/refs", 1024);
    let r = serve(c, get("/nope.git/info/refs?service=git-upload-pack"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_before_git_runs() {
    let root = root();
    let req = Request::builder()
        .method(Method::POST)
        .uri("/r.git/git-upload-pack")
        .body(Body::from(vec![b'0'; 100]))
        .unwrap();
    let err = serve(cgi(&root, "/r.git/git-upload-pack", 10), req)
        .await
        .unwrap_err();
    assert!(matches!(err, CgiError::TooLarge { max: 10 }), "{err}");
    assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[test]
fn debug_shows_env_names_not_values() {
    let root = root();
    let s = format!("{:?}", cgi(&root, "/r.git/info/refs", 1));
    assert!(s.contains("GT_SECRET") && !s.contains("hunter2"), "{s}");
}

#[test]
fn header_block_ends_at_the_first_blank_line() {
    assert_eq!(head_end(b"Status: 200\r\n\r\nbody\n\n"), Some((11, 4)));
    assert_eq!(head_end(b"A: b\n\nx\r\n\r\n"), Some((4, 2)));
    assert_eq!(head_end(b"no end"), None);
    let r = response(b"Status: 403 Forbidden\r\nX-A: 1", Body::empty());
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.headers()["x-a"], "1");
}

/// A request whose body arrives chunk by chunk from the returned sender, with no
/// declared length (as git's client sends a large push).
fn streamed(uri: &str, content_type: &str) -> (Request, mpsc::Sender<Vec<u8>>) {
    let (tx, rx) = mpsc::channel::<Vec<u8>>(4);
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok::<_, std::io::Error>(Bytes::from(chunk)), rx))
    });
    let req = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from_stream(chunks))
        .unwrap();
    (req, tx)
}

#[tokio::test]
async fn the_body_is_streamed_to_git_not_read_whole_first() {
    let root = root();
    let (req, tx) = streamed(
        "/r.git/git-upload-pack",
        "application/x-git-upload-pack-request",
    );
    tx.send(b"0014command=ls-refs\n".to_vec()).await.unwrap();
    // The body is still open: git answers its header block all the same, which it
    // can only do once it runs.
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        serve(cgi(&root, "/r.git/git-upload-pack", 1 << 20), req),
    )
    .await
    .expect("git ran before the body ended")
    .unwrap();
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "application/x-git-upload-pack-result"
    );
    drop(tx);
}

#[tokio::test]
async fn a_push_git_refuses_early_is_answered_before_its_body_ends() {
    let root = root();
    let (req, tx) = streamed(
        "/r.git/git-receive-pack",
        "application/x-git-receive-pack-request",
    );
    tx.send(b"zzzz not a pkt-line".to_vec()).await.unwrap();
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        serve_to_end(cgi(&root, "/r.git/git-receive-pack", 1 << 20), req),
    )
    .await
    .expect("git read the body as it came and gave up on it");
    assert!(r.is_ok(), "{:?}", r.err());
    drop(tx);
}

#[tokio::test]
async fn an_undeclared_body_over_the_limit_kills_git_and_is_413() {
    let root = root();
    for to_end in [true, false] {
        // upload-pack's request is read by git to its end (up to 10 MiB) before
        // anything runs, so git is still reading when the limit is passed.
        let (req, tx) = streamed(
            "/r.git/git-upload-pack",
            "application/x-git-upload-pack-request",
        );
        let sender = tokio::spawn(async move {
            // More than the limit, and never an end.
            for _ in 0..64 {
                if tx.send(vec![b'P'; 16 * 1024]).await.is_err() {
                    break;
                }
            }
            tx
        });
        let c = cgi(&root, "/r.git/git-upload-pack", 64 * 1024);
        let r = tokio::time::timeout(Duration::from_secs(10), async {
            if to_end {
                serve_to_end(c, req).await.map(|_| ())
            } else {
                // Streamed: git's header block may already be out; the body is cut.
                match serve(c, req).await {
                    Ok(r) => to_bytes(r.into_body(), usize::MAX)
                        .await
                        .map(|_| ())
                        .map_err(|_| CgiError::TooLarge { max: 64 * 1024 }),
                    Err(e) => Err(e),
                }
            }
        })
        .await
        .expect("refused without waiting for the body to end");
        let err = r.unwrap_err();
        assert!(matches!(err, CgiError::TooLarge { .. }), "{err}");
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
        sender.abort();
    }
}
