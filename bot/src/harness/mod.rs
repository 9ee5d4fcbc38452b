//! `gt demo` (the whole town against the built-in forge simulator) and `gt bench`: the
//! bot as a newcomer and a benchmark see it, apart from the server's core.

pub mod bench;
pub(crate) mod bench_agents;
pub(crate) mod bench_commands;
pub(crate) mod bench_kubernetes;
pub(crate) mod bench_patrol;
pub(crate) mod bench_sling;
pub(crate) mod bench_stress;
pub mod demo;
pub(crate) mod demo_mayor;
