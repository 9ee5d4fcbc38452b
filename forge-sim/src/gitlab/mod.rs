//! GitLab's face of the simulator: the project state only GitLab has ([`model`]), its
//! JSON shapes ([`render`]), webhook payloads ([`events`]), REST handlers ([`rest`]),
//! rate-limit headers and faults ([`limits`]), the driver's GitLab acts ([`driver`]) and
//! their `/_sim/gitlab` HTTP face ([`control`]).
//! A repository is a GitLab project when [`crate::world::World::gitlab`] has an entry
//! for its id; the acts themselves live in [`crate::ops::gitlab`].

pub mod control;
pub mod driver;
pub mod events;
pub mod isolation;
pub mod limits;
pub mod model;
pub mod render;
pub mod rest;

/// Where the GitLab API is mounted; the base URL given to a client is
/// `{web}/api/gitlab/api/v4`, as `https://gitlab.com/api/v4` on GitLab.
pub const API_PREFIX: &str = "/api/gitlab/api/v4";
