//! `/_sim/...`: the driver over HTTP JSON, so a person or a script can act on a running
//! `gt-forge-sim` (`curl -d '{"login":"alice"}' localhost:PORT/_sim/users`). Each route
//! is one [`crate::ops`] act; errors come back shaped like GitHub's.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sim;
use crate::error::{ApiError, SimError};
use crate::faults::FaultKind;
use crate::git::MergeMethod;
use crate::world::{Permission, ReviewState};

type Res = Result<Response, ApiError>;

pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/users", post(add_user))
        .route("/repos", post(create_repo))
        .route("/repos/{o}/{r}/grant", post(grant))
        .route("/repos/{o}/{r}/hook", post(set_hook))
        .route("/repos/{o}/{r}/issues", post(open_issue))
        .route("/repos/{o}/{r}/issues/{n}/labels", post(add_label))
        .route("/repos/{o}/{r}/issues/{n}/comments", post(comment))
        .route("/repos/{o}/{r}/pulls/{n}/reviews", post(review))
        .route("/repos/{o}/{r}/pulls/{n}/merge", post(merge))
        .route("/repos/{o}/{r}/commits", post(commit_file))
        .route("/repos/{o}/{r}/pulls", post(open_pull))
        .route("/repos/{o}/{r}/statuses/{sha}", post(set_status))
        .route("/repos/{o}/{r}/protection", post(protect))
        .route("/faults", post(fault))
        .route("/deliveries", get(deliveries))
        .route("/deliveries/{guid}/redeliver", post(redeliver))
        .with_state(sim)
}

fn actor(sim: &Sim, login: &str) -> Result<u64, ApiError> {
    Ok(sim
        .world()
        .user_by_login(login)
        .map(|u| u.id)
        .ok_or_else(|| SimError::NoUser(login.to_owned()))?)
}

#[derive(Deserialize)]
struct NewUser {
    login: String,
}

async fn add_user(State(sim): State<Arc<Sim>>, Json(b): Json<NewUser>) -> Res {
    let u = sim.add_user(&b.login)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": u.id, "login": u.login, "token": u.token})),
    )
        .into_response())
}

#[derive(Deserialize)]
struct NewRepo {
    repo: String,
    #[serde(default = "main_branch")]
    default_branch: String,
}

fn main_branch() -> String {
    "main".into()
}

async fn create_repo(State(sim): State<Arc<Sim>>, Json(b): Json<NewRepo>) -> Res {
    let id = sim.create_repo(&b.repo, &b.default_branch).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id, "repo": b.repo}))).into_response())
}

#[derive(Deserialize)]
struct Grant {
    login: String,
    permission: Permission,
}

async fn grant(
    State(sim): State<Arc<Sim>>,
    Path((o, r)): Path<(String, String)>,
    Json(b): Json<Grant>,
) -> Res {
    sim.grant(&format!("{o}/{r}"), &b.login, b.permission)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct HookBody {
    url: String,
    secret: String,
}

async fn set_hook(
    State(sim): State<Arc<Sim>>,
    Path((o, r)): Path<(String, String)>,
    Json(b): Json<HookBody>,
) -> Res {
    sim.set_hook(&format!("{o}/{r}"), &b.url, &b.secret)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Bodies of acts: who acts (`as`) and what they say.
#[derive(Deserialize)]
struct Act {
    #[serde(rename = "as")]
    as_user: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    label: String,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    method: Option<String>,
}

async fn open_issue(
    State(sim): State<Arc<Sim>>,
    Path((o, r)): Path<(String, String)>,
    Json(b): Json<Act>,
) -> Res {
    let n = sim.open_issue(
        actor(&sim, &b.as_user)?,
        &format!("{o}/{r}"),
        &b.title,
        b.body.as_deref(),
        &[],
    )?;
    Ok((StatusCode::CREATED, Json(json!({"number": n}))).into_response())
}

async fn add_label(
    State(sim): State<Arc<Sim>>,
    Path((o, r, n)): Path<(String, String, u64)>,
    Json(b): Json<Act>,
) -> Res {
    sim.add_labels(actor(&sim, &b.as_user)?, &format!("{o}/{r}"), n, &[b.label])?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn comment(
    State(sim): State<Arc<Sim>>,
    Path((o, r, n)): Path<(String, String, u64)>,
    Json(b): Json<Act>,
) -> Res {
    let id = sim.comment(
        actor(&sim, &b.as_user)?,
        &format!("{o}/{r}"),
        n,
        b.body.as_deref().unwrap_or_default(),
    )?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))).into_response())
}

async fn review(
    State(sim): State<Arc<Sim>>,
    Path((o, r, n)): Path<(String, String, u64)>,
    Json(b): Json<Act>,
) -> Res {
    let state = match b.state.as_deref() {
        Some("approve" | "APPROVE" | "APPROVED") => ReviewState::Approved,
        Some("request_changes" | "REQUEST_CHANGES" | "CHANGES_REQUESTED") => {
            ReviewState::ChangesRequested
        }
        _ => ReviewState::Commented,
    };
    let id = sim.review(
        actor(&sim, &b.as_user)?,
        &format!("{o}/{r}"),
        n,
        state,
        b.body.as_deref(),
    )?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))).into_response())
}

