//! The simulator's own tests, one test binary: each module one surface (REST, git,
//! webhooks, faults). One binary rather than one per file keeps links and disk small.

mod common;
mod gitlab_common;

mod app_and_control;
mod faults;
mod git_smart_http;
mod gitlab_control;
mod gitlab_faithfulness;
mod gitlab_git;
mod gitlab_rest;
mod gitlab_webhooks;
mod merging;
mod octocrab_client;
mod payload_faithfulness;
mod reactions;
mod webhook_delivery;
mod webhook_schema;
