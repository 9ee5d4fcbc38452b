use super::*;

use axum::http::Method;

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
