//! Two instances, one database: each test opens two `PostgresStore`s (two pools) on the
//! same database and races them.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use baton_store::{
    FindingLimits, FindingsBatch, Lifetimes, NewResearchTask, ResearchStatus, ResearchStore,
    ResearchTaskId, StoreErrorKind,
};
use baton_store_postgres::PostgresStore;
use chrono::{DateTime, TimeZone, Utc};
use common::TestDb;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
}

fn id(n: u8) -> ResearchTaskId {
    let mut b = [0u8; 16];
    b[0] = n;
    b[15] = 0xa5;
    ResearchTaskId::from_bytes(b)
}

fn new_task(n: u8, key: Option<&str>) -> NewResearchTask {
    NewResearchTask {
        id: id(n),
        owner: "alice".into(),
        topic: "tidal energy".into(),
        depth: 2,
        idempotency_key: key.map(str::to_owned),
        max_live_tasks: u64::MAX,
    }
}

/// Two instances on one fresh database.
async fn two_instances() -> Option<(TestDb, Arc<PostgresStore>, Arc<PostgresStore>)> {
    let db = TestDb::create().await?;
    let a = db.store(Lifetimes::default()).await;
    let b = db.store(Lifetimes::default()).await;
    Some((db, Arc::new(a), Arc::new(b)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_completes_from_two_instances_one_wins() {
    let Some((_db, a, b)) = two_instances().await else {
        return;
    };
    for round in 0..20u8 {
        let task = a.start(new_task(round, None), t0()).await.unwrap().task;
        let now = t0() + chrono::Duration::seconds(1);
        let (ra, rb) = tokio::join!(
            {
                let a = a.clone();
                tokio::spawn(async move {
                    a.complete(
                        "alice",
                        &task.id,
                        &["from a".into()],
                        FindingLimits::per_task(100),
                        now,
                    )
                    .await
                })
            },
            {
                let b = b.clone();
                tokio::spawn(async move {
                    b.complete(
                        "alice",
                        &task.id,
                        &["from b".into()],
                        FindingLimits::per_task(100),
                        now,
                    )
                    .await
                })
            }
        );
        let results = [ra.unwrap(), rb.unwrap()];
        let oks = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(oks, 1, "round {round}: {results:?}");
        for r in &results {
            match r {
                Ok(t) => {
                    assert_eq!(t.status, ResearchStatus::Complete);
                    assert_eq!(t.findings_count, 1);
                }
                Err(e) => assert_eq!(
                    e.kind(),
                    &StoreErrorKind::WrongStatus(ResearchStatus::Complete),
                    "round {round}"
                ),
            }
        }
        // Exactly the winner's finding is stored.
        let page = b
            .list_findings("alice", &task.id, 0, 10, now)
            .await
            .unwrap();
        assert_eq!(page.findings.len(), 1);
        assert_eq!(page.findings[0].index, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_concurrent_appends_from_two_instances_are_contiguous() {
    let Some((_db, a, b)) = two_instances().await else {
        return;
    };
    let task = a.start(new_task(1, None), t0()).await.unwrap().task;
    let now = t0() + chrono::Duration::seconds(1);
    let handles: Vec<_> = (0..1000u32)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let tid = task.id;
            tokio::spawn(async move {
                store
                    .append_findings(
                        "alice",
                        &tid,
                        FindingsBatch::new(&[format!("f{i}")], FindingLimits::per_task(10_000)),
                        now,
                    )
                    .await
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap().unwrap();
    }
    let got = a.get("alice", &task.id, now).await.unwrap();
    assert_eq!(got.findings_count, 1000);
    let page = b
        .list_findings("alice", &task.id, 0, 5000, now)
        .await
        .unwrap();
    assert!(!page.has_more);
    let indexes: Vec<u32> = page.findings.iter().map(|f| f.index).collect();
    assert_eq!(indexes, (1..=1000).collect::<Vec<_>>());
    let mut texts: Vec<String> = page.findings.into_iter().map(|f| f.text).collect();
    texts.sort();
    let mut expected: Vec<String> = (0..1000).map(|i| format!("f{i}")).collect();
    expected.sort();
    assert_eq!(texts, expected, "every finding stored exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_idempotent_starts_from_two_instances_make_one_task() {
    let Some((db, a, b)) = two_instances().await else {
        return;
    };
    for round in 0..10u8 {
        let key = format!("key-{round}");
        let handles: Vec<_> = (0..16u8)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                // Each caller mints its own id, as the server would.
                let mut new = new_task(round.wrapping_mul(16).wrapping_add(i), Some(&key));
                new.id = ResearchTaskId::from_bytes([
                    round, i, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                ]);
                tokio::spawn(async move { store.start(new, t0()).await })
            })
            .collect();
        let mut outcomes = Vec::new();
        for h in handles {
            outcomes.push(h.await.unwrap().unwrap());
        }
        let created = outcomes.iter().filter(|o| !o.replayed).count();
        assert_eq!(
            created, 1,
            "round {round}: exactly one call creates the task"
        );
        let first = outcomes[0].task.id;
        assert!(outcomes.iter().all(|o| o.task.id == first));
    }
    // And the database holds exactly one task per key.
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM research_tasks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 10);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_sweepers_delete_each_task_once() {
    let Some((_db, a, b)) = two_instances().await else {
        return;
    };
    for n in 0..200u8 {
        a.start(new_task(n, Some(&format!("k{n}"))), t0())
            .await
            .unwrap();
    }
    let later = t0() + chrono::Duration::days(30);
    let (mut total, mut rounds) = (0u64, 0);
    loop {
        let (x, y) = tokio::join!(a.sweep_expired(later, 17), b.sweep_expired(later, 17));
        let (x, y) = (x.unwrap(), y.unwrap());
        total += x + y;
        rounds += 1;
        if x + y == 0 {
            break;
        }
        assert!(rounds < 100);
    }
    assert_eq!(total, 200);
    // Keys went with their tasks: the same key starts a new task.
    let again = a.start(new_task(250, Some("k7")), later).await.unwrap();
    assert!(!again.replayed);
}
