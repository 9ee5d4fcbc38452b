//! The patrol's clock: every duration the witness and deacon wait before they act,
//! so an operator can tune them and end-to-end tests can scale them to seconds.

use serde::Deserialize;

/// `patrol.*` in the server's configuration (each with a `GT_PATROL_*` override).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PatrolConfig {
    /// How often the patrol runs when nothing wakes it.
    pub tick_secs: u64,
    /// How often an agent is told to say it is alive (`gt_heartbeat`; any tool call
    /// counts).
    pub heartbeat_secs: u64,
    /// An agent silent this long (counted from its start, so a cold start has the same
    /// grace) is dead: stopped, unhooked, its bead retried.
    pub dead_after_secs: u64,
    /// The stuck ladder, counted from the agent's last progress (a tool call other than
    /// a heartbeat, a push, new output): a nudge, then a nudge and an escalation, then
    /// the agent is stopped and its bead retried.
    pub nudge_after_secs: u64,
    pub escalate_after_secs: u64,
    pub stop_after_secs: u64,
    /// The wait before each retry of a bead whose agent ended without finishing: the
    /// first retry waits the first entry, and so on; the last repeats.
    pub backoff_secs: Vec<u64>,
    /// Hookings a bead may have (counted across every hooking, never reset but by a
    /// person's `gt beads retry`) before it fails and escalates.
    pub max_attempts: u32,
    /// A rig whose agents failed `breaker_threshold` attempts within
    /// `breaker_window_secs` stops getting new work for `breaker_cooldown_secs`.
    pub breaker_window_secs: u64,
    pub breaker_threshold: u32,
    pub breaker_cooldown_secs: u64,
    /// An escalation nobody acknowledged is said again after (n+1) × this, at most
    /// `renotify_max` times.
    pub renotify_secs: u64,
    pub renotify_max: u32,
}

impl Default for PatrolConfig {
    fn default() -> Self {
        Self {
            tick_secs: 5,
            heartbeat_secs: 30,
            dead_after_secs: 90,
            nudge_after_secs: 15 * 60,
            escalate_after_secs: 60 * 60,
            stop_after_secs: 2 * 60 * 60,
            backoff_secs: vec![120, 120, 300, 600, 1800],
            max_attempts: 5,
            breaker_window_secs: 30 * 60,
            breaker_threshold: 5,
            breaker_cooldown_secs: 15 * 60,
            renotify_secs: 4 * 60 * 60,
            renotify_max: 3,
        }
    }
}
