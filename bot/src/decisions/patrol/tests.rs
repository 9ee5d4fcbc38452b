//! The patrol's rules with a clock that is a number: each table row is a situation
//! and what a person watching the town would expect the patrol to do.

use super::*;

const S: Millis = 1000;
const MIN: Millis = 60 * S;

fn durations() -> Durations {
    Durations::from(&PatrolConfig::default())
}

fn session(
    started_at: Millis,
    heartbeat: Option<Millis>,
    progress: Option<Millis>,
    ladder: Ladder,
) -> Watched {
    Watched {
        session: "s1".into(),
        bead: "gt-a".into(),
        started_at,
        heartbeat_at: heartbeat,
        progress_at: progress,
        ladder,
        asking_until: None,
    }
}

/// A session whose agent waits on the model, the bot waiting at most until `until`.
fn asking(started_at: Millis, until: Millis) -> Watched {
    Watched {
        asking_until: Some(until),
        ..session(started_at, Some(started_at), None, Ladder::Working)
    }
}

#[test]
fn an_agent_waiting_on_the_model_is_alive_until_the_bot_would_give_up_on_it() {
    let d = durations();
    // It asked at 0; the model may take 600 s (llm.timeout_secs).
    let rows = [
        ("a long answer is not a hang", 300 * S, None),
        ("up to the model's timeout", 600 * S, None),
        ("then the usual grace", 689 * S, None),
        (
            "silent past the timeout and the grace: dead",
            690 * S,
            Some(Decision::Dead {
                session: "s1".into(),
                silent: 90 * S,
            }),
        ),
    ];
    for (what, now, expected) in rows {
        assert_eq!(watch(&asking(0, 600 * S), now, &d), expected, "{what}");
    }
    // Waiting is a sign of life, not of progress: the stuck ladder still climbs.
    assert!(matches!(
        watch(&asking(0, 3600 * S), 16 * MIN, &d),
        Some(Decision::Nudge { .. })
    ));
}

fn pause(rig: &str, until: Option<Millis>) -> RigPause {
    RigPause {
        rig_id: rig.into(),
        reason: "r".into(),
        paused_by: "gastown".into(),
        paused_at: 0,
        until,
    }
}

#[test]
fn the_witness_watches_heartbeats_and_the_stuck_ladder() {
    use Ladder::*;
    let d = durations();
    // (what, started, heartbeat, progress, ladder, now, expected)
    let rows: Vec<(&str, Watched, Millis, Option<Decision>)> = vec![
        (
            "a fresh start is fine",
            session(0, None, None, Working),
            10 * S,
            None,
        ),
        (
            "a cold start gets the full grace",
            session(0, None, None, Working),
            89 * S,
            None,
        ),
        (
            "silent 90 s after its start: dead",
            session(0, None, None, Working),
            90 * S,
            Some(Decision::Dead {
                session: "s1".into(),
                silent: 90 * S,
            }),
        ),
        (
            "a heartbeat keeps it alive",
            session(0, Some(60 * S), None, Working),
            120 * S,
            None,
        ),
        (
            "silent 90 s after its last heartbeat: dead",
            session(0, Some(60 * S), None, Working),
            150 * S,
            Some(Decision::Dead {
                session: "s1".into(),
                silent: 90 * S,
            }),
        ),
        (
            "progress is a sign of life too",
            session(0, Some(10 * S), Some(100 * S), Working),
            150 * S,
            None,
        ),
        (
            "alive but 15 min without progress: nudged",
            session(0, Some(15 * MIN - S), Some(0), Working),
            15 * MIN,
            Some(Decision::Nudge {
                session: "s1".into(),
                idle: 15 * MIN,
            }),
        ),
        (
            "nudged once, not twice",
            session(0, Some(20 * MIN), Some(0), Nudged),
            20 * MIN,
            None,
        ),
        (
            "an hour without progress: escalated",
            session(0, Some(60 * MIN), Some(0), Nudged),
            60 * MIN,
            Some(Decision::Escalate {
                session: "s1".into(),
                idle: 60 * MIN,
            }),
        ),
        (
            "an hour and the nudge was missed: straight to the escalation",
            session(0, Some(60 * MIN), Some(0), Working),
            60 * MIN,
            Some(Decision::Escalate {
                session: "s1".into(),
                idle: 60 * MIN,
            }),
        ),
        (
            "escalated once, not twice",
            session(0, Some(90 * MIN), Some(0), Escalated),
            90 * MIN,
            None,
        ),
        (
            "two hours without progress: stopped",
            session(0, Some(120 * MIN), Some(0), Escalated),
            120 * MIN,
            Some(Decision::Stop {
                session: "s1".into(),
                idle: 120 * MIN,
            }),
        ),
        (
            "progress resets the ladder's clock",
            session(0, Some(130 * MIN), Some(119 * MIN), Working),
            130 * MIN,
            None,
        ),
        (
            "dead wins over stuck",
            session(0, Some(0), Some(0), Escalated),
            3 * 60 * MIN,
            Some(Decision::Dead {
                session: "s1".into(),
                silent: 3 * 60 * MIN,
            }),
        ),
    ];
    for (what, w, now, expected) in rows {
        assert_eq!(watch(&w, now, &d), expected, "{what}");
    }
}

