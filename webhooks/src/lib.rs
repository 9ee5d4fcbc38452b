//! Verify and parse GitHub and GitLab webhook deliveries. Pure: no IO, no clock.
//!
//! Ingest calls [`verify_github`] / [`verify_gitlab`] and [`route`] on the request
//! path (cheap: they pick out a few fields), stores the raw bytes, and the worker
//! calls [`parse`] later to get the full [`ForgeEvent`]s. Keeping the full parse off
//! the request path is what lets ingest ack thousands of deliveries per second.

mod de;
pub mod event;
mod github;
mod gitlab;
mod route;
mod verify;

pub use event::*;
pub use route::{Route, RouteError, github_payload_bytes, route};
pub use verify::{VerifyError, sign_github, verify_github, verify_gitlab};

/// Why a verified delivery could not be turned into events. The worker stores the
/// message on the inbox row, so it names the event and the JSON path that failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("{event}: body is not valid JSON: {message}")]
    Json { event: String, message: String },
    #[error("{event}: field `{path}`: {message}")]
    Field {
        event: String,
        path: String,
        message: String,
    },
}

/// Parse one verified delivery into the events it carries (a GitLab issue update can
/// carry several label changes). Unknown events and actions become
/// [`ForgeEvent::Ignored`], never an error: an error means the payload of a kind we act
/// on is malformed.
///
/// `host` is the forge's web host (e.g. `github.com`); it is used when the payload
/// carries no URL to take it from.
pub fn parse(
    forge: ForgeKind,
    host: &str,
    event_name: &str,
    body: &[u8],
) -> Result<Vec<ForgeEvent>, ParseError> {
    match forge {
        ForgeKind::GitHub => github::parse(host, event_name, body),
        ForgeKind::GitLab => gitlab::parse(host, event_name, body),
    }
}
