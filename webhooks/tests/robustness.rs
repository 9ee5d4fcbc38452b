//! Whatever arrives on the webhook port, verify, route and parse return; they never
//! panic. A panic in ingest would drop the delivery (and with it every later delivery
//! the forge retries into the same crash), so these run on random bytes, JSON-shaped
//! noise, and the real fixtures mutated at the byte and at the JSON level.
//!
//! Case counts are kept small enough for a debug `cargo test` to finish in seconds; the
//! fuzz targets in `webhooks/fuzz` are where long runs belong.

mod common;

use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use webhooks::{
    ForgeEvent, ForgeKind, ParseError, VerifyError, github_payload_bytes, parse, route,
    sign_github, verify_github, verify_gitlab,
};

const GITHUB_EVENTS: &[&str] = &[
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
    "ISSUES",
];

const GITLAB_EVENTS: &[&str] = &[
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

/// Pieces that make random input look enough like JSON to get past the first byte.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "null",
    "true",
    "0",
    "-1",
    "1e999",
    "18446744073709551616",
    "\"\"",
    "\"x\"",
    "\"\\ud800\"",
    "\"action\"",
    "\"opened\"",
    "\"update\"",
    "\"repository\"",
    "\"full_name\"",
    "\"project\"",
    "\"path_with_namespace\"",
    "\"object_attributes\"",
    "\"iid\"",
    "\"number\"",
    "\"issue\"",
    "\"sender\"",
    "\"login\"",
    "\"changes\"",
    "\"labels\"",
    "\"previous\"",
    "\"current\"",
    "\"title\"",
    "\"pull_request\"",
    "\"oldrev\"",
    "\"position\"",
    "\"noteable_type\"",
    "\"Issue\"",
];

/// Values swapped into fixtures: the nulls, wrong types and extremes real deliveries
/// (or attackers) send where a parser expects something else.
fn odd_value() -> impl Strategy<Value = Value> {
    select(vec![
        Value::Null,
        Value::Bool(true),
        serde_json::json!(0),
        serde_json::json!(-1),
        serde_json::json!(1.5),
        serde_json::json!(u64::MAX),
        serde_json::json!(""),
        serde_json::json!("x"),
        serde_json::json!([]),
        serde_json::json!({}),
        serde_json::json!([{"title": null, "name": 3}]),
    ])
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(Index),
    Flip(Index, u8),
    Insert(Index, Vec<u8>),
    /// Replace the n-th JSON node (pre-order) with another value.
    Replace(Index, Value),
    /// Remove the n-th JSON node from its parent object or array.
    Remove(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), 1..=255u8).prop_map(|(i, m)| Mutation::Flip(i, m)),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), select(TOKENS))
            .prop_map(|(i, t)| Mutation::Insert(i, t.as_bytes().to_vec())),
        3 => (any::<Index>(), odd_value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        2 => any::<Index>().prop_map(Mutation::Remove),
    ]
}

fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_nodes).sum(),
        Value::Object(o) => o.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// Apply `f` to the `n`-th child node (pre-order, root excluded) and its parent.
fn edit_nth(v: &mut Value, n: &mut usize, f: &mut dyn FnMut(&mut Value, usize)) -> bool {
    let len = match v {
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        _ => return false,
    };
    for i in 0..len {
        if *n == 0 {
            f(v, i);
            return true;
        }
        *n -= 1;
        let child = match v {
            Value::Array(a) => &mut a[i],
            Value::Object(o) => o.values_mut().nth(i).expect("in range"),
            _ => unreachable!(),
        };
        if edit_nth(child, n, f) {
            return true;
        }
    }
    false
}

/// Apply the mutations in order. Returns the body and whether it is still valid JSON
/// (only JSON-level edits of valid JSON keep it so).
fn apply(body: &[u8], mutations: &[Mutation]) -> (Vec<u8>, bool) {
    let mut bytes = body.to_vec();
    let mut valid = true;
    for m in mutations {
        match m {
            Mutation::Truncate(i) => {
                bytes.truncate(i.index(bytes.len() + 1));
                valid = false;
            }
            Mutation::Flip(i, mask) if !bytes.is_empty() => {
                let at = i.index(bytes.len());
                bytes[at] ^= mask;
                valid = false;
            }
            Mutation::Insert(i, extra) => {
                let at = i.index(bytes.len() + 1);
                bytes.splice(at..at, extra.iter().copied());
                valid = false;
            }
            Mutation::Replace(i, _) | Mutation::Remove(i) if valid => {
                let mut v: Value = serde_json::from_slice(&bytes).expect("still valid");
                let nodes = count_nodes(&v) - 1;
                if nodes == 0 {
                    continue;
                }
                let mut n = i.index(nodes);
                let with = match m {
                    Mutation::Replace(_, with) => Some(with),
                    _ => None,
                };
                edit_nth(&mut v, &mut n, &mut |parent, k| match (parent, with) {
                    (Value::Array(a), Some(w)) => a[k] = w.clone(),
                    (Value::Object(o), Some(w)) => *o.values_mut().nth(k).unwrap() = w.clone(),
                    (Value::Array(a), None) => {
                        a.remove(k);
                    }
                    (Value::Object(o), None) => {
                        let key = o.keys().nth(k).unwrap().clone();
                        o.remove(&key);
                    }
                    _ => {}
                });
                bytes = serde_json::to_vec(&v).unwrap();
            }
            _ => {}
        }
    }
    (bytes, valid)
}

