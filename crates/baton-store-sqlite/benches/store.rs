//! get, start and append_findings on a SQLite store pre-seeded with 10k tasks.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};

#[path = "../tests/common/mod.rs"]
mod common;

use baton_store::{FindingLimits, FindingsBatch, ResearchStore};
use baton_store_sqlite::{SqliteOptions, SqliteStore};
use chrono::Utc;
use common::new_task;
use criterion::{Criterion, criterion_group, criterion_main};

const SEEDED: u64 = 10_000;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let store = rt.block_on(async {
        let store = SqliteStore::open(path.to_str().unwrap(), SqliteOptions::default())
            .await
            .unwrap();
        let now = Utc::now();
        for n in 0..SEEDED {
            store.start(new_task(n), now).await.unwrap();
        }
        store
    });
    let now = Utc::now();

    let mut n = 0u64;
    c.bench_function("get_task (10k tasks)", |b| {
        b.iter(|| {
            n = (n + 7_919) % SEEDED;
            let t = new_task(n);
            rt.block_on(store.get(&t.owner, &t.id, now)).unwrap()
        })
    });

    let next = AtomicU64::new(1_000_000);
    c.bench_function("start_task (10k+ tasks)", |b| {
        b.iter(|| {
            let n = next.fetch_add(1, Ordering::Relaxed);
            rt.block_on(store.start(new_task(n), now)).unwrap()
        })
    });

    let findings = vec!["a finding of modest length, as a model would write it".to_owned()];
    let mut m = 0u64;
    c.bench_function("append_findings (1 finding)", |b| {
        b.iter(|| {
            m = (m + 7_919) % SEEDED;
            let t = new_task(m);
            rt.block_on(store.append_findings(
                &t.owner,
                &t.id,
                FindingsBatch::new(&findings, FindingLimits::per_task(1_000_000)),
                now,
            ))
            .unwrap()
        })
    });

    rt.block_on(store.close());
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
