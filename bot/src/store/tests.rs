//! The bead lifecycle and graph, on a fresh database per test.

use serde_json::json;

use super::test_support::fresh_store;
use super::*;
use webhooks::ForgeKind;

const NOW: i64 = 1_795_622_257_000;

fn task(title: &str) -> NewBead {
    NewBead {
        bead_type: BeadType::Task,
        title: title.into(),
        body: String::new(),
        priority: 2,
        town_id: None,
        rig_id: None,
        parent_id: None,
        forge_ref: None,
        created_by: "test".into(),
        metadata: json!({}),
    }
}

fn create(c: &Connection, title: &str) -> Bead {
    create_bead(c, &task(title), NOW, crate::ids::random_bead_id).unwrap()
}

#[tokio::test]
async fn colliding_ids_are_retried_and_grow_longer() {
    let (store, _dir) = fresh_store();
    let ids = store
        .write(|c| {
            let scripted = |len: usize| "gt-".to_string() + &"a".repeat(len);
            let a = create_bead(c, &task("a"), NOW, scripted)?;
            let b = create_bead(c, &task("b"), NOW, scripted)?;
            Ok((a.id, b.id))
        })
        .await
        .unwrap();
    assert_eq!(ids, ("gt-aaaa".to_string(), "gt-aaaaa".to_string()));
}

