//! Versioned schema migrations. `PRAGMA user_version` records how many have run; each
//! runs in its own transaction, so a crash mid-migration leaves the previous version.
//! Never edit a migration that has shipped: append a new one.

use std::sync::Arc;

use rusqlite::Connection;

use super::{Result, StoreError};

const MIGRATIONS: &[&str] = &[
    // 1: towns, rigs, beads and their graph and history, the inbox, agents, conversations.
    r#"
    CREATE TABLE towns (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        created_at  INTEGER NOT NULL
    );

    -- A rig is one repository attached to a town. `id` is the forge ref prefix,
    -- e.g. `github:octo/hello` or `gitlab:gitlab.example.com/group/project`.
    CREATE TABLE rigs (
        id          TEXT PRIMARY KEY,
        town_id     TEXT NOT NULL REFERENCES towns(id),
        forge       TEXT NOT NULL CHECK (forge IN ('github', 'gitlab')),
        host        TEXT NOT NULL,
        path        TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        UNIQUE (forge, host, path)
    );

    CREATE TABLE beads (
        id            TEXT PRIMARY KEY,
        type          TEXT NOT NULL CHECK (type IN ('task', 'molecule', 'step', 'convoy',
                        'escalation', 'merge_request', 'message', 'agent')),
        status        TEXT NOT NULL CHECK (status IN ('open', 'hooked', 'in_progress',
                        'blocked', 'review', 'closed', 'failed', 'tombstone')),
        close_reason  TEXT CHECK (close_reason IN ('merged', 'done', 'rejected',
                        'duplicate', 'wontfix')),
        title         TEXT NOT NULL,
        body          TEXT NOT NULL DEFAULT '',
        priority      INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 4),
        town_id       TEXT REFERENCES towns(id),
        rig_id        TEXT REFERENCES rigs(id),
        parent_id     TEXT REFERENCES beads(id),
        hook          TEXT,
        forge_ref     TEXT,
        created_by    TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        closed_at     INTEGER,
        metadata      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata))
    );
    -- One task bead per forge issue: slinging twice finds the first.
    CREATE UNIQUE INDEX beads_one_task_per_issue ON beads (forge_ref)
        WHERE type = 'task' AND status <> 'tombstone';
    CREATE INDEX beads_status ON beads (status, priority, created_at);
    CREATE INDEX beads_rig ON beads (rig_id, status);

    CREATE TABLE bead_deps (
        bead_id        TEXT NOT NULL REFERENCES beads(id),
        depends_on_id  TEXT NOT NULL REFERENCES beads(id),
        type           TEXT NOT NULL CHECK (type IN ('blocks', 'parent-child', 'waits-for')),
        created_at     INTEGER NOT NULL,
        PRIMARY KEY (bead_id, depends_on_id, type),
        CHECK (bead_id <> depends_on_id)
    );
    CREATE INDEX bead_deps_reverse ON bead_deps (depends_on_id);

    -- Append-only: the audit trail and the dashboard's timeline.
    CREATE TABLE bead_events (
        id           INTEGER PRIMARY KEY,
        bead_id      TEXT NOT NULL REFERENCES beads(id),
        kind         TEXT NOT NULL,
        actor        TEXT NOT NULL,
        from_status  TEXT,
        to_status    TEXT,
        payload      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
        at           INTEGER NOT NULL
    );
    CREATE INDEX bead_events_bead ON bead_events (bead_id, id);
    CREATE TRIGGER bead_events_no_update BEFORE UPDATE ON bead_events
        BEGIN SELECT RAISE(ABORT, 'bead_events is append-only'); END;
    CREATE TRIGGER bead_events_no_delete BEFORE DELETE ON bead_events
        BEGIN SELECT RAISE(ABORT, 'bead_events is append-only'); END;

    -- Every verified delivery, stored before it is acknowledged. `repo` is the
    -- routing key the worker orders by; deliveries about no repository share NULL.
    CREATE TABLE inbox (
        id               INTEGER PRIMARY KEY,
        forge            TEXT NOT NULL CHECK (forge IN ('github', 'gitlab')),
        forge_host       TEXT NOT NULL,
        delivery_id      TEXT NOT NULL,
        event            TEXT NOT NULL,
        action           TEXT,
        repo             TEXT,
        received_at      INTEGER NOT NULL,
        status           TEXT NOT NULL DEFAULT 'pending'
                           CHECK (status IN ('pending', 'processed', 'failed', 'ignored')),
        attempts         INTEGER NOT NULL DEFAULT 0,
        next_attempt_at  INTEGER NOT NULL,
        last_error       TEXT,
        processed_at     INTEGER,
        UNIQUE (forge, forge_host, delivery_id)
    );
    -- The queue: only pending deliveries are indexed, so the worker's look-ups stay
    -- as small as the backlog however long the history grows.
    CREATE INDEX inbox_queue ON inbox (id) WHERE status = 'pending';
    CREATE INDEX inbox_pending ON inbox (repo, id, next_attempt_at) WHERE status = 'pending';

    -- The delivery's bytes as the forge sent them, compressed per `codec` ('identity'
    -- or 'lz4': an LZ4 block after a little-endian u32 length). Written once and never
    -- updated: kept apart from `inbox` so that recording a delivery's progress rewrites
    -- a small row, not the payload.
    CREATE TABLE inbox_bodies (
        inbox_id  INTEGER PRIMARY KEY REFERENCES inbox(id),
        codec     TEXT NOT NULL CHECK (codec IN ('identity', 'lz4')),
        body      BLOB NOT NULL
    );

    CREATE TABLE agents (
        id                 TEXT PRIMARY KEY,
        town_id            TEXT NOT NULL REFERENCES towns(id),
        rig_id             TEXT REFERENCES rigs(id),
        role               TEXT NOT NULL CHECK (role IN ('polecat', 'refinery', 'mayor')),
        name               TEXT NOT NULL,
        status             TEXT NOT NULL,
        hooked_bead        TEXT REFERENCES beads(id),
        last_heartbeat_at  INTEGER,
        created_at         INTEGER NOT NULL,
        metadata           TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata))
    );
    CREATE UNIQUE INDEX agents_name_per_rig ON agents (rig_id, role, name);

    CREATE TABLE conversations (
        id          INTEGER PRIMARY KEY,
        town_id     TEXT NOT NULL REFERENCES towns(id),
        forge_ref   TEXT NOT NULL UNIQUE,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    "#,
    // 2: the outbox: forge side effects decided in a transaction, performed after it.
    r#"
    -- Forge calls never run inside a database transaction. The transaction that
    -- decides (a bead slung, a sling refused) queues the call here; the action runner
    -- performs it with retries. `key` makes queuing idempotent: the same decision
    -- made twice queues one action.
    CREATE TABLE actions (
        id               INTEGER PRIMARY KEY,
        key              TEXT NOT NULL UNIQUE,
        kind             TEXT NOT NULL,
        rig_id           TEXT NOT NULL REFERENCES rigs(id),
        bead_id          TEXT REFERENCES beads(id),
        payload          TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
        status           TEXT NOT NULL DEFAULT 'pending'
                           CHECK (status IN ('pending', 'done', 'failed')),
        attempts         INTEGER NOT NULL DEFAULT 0,
        next_attempt_at  INTEGER NOT NULL,
        last_error       TEXT,
        created_at       INTEGER NOT NULL,
        done_at          INTEGER
    );
    CREATE INDEX actions_queue ON actions (next_attempt_at, id) WHERE status = 'pending';

    -- The one status comment per bead that the bot edits in place.
    CREATE TABLE status_comments (
        bead_id      TEXT PRIMARY KEY REFERENCES beads(id),
        comment_id   INTEGER NOT NULL,
        number       INTEGER NOT NULL,
        on_pull_request INTEGER NOT NULL DEFAULT 0,
        body_sha256  TEXT NOT NULL,
        updated_at   INTEGER NOT NULL
    );
    "#,
    // 3: polecats at work.
    r#"
    -- The branch a bead is worked on, and how many times an agent was started on it
    -- (an agent that dies without `gt_done` costs an attempt).
    ALTER TABLE beads ADD COLUMN branch TEXT;
    ALTER TABLE beads ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;

    -- One row per start of an agent on a bead. The session is what a tool token
    -- grants: that agent, that bead, until the session ends. Only the token's SHA-256
    -- is kept, so a copy of the database does not hand out live tokens.
    CREATE TABLE agent_sessions (
        id            TEXT PRIMARY KEY,
        agent_id      TEXT NOT NULL REFERENCES agents(id),
        bead_id       TEXT NOT NULL REFERENCES beads(id),
        token_sha256  TEXT NOT NULL UNIQUE,
        state         TEXT NOT NULL CHECK (state IN ('starting', 'running', 'done',
                        'exited', 'lost', 'stopped')),
        exit_code     INTEGER,
        started_at    INTEGER NOT NULL,
        ended_at      INTEGER
    );
    CREATE INDEX agent_sessions_live ON agent_sessions (agent_id) WHERE ended_at IS NULL;
    -- At most one live session per bead: a restart can never start a second polecat.
    CREATE UNIQUE INDEX agent_sessions_one_per_bead ON agent_sessions (bead_id)
        WHERE ended_at IS NULL;
    "#,
    // 4: a repository's queue stops only at a delivery waiting out a retry. Only those
    // (rare) rows need finding by repository, so only they are indexed: a new delivery
    // costs one index entry fewer to add and, once worked, to remove.
    r#"
    DROP INDEX inbox_pending;
    CREATE INDEX inbox_retrying ON inbox (repo, id, next_attempt_at)
        WHERE status = 'pending' AND attempts > 0;
    "#,
    // 5: `tracks`, a dependency that follows another bead without waiting for it (a
    // convoy tracks its issues). SQLite cannot change a CHECK, so the table is rebuilt.
    r#"
    CREATE TABLE bead_deps_new (
        bead_id        TEXT NOT NULL REFERENCES beads(id),
        depends_on_id  TEXT NOT NULL REFERENCES beads(id),
        type           TEXT NOT NULL CHECK (type IN ('blocks', 'parent-child', 'waits-for',
                         'tracks')),
        created_at     INTEGER NOT NULL,
        PRIMARY KEY (bead_id, depends_on_id, type),
        CHECK (bead_id <> depends_on_id)
    );
    INSERT INTO bead_deps_new SELECT bead_id, depends_on_id, type, created_at FROM bead_deps;
    DROP TABLE bead_deps;
    ALTER TABLE bead_deps_new RENAME TO bead_deps;
    CREATE INDEX bead_deps_reverse ON bead_deps (depends_on_id);
    CREATE INDEX beads_children ON beads (parent_id) WHERE parent_id IS NOT NULL;
    "#,
    // 6: the patrol. What the witness watches on a live session, a bead's retry time,
    // the failed attempts a rig's breaker counts, rigs paused, and escalations.
    r#"
    -- The last heartbeat and the last progress of a session, how far up the stuck
    -- ladder it went since, and a nudge the agent sees at its next tool call.
    ALTER TABLE agent_sessions ADD COLUMN heartbeat_at INTEGER;
    ALTER TABLE agent_sessions ADD COLUMN progress_at INTEGER;
    ALTER TABLE agent_sessions ADD COLUMN ladder INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE agent_sessions ADD COLUMN nudge TEXT;

    -- An open bead waiting out its retry's backoff is not ready before this time.
    ALTER TABLE beads ADD COLUMN retry_at INTEGER;

    -- Failed attempts (an agent that ended without finishing), per rig, for the
    -- breaker's window; the patrol prunes what has left the window.
    CREATE TABLE attempt_failures (
        id       INTEGER PRIMARY KEY,
        rig_id   TEXT NOT NULL REFERENCES rigs(id),
        bead_id  TEXT NOT NULL REFERENCES beads(id),
        at       INTEGER NOT NULL
    );
    CREATE INDEX attempt_failures_rig ON attempt_failures (rig_id, at);

    -- A rig that gets no new work: paused by its breaker until a time, or by a person
    -- (`until` NULL) until resumed.
    CREATE TABLE rig_pauses (
        rig_id     TEXT PRIMARY KEY REFERENCES rigs(id),
        reason     TEXT NOT NULL,
        paused_by  TEXT NOT NULL,
        paused_at  INTEGER NOT NULL,
        until      INTEGER
    );

    -- An escalation bead's own columns. `next_notice_at` is when it is said again
    -- (NULL once acknowledged or said as often as allowed): the patrol's index.
    CREATE TABLE escalations (
        bead_id         TEXT PRIMARY KEY REFERENCES beads(id),
        about           TEXT REFERENCES beads(id),
        severity        TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
        source          TEXT NOT NULL,
        notified_at     INTEGER NOT NULL,
        renotified      INTEGER NOT NULL DEFAULT 0,
        next_notice_at  INTEGER,
        acked_at        INTEGER,
        acked_by        TEXT
    );
    CREATE INDEX escalations_due ON escalations (next_notice_at)
        WHERE next_notice_at IS NOT NULL;
    CREATE INDEX escalations_about ON escalations (about) WHERE acked_at IS NULL;
    "#,
    // 7: comments addressed to the bot, and the Mayor's turns in each thread.
    r#"
    -- Every comment that asked the bot something: the command lines already run (an
    -- edit runs only those it adds; a redelivery runs none) and whether its author was
    -- told they may not command the town (once).
    CREATE TABLE comment_commands (
        rig_id      TEXT NOT NULL,
        comment_id  INTEGER NOT NULL,
        author      TEXT NOT NULL,
        lines       TEXT NOT NULL,
        refused     INTEGER NOT NULL DEFAULT 0,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        PRIMARY KEY (rig_id, comment_id)
    );

    ALTER TABLE conversations ADD COLUMN rig_id TEXT;
    ALTER TABLE conversations ADD COLUMN tokens_in INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN tokens_out INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN cost_micros INTEGER NOT NULL DEFAULT 0;

    -- One request to the Mayor and its answer: a work queue (queued until answered or
    -- failed for good), and the thread's history for the turns after it.
    CREATE TABLE conversation_turns (
        id               INTEGER PRIMARY KEY,
        conversation_id  INTEGER NOT NULL REFERENCES conversations(id),
        rig_id           TEXT NOT NULL,
        comment_id       INTEGER NOT NULL,
        number           INTEGER NOT NULL,
        on_pull_request  INTEGER NOT NULL,
        on_diff          INTEGER NOT NULL,
        author           TEXT NOT NULL,
        request          TEXT NOT NULL,
        answer           TEXT,
        actions          TEXT NOT NULL DEFAULT '[]',
        status           TEXT NOT NULL DEFAULT 'queued'
                           CHECK (status IN ('queued', 'answered', 'failed')),
        attempts         INTEGER NOT NULL DEFAULT 0,
        next_attempt_at  INTEGER NOT NULL,
        tokens_in        INTEGER NOT NULL DEFAULT 0,
        tokens_out       INTEGER NOT NULL DEFAULT 0,
        cost_micros      INTEGER NOT NULL DEFAULT 0,
        error            TEXT,
        created_at       INTEGER NOT NULL,
        finished_at      INTEGER,
        UNIQUE (rig_id, comment_id)
    );
    CREATE INDEX conversation_turns_due ON conversation_turns (next_attempt_at)
        WHERE status = 'queued';
    "#,
    // 8: an agent waiting on the model is alive. `asking` counts its requests in flight
    // through the bot's model proxy; `asking_until` is when the last of them would time
    // out (`llm.timeout_secs`), past which the patrol stops believing it.
    r#"
    ALTER TABLE agent_sessions ADD COLUMN asking INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE agent_sessions ADD COLUMN asking_until INTEGER;
    "#,
];

/// Bring the schema up to date. Refuses a database written by a newer `gt`.
pub fn run(conn: &mut Connection) -> Result<()> {
    let current: usize = conn
        .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
        .map_err(|e| StoreError::Migration {
            version: 0,
            source: Arc::new(e),
        })? as usize;
    if current > MIGRATIONS.len() {
        return Err(StoreError::NewerSchema {
            version: current,
            known: MIGRATIONS.len(),
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let version = index + 1;
        let err = |e: rusqlite::Error| StoreError::Migration {
            version,
            source: Arc::new(e),
        };
        let tx = conn.transaction().map_err(err)?;
        tx.execute_batch(sql).map_err(err)?;
        tx.pragma_update(None, "user_version", version as i64)
            .map_err(err)?;
        tx.commit().map_err(err)?;
        tracing::info!(version, "database migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_idempotent_and_refuse_newer_databases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let mut conn = Connection::open(&path).unwrap();
        run(&mut conn).unwrap();
        run(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
        conn.pragma_update(None, "user_version", 99).unwrap();
        let e = run(&mut conn).unwrap_err().to_string();
        assert!(e.contains("schema version 99"), "{e}");
    }
}
