//! The composition root: every part of a running bot, each built once at start and
//! handed only what it needs. `gt serve`, `gt demo`, the benches and the test town
//! all build their bot here, so what the tests exercise is what runs.

pub mod server;

use std::sync::Arc;

use anyhow::Context as _;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::edge::agent_api::Tools;
use crate::forge::registry::Forges;
use crate::forge::settings::RepoSettings;
use crate::gitgate::GitGateway;
use crate::loops::catchup::CatchUp;
use crate::loops::outbox::ActionRunner;
use crate::loops::polecats::Polecats;
use crate::loops::refinery::Refinery;
use crate::loops::sessions::Sessions;
use crate::loops::worker::Worker;
use crate::store::Store;

/// Everything a running bot holds. Cheap to clone: the parts share their state.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub config: Arc<Config>,
    pub clock: SharedClock,
    /// The forge clients; what the bot writes through them is redacted first.
    pub forges: Forges,
    /// Each rig's `.gastown.yaml`, shared by everyone who acts by it.
    pub settings: RepoSettings,
    /// The one git gateway: agents' clones and pushes, and the refinery's mirror.
    pub gateway: Arc<GitGateway>,
    /// Works the inbox into town decisions.
    pub worker: Worker,
    /// Performs queued forge writes.
    pub actions: ActionRunner,
    /// Agent sessions in the towns; `None` without a runner (beads are made, nobody
    /// works them).
    pub sessions: Option<Sessions>,
    /// The dispatcher of polecats, when there is a runner.
    pub polecats: Option<Polecats>,
    pub refinery: Refinery,
    /// The agents' tools (HTTP and MCP).
    pub tools: Tools,
    pub catch_up: CatchUp,
    pub patrol: crate::loops::patrol::Patrol,
    /// Answers free text addressed to the bot.
    pub mayor: crate::mayor::Mayor,
}

/// What a bot is built from, before it is built.
pub struct AppBuilder {
    config: Config,
    clock: SharedClock,
    forges: Forges,
    runner: Option<Arc<dyn runner::Runner>>,
}

impl App {
    pub fn builder(config: Config, clock: SharedClock) -> AppBuilder {
        AppBuilder {
            config,
            clock,
            forges: Forges::new(),
            runner: None,
        }
    }
}

impl AppBuilder {
    /// Act on these forges (permission checks, comments, catch-up).
    pub fn forges(mut self, forges: Forges) -> Self {
        self.forges = forges;
        self
    }

    /// Run agents with this runner.
    pub fn runner(mut self, runner: Arc<dyn runner::Runner>) -> Self {
        self.runner = Some(runner);
        self
    }

    /// Open the database and build every part.
    pub fn build(self) -> anyhow::Result<App> {
        let config = Arc::new(self.config);
        let clock = self.clock;
        let store = Store::open(&config.database)
            .with_context(|| format!("cannot open the database {}", config.database.display()))?;
        let forges = self.forges.redacting(config.redactor.clone());
        let settings = RepoSettings::default();
        let gateway = crate::edge::town_git::gateway(&config, &store, &forges, &clock);
        let formulas = crate::forge::formulas::Formulas::new(config.formulas_dir.as_deref())
            .context("the server's formulas_dir has a formula that does not read")?;
        let worker = Worker::new(
            store.clone(),
            config.clone(),
            clock.clone(),
            forges.clone(),
            settings.clone(),
            formulas,
        )
        .context("cannot start the inbox worker's thread")?;
        let sessions = self
            .runner
            .map(|r| Sessions::new(store.clone(), config.clone(), clock.clone(), r));
        let polecats = sessions.clone().map(|s| {
            Polecats::new(
                store.clone(),
                config.clone(),
                clock.clone(),
                s,
                settings.clone(),
                forges.clone(),
                gateway.clone(),
            )
        });
        let refinery = Refinery::new(
            store.clone(),
            config.clone(),
            clock.clone(),
            forges.clone(),
            sessions.clone(),
            gateway.clone(),
            settings.clone(),
        );
        let catch_up = CatchUp::new(
            store.clone(),
            config.clone(),
            clock.clone(),
            forges.clone(),
            settings.clone(),
            worker.clone(),
        );
        Ok(App {
            actions: ActionRunner::new(
                store.clone(),
                config.clone(),
                clock.clone(),
                forges.clone(),
                settings.clone(),
            ),
            tools: Tools {
                store: store.clone(),
                clock: clock.clone(),
                config: config.clone(),
            },
            patrol: crate::loops::patrol::Patrol::new(
                store.clone(),
                config.clone(),
                clock.clone(),
                sessions.clone(),
            ),
            mayor: crate::mayor::Mayor::new(
                store.clone(),
                config.clone(),
                clock.clone(),
                forges.clone(),
                worker.clone(),
            ),
            store,
            config,
            clock,
            forges,
            settings,
            gateway,
            worker,
            sessions,
            polecats,
            refinery,
            catch_up,
        })
    }
}
