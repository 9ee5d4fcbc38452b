//! `/_sim/gitlab/...`: the GitLab acts over HTTP JSON, so a person, a script or `gt demo`
//! can drive a running `gt-forge-sim` on a GitLab project. `{p}` is the project path
//! URL-encoded (`town%2Ftools%2Fhello`); errors come back in GitLab's shape.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::rest::GlError;
use crate::Sim;
use crate::error::SimError;
use crate::ops::gitlab::GlIssueEdit;
use crate::world::Permission;

type Res = Result<Response, GlError>;

pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/projects", post(create_project))
        .route("/projects/{p}/members", post(add_member))
        .route("/projects/{p}/hook", post(set_hook))
        .route("/projects/{p}/settings", put(settings))
        .route("/projects/{p}/issues", post(open_issue))
        .route("/projects/{p}/issues/{iid}/labels", post(add_label))
        .route("/projects/{p}/issues/{iid}/notes", post(issue_note))
        .route("/projects/{p}/merge_requests", post(open_mr))
        .route("/projects/{p}/merge_requests/{iid}/notes", post(mr_note))
        .route("/projects/{p}/merge_requests/{iid}/approve", post(approve))
        .route("/projects/{p}/merge_requests/{iid}/merge", post(merge))
        .route("/projects/{p}/pipelines", post(run_pipeline))
        .route("/projects/{p}/pipelines/{id}", put(finish_pipeline))
        .with_state(sim)
}

fn actor(sim: &Sim, login: &str) -> Result<u64, GlError> {
    Ok(sim
        .world()
        .user_by_login(login)
        .map(|u| u.id)
        .ok_or_else(|| SimError::NoUser(login.to_owned()))?)
}

fn created(v: serde_json::Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

#[derive(Deserialize)]
struct NewProject {
    project: String,
    #[serde(default = "main_branch")]
    default_branch: String,
}

fn main_branch() -> String {
    "main".into()
}

async fn create_project(State(sim): State<Arc<Sim>>, Json(b): Json<NewProject>) -> Res {
    let id = sim
        .create_gitlab_project(&b.project, &b.default_branch)
        .await?;
    Ok(created(json!({"id": id, "project": b.project})))
}

#[derive(Deserialize)]
struct Member {
    login: String,
    access_level: u64,
}

async fn add_member(
    State(sim): State<Arc<Sim>>,
    Path(p): Path<String>,
    Json(b): Json<Member>,
) -> Res {
    let permission = match b.access_level {
        50.. => Permission::Admin,
        40..=49 => Permission::Maintain,
        30..=39 => Permission::Write,
        20..=29 => Permission::Triage,
        10..=19 => Permission::Read,
        _ => Permission::None,
    };
    sim.grant(&p, &b.login, permission)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct Hook {
    url: String,
    token: String,
}

async fn set_hook(State(sim): State<Arc<Sim>>, Path(p): Path<String>, Json(b): Json<Hook>) -> Res {
    sim.set_gitlab_hook(&p, &b.url, &b.token)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct Settings {
    only_allow_merge_if_pipeline_succeeds: bool,
}

async fn settings(
    State(sim): State<Arc<Sim>>,
    Path(p): Path<String>,
    Json(b): Json<Settings>,
) -> Res {
    sim.set_pipelines_must_succeed(&p, b.only_allow_merge_if_pipeline_succeeds)?;
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
    description: Option<String>,
    #[serde(default)]
    body: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    source_branch: String,
    #[serde(default)]
    target_branch: String,
    #[serde(default)]
    squash: bool,
    #[serde(default, rename = "ref")]
    git_ref: String,
}

async fn open_issue(State(sim): State<Arc<Sim>>, Path(p): Path<String>, Json(b): Json<Act>) -> Res {
    let iid = sim.gl_open_issue(
        actor(&sim, &b.as_user)?,
        &p,
        &b.title,
        b.description.as_deref(),
        &[],
    )?;
    Ok(created(json!({"iid": iid})))
}

async fn add_label(
    State(sim): State<Arc<Sim>>,
    Path((p, iid)): Path<(String, u64)>,
    Json(b): Json<Act>,
) -> Res {
    let edit = GlIssueEdit {
        add_labels: vec![b.label],
        ..Default::default()
    };
    sim.gl_edit_issue(actor(&sim, &b.as_user)?, &p, iid, edit)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn note(sim: &Sim, p: &str, iid: u64, mr: bool, b: Act) -> Res {
    let id = sim.gl_note(actor(sim, &b.as_user)?, p, iid, mr, &b.body)?;
    Ok(created(json!({"id": id})))
}

async fn issue_note(
    State(sim): State<Arc<Sim>>,
    Path((p, iid)): Path<(String, u64)>,
    Json(b): Json<Act>,
) -> Res {
    note(&sim, &p, iid, false, b).await
}

async fn mr_note(
    State(sim): State<Arc<Sim>>,
    Path((p, iid)): Path<(String, u64)>,
    Json(b): Json<Act>,
) -> Res {
    note(&sim, &p, iid, true, b).await
}

async fn open_mr(State(sim): State<Arc<Sim>>, Path(p): Path<String>, Json(b): Json<Act>) -> Res {
    let iid = sim
        .gl_open_mr(
            actor(&sim, &b.as_user)?,
            &p,
            &b.source_branch,
            &b.target_branch,
            &b.title,
            b.description.as_deref(),
        )
        .await?;
    Ok(created(json!({"iid": iid})))
}

async fn approve(
    State(sim): State<Arc<Sim>>,
    Path((p, iid)): Path<(String, u64)>,
    Json(b): Json<Act>,
) -> Res {
    sim.gl_approve(actor(&sim, &b.as_user)?, &p, iid, None)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn merge(
    State(sim): State<Arc<Sim>>,
    Path((p, iid)): Path<(String, u64)>,
    Json(b): Json<Act>,
) -> Res {
    let sha = sim
        .gl_merge(actor(&sim, &b.as_user)?, &p, iid, b.squash, None)
        .await?;
    Ok(Json(json!({"sha": sha})).into_response())
}

async fn run_pipeline(
    State(sim): State<Arc<Sim>>,
    Path(p): Path<String>,
    Json(b): Json<Act>,
) -> Res {
    let id = sim
        .gl_run_pipeline(actor(&sim, &b.as_user)?, &p, &b.git_ref, "web")
        .await?;
    Ok(created(json!({"id": id})))
}

#[derive(Deserialize)]
struct Finish {
    status: String,
}

async fn finish_pipeline(
    State(sim): State<Arc<Sim>>,
    Path((p, id)): Path<(String, u64)>,
    Json(b): Json<Finish>,
) -> Res {
    sim.gl_finish_pipeline(&p, id, &b.status).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
