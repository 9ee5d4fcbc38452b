//! gastown-bot: the server and the `gt` CLI.
//!
//! Modules read from the edge inwards: [`server`] wires HTTP, the [`worker`] drains
//! the inbox into [`town`] decisions, and the [`store`] holds all state.

pub mod actions;
pub mod agent_api;
pub mod agent_cli;
pub mod app;
pub mod bench;
pub mod bench_sling;
pub mod catchup;
pub mod cli;
pub mod clock;
pub mod comments;
pub mod config;
pub mod demo;
pub mod fence;
pub mod forge;
pub mod forges;
pub mod gitgate;
pub mod idle;
pub mod ids;
pub mod ingest;
pub mod lifecycle;
pub mod meta;
pub mod plan;
pub mod polecats;
pub mod prompts;
pub mod redact;
pub mod refinery;
pub mod repo_config;
pub mod repo_settings;
pub mod retention;
pub mod rounds;
pub mod server;
pub mod sessions;
pub mod store;
pub mod town;
pub mod town_git;
pub mod worker;
