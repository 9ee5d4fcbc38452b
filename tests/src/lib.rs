//! Helpers for end-to-end tests: a town on a fresh database served over real HTTP,
//! deliveries signed the way GitHub and GitLab sign them, and real fixture payloads.
//!
//! Tests read as stories: build a town, deliver what a forge would, drain the
//! worker (a sync point, never a sleep), look at what a person would see.

pub mod docker;
pub mod fixtures;
pub mod forge;
pub mod kubernetes;
pub mod model;
pub mod process;
pub mod story;
pub mod town;

pub use fixtures::Fixtures;
pub use town::{Delivered, TestTown, TestTownBuilder};
