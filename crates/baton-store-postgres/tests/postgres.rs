//! Postgres-specific behaviour: migrations, connection handling, error mapping, schema.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use baton_store::{
    FindingLimits, FindingsBatch, LaneReadStats, Lifetimes, NewResearchTask, ResearchStore,
    ResearchTaskId, StoreErrorKind, StoreStats,
};
use baton_store_postgres::{
    PostgresOptions, PostgresStore, migrate, pending_migrations, statements,
};
use chrono::{DateTime, TimeZone, Utc};
use common::TestDb;
use sqlx::Connection;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
}

fn new_task(n: u8) -> NewResearchTask {
    NewResearchTask {
        id: ResearchTaskId::from_bytes([n; 16]),
        owner: "alice".into(),
        topic: "tidal energy".into(),
        depth: 3,
        idempotency_key: None,
        max_live_tasks: u64::MAX,
    }
}

#[tokio::test]
async fn pending_migrations_then_migrate_then_none() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let pending = pending_migrations(&db.url).await.unwrap();
    assert!(!pending.is_empty());
    assert_eq!(pending[0].0, 1);
    assert_eq!(pending[0].1, "initial schema");
    // Checking changes nothing.
    assert_eq!(pending_migrations(&db.url).await.unwrap(), pending);
    migrate(&db.url).await.unwrap();
    assert!(pending_migrations(&db.url).await.unwrap().is_empty());
    // Migrating again is a no-op.
    migrate(&db.url).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_together_migrate_once() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move {
                PostgresStore::connect(&url, common::options(Lifetimes::default())).await
            })
        })
        .collect();
    for h in handles {
        let store = h.await.unwrap().unwrap();
        store.ping().await.unwrap();
        store.close().await;
    }
    assert!(pending_migrations(&db.url).await.unwrap().is_empty());
}

#[tokio::test]
async fn connect_without_migrating_leaves_schema_alone() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let options = PostgresOptions {
        migrate_on_connect: false,
        ..common::options(Lifetimes::default())
    };
    let store = PostgresStore::connect(&db.url, options).await.unwrap();
    store.ping().await.unwrap();
    assert_eq!(
        pending_migrations(&db.url).await.unwrap().len(),
        baton_store_postgres::MIGRATOR.iter().count(),
        "every migration is pending"
    );
    // A missing table is a bug, not an outage.
    let err = store
        .get("alice", &ResearchTaskId::from_bytes([1; 16]), t0())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &StoreErrorKind::Internal);
    store.migrate().await.unwrap();
    assert!(pending_migrations(&db.url).await.unwrap().is_empty());
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_recovers_after_connections_are_terminated() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let options = PostgresOptions {
        min_connections: 2,
        ..common::options(Lifetimes::default())
    };
    let store = PostgresStore::connect(&db.url, options).await.unwrap();
    let task = store.start(new_task(1), t0()).await.unwrap().task;
    for round in 0..3 {
        let killed = db.terminate_connections().await;
        assert!(killed >= 1, "round {round}: no connection was terminated");
        // Each terminated connection may fail one call, and only retryably; then calls
        // succeed on fresh connections. (Connections are pinged before use only after
        // sitting idle, so a connection killed while busy fails its next call once.)
        let mut failures = 0;
        let recovered = loop {
            match store.get("alice", &task.id, t0()).await {
                Ok(t) => break t,
                Err(e) => {
                    assert!(
                        matches!(
                            e.kind(),
                            StoreErrorKind::Unavailable | StoreErrorKind::Interrupted
                        ),
                        "{e}"
                    );
                    failures += 1;
                    assert!(
                        failures <= killed,
                        "round {round}: {failures} failures for {killed} terminated connections"
                    );
                }
            }
        };
        assert_eq!(recovered.id, task.id);
        let again = store.get("alice", &task.id, t0()).await.unwrap();
        assert_eq!(again.id, task.id);
        store.ping().await.unwrap();
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_through_the_lanes_and_outlive_them() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let options = PostgresOptions {
        max_connections: 8,
        acquire_timeout: Duration::from_secs(1),
        ..common::options(Lifetimes::default())
    };
    let store = PostgresStore::connect(&db.url, options).await.unwrap();
    assert_eq!(store.read_lanes_connected(), 1);
    let task = store.start(new_task(3), t0()).await.unwrap().task;
    let lanes_in_the_server = || async {
        let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = $1 AND application_name = 'baton (read lane)'",
        )
        .bind(&db.name)
        .fetch_one(&mut admin)
        .await
        .unwrap();
        admin.close().await.unwrap();
        n
    };
    assert_eq!(lanes_in_the_server().await, 1);

    // With every pooled connection held, a read can only be answered by a lane (the pool
    // would time out after a second). Concurrent reads share the lanes.
    let read_with_the_pool_taken = || async {
        let mut held = Vec::new();
        for _ in 0..7 {
            held.push(store.pool().acquire().await.unwrap());
        }
        let reads = futures::future::join_all((0..32).map(|_| store.get("alice", &task.id, t0())));
        for read in reads.await {
            assert_eq!(read.unwrap(), task);
        }
        // Another owner's read and an expired task are "not found" on a lane too.
        let err = store.get("bob", &task.id, t0()).await.unwrap_err();
        assert_eq!(err.kind(), &StoreErrorKind::NotFound, "{err}");
        let later = task.hard_expires_at + chrono::Duration::seconds(1);
        let err = store.get("alice", &task.id, later).await.unwrap_err();
        assert_eq!(err.kind(), &StoreErrorKind::NotFound, "{err}");
        drop(held);
    };
    read_with_the_pool_taken().await;
    // Each of those reads is counted on the lane (the metrics endpoint shows these counts).
    let lane_reads = |on_lane, on_pool, connected| LaneReadStats {
        lanes: 1,
        connected,
        on_lane,
        on_pool,
    };
    assert_eq!(store.lane_reads(), Some(lane_reads(34, 0, 1)));

    // Lanes lost (a server restart, an administrator's pg_terminate_backend): every read is
    // still answered, by the pool, and the lanes come back in the background.
    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND application_name = 'baton (read lane)'",
    )
    .bind(&db.name)
    .execute(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut reads_while_lost: u64 = 0;
    loop {
        assert_eq!(store.get("alice", &task.id, t0()).await.unwrap(), task);
        reads_while_lost += 1;
        if store.read_lanes_connected() == 1 && lanes_in_the_server().await == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the read lanes did not reconnect within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    read_with_the_pool_taken().await;
    // The first read after the loss found its lane broken and went to the pool, as did every
    // read before the lane was connected again; the rest were answered on the lane.
    let stats = store.lane_reads().unwrap();
    assert!(
        (1..=reads_while_lost).contains(&stats.on_pool),
        "{stats:?} after {reads_while_lost} reads while the lane was lost"
    );
    assert_eq!(
        stats.on_lane + stats.on_pool,
        34 + reads_while_lost + 34,
        "{stats:?}"
    );

    store.close().await;
    assert_eq!(store.read_lanes_connected(), 0);
    assert_eq!(
        store.lane_reads().map(|s| (s.lanes, s.connected)),
        Some((1, 0))
    );
}

#[tokio::test]
async fn unreachable_server_is_unavailable() {
    // Nothing listens on port 1.
    let options = PostgresOptions {
        acquire_timeout: Duration::from_secs(2),
        ..PostgresOptions::default()
    };
    let err = PostgresStore::connect("postgres://postgres@127.0.0.1:1/test", options)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &StoreErrorKind::Unavailable, "{err}");
    let err = pending_migrations("postgres://postgres@127.0.0.1:1/test")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &StoreErrorKind::Unavailable, "{err}");
}

