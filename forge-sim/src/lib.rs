//! A faithful, stateful simulator of the forge as gastown-bot sees it: the subset of
//! GitHub's and GitLab's REST APIs the bot calls, git smart HTTP over real bare
//! repositories, and webhook deliveries shaped like each forge's. A repository belongs
//! to one forge: GitLab projects are made with [`SimHandle::create_gitlab_project`]. Tests and `gt demo` start it with
//! [`ForgeSim::start`] and drive it through [`SimHandle`] the way a person would.
//!
//! Layout, one job per module: [`world`] is the state, [`ops`] is what happens when
//! someone acts (shared by REST handlers and the driver, and the only place events are
//! emitted), [`github`] and [`gitlab`] are the forges' HTTP faces (REST handlers, JSON
//! shapes, webhook payloads, each forge's webhook objects rendered apart from its REST
//! ones), [`delivery`] sends webhooks, [`git`] and [`git_http`] are the repositories,
//! [`faults`] injects failures, [`driver`] is the handle, [`control`] the `/_sim` JSON
//! API over it. [`conformance`] is how the tests hold deliveries to what the forges
//! publish.

// The GitHub JSON shapes are large `json!` literals.
#![recursion_limit = "256"]

pub mod conformance;
pub mod control;
pub mod delivery;
pub mod driver;
pub mod error;
pub mod faults;
pub mod git;
pub mod git_http;
pub mod github;
pub mod gitlab;
pub mod ops;
pub mod paging;
pub mod world;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;

pub use delivery::{Attempt, Delivery};
pub use driver::{SimHandle, UserHandle};
pub use error::{ApiError, SimError};
pub use faults::FaultKind;
pub use git::MergeMethod;
pub use world::Permission;

/// Where the GitHub API is mounted; octocrab appends `/repos/...` to it.
pub const API_PREFIX: &str = "/api/github";

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Address to listen on; port 0 picks a free one.
    pub bind: SocketAddr,
    /// The GitHub App id whose JWTs `POST /app/installations/{id}/access_tokens`
    /// accepts (matched against the JWT's `iss`).
    pub app_id: u64,
    /// The app's slug; its installation acts as `<slug>[bot]`.
    pub app_slug: String,
    /// The app's RSA public key (PEM). When set, App JWTs must be RS256-signed with the
    /// matching private key; when `None`, only their claims are checked.
    pub app_public_key_pem: Option<String>,
    /// Where bare repositories live; a temporary directory (removed on drop) if `None`.
    pub data_dir: Option<PathBuf>,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            app_id: 1,
            app_slug: "gastown".into(),
            app_public_key_pem: None,
            data_dir: None,
        }
    }
}

/// The shared core every handler and the driver work on.
#[derive(Debug)]
pub struct Sim {
    world: Mutex<world::World>,
    pub urls: github::render::Urls,
    pub deliveries: Arc<delivery::Deliveries>,
    pub faults: Arc<faults::Faults>,
    pub options: SimOptions,
    pub data_dir: PathBuf,
    /// The GitHub App installation's bot user.
    pub app_bot: u64,
    /// Serializes pushes so each one's changed refs are computed alone.
    pub push_lock: tokio::sync::Mutex<()>,
}

impl Sim {
    /// Lock the world. Never held across an `.await`.
    pub fn world(&self) -> MutexGuard<'_, world::World> {
        self.world.lock().expect("world lock poisoned")
    }
}

/// Entry point: `ForgeSim::start(options)`.
pub struct ForgeSim;

impl ForgeSim {
    /// Start the simulator's HTTP server and delivery worker on the current tokio
    /// runtime. Everything stops when the last [`SimHandle`] clone is dropped.
    pub async fn start(options: SimOptions) -> Result<SimHandle, SimError> {
        let listener = tokio::net::TcpListener::bind(options.bind).await?;
        let addr = listener.local_addr()?;
        let (tmp, data_dir) = match &options.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                (None, dir.clone())
            }
            None => {
                let tmp = tempfile::Builder::new().prefix("forge-sim-").tempdir()?;
                let path = tmp.path().to_owned();
                (Some(tmp), path)
            }
        };
        let web = format!("http://{addr}");
        let urls = github::render::Urls {
            api: format!("{web}{API_PREFIX}"),
            web,
        };
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| SimError::Invalid(format!("http client: {e}")))?;
        let mut world = world::World::default();
        let app_bot = world.next_id();
        world.users.insert(
            app_bot,
            world::User {
                id: app_bot,
                login: format!("{}[bot]", options.app_slug),
                token: format!("ghs_sim_unused_{app_bot}"),
                kind: "Bot",
            },
        );
        let sim = Arc::new(Sim {
            world: Mutex::new(world),
            urls,
            deliveries: delivery::Deliveries::start(client),
            faults: faults::Faults::new(),
            options,
            data_dir,
            app_bot,
            push_lock: tokio::sync::Mutex::new(()),
        });
        let app = router(sim.clone());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let serve =
                axum::serve(listener, app.into_make_service()).with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "forge simulator server stopped");
            }
        });
        tracing::info!(%addr, "forge simulator listening");
        Ok(SimHandle::new(sim, addr, stop_tx, tmp))
    }
}

/// Every route: the GitHub API under [`API_PREFIX`], git under `/{owner}/{repo}.git`,
/// and the control API under `/_sim`.
pub fn router(sim: Arc<Sim>) -> Router {
    let api = github::rest::router(sim.clone())
        .layer(axum::middleware::from_fn_with_state(
            sim.clone(),
            gitlab::isolation::hide_from_github,
        ))
        .layer(axum::middleware::from_fn_with_state(
            sim.faults.clone(),
            faults::layer,
        ));
    let gitlab = gitlab::rest::router(sim.clone()).layer(axum::middleware::from_fn_with_state(
        sim.faults.clone(),
        gitlab::limits::layer,
    ));
    Router::new()
        .nest(API_PREFIX, api)
        .nest(gitlab::API_PREFIX, gitlab)
        .nest("/_sim", control::router(sim.clone()))
        .nest("/_sim/gitlab", gitlab::control::router(sim.clone()))
        .merge(git_http::router(sim))
}
