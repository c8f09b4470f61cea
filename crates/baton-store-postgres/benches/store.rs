//! Latency of the hot store calls on a database pre-seeded with 10,000 tasks.
//!
//! Needs Postgres (see `tests/common`); without it the bench prints a notice and exits.
//! `cargo bench -p baton-store-postgres --bench store`
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use baton_store::{
    FindingLimits, FindingsBatch, Lifetimes, NewResearchTask, ResearchStore, ResearchTaskId,
};
use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};

const SEEDED: u64 = 10_000;
const OWNERS: u64 = 100;

fn task_id(n: u64) -> ResearchTaskId {
    ResearchTaskId::from_bytes(u128::from(n).to_be_bytes())
}

fn owner(n: u64) -> String {
    format!("owner{}", n % OWNERS)
}

fn bench_store(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(db) = rt.block_on(common::TestDb::create()) else {
        return;
    };
    let store = rt.block_on(db.store(Lifetimes::default()));
    let t0 = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    let lifetimes = Lifetimes::default();
    rt.block_on(async {
        sqlx::query(
            "INSERT INTO tasks (id, owner, topic, depth, status, findings_count, created_at, \
                                updated_at, expires_at, hard_expires_at) \
             SELECT decode(lpad(to_hex(g), 32, '0'), 'hex'), 'owner' || (g % $4), 'topic ' || g, \
                    2, 'running', 0, $1, $1, $2, $3 \
             FROM generate_series(1, $5::bigint) g",
        )
        .bind(t0)
        .bind(t0 + lifetimes.idle)
        .bind(t0 + lifetimes.absolute)
        .bind(OWNERS as i64)
        .bind(SEEDED as i64)
        .execute(store.pool())
        .await
        .unwrap();
        sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
    });
    // Within a second of the seed, so reads take the no-refresh fast path.
    let now = t0 + chrono::Duration::milliseconds(500);

    let mut group = c.benchmark_group("postgres");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    let next = AtomicU64::new(0);
    group.bench_function("get_task", |b| {
        b.iter(|| {
            let n = next.fetch_add(7919, Ordering::Relaxed) % SEEDED + 1;
            rt.block_on(store.get(&owner(n), &task_id(n), now)).unwrap()
        })
    });

    let fresh = AtomicU64::new(1_000_000);
    group.bench_function("start_task", |b| {
        b.iter(|| {
            let n = fresh.fetch_add(1, Ordering::Relaxed);
            let new = NewResearchTask {
                id: task_id(n),
                owner: owner(n),
                topic: "benchmarking".into(),
                depth: 2,
                idempotency_key: None,
                max_live_tasks: u64::MAX,
            };
            rt.block_on(store.start(new, now)).unwrap()
        })
    });

    let fresh_keyed = AtomicU64::new(2_000_000);
    group.bench_function("start_task_idempotent", |b| {
        b.iter(|| {
            let n = fresh_keyed.fetch_add(1, Ordering::Relaxed);
            let new = NewResearchTask {
                id: task_id(n),
                owner: owner(n),
                topic: "benchmarking".into(),
                depth: 2,
                idempotency_key: Some(format!("key-{n}")),
                max_live_tasks: u64::MAX,
            };
            rt.block_on(store.start(new, now)).unwrap()
        })
    });

    let findings =
        vec!["a finding of typical length, about eighty characters or so, give or take".to_owned()];
    group.bench_function("append_findings_1", |b| {
        b.iter(|| {
            let n = next.fetch_add(7919, Ordering::Relaxed) % SEEDED + 1;
            rt.block_on(store.append_findings(
                &owner(n),
                &task_id(n),
                FindingsBatch::new(&findings, FindingLimits::per_task(100_000)),
                now,
            ))
            .unwrap()
        })
    });

    let batch: Vec<String> = (0..20).map(|i| format!("finding {i} of a batch")).collect();
    group.bench_function("append_findings_20", |b| {
        b.iter(|| {
            let n = next.fetch_add(7919, Ordering::Relaxed) % SEEDED + 1;
            rt.block_on(store.append_findings(
                &owner(n),
                &task_id(n),
                FindingsBatch::new(&batch, FindingLimits::per_task(100_000)),
                now,
            ))
            .unwrap()
        })
    });
    group.finish();

    rt.block_on(store.close());
    drop(db);
}

criterion_group!(benches, bench_store);
criterion_main!(benches);
