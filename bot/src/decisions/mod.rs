//! Pure decisions over state and events: no IO, a clock the caller passes. Tests drive
//! them directly.

pub mod ai_verdict;
pub mod command;
pub mod comments;
pub mod convoy;
pub mod deps;
pub mod fence;
pub mod formula;
pub mod gates;
pub mod landing;
pub mod markdown;
pub mod meta;
pub mod patrol;
pub mod pick;
pub mod plan;
pub mod retry;
pub mod schedule;
pub mod sling;
pub mod triage;
