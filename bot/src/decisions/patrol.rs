//! The witness and deacon: what the patrol does about the town, as pure functions of
//! what the store holds and the time. The loop (`loops/patrol.rs`) reads a
//! [`Snapshot`] of what may be due, asks [`tick`] and applies each [`Decision`]
//! through the lifecycle; the rules are tested here with a clock that is a number.

use crate::clock::Millis;
use crate::config::PatrolConfig;
pub use crate::store::{Ladder, RigPause, Watched};

/// The patrol's durations in milliseconds, as the rules use them.
#[derive(Debug, Clone, PartialEq)]
pub struct Durations {
    pub dead_after: Millis,
    pub nudge_after: Millis,
    pub escalate_after: Millis,
    pub stop_after: Millis,
    pub backoff: Vec<Millis>,
    pub max_attempts: u32,
    pub breaker_window: Millis,
    pub breaker_threshold: u32,
    pub breaker_cooldown: Millis,
    pub renotify: Millis,
    pub renotify_max: u32,
}

impl From<&PatrolConfig> for Durations {
    fn from(c: &PatrolConfig) -> Self {
        let ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        Self {
            dead_after: ms(c.dead_after_secs),
            nudge_after: ms(c.nudge_after_secs),
            escalate_after: ms(c.escalate_after_secs),
            stop_after: ms(c.stop_after_secs),
            backoff: c.backoff_secs.iter().map(|s| ms(*s)).collect(),
            max_attempts: c.max_attempts,
            breaker_window: ms(c.breaker_window_secs),
            breaker_threshold: c.breaker_threshold,
            breaker_cooldown: ms(c.breaker_cooldown_secs),
            renotify: ms(c.renotify_secs),
            renotify_max: c.renotify_max,
        }
    }
}

/// An escalation nobody has acknowledged yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Unacked {
    pub escalation: String,
    /// How many times it was said again after it was raised.
    pub renotified: u32,
    /// When it was last said (raised or re-notified).
    pub notified_at: Millis,
}

/// What the patrol looks at in one tick: only what may be due, so a tick costs what
/// is alive or waiting, not the size of the database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub sessions: Vec<Watched>,
    pub pauses: Vec<RigPause>,
    pub unacked: Vec<Unacked>,
    /// Beads hooked or in progress that no live session works: zombie hooks.
    pub orphaned_beads: Vec<String>,
    /// Agents marked working with nothing on their hook.
    pub idle_workers: Vec<String>,
    /// Tasks held by a blocker that failed or closed unmerged (dependent, blocker),
    /// nobody asked about yet.
    pub held: Vec<(String, String)>,
}

/// One thing the patrol does.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// No heartbeat for `silent` ms: stop the agent, unhook, retry.
    Dead { session: String, silent: Millis },
    /// No progress for `idle` ms: a message the agent sees at its next tool call.
    Nudge { session: String, idle: Millis },
    /// No progress for longer: nudged again, and a person is asked.
    Escalate { session: String, idle: Millis },
    /// No progress for longest: stop the agent, unhook, retry.
    Stop { session: String, idle: Millis },
    /// A breaker's cool-down is over: dispatch to the rig again.
    Resume { rig: String },
    /// Say an unacknowledged escalation again (its `n`th re-notification).
    Renotify { escalation: String, n: u32 },
    /// A bead hooked to nobody alive: unhook it and retry it.
    Release { bead: String },
    /// An agent marked working with no hook is free.
    Free { agent: String },
    /// A task's blocker failed or closed unmerged: it stays blocked, a person is asked.
    Held { dependent: String, blocker: String },
}

/// Everything due at `now`, in a stable order: dead before stuck, the ladder's
/// highest rung only, then pauses, escalations and repairs.
pub fn tick(s: &Snapshot, now: Millis, d: &Durations) -> Vec<Decision> {
    let mut out: Vec<Decision> = s.sessions.iter().filter_map(|w| watch(w, now, d)).collect();
    out.extend(
        s.pauses
            .iter()
            .filter(|p| p.until.is_some_and(|u| u <= now))
            .map(|p| Decision::Resume {
                rig: p.rig_id.clone(),
            }),
    );
    out.extend(s.unacked.iter().filter_map(|u| {
        let due = next_notice_at(u.notified_at, u.renotified, d)?;
        (due <= now).then(|| Decision::Renotify {
            escalation: u.escalation.clone(),
            n: u.renotified + 1,
        })
    }));
    out.extend(
        s.orphaned_beads
            .iter()
            .map(|b| Decision::Release { bead: b.clone() }),
    );
    out.extend(
        s.idle_workers
            .iter()
            .map(|a| Decision::Free { agent: a.clone() }),
    );
    out.extend(s.held.iter().map(|(dependent, blocker)| Decision::Held {
        dependent: dependent.clone(),
        blocker: blocker.clone(),
    }));
    out
}

/// What is due for one live session, if anything.
pub fn watch(w: &Watched, now: Millis, d: &Durations) -> Option<Decision> {
    let session = w.session.clone();
    // Progress is a sign of life too; the start counts as both, so a cold start has
    // the full grace. An agent waiting on the model through the bot is alive until the
    // bot itself would give up on the model (a long answer is not a hang); silent past
    // that, it is dead like any other.
    let asking = w.asking_until.map(|until| until.min(now));
    let alive_at = [Some(w.started_at), w.heartbeat_at, w.progress_at, asking]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(w.started_at);
    let silent = now - alive_at;
    if silent >= d.dead_after {
        return Some(Decision::Dead { session, silent });
    }
    let idle = now - w.progress_at.unwrap_or(w.started_at).max(w.started_at);
    if idle >= d.stop_after {
        Some(Decision::Stop { session, idle })
    } else if idle >= d.escalate_after && w.ladder < Ladder::Escalated {
        Some(Decision::Escalate { session, idle })
    } else if idle >= d.nudge_after && w.ladder < Ladder::Nudged {
        Some(Decision::Nudge { session, idle })
    } else {
        None
    }
}

/// What becomes of a bead whose agent ended without finishing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Open again, ready for a polecat from this time.
    At(Millis),
    /// Out of attempts: it fails and a person is asked.
    GiveUp,
}

/// `attempts` hookings have failed (counted across every hooking): the next waits the
/// backoff for that many failures, until `max_attempts` have been spent.
pub fn after_failure(attempts: u32, now: Millis, d: &Durations) -> Retry {
    if attempts >= d.max_attempts {
        return Retry::GiveUp;
    }
    let i = (attempts.max(1) - 1) as usize;
    let wait = d.backoff.get(i).or(d.backoff.last()).copied().unwrap_or(0);
    Retry::At(now + wait)
}

/// Whether `failures` failed attempts within the window trip a rig's breaker, and if so
/// until when it pauses the rig.
pub fn breaker(failures: u32, now: Millis, d: &Durations) -> Option<Millis> {
    (failures >= d.breaker_threshold).then_some(now + d.breaker_cooldown)
}

/// When an escalation last said at `notified_at`, already said again `renotified`
/// times, is due again: (n+1) × `renotify` later, while under `renotify_max`.
pub fn next_notice_at(notified_at: Millis, renotified: u32, d: &Durations) -> Option<Millis> {
    (renotified < d.renotify_max).then(|| notified_at + i64::from(renotified + 1) * d.renotify)
}

/// How severe an escalation is: high and critical name the rig's owners, critical
/// also opens an issue of its own.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    /// Whether the rig's owners are @mentioned.
    pub fn mentions(self) -> bool {
        self >= Severity::High
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;
