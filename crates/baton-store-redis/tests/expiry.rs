//! What only Redis does: keys carry a TTL past the stored deadline, and when Redis expires a
//! task's keys by itself the sweeper still brings the owner's indexes and quotas in step.
#![allow(clippy::unwrap_used)]

mod common;

use baton_store::testkit::{Backend, T0};
use baton_store::{
    FindingLimits, FindingsBatch, Lifetimes, NewResearchTask, Quota, ResearchStore, ResearchTaskId,
    StoreErrorKind,
};
use chrono::Duration;
use common::{Redis, delete_prefix, machine_redis, unique_prefix};

fn new_task(n: u8, max_live_tasks: u64) -> NewResearchTask {
    NewResearchTask {
        id: ResearchTaskId::from_bytes([n; 16]),
        owner: "alice".into(),
        topic: "tides".into(),
        depth: 2,
        idempotency_key: Some(format!("key-{n}")),
        max_live_tasks,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_redis_expired_by_itself_are_swept_from_indexes_and_quotas() {
    let Some(url) = machine_redis().await else {
        return;
    };
    let backend = Redis::new(url.clone(), unique_prefix("expiry"));
    let lifetimes = Lifetimes::new(Duration::hours(1), Duration::days(1)).unwrap();
    let store = backend.open_fresh(lifetimes).await;
    let mut raw = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let now = T0();
    let task = store.start(new_task(1, 1), now).await.unwrap().task;
    let findings: Vec<String> = (0..3).map(|i| format!("finding {i}")).collect();
    let limits = FindingLimits {
        per_task: 100,
        owner_bytes: 27,
    };
    store
        .append_findings(
            "alice",
            &task.id,
            FindingsBatch::new(&findings, limits),
            now,
        )
        .await
        .unwrap();

    // The task's keys expire a minute after its stored deadline.
    let pattern = format!("{}:*:t:*", store.key_prefix());
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let findings_key = keys[0].replace(":t:", ":f:");
    for key in [&keys[0], &findings_key] {
        let at: i64 = redis::cmd("PEXPIRETIME")
            .arg(key)
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_eq!(
            at,
            (now + Duration::hours(1)).timestamp_millis() + 60_000,
            "{key}"
        );
    }

    // Redis expires them by itself (as it would a minute past the deadline): the task is gone
    // at once, but it still counts against the owner until the sweeper runs.
    let _: () = redis::cmd("DEL")
        .arg(&keys[0])
        .arg(&findings_key)
        .query_async(&mut raw)
        .await
        .unwrap();
    let later = now + Duration::minutes(10);
    assert_eq!(
        store
            .get("alice", &task.id, later)
            .await
            .unwrap_err()
            .kind(),
        &StoreErrorKind::NotFound
    );
    assert!(
        store
            .list("alice", None, None, 10, later)
            .await
            .unwrap()
            .tasks
            .is_empty()
    );
    assert_eq!(
        store.start(new_task(2, 1), later).await.unwrap_err().kind(),
        &StoreErrorKind::QuotaExceeded(Quota::LiveTasks { limit: 1 })
    );

    // The sweeper finds it on its worklist once the stored deadline passed, deletes what is
    // left, and frees the task slot and the 27 bytes of findings.
    assert_eq!(
        store.sweep_expired(later, 10).await.unwrap(),
        0,
        "not due yet"
    );
    let after = now + Duration::hours(2);
    assert_eq!(store.sweep_expired(after, 10).await.unwrap(), 1);
    assert_eq!(store.sweep_expired(after, 10).await.unwrap(), 0);
    let fresh = store.start(new_task(3, 1), after).await.unwrap().task;
    store
        .append_findings(
            "alice",
            &fresh.id,
            FindingsBatch::new(&findings, limits),
            after,
        )
        .await
        .unwrap();
    // The first task's idempotency key was freed with it.
    let again = store.start(new_task(1, 2), after).await.unwrap();
    assert!(!again.replayed);
    delete_prefix(&url, &backend.run_prefix).await;
}
