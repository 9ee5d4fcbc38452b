//! GitHub's face of the simulator: REST handlers, the JSON shapes they and webhooks
//! share, and webhook payloads.

pub mod events;
pub mod render;
pub mod render_ci;
pub mod rest;
