//! Webhook ingest: verify, pick out the routing fields, store, then answer.
//!
//! A 2xx means the delivery is committed to the inbox on disk. Only a forgery (401), a
//! request missing the forge's headers (400) or an oversized body (413) gets a 4xx:
//! GitLab disables hooks that keep failing, so a genuine delivery we cannot parse is
//! still stored (marked failed, with the reason) and answered 202.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::Instrument as _;
use webhooks::ForgeKind;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::store::{InsertOutcome, NewDelivery, Settled, Store, StoredBody, rig_id};

/// What the ingest handlers share.
pub struct IngestState {
    pub store: Store,
    pub config: Config,
    pub clock: SharedClock,
}

pub type SharedIngest = Arc<IngestState>;

/// An ingest refusal, answered with a status and a JSON reason.
#[derive(Debug)]
pub struct Rejection {
    status: StatusCode,
    reason: String,
}

impl Rejection {
    fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.reason }))).into_response()
    }
}

/// A delivery whose authenticity has been checked, ready to store.
pub struct VerifiedDelivery(pub NewDelivery);

impl FromRequest<SharedIngest> for VerifiedDelivery {
    type Rejection = Rejection;

    async fn from_request(req: Request, state: &SharedIngest) -> Result<Self, Rejection> {
        let forge = match req.uri().path() {
            p if p.ends_with("/gitlab") => ForgeKind::GitLab,
            _ => ForgeKind::GitHub,
        };
        let (parts, body) = req.into_parts();
        let config = &state.config;
        let secrets = match forge {
            ForgeKind::GitHub => &config.secrets.github_webhook,
            ForgeKind::GitLab => &config.secrets.gitlab_webhook,
        };
        if secrets.is_empty() {
            let var = match forge {
                ForgeKind::GitHub => &config.github.webhook_secret_env,
                ForgeKind::GitLab => &config.gitlab.webhook_token_env,
            };
            return Err(Rejection::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "{} webhooks are not configured on this server: set {var}",
                    forge.as_str()
                ),
            ));
        }
        let headers = &parts.headers;
        let required = |name: &str| {
            header_str(headers, name).ok_or_else(|| {
                Rejection::new(
                    StatusCode::BAD_REQUEST,
                    format!("missing required header {name}"),
                )
            })
        };
        let (event, delivery_header) = match forge {
            ForgeKind::GitHub => (
                required("x-github-event")?,
                Some(required("x-github-delivery")?),
            ),
            ForgeKind::GitLab => (
                required("x-gitlab-event")?,
                header_str(headers, "idempotency-key")
                    .or_else(|| header_str(headers, "x-gitlab-event-uuid")),
            ),
        };
        let unverified = |e: webhooks::VerifyError| {
            tracing::warn!(forge = forge.as_str(), %event, error = %e, "rejected an unverified delivery");
            Rejection::new(StatusCode::UNAUTHORIZED, e.to_string())
        };
        // GitLab's token is a header: a forgery is refused before its body is read, so
        // an unauthenticated sender cannot make the bot receive and buffer megabytes.
        if forge == ForgeKind::GitLab {
            webhooks::verify_gitlab(secrets, headers.get("x-gitlab-token").map(|v| v.as_bytes()))
                .map_err(unverified)?;
        }
        let body = read_capped(headers, body, config.ingest.max_body_bytes).await?;
        // GitHub signs the body, so it can only be checked once read (and capped).
        if forge == ForgeKind::GitHub {
            webhooks::verify_github(
                secrets,
                headers.get("x-hub-signature-256").map(|v| v.as_bytes()),
                &body,
            )
            .map_err(unverified)?;
        }
        let delivery_id = delivery_header
            .map(str::to_owned)
            .unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(&body))));
        let mut delivery = NewDelivery {
            forge,
            forge_host: forge_host(forge, headers, config),
            delivery_id,
            event: event.to_owned(),
            action: None,
            repo: None,
            body: None,
            received_at: state.clock.now_ms(),
            settled: None,
        };
        route_into(&mut delivery, headers, &body, config.bot_name(forge));
        Ok(VerifiedDelivery(delivery))
    }
}

