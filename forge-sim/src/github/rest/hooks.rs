//! `/repos/{o}/{r}/hooks...`: the repository's webhook and its delivery log, which a
//! bot reads after downtime to find and redeliver what it missed, as GitHub suggests.
//! The simulator keeps one hook per repository; creating a hook replaces it.

use std::sync::Arc;

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Caller, Query, created, full, ok, paginate, str_field};
use crate::delivery::Delivery;
use crate::error::ApiError;
use crate::github::events::INSTALLATION_ID;
use crate::github::render::time;
use crate::world::{Hook, Permission, Repo};
use crate::{Sim, ops};

type Res = Result<Response, ApiError>;

/// Hooks are admin business on GitHub; anyone else gets 404, not 403.
fn admin_repo<'w>(
    world: &'w crate::world::World,
    repo: &str,
    caller: Caller,
) -> Result<&'w Repo, ApiError> {
    let r = ops::repo_of(world, repo)?;
    let actor = caller.actor()?;
    if world.permission(r, actor) < Permission::Admin {
        return Err(ApiError::not_found());
    }
    Ok(r)
}

fn render_hook(sim: &Sim, repo: &Repo, hook: &Hook) -> Value {
    let url = format!("{}/hooks/{}", sim.urls.repo_api(repo), hook.id);
    let last = sim
        .deliveries
        .log()
        .into_iter()
        .rev()
        .find(|d| d.hook_id == hook.id);
    let code = last
        .as_ref()
        .and_then(|d| d.attempts.last())
        .and_then(|a| a.status);
    json!({
        "type": "Repository",
        "id": hook.id,
        "name": "web",
        "active": true,
        "events": ["*"],
        "config": {"content_type": "json", "insecure_ssl": "0", "url": hook.url, "secret": "********"},
        "created_at": time(repo.created_at),
        "updated_at": time(repo.created_at),
        "url": url,
        "test_url": format!("{url}/test"),
        "ping_url": format!("{url}/pings"),
        "deliveries_url": format!("{url}/deliveries"),
        "last_response": {
            "code": code,
            "status": if code.is_some() { "active" } else { "unused" },
            "message": null,
        },
    })
}

pub async fn list(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r)): Path<(String, String)>,
) -> Res {
    let world = sim.world();
    let repo = admin_repo(&world, &full(&o, &r), caller)?;
    let hooks: Vec<Value> = repo
        .hook
        .iter()
        .map(|h| render_hook(&sim, repo, h))
        .collect();
    Ok(ok(json!(hooks)))
}

pub async fn create(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Res {
    let repo = full(&o, &r);
    admin_repo(&sim.world(), &repo, caller)?;
    let config = body.get("config").cloned().unwrap_or(Value::Null);
    let url = str_field(&config, "url")
        .ok_or_else(|| ApiError::validation("Hook", "url", "missing_field"))?;
    let secret = str_field(&config, "secret").unwrap_or_default();
    sim.set_hook(&repo, &url, &secret)?;
    let world = sim.world();
    let r = ops::repo_of(&world, &repo)?;
    let hook = r.hook.as_ref().expect("just set");
    Ok(created(render_hook(&sim, r, hook)))
}

fn summary(d: &Delivery) -> Value {
    let last = d.attempts.last();
    let code = last.and_then(|a| a.status).unwrap_or(0);
    let status = match (d.dropped, last) {
        (true, _) => "Dropped".to_owned(),
        (false, None) => "Pending".to_owned(),
        (false, Some(a)) => match (a.status, &a.error) {
            (Some(c), _) if (200..300).contains(&c) => "OK".to_owned(),
            (Some(c), _) => format!("Invalid HTTP Response: {c}"),
            (None, Some(e)) => e.clone(),
            (None, None) => "failed".to_owned(),
        },
    };
    json!({
        "id": d.id,
        "guid": d.guid,
        "delivered_at": time(last.map(|a| a.at).unwrap_or_default()),
        "redelivery": last.is_some_and(|a| a.redelivery),
        "duration": last.map(|a| a.duration_ms as f64 / 1000.0).unwrap_or(0.0),
        "status": status,
        "status_code": code,
        "event": d.event,
        "action": d.action,
        "installation_id": INSTALLATION_ID,
        "repository_id": d.repo_id,
        "throttled_at": null,
    })
}

fn deliveries_of(
    sim: &Sim,
    world: &crate::world::World,
    repo: &str,
    hook_id: u64,
    caller: Caller,
) -> Result<Vec<Delivery>, ApiError> {
    let r = admin_repo(world, repo, caller)?;
    if r.hook.as_ref().is_none_or(|h| h.id != hook_id) {
        return Err(ApiError::not_found());
    }
    Ok(sim
        .deliveries
        .log()
        .into_iter()
        .filter(|d| d.hook_id == hook_id)
        .collect())
}

/// Newest first, as GitHub lists them.
pub async fn list_deliveries(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r, hook_id)): Path<(String, String, u64)>,
    uri: OriginalUri,
    q: Query,
) -> Res {
    let items = {
        let world = sim.world();
        let deliveries = deliveries_of(&sim, &world, &full(&o, &r), hook_id, caller)?;
        deliveries.iter().rev().map(summary).collect()
    };
    Ok(paginate(&sim, &uri, &q, items))
}

pub async fn get_delivery(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r, hook_id, id)): Path<(String, String, u64, u64)>,
) -> Res {
    let world = sim.world();
    let deliveries = deliveries_of(&sim, &world, &full(&o, &r), hook_id, caller)?;
    let d = deliveries
        .iter()
        .find(|d| d.id == id)
        .ok_or_else(ApiError::not_found)?;
    let mut v = summary(d);
    v["request"] = json!({
        "headers": {"X-GitHub-Event": d.event, "X-GitHub-Delivery": d.guid, "content-type": "application/json"},
        "payload": d.payload,
    });
    v["response"] = json!({"headers": {}, "payload": null});
    v["url"] = json!(d.url);
    Ok(ok(v))
}

/// `POST .../deliveries/{id}/attempts`: redeliver.
pub async fn redeliver(
    State(sim): State<Arc<Sim>>,
    caller: Caller,
    Path((o, r, hook_id, id)): Path<(String, String, u64, u64)>,
) -> Res {
    let guid = {
        let world = sim.world();
        let deliveries = deliveries_of(&sim, &world, &full(&o, &r), hook_id, caller)?;
        deliveries
            .into_iter()
            .find(|d| d.id == id)
            .ok_or_else(ApiError::not_found)?
            .guid
    };
    sim.deliveries.redeliver(&guid);
    Ok((StatusCode::ACCEPTED, Json(json!({}))).into_response())
}
