//! A concurrent write micro-benchmark, ignored by default:
//! `cargo test --release -p baton-store-sqlite --test throughput -- --ignored --nocapture`.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod common;

use baton_store::{FindingLimits, FindingsBatch, ResearchStore};
use baton_store_sqlite::{SqliteOptions, SqliteStore};
use chrono::Utc;
use common::new_task;

/// Concurrent clients, unless `BATON_BENCH_CLIENTS` says otherwise.
fn clients() -> u64 {
    std::env::var("BATON_BENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}
const SECONDS: u64 = 3;

/// 16 tasks (`BATON_BENCH_CLIENTS`), each running start → append → append → complete in a loop for 3 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn concurrent_write_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tp.db");
    let store = Arc::new(
        SqliteStore::open(path.to_str().unwrap(), SqliteOptions::default())
            .await
            .unwrap(),
    );
    let ops = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let findings = vec!["a finding of modest length, as a model would write it".to_owned()];
    let mut handles = Vec::new();
    let clients = clients();
    for _ in 0..clients {
        let (store, ops, next, findings) =
            (store.clone(), ops.clone(), next.clone(), findings.clone());
        handles.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let t = new_task(n);
                let now = Utc::now();
                store.start(t.clone(), now).await.unwrap();
                store
                    .append_findings(
                        &t.owner,
                        &t.id,
                        FindingsBatch::new(&findings, FindingLimits::per_task(1000)),
                        now,
                    )
                    .await
                    .unwrap();
                store
                    .append_findings(
                        &t.owner,
                        &t.id,
                        FindingsBatch::new(&findings, FindingLimits::per_task(1000)),
                        now,
                    )
                    .await
                    .unwrap();
                let done = store
                    .complete(
                        &t.owner,
                        &t.id,
                        &findings,
                        FindingLimits::per_task(1000),
                        now,
                    )
                    .await
                    .unwrap();
                assert_eq!(done.findings_count, 3);
                ops.fetch_add(4, Ordering::Relaxed);
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let total = ops.load(Ordering::Relaxed);
    println!(
        "concurrent writes: {clients} clients, {total} ops in {SECONDS} s = {:.0} writes/s",
        total as f64 / SECONDS as f64
    );
    store.close().await;
}