/// Store a verified delivery and say whether it was new.
pub async fn receive(
    State(state): State<SharedIngest>,
    VerifiedDelivery(delivery): VerifiedDelivery,
) -> Result<Response, Rejection> {
    let delivery_id = delivery.delivery_id.clone();
    let span = tracing::debug_span!(
        "ingest",
        forge = delivery.forge.as_str(),
        delivery = %delivery_id,
        event = %delivery.event,
        repo = delivery.repo.as_deref().unwrap_or("-"),
    );
    let outcome = state
        .store
        .write_light(move |tx| {
            let outcome = crate::store::insert_delivery(tx, &delivery)?;
            if matches!(outcome, InsertOutcome::Inserted(_)) && delivery.settled.is_none() {
                tx.wake(crate::store::Wake::Inbox);
            }
            Ok(outcome)
        })
        .instrument(span.clone())
        .await
        .map_err(|e| {
            // Not stored, so not acknowledged: the forge may redeliver.
            tracing::error!(parent: &span, error = %e, "could not store a delivery");
            Rejection::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not store the delivery",
            )
        })?;
    let (status, duplicate) = match outcome {
        InsertOutcome::Inserted(_) => (StatusCode::ACCEPTED, false),
        InsertOutcome::Duplicate(_) => (StatusCode::OK, true),
    };
    Ok((
        status,
        Json(json!({ "delivery_id": delivery_id, "duplicate": duplicate })),
    )
        .into_response())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

async fn read_capped(headers: &HeaderMap, body: Body, max: usize) -> Result<Bytes, Rejection> {
    let too_large = || {
        Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("delivery is larger than {max} bytes"),
        )
    };
    let declared =
        header_str(headers, header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, max).await.map_err(|e| {
        let length_limit = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if length_limit {
            too_large()
        } else {
            Rejection::new(
                StatusCode::BAD_REQUEST,
                format!("could not read the body: {e}"),
            )
        }
    })
}

/// The forge instance a delivery came from; delivery ids are unique per instance.
fn forge_host(forge: ForgeKind, headers: &HeaderMap, config: &Config) -> String {
    match forge {
        ForgeKind::GitHub => header_str(headers, "x-github-enterprise-host")
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| config.forge_host(forge).to_string()),
        ForgeKind::GitLab => header_str(headers, "x-gitlab-instance")
            .map(|url| {
                let rest = url.split_once("://").map_or(url, |(_, r)| r);
                rest.split('/').next().unwrap_or(rest).to_ascii_lowercase()
            })
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| config.forge_host(forge).to_string()),
    }
}

/// Decode and route a verified body. A body that cannot be routed is still stored, as
/// failed, so nothing a forge sent is lost and a person can see why; one the look
/// shows needs no work (a comment that addresses nobody) is stored settled.
fn route_into(delivery: &mut NewDelivery, headers: &HeaderMap, body: &[u8], bot_name: &str) {
    let forge = delivery.forge;
    let content_type = header_str(headers, header::CONTENT_TYPE.as_str());
    let json = match forge {
        ForgeKind::GitHub => {
            webhooks::github_payload_bytes(content_type, body).map_err(|e| e.to_string())
        }
        ForgeKind::GitLab => Ok(std::borrow::Cow::Borrowed(body)),
    };
    match json {
        Ok(json) => {
            match webhooks::route(forge, &delivery.event, &json) {
                Ok(route) => {
                    delivery.settled = crate::decisions::triage::settled(&route, &[bot_name])
                        .map(|why| Settled::Ignored(why.to_owned()));
                    delivery.action = route.action;
                    delivery.repo = route.repo_path.map(|path| {
                        let host = route.web_host.as_deref().unwrap_or(&delivery.forge_host);
                        rig_id(forge, host, &path)
                    });
                }
                Err(e) => {
                    delivery.settled = Some(Settled::Failed(format!("{}: {e}", delivery.event)))
                }
            }
            // A delivery settled as needing nothing is recorded (its id deduplicates
            // redeliveries, its row says why nothing was done) without its body: most
            // of what a busy repository sends is such talk, and its bytes, written to
            // the WAL and again by the checkpoint, are what an acknowledgement waits on.
            if !matches!(delivery.settled, Some(Settled::Ignored(_))) {
                delivery.body = Some(StoredBody::compress(&json));
            }
        }
        Err(e) => {
            delivery.settled = Some(Settled::Failed(format!("{}: {e}", delivery.event)));
            delivery.body = Some(StoredBody::compress(body));
        }
    }
}
