//! The end-to-end stories, one test binary: each module is one story of the town
//! against the forge simulator. One binary rather than one per file, because each
//! links the whole bot (~35 links and ~9 GB of debug artifacts otherwise).

mod agent_clis;
mod agent_tools;
mod cli;
mod commands;
mod convoys;
mod crash;
mod crash_work;
mod demo;
mod dependencies;
mod forge_contract;
mod forge_gitlab_sim;
mod forge_sling;
mod forge_sling_gitlab;
mod formula_cli;
mod git_gateway;
mod gitlab_fields;
mod ingest;
mod internal_errors;
mod kubernetes;
mod mayor;
mod molecules;
mod patrol;
mod polecats;
mod polecats_docker;
mod redaction;
mod refinery;
mod refinery_ai_review;
mod refinery_gates;
mod refinery_review;
mod refinery_trust;
mod retention;
mod serve_forge;
mod sling;
mod spans;
mod town_trouble;
mod webhook_conformance;