async fn merge(
    State(sim): State<Arc<Sim>>,
    Path((o, r, n)): Path<(String, String, u64)>,
    Json(b): Json<Act>,
) -> Res {
    let method = match b.method.as_deref() {
        Some("squash") => MergeMethod::Squash,
        Some("rebase") => MergeMethod::Rebase,
        _ => MergeMethod::Merge,
    };
    let sha = sim
        .merge_pull(
            actor(&sim, &b.as_user)?,
            &format!("{o}/{r}"),
            n,
            method,
            None,
            None,
        )
        .await?;
    Ok(Json(json!({"sha": sha})).into_response())
}

/// `{as, branch, path, content, message}`: commit one file, as the web editor does.
#[derive(Deserialize)]
struct CommitBody {
    #[serde(rename = "as")]
    as_user: String,
    branch: String,
    path: String,
    content: String,
    #[serde(default = "default_message")]
    message: String,
}

fn default_message() -> String {
    "Update from the simulator".into()
}

async fn commit_file(
    State(sim): State<Arc<Sim>>,
    Path((o, r)): Path<(String, String)>,
    Json(b): Json<CommitBody>,
) -> Res {
    let actor = actor(&sim, &b.as_user)?;
    let sha = sim
        .commit_file(
            actor,
            &format!("{o}/{r}"),
            &b.branch,
            &b.path,
            &b.content,
            &b.message,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"sha": sha}))).into_response())
}

/// `{as, head, base, title, body}`.
#[derive(Deserialize)]
struct PullBody {
    #[serde(rename = "as")]
    as_user: String,
    head: String,
    base: String,
    title: String,
    #[serde(default)]
    body: Option<String>,
}

async fn open_pull(
    State(sim): State<Arc<Sim>>,
    Path((o, r)): Path<(String, String)>,
    Json(b): Json<PullBody>,
) -> Res {
    let new = crate::ops::NewPull {
        title: b.title,
        body: b.body,
        head: b.head,
        base: b.base,
        draft: false,
    };
    let n = sim
        .open_pull(actor(&sim, &b.as_user)?, &format!("{o}/{r}"), new)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"number": n}))).into_response())
}

/// `{as, state, context, description?, target_url?}`.
#[derive(Deserialize)]
struct StatusBody {
    #[serde(rename = "as")]
    as_user: String,
    state: String,
    context: String,
    description: Option<String>,
    target_url: Option<String>,
}

async fn set_status(
    State(sim): State<Arc<Sim>>,
    Path((o, r, sha)): Path<(String, String, String)>,
    Json(b): Json<StatusBody>,
) -> Res {
    let input = crate::ops::StatusInput {
        state: b.state,
        context: Some(b.context),
        description: b.description,
        target_url: b.target_url,
    };
    let id = sim
        .create_status(actor(&sim, &b.as_user)?, &format!("{o}/{r}"), &sha, input)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))).into_response())
}

/// `{branch, contexts}`: require these status checks on the branch (`[]` unprotects).
#[derive(Deserialize)]
struct ProtectBody {
    branch: String,
    contexts: Vec<String>,
}

async fn protect(
    State(sim): State<Arc<Sim>>,
    Path((o, r)): Path<(String, String)>,
    Json(b): Json<ProtectBody>,
) -> Res {
    let contexts: Vec<&str> = b.contexts.iter().map(String::as_str).collect();
    sim.protect_branch(&format!("{o}/{r}"), &b.branch, &contexts)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `{"kind": "server_error"|"rate_limit"|"secondary_limit"|"delay"|"drop_deliveries"|
/// "duplicate_deliveries", "n": 1, "status": 502, "seconds": 60, "path_prefix": "/repos"}`
#[derive(Deserialize)]
struct Fault {
    kind: String,
    #[serde(default = "one")]
    n: u32,
    status: Option<u16>,
    seconds: Option<u64>,
    path_prefix: Option<String>,
}

fn one() -> u32 {
    1
}

async fn fault(State(sim): State<Arc<Sim>>, Json(b): Json<Fault>) -> Res {
    let secs = Duration::from_secs(b.seconds.unwrap_or(60));
    let kind = match b.kind.as_str() {
        "server_error" => FaultKind::ServerError(b.status.unwrap_or(502)),
        "rate_limit" => FaultKind::PrimaryRateLimit { reset_in: secs },
        "secondary_limit" => FaultKind::SecondaryRateLimit {
            status: b.status.unwrap_or(403),
            retry_after: secs,
        },
        "delay" => FaultKind::Delay(secs),
        "drop_deliveries" => {
            sim.deliveries.drop_next(b.n);
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        "duplicate_deliveries" => {
            sim.deliveries.duplicate_next(b.n);
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        other => return Err(SimError::Invalid(format!("unknown fault kind {other}")).into()),
    };
    sim.faults.inject(kind, b.n, b.path_prefix);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn deliveries(State(sim): State<Arc<Sim>>) -> Res {
    Ok(Json(serde_json::to_value(sim.deliveries.log()).unwrap_or(Value::Null)).into_response())
}

async fn redeliver(State(sim): State<Arc<Sim>>, Path(guid): Path<String>) -> Res {
    if sim.deliveries.redeliver(&guid) {
        Ok(StatusCode::ACCEPTED.into_response())
    } else {
        Err(ApiError::not_found())
    }
}
