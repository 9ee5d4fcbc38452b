//! `gt serve`: wires the store, the ingest routes and the inbox worker together.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use crate::app::App;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::edge::ingest::{self, IngestState, SharedIngest};
use crate::forge::registry::Forges;

impl App {
    pub fn router(&self) -> Router {
        let ingest: SharedIngest = Arc::new(IngestState {
            store: self.store.clone(),
            config: (*self.config).clone(),
            clock: self.clock.clone(),
        });
        Router::new()
            .route("/webhooks/github", post(ingest::receive))
            .route("/webhooks/gitlab", post(ingest::receive))
            .route("/healthz", get(healthz))
            // Kubernetes' readiness probe: the same question (can deliveries be
            // committed?), under the name probes expect.
            .route("/readyz", get(healthz))
            .with_state(ingest)
            .merge(crate::edge::agent_api::router(self.tools.clone()))
            .merge(crate::gitgate::router(self.gateway.clone()))
            // Ingest, the agent endpoints and the git gateway enforce their own caps and
            // answer 413 themselves.
            .layer(DefaultBodyLimit::disable())
            .layer(CatchPanicLayer::new())
            .layer(TraceLayer::new_for_http())
    }
}

async fn healthz(State(state): State<SharedIngest>) -> impl IntoResponse {
    match state.store.read(pending_count).await {
        Ok(pending) => (
            StatusCode::OK,
            Json(json!({ "status": "ok", "inbox_pending": pending })),
        ),
        // The error names the database, its SQL or a path: the log has it, under an id.
        Err(e) => {
            let id =
                crate::edge::agent_api::Incident::new("/healthz: the database does not answer", &e)
                    .id;
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable",
                    "error": format!("the database does not answer (error {id}; see the log)") })),
            )
        }
    }
}

fn pending_count(c: &rusqlite::Connection) -> crate::store::Result<i64> {
    Ok(c.query_row(
        "SELECT count(*) FROM inbox WHERE status = 'pending'",
        [],
        |r| r.get(0),
    )?)
}