#[test]
fn retries_back_off_two_two_five_ten_thirty_minutes_then_give_up() {
    let d = durations();
    let now = 1_000 * MIN;
    let waits: Vec<Retry> = (1..=5).map(|a| after_failure(a, now, &d)).collect();
    assert_eq!(
        waits,
        [
            Retry::At(now + 2 * MIN),
            Retry::At(now + 2 * MIN),
            Retry::At(now + 5 * MIN),
            Retry::At(now + 10 * MIN),
            Retry::GiveUp,
        ]
    );
    // With more attempts allowed, the last wait repeats.
    let more = Durations {
        max_attempts: 8,
        ..d
    };
    assert_eq!(after_failure(5, now, &more), Retry::At(now + 30 * MIN));
    assert_eq!(after_failure(7, now, &more), Retry::At(now + 30 * MIN));
    assert_eq!(after_failure(8, now, &more), Retry::GiveUp);
}

#[test]
fn a_rig_breaker_trips_at_the_threshold_and_closes_after_its_cool_down() {
    let d = durations();
    assert_eq!(breaker(4, 0, &d), None);
    assert_eq!(breaker(5, 0, &d), Some(15 * MIN));
    let s = Snapshot {
        pauses: vec![pause("tripped", Some(15 * MIN)), pause("by-a-person", None)],
        ..Snapshot::default()
    };
    assert_eq!(tick(&s, 15 * MIN - 1, &d), []);
    assert_eq!(
        tick(&s, 15 * MIN, &d),
        [Decision::Resume {
            rig: "tripped".into()
        }]
    );
    assert_eq!(
        tick(&s, 1_000 * MIN, &d),
        [Decision::Resume {
            rig: "tripped".into()
        }]
    );
}

#[test]
fn unacknowledged_escalations_are_said_again_at_four_eight_twelve_hours_then_not() {
    let d = durations();
    let h = 60 * MIN;
    let due = |renotified, notified_at| next_notice_at(notified_at, renotified, &d);
    assert_eq!(due(0, 0), Some(4 * h));
    assert_eq!(due(1, 4 * h), Some(12 * h));
    assert_eq!(due(2, 12 * h), Some(24 * h));
    assert_eq!(due(3, 24 * h), None);
    let s = Snapshot {
        unacked: vec![Unacked {
            escalation: "gt-e".into(),
            renotified: 1,
            notified_at: 4 * h,
        }],
        ..Snapshot::default()
    };
    assert_eq!(tick(&s, 12 * h - 1, &d), []);
    assert_eq!(
        tick(&s, 12 * h, &d),
        [Decision::Renotify {
            escalation: "gt-e".into(),
            n: 2
        }]
    );
}

#[test]
fn zombie_hooks_are_released_and_idle_workers_freed_every_tick() {
    let d = durations();
    let s = Snapshot {
        orphaned_beads: vec!["gt-z".into()],
        idle_workers: vec!["github:o/r/polecat/nux".into()],
        ..Snapshot::default()
    };
    assert_eq!(
        tick(&s, 0, &d),
        [
            Decision::Release {
                bead: "gt-z".into()
            },
            Decision::Free {
                agent: "github:o/r/polecat/nux".into()
            },
        ]
    );
}

#[test]
fn a_task_held_by_a_blocker_that_gave_up_is_asked_about() {
    let d = durations();
    let s = Snapshot {
        held: vec![("gt-ui".into(), "gt-api".into())],
        ..Snapshot::default()
    };
    assert_eq!(
        tick(&s, 0, &d),
        [Decision::Held {
            dependent: "gt-ui".into(),
            blocker: "gt-api".into()
        }]
    );
}

#[test]
fn a_quiet_town_needs_nothing() {
    let d = durations();
    let s = Snapshot {
        sessions: vec![session(0, Some(50 * S), Some(50 * S), Ladder::Working)],
        pauses: vec![pause("r", Some(10 * MIN))],
        unacked: vec![Unacked {
            escalation: "gt-e".into(),
            renotified: 0,
            notified_at: 0,
        }],
        ..Snapshot::default()
    };
    assert_eq!(tick(&s, 60 * S, &d), []);
}

#[test]
fn severities_read_and_order() {
    for s in [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ] {
        assert_eq!(Severity::parse(s.as_str()), Some(s));
    }
    assert_eq!(Severity::parse("urgent"), None);
    assert!(!Severity::Medium.mentions());
    assert!(Severity::High.mentions() && Severity::Critical.mentions());
}
