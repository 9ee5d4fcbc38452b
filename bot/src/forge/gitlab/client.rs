//! The HTTP client under [`super::gitlab::GitlabForge`]: the gitlab crate's
//! [`RestClient`]/[`AsyncClient`] on reqwest, so its endpoint builders run through the
//! shared [`Policy`] (the crate's own client has no retry or rate-limit handling and is
//! hard to point at a plain-http simulator).

use async_trait::async_trait;
use bytes::Bytes;
use gitlab::api::{ApiError, AsyncClient, RestClient};
use http::header::{HeaderName, HeaderValue};
use url::Url;

use crate::forge::resilience::{Policy, Secret, SendFailure, send};

/// Why one REST exchange failed below the gitlab crate.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error(transparent)]
    Send(#[from] SendFailure),
    #[error("invalid request: {0}")]
    Request(String),
}

/// A GitLab REST v4 client: `PRIVATE-TOKEN` auth, every request through [`Policy`].
#[derive(Clone)]
pub struct GitlabRest {
    base: Url,
    token: Secret,
    http: reqwest::Client,
    policy: Policy,
}

impl std::fmt::Debug for GitlabRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitlabRest")
            .field("base", &self.base.as_str())
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl GitlabRest {
    /// `api_base` is `http(s)://host[:port]` or that plus `/api/v4`; either works.
    pub fn new(api_base: &str, token: Secret, policy: Policy) -> Result<Self, String> {
        let trimmed = api_base.trim_end_matches('/');
        let with_api = if trimmed.ends_with("/api/v4") {
            format!("{trimmed}/")
        } else {
            format!("{trimmed}/api/v4/")
        };
        let base =
            Url::parse(&with_api).map_err(|e| format!("gitlab api base `{api_base}`: {e}"))?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("gastown-bot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("gitlab http client: {e}"))?;
        Ok(Self {
            base,
            token,
            http,
            policy,
        })
    }
}

impl GitlabRest {
    /// The token, for the bot's git (as `oauth2`'s password).
    pub(crate) fn token(&self) -> &Secret {
        &self.token
    }
}

impl RestClient for GitlabRest {
    type Error = RestError;

    fn rest_endpoint(&self, endpoint: &str) -> Result<Url, ApiError<Self::Error>> {
        Ok(self.base.join(endpoint)?)
    }
}

#[async_trait]
impl AsyncClient for GitlabRest {
    async fn rest_async(
        &self,
        request: http::request::Builder,
        body: Vec<u8>,
    ) -> Result<http::Response<Bytes>, ApiError<Self::Error>> {
        let client_err = |e: RestError| ApiError::Client { source: e };
        let req = request
            .body(())
            .map_err(|e| client_err(RestError::Request(e.to_string())))?;
        let (parts, ()) = req.into_parts();
        let url = Url::parse(&parts.uri.to_string())?;
        let mut headers = parts.headers;
        let mut token = HeaderValue::from_str(self.token.expose())
            .map_err(|_| client_err(RestError::Request("token is not a header value".into())))?;
        token.set_sensitive(true);
        headers.insert(HeaderName::from_static("private-token"), token);
        send(&self.policy, &self.http, parts.method, url, headers, body)
            .await
            .map_err(|e| client_err(e.into()))
    }
}
