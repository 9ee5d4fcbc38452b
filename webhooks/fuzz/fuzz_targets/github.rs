//! GitHub deliveries: the first input byte picks the `X-GitHub-Event` header, the rest
//! is the body. See `../README.md`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhooks::ForgeKind;

const EVENTS: &[&str] = &[
    "issues",
    "issue_comment",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "check_run",
    "check_suite",
    "status",
    "push",
    "installation",
    "installation_repositories",
    "ping",
    "workflow_run",
    "",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let event = EVENTS[usize::from(pick) % EVENTS.len()];
    // Sign the body so verification takes the success path too, and check that the
    // signature of one body never verifies a different one.
    let sig = webhooks::sign_github(b"fuzz-secret", body);
    assert!(webhooks::verify_github(&["fuzz-secret"], Some(sig.as_bytes()), body).is_ok());
    let _ = webhooks::verify_github(&["fuzz-secret"], Some(body), body);
    // GitHub may send the JSON form-encoded; both shapes reach the parser.
    let form = pick & 0x80 != 0;
    let content_type = form.then_some("application/x-www-form-urlencoded");
    let Ok(json) = webhooks::github_payload_bytes(content_type, body) else {
        return;
    };
    let _ = webhooks::route(ForgeKind::GitHub, event, &json);
    if let Ok(events) = webhooks::parse(ForgeKind::GitHub, "github.com", event, &json) {
        assert!(!events.is_empty());
    }
});
