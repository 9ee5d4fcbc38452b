//! Runs a town's agents: one container per town, each agent a process in its own git
//! worktree (DESIGN.md §6).
//!
//! This crate holds the seam the bot schedules against. The Docker (bollard) and
//! local-process backends arrive with the core loop (the issue "The core loop: town
//! container, polecats, agent tools"); until then the bot never starts an agent.

/// Identifies a town's container and the agents in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TownId(pub String);
