//! The town's background work. Each loop does a round, then sleeps until the store
//! wakes it (a committed write named it) or its interval passes ([`rounds`]).
//!
//! - [`worker`]: the inbox, into town decisions.
//! - [`outbox`]: the forge writes transactions queued.
//! - [`polecats`]: the dispatcher, who works which ready bead.
//! - [`refinery`]: finished work through quality gates to a merged PR.
//! - [`patrol`]: the witness and deacon, the town keeping itself healthy.
//! - [`catchup`] and [`retention`]: what webhooks missed, and old deliveries.
//!
//! [`sessions`] starts, watches and settles the agents the dispatcher and the
//! refinery run in the towns.

pub(crate) mod catchup;
pub(crate) mod idle;
pub(crate) mod outbox;
pub mod patrol;
pub(crate) mod polecats;
pub(crate) mod refinery;
pub mod retention;
pub(crate) mod rounds;
pub mod sessions;
pub mod worker;
