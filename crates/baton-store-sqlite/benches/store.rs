//! get, start and append_findings on a SQLite store pre-seeded with 10k tasks.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};

use baton_store::{FindingLimits, FindingsBatch, NewResearchTask, ResearchStore, ResearchTaskId};
use baton_store_sqlite::{SqliteOptions, SqliteStore};
use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};

const SEEDED: u64 = 10_000;

fn id(n: u64) -> ResearchTaskId {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    b[8..].copy_from_slice(&n.to_be_bytes());
    ResearchTaskId::from_bytes(b)
}

fn new_task(n: u64) -> NewResearchTask {
    NewResearchTask {
        id: id(n),
        owner: format!("owner-{}", n % 100),
        topic: format!("benchmark topic number {n}"),
        depth: 2,
        idempotency_key: None,
        max_live_tasks: u64::MAX,
    }
}

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