/// Everything ingest and the worker do with one delivery. Panics are the failure;
/// errors are fine.
fn pipeline(forge: ForgeKind, event: &str, body: &[u8]) -> Result<(), ParseError> {
    let routed = route(forge, event, body);
    let events = parse(forge, "forge.test", event, body)?;
    assert!(!events.is_empty(), "Ok(parse) always carries an event");
    // Ingest settles a comment by the text the route picked out: whatever the body,
    // that text is all the parse finds in it.
    if let Ok(webhooks::Route {
        comment: Some(text),
        ..
    }) = &routed
    {
        match &events[..] {
            [ForgeEvent::Comment(c)] => assert_eq!(&c.body, text),
            [ForgeEvent::Ignored(_)] => {}
            other => panic!("a comment's text was picked out of {other:?}"),
        }
    }
    Ok(())
}

fn event_name() -> impl Strategy<Value = (ForgeKind, String)> {
    prop_oneof![
        select(GITHUB_EVENTS).prop_map(|e| (ForgeKind::GitHub, e.to_owned())),
        select(GITLAB_EVENTS).prop_map(|e| (ForgeKind::GitLab, e.to_owned())),
        (any::<bool>(), "\\PC{0,24}").prop_map(|(gh, e)| {
            let forge = if gh {
                ForgeKind::GitHub
            } else {
                ForgeKind::GitLab
            };
            (forge, e)
        }),
    ]
}

#[test]
fn mutated_fixtures_never_panic() {
    let Some(dir) = common::fixtures_dir() else {
        return;
    };
    let fixtures = common::load_all(&dir);
    assert!(!fixtures.is_empty(), "no fixtures in {}", dir.display());
    let strategy = (
        any::<Index>(),
        prop::collection::vec(mutation(), 1..4),
        prop::option::weighted(0.25, event_name()),
    );
    let mut runner = TestRunner::new(Config {
        cases: 1000,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |(pick, mutations, other_event)| {
        let f = &fixtures[pick.index(fixtures.len())];
        let (body, valid) = apply(&f.body, &mutations);
        // Usually the fixture's own header, so the parser for its kind gets the noise.
        let (forge, event) = other_event.unwrap_or((f.forge, f.event.clone()));
        let result = pipeline(forge, &event, &body);
        if valid {
            prop_assert!(
                !matches!(result, Err(ParseError::Json { .. })),
                "{}: valid JSON reported as invalid: {result:?}",
                f.name
            );
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

proptest! {
    #![proptest_config(Config { cases: 512, failure_persistence: None, ..Config::default() })]

    #[test]
    fn random_bytes_never_panic(
        (forge, event) in event_name(),
        body in prop::collection::vec(any::<u8>(), 0..512),
        sig in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        let _ = verify_github(&["secret"], Some(&sig), &body);
        let _ = verify_gitlab(&["secret"], Some(&sig));
        if let Ok(json) = github_payload_bytes(Some("application/x-www-form-urlencoded"), &body) {
            let _ = pipeline(forge, &event, &json);
        }
        let _ = pipeline(forge, &event, &body);
    }

    #[test]
    fn json_shaped_noise_never_panics(
        (forge, event) in event_name(),
        tokens in prop::collection::vec(select(TOKENS), 0..64),
    ) {
        let _ = pipeline(forge, &event, tokens.concat().as_bytes());
    }

    #[test]
    fn signed_body_verifies_and_a_flipped_byte_does_not(
        secret in prop::collection::vec(any::<u8>(), 0..64),
        other in prop::collection::vec(any::<u8>(), 1..64),
        body in prop::collection::vec(any::<u8>(), 1..1024),
        at in any::<Index>(),
        mask in 1..=255u8,
    ) {
        let sig = sign_github(&secret, &body);
        prop_assert_eq!(verify_github(&[&other, &secret], Some(sig.as_bytes()), &body), Ok(()));

        let mut flipped = body.clone();
        flipped[at.index(body.len())] ^= mask;
        prop_assert_eq!(
            verify_github(&[&secret], Some(sig.as_bytes()), &flipped),
            Err(VerifyError::Mismatch)
        );

        // Hex digits are case-insensitive, so a flip that only changes a digit's case
        // is the same signature; any other flip (the `sha256=` prefix included) must be
        // rejected.
        let mut bad_sig = sig.clone().into_bytes();
        bad_sig[at.index(sig.len())] ^= mask;
        let accepted = verify_github(&[&secret], Some(&bad_sig), &body).is_ok();
        let (prefix, hex) = sig.as_bytes().split_at("sha256=".len());
        let same =
            bad_sig.starts_with(prefix) && bad_sig[prefix.len()..].eq_ignore_ascii_case(hex);
        prop_assert_eq!(accepted, same);
    }

    #[test]
    fn gitlab_token_matches_only_itself(
        token in prop::collection::vec(any::<u8>(), 1..64),
        at in any::<Index>(),
        mask in 1..=255u8,
    ) {
        prop_assert_eq!(verify_gitlab(&[&token], Some(&token)), Ok(()));
        let mut flipped = token.clone();
        flipped[at.index(token.len())] ^= mask;
        prop_assert_eq!(verify_gitlab(&[&token], Some(&flipped)), Err(VerifyError::Mismatch));
    }
}
