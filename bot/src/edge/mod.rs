//! What the world calls: webhooks in ([`ingest`]), the agents' tools ([`agent_api`]),
//! git smart HTTP for agents ([`crate::gitgate`] bound to the store by [`town_git`]).
//! [`crate::app::server`] serves them.

pub mod agent_api;
pub mod ingest;
pub(crate) mod town_git;