#[tokio::test]
async fn ready_means_open_with_every_blocker_closed() {
    let (store, _dir) = fresh_store();
    store
        .write(|c| {
            let a = create(c, "schema");
            let b = create(c, "api");
            let parent = create(c, "epic");
            add_dep(c, &b.id, &a.id, DepType::Blocks, "t", NOW)?;
            add_dep(c, &parent.id, &b.id, DepType::ParentChild, "t", NOW)?;
            let ready = |c: &Connection| -> Vec<String> {
                let mut titles: Vec<String> = ready_beads(c, NOW)
                    .unwrap()
                    .into_iter()
                    .map(|b| b.title)
                    .collect();
                titles.sort();
                titles
            };
            assert_eq!(
                ready(c),
                vec!["epic", "schema"],
                "parent-child does not gate"
            );

            transition(c, &a.id, BeadStatus::Failed, None, "t", &json!({}), NOW)?;
            assert_eq!(
                ready(c),
                vec!["epic"],
                "a failed blocker keeps its dependents blocked"
            );

            transition(c, &a.id, BeadStatus::Open, None, "t", &json!({}), NOW)?;
            transition(
                c,
                &a.id,
                BeadStatus::Closed,
                Some(CloseReason::Done),
                "t",
                &json!({}),
                NOW,
            )?;
            assert_eq!(ready(c), vec!["api", "epic"]);
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn transitions_are_checked_and_recorded() {
    let (store, _dir) = fresh_store();
    store
        .write(|c| {
            let b = create(c, "x");
            let e =
                transition(c, &b.id, BeadStatus::Review, None, "t", &json!({}), NOW).unwrap_err();
            assert!(
                e.to_string().contains("cannot go from open to review"),
                "{e}"
            );
            let e =
                transition(c, &b.id, BeadStatus::Closed, None, "t", &json!({}), NOW).unwrap_err();
            assert!(e.to_string().contains("close reason"), "{e}");
            transition(
                c,
                &b.id,
                BeadStatus::Hooked,
                None,
                "scheduler",
                &json!({}),
                NOW + 1,
            )?;
            let closed = transition(
                c,
                &b.id,
                BeadStatus::Closed,
                Some(CloseReason::Wontfix),
                "mara",
                &json!({}),
                NOW + 2,
            )?;
            assert_eq!(closed.closed_at, Some(NOW + 2));
            let history: Vec<(String, Option<String>, String)> = bead_events(c, &b.id)?
                .into_iter()
                .map(|e| (e.kind, e.to_status, e.actor))
                .collect();
            assert_eq!(
                history,
                vec![
                    ("created".into(), Some("open".into()), "test".into()),
                    ("status".into(), Some("hooked".into()), "scheduler".into()),
                    ("status".into(), Some("closed".into()), "mara".into()),
                ]
            );
            let rewrite = c.execute("UPDATE bead_events SET actor = 'mallory'", []);
            assert!(rewrite.is_err(), "history is append-only");
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_dependency_cycle_is_refused() {
    let (store, _dir) = fresh_store();
    store
        .write(|c| {
            let a = create(c, "a");
            let b = create(c, "b");
            let d = create(c, "d");
            add_dep(c, &b.id, &a.id, DepType::Blocks, "t", NOW)?;
            add_dep(c, &d.id, &b.id, DepType::WaitsFor, "t", NOW)?;
            let e = add_dep(c, &a.id, &d.id, DepType::Blocks, "t", NOW).unwrap_err();
            assert!(e.to_string().contains("cycle"), "{e}");
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn one_task_bead_per_issue_is_enforced_by_the_schema() {
    let (store, _dir) = fresh_store();
    let second = store
        .write(|c| {
            let mut t = task("x");
            t.forge_ref = Some("github:o/r#1".into());
            create_bead(c, &t, NOW, crate::ids::random_bead_id)?;
            Ok(t)
        })
        .await
        .unwrap();
    let dup = store
        .write(move |c| create_bead(c, &second, NOW, crate::ids::random_bead_id))
        .await;
    assert!(dup.is_err());
    let n = store
        .read(|c| Ok(list_beads(c, None)?.len()))
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_failing_write_does_not_undo_its_group() {
    let (store, _dir) = fresh_store();
    store
        .write(|c| {
            c.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)")?;
            Ok(())
        })
        .await
        .unwrap();
    let mut handles = Vec::new();
    for v in [1, 2, 1, 3] {
        let s = store.clone();
        handles.push(tokio::spawn(async move {
            s.write(move |c| {
                c.execute("INSERT INTO t VALUES (?1)", [v])?;
                Ok(())
            })
            .await
        }));
    }
    let mut failures = 0;
    for h in handles {
        failures += h.await.unwrap().is_err() as usize;
    }
    assert_eq!(failures, 1, "only the duplicate fails");
    let count: i64 = store
        .read(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(count, 3);
}

#[tokio::test]
async fn a_panicking_write_does_not_stop_the_writer() {
    let (store, _dir) = fresh_store();
    let r: Result<()> = store.write(|_| panic!("bug in a job")).await;
    assert!(matches!(r, Err(StoreError::WriterGone)));
    let n = store
        .write(|c| Ok(c.query_row("SELECT 41 + 1", [], |r| r.get::<_, i64>(0))?))
        .await
        .unwrap();
    assert_eq!(n, 42);
}

/// A loop waiting on `wake` has been woken (a permit is stored if it was not waiting).
async fn woken(store: &Store, wake: Wake) -> bool {
    tokio::time::timeout(
        std::time::Duration::from_millis(50),
        store.wakes().of(wake).notified(),
    )
    .await
    .is_ok()
}

#[tokio::test]
async fn a_write_wakes_the_loops_it_names_once_committed_and_a_failed_one_wakes_none() {
    let (store, _dir) = fresh_store();
    store
        .write(|tx| {
            tx.wake(Wake::Dispatcher);
            Ok(())
        })
        .await
        .unwrap();
    assert!(woken(&store, Wake::Dispatcher).await);
    assert!(!woken(&store, Wake::Refinery).await, "only the loop named");

    let failed = store
        .write(|tx| {
            tx.wake(Wake::Refinery);
            Err::<(), _>(StoreError::NotFound("nothing".into()))
        })
        .await;
    assert!(failed.is_err());
    assert!(
        !woken(&store, Wake::Refinery).await,
        "a rolled-back write wakes nobody"
    );
}

#[tokio::test]
async fn typed_columns_round_trip_and_an_unknown_value_names_its_column() {
    let (store, _dir) = fresh_store();
    let agent = store
        .write(|c| {
            let town = ensure_town(c, "t", NOW)?;
            let (rig, _) = ensure_rig(c, &town, ForgeKind::GitLab, "gl.example", "g/p", NOW)?;
            assert_eq!(rig.forge, ForgeKind::GitLab);
            assert_eq!(find_rig(c, &rig.id)?.unwrap().forge, ForgeKind::GitLab);
            let bead = create(c, "work");
            hook_bead(
                c,
                &Hooking {
                    role: Role::Refinery,
                    bead_id: &bead.id,
                    rig_id: &rig.id,
                    town_id: &town,
                    name: "main",
                    branch: "gt/x",
                    session_id: "s1",
                    token_sha256: "d1",
                },
                NOW,
            )
        })
        .await
        .unwrap();
    assert_eq!(
        (agent.role, agent.status),
        (Role::Refinery, AgentStatus::Working)
    );
    let sessions = store.read(live_sessions).await.unwrap();
    assert_eq!(sessions[0].state, SessionState::Starting);
    let grant = store.read(|c| grant_for_token(c, "d1")).await.unwrap();
    assert_eq!(grant.unwrap().role, Role::Refinery);

    // The schema has no list of statuses: a value written by a newer bot (or by hand)
    // is refused where it is read, not taken for another.
    let id = agent.id.clone();
    store
        .write(move |c| {
            c.execute("UPDATE agents SET status = 'napping' WHERE id = ?1", [&id])?;
            Ok(())
        })
        .await
        .unwrap();

    let id = agent.id.clone();
    let err = store.read(move |c| get_agent(c, &id)).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("column `status`") && text.contains("unknown agent status \"napping\""),
        "{text}"
    );
}

#[tokio::test]
async fn hooking_a_working_agent_is_refused_as_busy() {
    let (store, _dir) = fresh_store();
    let err = store
        .write(|c| {
            let town = ensure_town(c, "t", NOW)?;
            let (rig, _) = ensure_rig(c, &town, ForgeKind::GitHub, "github.com", "o/r", NOW)?;
            let (first, second) = (create(c, "one"), create(c, "two"));
            let hook = |bead, session| {
                let h = Hooking {
                    role: Role::Refinery,
                    bead_id: bead,
                    rig_id: &rig.id,
                    town_id: &town,
                    name: "main",
                    branch: "gt/x",
                    session_id: session,
                    token_sha256: session,
                };
                hook_bead(c, &h, NOW)
            };
            hook(&first.id, "s1")?;
            Ok(hook(&second.id, "s2").unwrap_err())
        })
        .await
        .unwrap();
    let StoreError::Busy { agent_id } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(agent_id, "github:o/r/refinery/main");
    assert_eq!(
        err.to_string(),
        "agent github:o/r/refinery/main is already working"
    );
}

#[tokio::test]
async fn when_the_transaction_cannot_begin_no_write_runs_and_each_caller_hears_why() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    let (store, _dir) = fresh_store();
    // The writer gives up on a lock held elsewhere quickly instead of after 10 s.
    store
        .write(|c| Ok(c.busy_timeout(std::time::Duration::from_millis(20))?))
        .await
        .unwrap();
    let other = Connection::open(store.path()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();

    let ran = Arc::new(AtomicUsize::new(0));
    let write = |town: &'static str| {
        let ran = ran.clone();
        store.write(move |c| {
            ran.fetch_add(1, Ordering::SeqCst);
            ensure_town(c, town, NOW)
        })
    };
    let (a, b) = tokio::join!(write("a"), write("b"));
    for result in [a, b] {
        let Err(StoreError::Commit(cause)) = &result else {
            panic!("{result:?}")
        };
        assert_eq!(
            cause.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy),
            "the cause is kept: {cause}"
        );
    }
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "no write ran outside a transaction"
    );

    // The writer goes on once the lock is gone.
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(write("c").await.unwrap(), "c");
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

/// The thread a write ran on: the writer's, or its caller's.
fn ran_on(_: &Tx<'_>) -> Result<String> {
    Ok(std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_owned())
}

const WRITER: &str = "gt-store-writer";

#[tokio::test]
async fn a_light_write_commits_on_its_callers_thread_only_while_writes_come_one_at_a_time() {
    use std::pin::{Pin, pin};
    use std::task::{Context, Waker};

    /// Poll once, which queues the write, and see that it waits for the connection.
    fn poll_once(fut: Pin<&mut impl Future<Output = Result<String>>>) {
        let polled = fut.poll(&mut Context::from_waker(Waker::noop()));
        assert!(polled.is_pending(), "it waits for the connection");
    }

    let (store, _dir) = fresh_store();
    let mut threads = Vec::new();
    for _ in 0..=writer::LONE_RUN {
        threads.push(store.write_light(ran_on).await.unwrap());
    }
    let (queued, alone) = threads.split_at(writer::LONE_RUN as usize);
    assert!(queued.iter().all(|t| t == WRITER), "{threads:?}");
    assert_ne!(alone[0], WRITER, "after a run of lone groups: {threads:?}");

    // Another write holds the connection: a light write queues behind it...
    let (started, is_started) = tokio::sync::oneshot::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let blocker = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .write(move |_| {
                    let _ = started.send(());
                    let _ = released.recv();
                    Ok(())
                })
                .await
        }
    });
    is_started.await.unwrap();
    let mut behind = pin!(store.write_light(ran_on));
    let mut also_behind = pin!(store.write(ran_on));
    poll_once(behind.as_mut());
    poll_once(also_behind.as_mut());
    release.send(()).unwrap();
    blocker.await.unwrap().unwrap();
    assert_eq!(behind.await.unwrap(), WRITER);
    assert_eq!(also_behind.await.unwrap(), WRITER);

    // ...and the group of two it joined means others are writing: the next light
    // write goes to the writer too.
    assert_eq!(store.write_light(ran_on).await.unwrap(), WRITER);
}

/// The page size of each, and the WAL the writer lets build up before checkpointing it
/// itself, in pages (the unit SQLite takes).
async fn pages_and_wal_budget(store: &Store) -> (i64, i64) {
    let page_size = store
        .read_blocking(|c| Ok(c.query_row("PRAGMA page_size", [], |r| r.get(0))?))
        .unwrap();
    let budget = store
        .write(|tx| Ok(tx.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))?))
        .await
        .unwrap();
    (page_size, budget)
}

#[tokio::test]
async fn a_new_database_uses_small_pages_an_existing_one_keeps_its_own_and_both_get_16_mib_of_wal()
{
    let dir = tempfile::tempdir().unwrap();
    let fresh = Store::open(dir.path().join("new.db")).unwrap();
    assert_eq!(pages_and_wal_budget(&fresh).await, (1024, 16 * 1024));

    let old = dir.path().join("old.db");
    Connection::open(&old)
        .unwrap()
        .execute_batch("PRAGMA page_size=4096; PRAGMA journal_mode=WAL; CREATE TABLE t (x);")
        .unwrap();
    let reopened = Store::open(&old).unwrap();
    assert_eq!(pages_and_wal_budget(&reopened).await, (4096, 4 * 1024));
}
