//! Handle-signing keys rotated under load through both instances of a Postgres fleet
//! (issue 12): `baton keys add`, then `promote`, then `rotate` (add and promote at once, the
//! harshest case) while workers mint handles on one instance and use them on the other.
//! No valid handle may be rejected at any point: an instance meeting a handle signed with a
//! key it has not loaded yet reloads its ring at once. At the end, `retire` of the first key
//! makes its handles unknown on both instances, and only those.
//!
//! Needs Postgres: under CI a missing one fails the test, elsewhere it is skipped with a
//! `BATON-SKIP:` line. Every loop is bounded in count and time.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use baton_e2e::support::{
    fleet::{Fleet, FleetOptions},
    handle::header,
    rpc::{Outcome, Rpc},
    server::run_baton,
    wait,
};
use baton_protocol::UNKNOWN_HANDLE_MESSAGE;
use serde_json::json;

const DEADLINE: Duration = Duration::from_secs(60);
/// The most calls each worker makes (the loop is also stopped by the test).
const MAX_ROUNDS: u64 = 20_000;
const WORKERS: usize = 4;

/// What the workers saw.
#[derive(Default)]
struct Tally {
    rounds: AtomicU64,
    /// Handles minted, by the key id in their header.
    minted_by_key: Mutex<BTreeMap<u16, u64>>,
    /// Valid handles refused (the failure this test is about), with the call.
    rejected: Mutex<Vec<String>>,
    /// Any other failure.
    failed: Mutex<Vec<String>>,
    /// One handle per key id, kept for the retirement check.
    kept: Mutex<BTreeMap<u16, String>>,
}

fn keys(db: &str, args: &[&str]) -> String {
    let mut all = vec!["keys"];
    all.extend_from_slice(args);
    all.extend(["--database-url", db]);
    let out = run_baton(&all);
    assert!(out.status.success(), "baton {all:?}: {}", out.stderr);
    format!("{}{}", out.stdout, out.stderr)
}

async fn worker(n: usize, urls: [String; 2], tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    let rpc = Rpc::default();
    for round in 0..MAX_ROUNDS {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        // Mint on one instance, use on the other, alternating.
        let (mint, other) = if (round as usize + n).is_multiple_of(2) {
            (&urls[0], &urls[1])
        } else {
            (&urls[1], &urls[0])
        };
        let handle = match rpc
            .call(
                mint,
                "start_research_task",
                json!({"topic": format!("rotation {n}/{round}")}),
            )
            .await
        {
            Outcome::Ok(v) => v["handle"].as_str().unwrap().to_owned(),
            other => {
                tally
                    .failed
                    .lock()
                    .unwrap()
                    .push(format!("start: {other:?}"));
                continue;
            }
        };
        let key_id = header(&handle).key_id;
        *tally
            .minted_by_key
            .lock()
            .unwrap()
            .entry(key_id)
            .or_default() += 1;
        tally
            .kept
            .lock()
            .unwrap()
            .entry(key_id)
            .or_insert_with(|| handle.clone());
        for (url, tool, args) in [
            (other, "get_task_status", json!({"handle": handle})),
            (
                other,
                "add_findings",
                json!({"handle": handle, "findings": ["f"]}),
            ),
            (mint, "get_task_results", json!({"handle": handle})),
        ] {
            match rpc.call(url, tool, args).await {
                Outcome::Ok(_) => {}
                Outcome::ToolError(t) if t == UNKNOWN_HANDLE_MESSAGE => tally
                    .rejected
                    .lock()
                    .unwrap()
                    .push(format!("{tool} on {url} with a key-{key_id} handle")),
                other => tally
                    .failed
                    .lock()
                    .unwrap()
                    .push(format!("{tool}: {other:?}")),
            }
        }
        tally.rounds.fetch_add(1, Ordering::Relaxed);
    }
}