#[tokio::test]
async fn bad_url_is_internal() {
    let err = PostgresStore::connect(
        "postgres://127.0.0.1/test?sslmode=sometimes",
        PostgresOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), &StoreErrorKind::Internal, "{err}");
}

#[tokio::test]
async fn a_statement_timeout_in_a_store_call_is_unavailable_and_changes_nothing() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let options = PostgresOptions {
        statement_timeout: Duration::from_millis(300),
        ..common::options(Lifetimes::default())
    };
    let store = PostgresStore::connect(&db.url, options).await.unwrap();
    let setting: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(setting, "300ms");
    let task = store.start(new_task(7), t0()).await.unwrap().task;

    // Another session holds the task's row lock, so the store's append waits on it until
    // its statement timeout cancels it.
    let mut holder = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut tx = holder.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM research_tasks WHERE id = $1 FOR UPDATE")
        .bind(task.id.as_bytes().as_slice())
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = store
        .append_findings(
            "alice",
            &task.id,
            FindingsBatch::new(&["blocked".into()], FindingLimits::per_task(100)),
            t0(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &StoreErrorKind::Unavailable, "{err}");
    let cause = std::error::Error::source(&err)
        .and_then(|s| s.downcast_ref::<sqlx::Error>())
        .and_then(|e| e.as_database_error())
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    assert_eq!(cause.as_deref(), Some("57014"), "{err}");
    tx.rollback().await.unwrap();
    holder.close().await.unwrap();

    let after = store.get("alice", &task.id, t0()).await.unwrap();
    assert_eq!(after, task, "a timed-out append changed the task");
    store.close().await;
}

#[tokio::test]
async fn times_are_stored_to_the_millisecond() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store(Lifetimes::default()).await;
    let now = t0() + chrono::Duration::nanoseconds(123_456_789);
    let task = store.start(new_task(9), now).await.unwrap().task;
    assert_eq!(
        task.created_at,
        t0() + chrono::Duration::milliseconds(123),
        "truncated, not rounded"
    );
    let read = store.get("alice", &task.id, now).await.unwrap();
    assert_eq!(read, task);
    store.close().await;
}

/// The plans of the store's own statements (from `baton_store_postgres::statements`, the
/// SQL the store runs) use the indexes they were written for.
#[tokio::test]
async fn hot_statements_use_their_indexes() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store(Lifetimes::default()).await;
    for n in 0..50 {
        store.start(new_task(n), t0()).await.unwrap();
    }
    let pool = store.pool();
    sqlx::query("ANALYZE research_tasks")
        .execute(pool)
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .unwrap();
    let explain = |sql: &str| format!("EXPLAIN {sql}");
    let plan: Vec<String> = sqlx::query_scalar(&explain(statements::SELECT_TASK))
        .bind(vec![1u8; 16])
        .bind("alice")
        .bind(t0())
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert!(plan.join("\n").contains("research_tasks_pkey"), "{plan:?}");
    let plan: Vec<String> = sqlx::query_scalar(&explain(statements::SWEEP))
        .bind(t0())
        .bind(10i64)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert!(
        plan.join("\n").contains("research_tasks_expires_at_idx"),
        "{plan:?}"
    );
    let plan: Vec<String> = sqlx::query_scalar(&explain(statements::LIST_TASKS_FIRST))
        .bind("alice")
        .bind(t0())
        .bind(None::<String>)
        .bind(11i64)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert!(
        plan.join("\n")
            .contains("research_tasks_owner_created_id_idx"),
        "{plan:?}"
    );
    tx.rollback().await.unwrap();
    store.close().await;
}
