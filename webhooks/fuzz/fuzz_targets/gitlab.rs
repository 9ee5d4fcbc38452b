//! GitLab deliveries: the first input byte picks the `X-Gitlab-Event` header, the rest
//! is the body. See `../README.md`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhooks::ForgeKind;

const EVENTS: &[&str] = &[
    "Issue Hook",
    "Confidential Issue Hook",
    "Note Hook",
    "Confidential Note Hook",
    "Merge Request Hook",
    "Pipeline Hook",
    "Push Hook",
    "Tag Push Hook",
    "Job Hook",
    "System Hook",
    "",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let event = EVENTS[usize::from(pick) % EVENTS.len()];
    // The token is compared verbatim: the body as a token must match only itself.
    let _ = webhooks::verify_gitlab(&["fuzz-token"], Some(body));
    assert!(webhooks::verify_gitlab(&[body], Some(body)).is_ok());
    let _ = webhooks::route(ForgeKind::GitLab, event, body);
    if let Ok(events) = webhooks::parse(ForgeKind::GitLab, "gitlab.example.com", event, body) {
        assert!(!events.is_empty());
    }
});
