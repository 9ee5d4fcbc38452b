//! GitHub App authentication: an app proves itself with a JWT and gets an installation
//! token that acts as `<slug>[bot]`.
//!
//! With [`crate::SimOptions::app_public_key_pem`] set, the JWT must be RS256-signed by
//! the app's private key, as on GitHub. Without it the signature is not checked: any
//! well-formed RS256 JWT whose `iss` is the app id and whose `exp` is in the future is
//! accepted, which still catches a wrong app id, an expired token or a bad header.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use serde_json::{Value, json};

use super::{created, full, ok};
use crate::error::ApiError;
use crate::github::events::INSTALLATION_ID;
use crate::github::render::time;
use crate::github::render_ci::app_permissions;
use crate::{Sim, ops};

type Res = Result<Response, ApiError>;

/// How long an installation token lives, as on GitHub.
const TOKEN_TTL_SECS: i64 = 3600;

fn jwt_claims(sim: &Sim, headers: &HeaderMap) -> Result<Value, ApiError> {
    let bad = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "A JSON web token could not be decoded",
        )
    };
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(bad)?;
    let jwt = auth.strip_prefix("Bearer ").ok_or_else(bad)?;
    let parts: Vec<&str> = jwt.trim().split('.').collect();
    if parts.len() != 3 || parts[2].is_empty() {
        return Err(bad());
    }
    let decode = |s: &str| -> Result<Value, ApiError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .map_err(|_| bad())?;
        serde_json::from_slice(&bytes).map_err(|_| bad())
    };
    let header = decode(parts[0])?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(bad());
    }
    if let Some(pem) = &sim.options.app_public_key_pem {
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
            tracing::error!(error = %e, "app_public_key_pem is not an RSA public key");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Server Error")
        })?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        // `iss` and `exp` are checked below with GitHub's messages.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<Value>(jwt.trim(), &key, &validation).map_err(|_| bad())?;
    }
    decode(parts[1])
}

/// `POST /app/installations/{id}/access_tokens`.
pub async fn access_token(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<u64>,
    headers: HeaderMap,
) -> Res {
    let claims = jwt_claims(&sim, &headers)?;
    let iss = match claims.get("iss") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    let now = ops::now();
    if iss != Some(sim.options.app_id) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Integration not found",
        ));
    }
    if claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_none_or(|exp| exp <= now)
    {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
        ));
    }
    if id != INSTALLATION_ID {
        return Err(ApiError::not_found());
    }
    let token = format!("ghs_sim{:032x}", rand::random::<u128>());
    let expires = now + TOKEN_TTL_SECS;
    sim.world()
        .installation_tokens
        .insert(token.clone(), (sim.app_bot, expires));
    Ok(created(json!({
        "token": token,
        "expires_at": time(expires),
        "permissions": app_permissions(),
        "repository_selection": "all",
    })))
}

/// `GET /repos/{o}/{r}/installation`: the app is installed on every repository.
pub async fn repo_installation(
    State(sim): State<Arc<Sim>>,
    Path((o, r)): Path<(String, String)>,
    headers: HeaderMap,
) -> Res {
    jwt_claims(&sim, &headers)?;
    let world = sim.world();
    let repo = ops::repo_of(&world, &full(&o, &r))?;
    let owner = world.user_by_login(&repo.owner).map(|u| u.id).unwrap_or(0);
    let api = &sim.urls.api;
    Ok(ok(json!({
        "id": INSTALLATION_ID,
        "account": sim.urls.user(&world, owner),
        "access_tokens_url": format!("{api}/app/installations/{INSTALLATION_ID}/access_tokens"),
        "repositories_url": format!("{api}/installation/repositories"),
        "html_url": format!("{}/settings/installations/{INSTALLATION_ID}", sim.urls.web),
        "app_id": sim.options.app_id,
        "app_slug": sim.options.app_slug,
        "target_id": owner,
        "target_type": "User",
        "permissions": app_permissions(),
        "events": ["issues", "issue_comment", "pull_request", "pull_request_review", "push", "status", "check_run"],
        "created_at": time(repo.created_at),
        "updated_at": time(repo.created_at),
        "single_file_name": null,
        "repository_selection": "all",
    })))
}