/// Waits until the workers have done `more` rounds beyond now.
async fn rounds_pass(tally: &Tally, more: u64) {
    let target = tally.rounds.load(Ordering::Relaxed) + more;
    let reached = wait::until(DEADLINE, || async move {
        tally.rounds.load(Ordering::Relaxed) >= target
    })
    .await;
    assert!(reached.is_some(), "the load stalled below {target} rounds");
}

/// Waits until `n` handles signed with key `key` have been minted (both instances have
/// picked up its promotion by then, each at its own reload).
async fn minted_with(tally: &Tally, key: u16, n: u64) {
    let waited = wait::until(DEADLINE, || async move {
        tally
            .minted_by_key
            .lock()
            .unwrap()
            .get(&key)
            .is_some_and(|m| *m >= n)
    })
    .await;
    let waited = waited
        .unwrap_or_else(|| panic!("no {n} handles signed with key {key} within {DEADLINE:?}"));
    println!(
        "{n} handles signed with key {key} after {:.1} s",
        waited.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_rotate_under_load_through_both_instances_with_no_valid_handle_rejected() {
    // Instances pick up a promotion at their own periodic reload (2 s apart at most, at
    // different moments), so for a while one signs with the new key while the other has not
    // loaded it: the other must still accept those handles (its on-miss reload).
    let Some(fleet) = Fleet::start(FleetOptions {
        instances: 2,
        nginx: false,
        proxy: false,
        extra_args: &["--key-reload-interval", "2s"],
    }) else {
        return;
    };
    let db = fleet.db().url(None);
    let urls = [fleet.url(0), fleet.url(1)];
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|n| tokio::spawn(worker(n, urls.clone(), tally.clone(), stop.clone())))
        .collect();

    rounds_pass(&tally, 20).await;
    let added = keys(&db, &["add"]);
    println!("{}", added.trim());
    rounds_pass(&tally, 20).await;
    keys(&db, &["promote", "2"]);
    minted_with(&tally, 2, 40).await;
    let rotated = keys(&db, &["rotate"]);
    println!("{}", rotated.trim());
    minted_with(&tally, 3, 40).await;
    rounds_pass(&tally, 20).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }

    let minted = tally.minted_by_key.lock().unwrap().clone();
    let rejected = tally.rejected.lock().unwrap().clone();
    let failed = tally.failed.lock().unwrap().clone();
    println!(
        "{} rounds ({} calls) through both instances; handles minted by key: {minted:?}; \
         valid handles rejected: {}; other failures: {}",
        tally.rounds.load(Ordering::Relaxed),
        tally.rounds.load(Ordering::Relaxed) * 4,
        rejected.len(),
        failed.len()
    );
    assert!(
        rejected.is_empty(),
        "valid handles rejected: {rejected:?}; logs:\n{}",
        fleet.logs()
    );
    assert!(failed.is_empty(), "calls failed: {failed:?}");
    for key in [1, 2, 3] {
        assert!(
            minted.get(&key).copied().unwrap_or(0) > 0,
            "no handle was minted with key {key}: {minted:?}"
        );
    }

    // Retiring key 1: its handles are unknown on both instances (after a reload), while
    // handles of keys 2 and 3 keep working.
    keys(&db, &["retire", "1"]);
    let kept = tally.kept.lock().unwrap().clone();
    let rpc = Rpc::default();
    for url in &urls {
        let old = kept[&1].clone();
        let refused = wait::until(Duration::from_secs(90), || {
            let (rpc, url, old) = (rpc.clone(), url.clone(), old.clone());
            async move {
                matches!(
                    rpc.call(&url, "get_task_status", json!({"handle": old})).await,
                    Outcome::ToolError(t) if t == UNKNOWN_HANDLE_MESSAGE
                )
            }
        })
        .await;
        assert!(
            refused.is_some(),
            "{url} still accepts a key-1 handle after retire"
        );
        for key in [2, 3] {
            let outcome = rpc
                .call(url, "get_task_status", json!({"handle": kept[&key]}))
                .await;
            assert!(
                outcome.is_ok(),
                "{url}: a key-{key} handle after retiring key 1: {outcome:?}"
            );
        }
    }
}
