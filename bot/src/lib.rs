//! gastown-bot: the server and the `gt` CLI.
//!
//! The modules are layered, and each depends only on those below it (ARCHITECTURE.md
//! has the map):
//!
//! - [`mayor`]: free text addressed to the bot, answered by a model with the town's tools.
//! - [`edge`]: what the world calls — webhooks in, the agents' HTTP and MCP tools, git
//!   smart HTTP — and [`edge::server`], which serves them.
//! - [`loops`]: the town's background work — the inbox worker, the outbox, the polecat
//!   dispatcher, the refinery, catch-up, retention — and the agent sessions they run.
//! - [`forge`]: the bot's clients of GitHub and GitLab, and what it reads through them.
//! - [`lifecycle`]: the one way beads are made and moved, with what each move queues.
//! - [`decisions`]: pure functions over state and events (what a delivery means, who
//!   works what, whether work passed, every text on a forge).
//! - [`store`]: the one SQLite database; [`llm`]: the one model client.
//!
//! Beside the server: [`agent`] is what runs inside the town (`gt agent …`), and
//! [`harness`] the demo and the benches. [`app`] builds a running bot once.

pub mod agent;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod controls;
pub mod decisions;
pub mod edge;
pub mod forge;
pub mod gitgate;
pub mod harness;
pub mod ids;
pub mod lifecycle;
pub mod llm;
pub mod loops;
pub mod mayor;
pub(crate) mod redact;
pub mod store;