/// The forge clients the configuration and environment provide. A forge without
/// credentials gets no client: nothing slings in its rigs (no permission can be
/// checked) and the bot cannot comment there; the returned warnings say so.
pub fn forges_from_config(
    config: &Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<(Forges, Vec<String>)> {
    use crate::forge::config::{ForgeConfig, build_forge};
    use webhooks::ForgeKind;

    const APP_ID: &str = "GT_INTERNAL_GITHUB_APP_ID";
    let mut forges = Forges::new();
    let mut warnings = Vec::new();
    let gh = &config.github;
    if crate::forge::registry::has_credentials(config, ForgeKind::GitHub, env) {
        let mut cfg = ForgeConfig::new(ForgeKind::GitHub, gh.host.clone(), gh.token_env.clone());
        cfg.api_base = Some(gh.api_url());
        if gh.app_id.is_some() {
            cfg.app_id_env = Some(APP_ID.into());
            cfg.private_key_file_env = Some(gh.app_private_key_file_env.clone());
        }
        let app_id = gh.app_id.map(|id| id.to_string());
        let lookup = |k: &str| if k == APP_ID { app_id.clone() } else { env(k) };
        let forge = build_forge(&cfg, &lookup).context("cannot set up the GitHub client")?;
        forges = forges.with(forge);
    } else {
        warnings.push(format!(
            "no GitHub credentials ({} or github.app_id): nothing slings from GitHub, \
             since nobody can check that whoever labels an issue may write there, and the \
             bot cannot comment there",
            gh.token_env
        ));
    }
    let gl = &config.gitlab;
    if crate::forge::registry::has_credentials(config, ForgeKind::GitLab, env) {
        let mut cfg = ForgeConfig::new(ForgeKind::GitLab, gl.host.clone(), gl.token_env.clone());
        cfg.api_base = Some(gl.api_url());
        let forge = build_forge(&cfg, env).context("cannot set up the GitLab client")?;
        forges = forges.with(forge);
    } else {
        warnings.push(format!(
            "no GitLab credentials ({}): nothing slings from GitLab, since nobody can \
             check that whoever labels an issue may write there, and the bot cannot \
             comment there",
            gl.token_env
        ));
    }
    Ok((forges, warnings))
}

/// The runner `runner.kind` asks for. Docker must be reachable; local is said loudly.
pub async fn runner_from_config(
    config: &Config,
) -> anyhow::Result<Option<Arc<dyn runner::Runner>>> {
    use crate::config::RunnerKind;
    Ok(Some(match config.runner.kind {
        RunnerKind::None => {
            tracing::warn!("runner: none — beads are made but no polecat works them");
            return Ok(None);
        }
        RunnerKind::Docker => Arc::new(
            runner::DockerRunner::connect()
                .await
                .context(
                    "the docker runner is configured (the default); start dockerd, or set \
                     GT_RUNNER=local (runner.kind: local) to run agents unisolated on this host",
                )?
                .with_network(config.runner.network.clone()),
        ),
        RunnerKind::Kubernetes => {
            let k = &config.runner.kubernetes;
            let runner = runner::KubernetesRunner::connect(k.clone()).await.context(
                "the kubernetes runner is configured (runner.kind: kubernetes) but the cluster \
                 is not reachable",
            )?;
            tracing::info!(namespace = %k.namespace, image = %config.runner.image(),
                "runner: kubernetes — a pod per town");
            Arc::new(runner)
        }
        RunnerKind::Local => {
            tracing::warn!(
                "runner: local — agents run as processes on this host with no isolation; \
                 use the docker runner for anything but trusted work"
            );
            Arc::new(runner::LocalRunner::new())
        }
    }))
}

/// Run the bot until SIGINT or SIGTERM.
pub async fn serve(mut config: Config) -> anyhow::Result<()> {
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let listen = config.listen.clone();
    let (forges, forge_warnings) = forges_from_config(&config, &|k| std::env::var(k).ok())?;
    for warning in forge_warnings {
        tracing::warn!("{warning}");
    }
    let runner = runner_from_config(&config).await?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (set GT_LISTEN or `listen:`)"))?;
    let addr: SocketAddr = listener.local_addr()?;
    // Agents call back on the port actually bound (`listen: 127.0.0.1:0` included).
    if config.public_url.is_none() {
        config.public_url = Some(format!("http://{addr}"));
    }
    let mut app = App::builder(config, Arc::new(SystemClock)).forges(forges);
    if let Some(runner) = runner {
        app = app.runner(runner);
    }
    let app = app.build()?;
    let pending = app.store.read(pending_count).await?;
    tracing::info!(
        %addr,
        database = %app.store.path().display(),
        pending,
        "gt serve is up; resuming pending deliveries"
    );
    // Tests and scripts read this line to learn the port when listening on :0.
    println!("listening on http://{addr}");
    let running = start(app, listener);
    shutdown_signal().await;
    tracing::info!("shutting down: finishing requests in flight");
    running.stop().await
}

/// How long a shutdown waits for requests in flight.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// A bot serving HTTP with its background loops (inbox worker, forge actions,
/// catch-up, polecats, refinery, patrol), until [`Running::stop`].
pub struct Running {
    pub addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Finish requests in flight, then end the loops.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        let mut server = self.server;
        // Long requests (an agent's model request through the proxy, an MCP stream)
        // would hold a graceful shutdown for as long as the model takes. Past the grace
        // they are cut: nothing is lost, since a delivery is committed before it is
        // acknowledged and an agent's CLI retries its request.
        let served = match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
            Ok(served) => served,
            Err(_) => {
                tracing::warn!(
                    grace_secs = SHUTDOWN_GRACE.as_secs(),
                    "requests still in flight after the grace; cutting them"
                );
                server.abort();
                Ok(Ok(()))
            }
        };
        for t in self.tasks {
            t.abort();
        }
        served
            .context("HTTP server task failed")?
            .context("HTTP server failed")
    }
}

/// Serve `app` on `listener` and start its loops.
pub fn start(app: App, listener: tokio::net::TcpListener) -> Running {
    let addr = listener.local_addr().expect("a bound listener");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.changed().await;
    };
    let catch_up_every = std::time::Duration::from_secs(app.config.catch_up.interval_secs);
    let mut tasks = vec![
        tokio::spawn(app.worker.clone().run(stopped(stop_rx.clone()))),
        tokio::spawn(app.actions.clone().run(stopped(stop_rx.clone()))),
        tokio::spawn(
            app.catch_up
                .clone()
                .run(catch_up_every, stopped(stop_rx.clone())),
        ),
        tokio::spawn(crate::loops::retention::run(
            app.store.clone(),
            app.clock.clone(),
            app.config.inbox.keep_days,
            stopped(stop_rx.clone()),
        )),
        tokio::spawn(app.refinery.clone().run(stopped(stop_rx.clone()))),
        tokio::spawn(app.patrol.clone().run(stopped(stop_rx.clone()))),
        tokio::spawn(app.mayor.clone().run(stopped(stop_rx.clone()))),
    ];
    if let Some(p) = app.polecats.clone() {
        tasks.push(tokio::spawn(p.run(stopped(stop_rx.clone()))));
    }
    let router = app.router();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(stopped(stop_rx))
            .await
    });
    Running {
        addr,
        stop: stop_tx,
        server,
        tasks,
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
