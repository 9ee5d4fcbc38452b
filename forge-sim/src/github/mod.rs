//! GitHub's face of the simulator: REST handlers and their JSON shapes (`render`),
//! webhook objects as the webhook docs define them (`webhook`), and the payloads each
//! event carries (`events`).

pub mod events;
pub mod render;
pub mod render_ci;
pub mod rest;
pub mod webhook;
