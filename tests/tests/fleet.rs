//! A fleet: several real `baton` processes on one Postgres database, behind a real nginx
//! rendered from `deploy/nginx/baton.conf` (round-robin). Each test creates its own
//! database and drops it at the end; every load loop is bounded in count and time and
//! talks to 127.0.0.1 only.
//!
//! The lifecycle, kill -9, and concurrency tests run on Redis too (a key prefix of the
//! machine's Redis, and the lifecycle on a three-node cluster the test starts).
//!
//! Needs Postgres or Redis (and nginx where a test puts it in front): when `CI` is set a missing one
//! fails the test, otherwise it is skipped with a `BATON-SKIP:` line (see
//! `baton_e2e::support::ci`). Every wait is on a condition with a generous deadline.

// The test bodies shared by the Postgres and Redis fleets are plain functions, which
// clippy's unwrap-in-tests allowance does not cover.
#![allow(clippy::unwrap_used)]

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use baton_e2e::support::{
    fleet::{Fleet, FleetOptions},
    http::readyz,
    mcp::{call, err, handle_of, lifecycle, modern_client, ok},
    redis::RedisDatabase,
    rpc::{Outcome, Rpc},
    wait::until as eventually,
};
use baton_protocol::ToolError;
use serde_json::json;
use tokio::sync::Barrier;

const ALREADY_COMPLETE: &str = "cannot complete the task: the task is already complete";
const UNAVAILABLE: &str =
    "the task store is temporarily unavailable; nothing was changed, retry the call";
/// The answer when the connection broke mid-write: retryable after checking.
fn interrupted() -> String {
    ToolError::Interrupted.to_string()
}

// ---------------------------------------------------------------------------------------
// Handles and lists across the fleet
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_shares_handles_and_lists_across_instances_and_nginx() {
    let Some(fleet) = Fleet::start(FleetOptions {
        instances: 3,
        nginx: true,
        proxy: false,
        extra_args: &[],
    }) else {
        return;
    };
    // The instances started at once, all with --migrate: exactly one key and one schema
    // (every migration applied once, none failed).
    let migrations = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../migrations/postgres"
    ))
    .unwrap()
    .count();
    assert_eq!(
        fleet.db().sql(
            "SELECT count(*), count(DISTINCT version), count(*) FILTER (WHERE NOT success) \
             FROM _sqlx_migrations"
        ),
        Ok(format!("{migrations}|{migrations}|0"))
    );
    assert_eq!(
        fleet.db().sql("SELECT count(*) FROM signing_keys"),
        Ok("1".to_owned())
    );

    shares_handles_and_lists(&fleet).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_fleet_shares_handles_and_lists_across_instances_and_nginx() {
    let Some(store) = RedisDatabase::on_machine() else {
        return;
    };
    let Some(fleet) = Fleet::start_on_redis(
        store,
        FleetOptions {
            instances: 3,
            nginx: true,
            proxy: false,
            extra_args: &[],
        },
    ) else {
        return;
    };
    // The instances started at once: they agreed on one handle-signing key.
    let redis = fleet.redis();
    assert_eq!(
        redis.cli(&["SCARD", &format!("{}:{{keys}}:sk", redis.prefix)]),
        Ok("1".to_owned())
    );
    shares_handles_and_lists(&fleet).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_fleet_shares_handles_and_lists_across_instances_and_nginx() {
    let Some(store) = tokio::task::block_in_place(RedisDatabase::on_new_cluster) else {
        return;
    };
    let Some(fleet) = Fleet::start_on_redis(
        store,
        FleetOptions {
            instances: 3,
            nginx: true,
            proxy: false,
            extra_args: &[],
        },
    ) else {
        return;
    };
    shares_handles_and_lists(&fleet).await;
}

/// The whole lifecycle through nginx and directly on each instance, handles minted on one
/// instance used on the others, and listings that agree everywhere.
async fn shares_handles_and_lists(fleet: &Fleet) {
    // The whole lifecycle through nginx and directly on each instance, with real clients.
    let mut created = BTreeSet::new();
    let lb = modern_client(&fleet.lb_url()).await;
    created.insert(lifecycle(&lb).await);
    let clients = {
        let mut clients = Vec::new();
        for url in fleet.live_urls() {
            clients.push(modern_client(&url).await);
        }
        clients
    };
    for client in &clients {
        created.insert(lifecycle(client).await);
    }

    // A handle minted on one instance works on every other one, and each step may land on
    // a different instance.
    let n = clients.len();
    for i in 0..n {
        let (a, b, c) = (&clients[i], &clients[(i + 1) % n], &clients[(i + 2) % n]);
        let started = ok(&call(
            a,
            "start_research_task",
            json!({"topic": format!("minted on instance {i}"), "depth": 2}),
        )
        .await);
        let handle = handle_of(&started);
        created.insert(handle.clone());
        for other in [b, c, &lb] {
            let status = ok(&call(other, "get_task_status", json!({"handle": handle})).await);
            assert_eq!(status["topic"], format!("minted on instance {i}"));
            assert_eq!(status["status"], "running");
        }
        ok(&call(
            b,
            "add_findings",
            json!({"handle": handle, "findings": [format!("{i}: from b")]}),
        )
        .await);
        ok(&call(
            &lb,
            "add_findings",
            json!({"handle": handle, "findings": [format!("{i}: through nginx")]}),
        )
        .await);
        let done = ok(&call(
            c,
            "complete_research_task",
            json!({"handle": handle, "findings": [format!("{i}: from c")]}),
        )
        .await);
        assert_eq!(done["result_count"], 3);
        assert_eq!(
            err(&call(
                a,
                "complete_research_task",
                json!({"handle": handle, "findings": []})
            )
            .await),
            ALREADY_COMPLETE
        );
        let results = ok(&call(a, "get_task_results", json!({"handle": handle})).await);
        let texts: Vec<_> = results["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| {
                (
                    f["index"].as_u64().unwrap(),
                    f["text"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            texts,
            [
                (1, format!("{i}: from b")),
                (2, format!("{i}: through nginx")),
                (3, format!("{i}: from c")),
            ]
        );
    }
    // Cancelled on one instance, seen cancelled on the others.
    let cancel_me = handle_of(&ok(&call(
        &clients[0],
        "start_research_task",
        json!({"topic": "cancel me elsewhere"}),
    )
    .await));
    created.insert(cancel_me.clone());
    let cancelled = ok(&call(
        &clients[1],
        "cancel_research_task",
        json!({"handle": cancel_me}),
    )
    .await);
    assert_eq!(cancelled["status"], "cancelled");
    let status = ok(&call(&clients[2], "get_task_status", json!({"handle": cancel_me})).await);
    assert_eq!(status["status"], "cancelled");

    // list_research_tasks on any instance (and through nginx) shows the caller's tasks from
    // all of them: the same set of handles everywhere.
    let rpc = Rpc::default();
    let mut urls = fleet.live_urls();
    urls.push(fleet.lb_url());
    for url in &urls {
        let listed: BTreeSet<String> = rpc
            .all_tasks(url, None)
            .await
            .expect("list")
            .iter()
            .map(handle_of)
            .collect();
        assert_eq!(listed, created, "tasks listed at {url}");
        let running = rpc.all_tasks(url, Some("running")).await.expect("list");
        assert!(running.is_empty(), "no task left running: {running:?}");
        let cancelled = rpc.all_tasks(url, Some("cancelled")).await.expect("list");
        assert_eq!(cancelled.len(), 1);
        assert_eq!(handle_of(&cancelled[0]), cancel_me);
    }

    // nginx spread the requests round-robin over every instance.
    let log = fleet.lb().access_log();
    let upstreams: BTreeMap<String, usize> =
        log.lines()
            .filter(|l| l.contains("POST /mcp"))
            .fold(BTreeMap::new(), |mut m, l| {
                let addr = l.split_whitespace().nth(1).unwrap_or_default().to_owned();
                *m.entry(addr).or_default() += 1;
                m
            });
    let expected: BTreeSet<String> = fleet
        .instances
        .iter()
        .flatten()
        .map(|s| s.addr.to_string())
        .collect();
    assert_eq!(
        upstreams.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "every instance served requests through nginx: {upstreams:?}\n{log}"
    );

    lb.cancel().await.unwrap();
    for client in clients {
        client.cancel().await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// kill -9 under a write load
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    Lb,
    Instance(usize),
}

struct Write {
    task: usize,
    text: String,
    /// The write's idempotency key: a retry with it stores the finding once.
    key: String,
    via: Via,
    started: Instant,
    outcome: Outcome,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_keeps_acknowledged_writes_through_kill_9_and_nginx_keeps_serving() {
    let Some(fleet) = Fleet::start(FleetOptions {
        instances: 3,
        nginx: true,
        proxy: false,
        extra_args: &[],
    }) else {
        return;
    };
    acknowledged_writes_survive_kill_9(fleet).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_fleet_keeps_acknowledged_writes_through_kill_9_and_nginx_keeps_serving() {
    let Some(store) = RedisDatabase::on_machine() else {
        return;
    };
    let Some(fleet) = Fleet::start_on_redis(
        store,
        FleetOptions {
            instances: 3,
            nginx: true,
            proxy: false,
            extra_args: &[],
        },
    ) else {
        return;
    };
    acknowledged_writes_survive_kill_9(fleet).await;
}

/// A write load over nginx and the instances; instance 0 is killed with SIGKILL in the
/// middle: every acknowledged write is stored once, where its answer said.
async fn acknowledged_writes_survive_kill_9(mut fleet: Fleet) {
    let rpc = Rpc::new(Duration::from_secs(10));
    let lb = fleet.lb_url();
    let direct = fleet.live_urls();

    const WRITERS: usize = 6;
    const WRITES_PER_WRITER: usize = 1_000;
    const KILL_AFTER_ACKS: usize = 120;
    /// Writes through nginx, started once it has seen the instance die, needed to judge it.
    const LB_WRITES_AFTER: usize = 20;
    // Generous: the load stops as soon as the test has seen enough.
    let deadline = Instant::now() + Duration::from_secs(180);

    let mut handles = Vec::new();
    for w in 0..WRITERS {
        let started = rpc
            .call(
                &lb,
                "start_research_task",
                json!({"topic": format!("writer {w}")}),
            )
            .await;
        handles.push(handle_of(started.ok()));
    }

    // Each writer appends one finding per call, alternating between nginx and the
    // instances directly (the one about to die included).
    let acks = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(Mutex::new(Vec::<Write>::new()));
    let mut workers = Vec::new();
    for (w, handle) in handles.iter().enumerate() {
        let (rpc, lb, direct, handle) = (rpc.clone(), lb.clone(), direct.clone(), handle.clone());
        let (acks, writes, stop) = (Arc::clone(&acks), Arc::clone(&writes), Arc::clone(&stop));
        workers.push(tokio::spawn(async move {
            for k in 0..WRITES_PER_WRITER {
                if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
                    break;
                }
                let via = if k % 2 == 0 {
                    Via::Lb
                } else {
                    Via::Instance((w + k) % direct.len())
                };
                let url = match via {
                    Via::Lb => &lb,
                    Via::Instance(i) => &direct[i],
                };
                let text = format!("writer {w} write {k}");
                let key = format!("w{w}-k{k}");
                let started = Instant::now();
                let outcome = rpc
                    .call(
                        url,
                        "add_findings",
                        json!({"handle": handle, "findings": [text], "idempotency_key": key}),
                    )
                    .await;
                if outcome.is_ok() {
                    acks.fetch_add(1, Ordering::SeqCst);
                }
                writes.lock().unwrap().push(Write {
                    task: w,
                    text,
                    key,
                    via,
                    started,
                    outcome,
                });
                tokio::time::sleep(Duration::from_millis(2)).await; // pacing, not waiting
            }
        }));
    }

    // kill -9 instance 0 in the middle of the load.
    let waited = eventually(Duration::from_secs(90), || {
        let acks = Arc::clone(&acks);
        async move { acks.load(Ordering::SeqCst) >= KILL_AFTER_ACKS }
    })
    .await;
    assert!(
        waited.is_some(),
        "the load never reached {KILL_AFTER_ACKS} acknowledged writes"
    );
    fleet.kill(0);
    let killed_at = Instant::now();
    // The load goes on until enough writes went through nginx after it had seen the
    // instance die, then stops.
    let settle = killed_at + Duration::from_millis(500);
    let judged = eventually(Duration::from_secs(90), || {
        let writes = Arc::clone(&writes);
        async move {
            let writes = writes.lock().unwrap();
            writes
                .iter()
                .filter(|w| w.via == Via::Lb && w.started > settle)
                .count()
                >= LB_WRITES_AFTER
        }
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.unwrap();
    }
    let writes = std::mem::take(&mut *writes.lock().unwrap());

    // A client that got no answer retries with the same idempotency key, through nginx:
    // every retry succeeds, and a write the dead instance had applied is not stored twice
    // (checked with the rest below: each text once, at the index its answer gives).
    let mut retried: Vec<(usize, String, Outcome)> = Vec::new();
    for write in writes.iter().filter(|w| !w.outcome.is_ok()) {
        let outcome = rpc
            .call(
                &lb,
                "add_findings",
                json!({"handle": handles[write.task], "findings": [write.text], "idempotency_key": write.key}),
            )
            .await;
        assert!(
            outcome.is_ok(),
            "retrying `{}` with its idempotency key through nginx: {outcome:?}",
            write.text
        );
        retried.push((write.task, write.text.clone(), outcome));
    }

    // Every acknowledged write is readable through each survivor and through nginx, exactly
    // once, at the index its acknowledgement reported; nothing is stored twice (nginx never
    // replays a POST that reached an instance).
    let acked: Vec<&Write> = writes.iter().filter(|w| w.outcome.is_ok()).collect();
    let unacked: Vec<&Write> = writes.iter().filter(|w| !w.outcome.is_ok()).collect();
    let survivors = fleet.live_urls();
    assert_eq!(survivors.len(), 2);
    let mut readers = survivors.clone();
    readers.push(lb.clone());
    for reader in &readers {
        for (t, handle) in handles.iter().enumerate() {
            let stored = rpc
                .all_findings(reader, handle)
                .await
                .expect("read findings");
            let mut index_of: HashMap<String, u64> = HashMap::new();
            for (position, f) in stored.iter().enumerate() {
                let index = f["index"].as_u64().unwrap();
                assert_eq!(index, position as u64 + 1, "indexes are contiguous");
                let previous = index_of.insert(f["text"].as_str().unwrap().to_owned(), index);
                assert!(previous.is_none(), "stored twice: {f}");
            }
            for (_, text, outcome) in retried.iter().filter(|(task, _, _)| *task == t) {
                let index = index_of
                    .get(text)
                    .unwrap_or_else(|| panic!("retried write `{text}` is missing at {reader}"));
                assert_eq!(
                    Some(*index),
                    outcome.ok()["findings_count"].as_u64(),
                    "retried `{text}` sits where its retry's answer said"
                );
            }
            for write in acked.iter().filter(|w| w.task == t) {
                let index = index_of.get(&write.text).unwrap_or_else(|| {
                    panic!("acknowledged write `{}` is missing at {reader}", write.text)
                });
                assert_eq!(
                    Some(*index),
                    write.outcome.ok()["findings_count"].as_u64(),
                    "`{}` sits where its acknowledgement said",
                    write.text
                );
            }
            let status = rpc
                .call(reader, "get_task_status", json!({"handle": handle}))
                .await;
            assert_eq!(status.ok()["findings_count"], stored.len());
        }
    }

    // Writes that got no answer failed because of the kill: they went to instance 0, or
    // through nginx to instance 0 while it died.
    for write in &unacked {
        assert!(
            write.via == Via::Instance(0) || write.via == Via::Lb,
            "a write to a survivor failed: {:?}",
            write.outcome
        );
        assert!(
            write.started + Duration::from_secs(10) > killed_at,
            "a write failed long before the kill: {:?}",
            write.outcome
        );
    }

    // nginx kept serving: once it had seen the instance die, every request through it
    // succeeded (refused connections go to the next instance).
    let lb_after: Vec<&Write> = writes
        .iter()
        .filter(|w| w.via == Via::Lb && w.started > settle)
        .collect();
    assert!(
        judged.is_some() && lb_after.len() >= LB_WRITES_AFTER,
        "too few writes through nginx after the kill to judge ({}) within 90 s",
        lb_after.len()
    );
    let failed: Vec<_> = lb_after
        .iter()
        .filter(|w| !w.outcome.is_ok())
        .map(|w| &w.outcome)
        .collect();
    assert!(
        failed.is_empty(),
        "requests through nginx failed after the kill: {failed:?}\n{}",
        fleet.lb().error_log()
    );
    let acked_after = acked.iter().filter(|w| w.started > killed_at).count();
    eprintln!(
        "kill -9: {} writes, {} acknowledged ({} after the kill), {} unanswered and retried with their idempotency keys (none stored twice), {} through nginx after it settled",
        writes.len(),
        acked.len(),
        acked_after,
        unacked.len(),
        lb_after.len()
    );
    assert!(acked_after > 0, "the load went on after the kill");
}

// ---------------------------------------------------------------------------------------
// The database goes away under load
// ---------------------------------------------------------------------------------------

struct Call {
    started: Instant,
    ended: Instant,
    via: usize,
    append: bool,
    text: String,
    outcome: Outcome,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_recovers_from_database_outages_with_retryable_errors_only() {
    assert_eq!(ToolError::Unavailable.to_string(), UNAVAILABLE);
    let Some(fleet) = Fleet::start(FleetOptions {
        instances: 2,
        nginx: true,
        proxy: true,
        extra_args: &["--db-acquire-timeout", "1s", "--request-timeout", "10s"],
    }) else {
        return;
    };
    let rpc = Rpc::new(Duration::from_secs(10));
    // Targets: nginx, then each instance directly.
    let mut targets = vec![fleet.lb_url()];
    targets.extend(fleet.live_urls());
    let ports: Vec<u16> = fleet
        .instances
        .iter()
        .flatten()
        .map(|s| s.addr.port())
        .collect();
    let handle = handle_of(
        rpc.call(
            &targets[0],
            "start_research_task",
            json!({"topic": "outage"}),
        )
        .await
        .ok(),
    );

    // A bounded load: 4 workers, each at most 3,000 calls and 180 s (it stops as soon as
    // the test has seen what it needs).
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(Mutex::new(Vec::<Call>::new()));
    let load_started = Instant::now();
    let deadline = load_started + Duration::from_secs(180);
    let mut workers = Vec::new();
    for w in 0..4 {
        let (rpc, targets, handle) = (rpc.clone(), targets.clone(), handle.clone());
        let (stop, calls) = (Arc::clone(&stop), Arc::clone(&calls));
        workers.push(tokio::spawn(async move {
            for k in 0..3_000 {
                if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
                    break;
                }
                let via = (w + k) % targets.len();
                let text = format!("worker {w} call {k}");
                let started = Instant::now();
                let append = k % 3 != 2;
                let outcome = if !append {
                    rpc.call(&targets[via], "get_task_status", json!({"handle": handle}))
                        .await
                } else {
                    rpc.call(
                        &targets[via],
                        "add_findings",
                        json!({"handle": handle, "findings": [text]}),
                    )
                    .await
                };
                calls.lock().unwrap().push(Call {
                    started,
                    ended: Instant::now(),
                    via,
                    append,
                    text,
                    outcome,
                });
                tokio::time::sleep(Duration::from_millis(5)).await; // pacing, not waiting
            }
        }));
    }
    let all_answer = || {
        let (rpc, targets, handle) = (rpc.clone(), targets.clone(), handle.clone());
        async move {
            for url in &targets {
                let status = rpc
                    .call(url, "get_task_status", json!({"handle": handle}))
                    .await;
                if !status.is_ok() {
                    return false;
                }
            }
            true
        }
    };
    let all_ready = || {
        let ports = ports.clone();
        async move {
            tokio::task::spawn_blocking(move || ports.iter().all(|p| readyz(*p) == 200))
                .await
                .unwrap()
        }
    };
    // Waits until `n` calls of the load that started after `since` have ended (any outcome):
    // the load is running at that point of the test.
    let load_ran = |since: Instant, n: usize, what: &'static str| {
        let calls = Arc::clone(&calls);
        async move {
            let ran = eventually(Duration::from_secs(60), || {
                let calls = Arc::clone(&calls);
                async move {
                    calls
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|c| c.started > since)
                        .count()
                        >= n
                }
            })
            .await;
            assert!(ran.is_some(), "the load did not run {what} within 60 s");
        }
    };
    load_ran(load_started, 10, "at first").await;

    // 1. Every connection of every instance is terminated (what a database restart or a
    //    failover does), three times over, with the load running in between.
    let terminate_from = Instant::now();
    let mut terminated = 0;
    for _ in 0..3 {
        let db = fleet.db();
        terminated += tokio::task::block_in_place(|| db.terminate_connections());
        load_ran(Instant::now(), 3, "between terminations").await;
    }
    assert!(
        terminated > 0,
        "the instances had database connections to cut"
    );
    let recovered = eventually(Duration::from_secs(30), all_answer).await;
    assert!(
        recovered.is_some(),
        "instances did not answer within 30 s after pg_terminate_backend\n{}",
        fleet.logs()
    );
    assert!(
        eventually(Duration::from_secs(30), all_ready)
            .await
            .is_some()
    );
    let terminate_recovered = Instant::now();
    load_ran(terminate_recovered, 5, "after pg_terminate_backend").await;

    // 2. The database is unreachable for at least 3 s: open connections are cut, new ones
    //    refused.
    let proxy = fleet.proxy.as_ref().expect("proxy");
    let cut_at = Instant::now();
    proxy.cut();
    let all_unready = || {
        let ports = ports.clone();
        async move {
            tokio::task::spawn_blocking(move || ports.iter().all(|p| readyz(*p) == 503))
                .await
                .unwrap()
        }
    };
    assert!(
        eventually(Duration::from_secs(30), all_unready)
            .await
            .is_some(),
        "/readyz did not answer 503 on every instance within 30 s of the outage"
    );
    let during = rpc
        .call(&targets[0], "get_task_status", json!({"handle": handle}))
        .await;
    assert!(
        matches!(&during, Outcome::ToolError(m) if m == UNAVAILABLE),
        "a call through nginx during the outage: {during:?}"
    );
    load_ran(cut_at + Duration::from_millis(100), 4, "during the outage").await;
    if let Some(rest) = Duration::from_secs(3).checked_sub(cut_at.elapsed()) {
        tokio::time::sleep(rest).await; // the outage's minimum length, not a race
    }
    proxy.restore();
    let restored_at = Instant::now();
    let took = eventually(Duration::from_secs(30), all_answer).await;
    assert!(
        took.is_some(),
        "instances did not answer within 30 s after the database came back\n{}",
        fleet.logs()
    );
    assert!(
        eventually(Duration::from_secs(30), all_ready)
            .await
            .is_some()
    );
    let recovered_at = Instant::now();
    // Keep the load going for a while after recovery, then stop it.
    load_ran(recovered_at, 20, "after the database came back").await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.unwrap();
    }
    let calls = std::mem::take(&mut *calls.lock().unwrap());

    // Every call either succeeded or failed with the one clear, retryable tool error; none
    // failed at the HTTP or JSON-RPC level, and none with an internal error.
    let (mut unavailable_terminate, mut unavailable_cut) = (0, 0);
    for c in &calls {
        match &c.outcome {
            Outcome::Ok(_) => {}
            Outcome::ToolError(m) if m == UNAVAILABLE || *m == interrupted() => {
                // Only during an outage.
                if c.ended >= terminate_from && c.started <= terminate_recovered {
                    unavailable_terminate += 1;
                } else if c.ended >= cut_at && c.started <= recovered_at {
                    unavailable_cut += 1;
                } else {
                    panic!(
                        "unavailable outside an outage (via target {}): started {:?} after the cut",
                        c.via,
                        c.started.checked_duration_since(cut_at)
                    );
                }
            }
            other => panic!(
                "call via target {} failed otherwise than retryably: {other:?}\n{}",
                c.via,
                fleet.logs()
            ),
        }
    }
    assert!(
        unavailable_cut > 0,
        "calls during the outage answered `unavailable`"
    );
    let during_cut = calls
        .iter()
        .filter(|c| c.started >= cut_at + Duration::from_millis(100) && c.ended <= restored_at)
        .count();
    assert!(during_cut > 0, "the load ran during the outage");
    let after = calls
        .iter()
        .filter(|c| c.started > recovered_at)
        .collect::<Vec<_>>();
    assert!(!after.is_empty(), "the load ran after recovery");
    let failed_after: Vec<&Outcome> = after
        .iter()
        .filter(|c| !c.outcome.is_ok())
        .map(|c| &c.outcome)
        .collect();
    assert!(
        failed_after.is_empty(),
        "calls failed after recovery: {failed_after:?}"
    );

    // Acknowledged appends are all stored; report the ones whose "nothing was changed"
    // could not hold (the connection died while the server committed).
    let stored: BTreeSet<String> = rpc
        .all_findings(&targets[1], &handle)
        .await
        .expect("findings")
        .iter()
        .map(|f| f["text"].as_str().unwrap().to_owned())
        .collect();
    let mut committed_anyway = 0;
    for c in calls.iter().filter(|c| c.append) {
        match &c.outcome {
            Outcome::Ok(_) => {
                assert!(
                    stored.contains(&c.text),
                    "acknowledged `{}` is missing",
                    c.text
                );
            }
            // "nothing was changed" must hold: an append answered `unavailable` is not stored.
            Outcome::ToolError(m) if m == UNAVAILABLE => {
                assert!(
                    !stored.contains(&c.text),
                    "`{}` was answered `unavailable` (nothing changed) but is stored",
                    c.text
                );
            }
            // Only an `interrupted` answer may have committed.
            _ if stored.contains(&c.text) => committed_anyway += 1,
            _ => {}
        }
    }
    eprintln!(
        "database outages: {} calls; pg_terminate_backend ({terminated} connections, 3 rounds): \
         {unavailable_terminate} answered `unavailable`; 3 s outage: {unavailable_cut} answered \
         `unavailable` or `interrupted`; {committed_anyway} append(s) answered `interrupted` had committed; \
         recovered {took:?} after the database came back",
        calls.len(),
    );
}

// ---------------------------------------------------------------------------------------
// The concurrency contract over the wire
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_keeps_the_concurrency_contract_across_instances() {
    let Some(fleet) = Fleet::start(FleetOptions {
        instances: 2,
        nginx: false,
        proxy: false,
        extra_args: &["--db-acquire-timeout", "30s"],
    }) else {
        return;
    };
    concurrency_contract(&fleet).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_fleet_keeps_the_concurrency_contract_across_instances() {
    let Some(store) = RedisDatabase::on_machine() else {
        return;
    };
    let Some(fleet) = Fleet::start_on_redis(
        store,
        FleetOptions {
            instances: 2,
            nginx: false,
            proxy: false,
            extra_args: &[
                "--db-acquire-timeout",
                "30s",
                "--db-statement-timeout",
                "30s",
            ],
        },
    ) else {
        return;
    };
    concurrency_contract(&fleet).await;
}

/// Racing completions, 1,000 concurrent appends and racing idempotent starts over two
/// instances.
async fn concurrency_contract(fleet: &Fleet) {
    let rpc = Rpc::new(Duration::from_secs(30));
    let urls = fleet.live_urls();

    // Two completions of one handle, on two instances at once: one wins, one is told the
    // task is already complete, and only the winner's findings are stored.
    const ROUNDS: usize = 20;
    for round in 0..ROUNDS {
        let handle = handle_of(
            rpc.call(
                &urls[round % 2],
                "start_research_task",
                json!({"topic": format!("complete race {round}")}),
            )
            .await
            .ok(),
        );
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = (0..2)
            .map(|i| {
                let (rpc, url, handle, barrier) = (
                    rpc.clone(),
                    urls[i].clone(),
                    handle.clone(),
                    Arc::clone(&barrier),
                );
                tokio::spawn(async move {
                    barrier.wait().await;
                    rpc.call(
                        &url,
                        "complete_research_task",
                        json!({"handle": handle, "findings": [format!("by instance {i}")]}),
                    )
                    .await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for r in racers {
            outcomes.push(r.await.unwrap());
        }
        let winners: Vec<usize> = (0..2).filter(|i| outcomes[*i].is_ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        let loser = 1 - winners[0];
        assert!(
            matches!(&outcomes[loser], Outcome::ToolError(m) if m == ALREADY_COMPLETE),
            "round {round}: {outcomes:?}"
        );
        for url in &urls {
            let findings = rpc.all_findings(url, &handle).await.expect("results");
            assert_eq!(findings.len(), 1, "round {round}: {findings:?}");
            assert_eq!(findings[0]["text"], format!("by instance {}", winners[0]));
        }
    }

    // 1,000 concurrent add_findings over two instances: exactly 1,000 stored, indexes
    // 1..=1000 in order, each where its acknowledgement said.
    const APPENDS: usize = 1_000;
    let handle = handle_of(
        rpc.call(
            &urls[0],
            "start_research_task",
            json!({"topic": "append race"}),
        )
        .await
        .ok(),
    );
    let barrier = Arc::new(Barrier::new(APPENDS));
    let started = Instant::now();
    let appenders: Vec<_> = (0..APPENDS)
        .map(|i| {
            let (rpc, url, handle, barrier) = (
                rpc.clone(),
                urls[i % 2].clone(),
                handle.clone(),
                Arc::clone(&barrier),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                let text = format!("finding {i:04}");
                let outcome = rpc
                    .call(
                        &url,
                        "add_findings",
                        json!({"handle": handle, "findings": [text]}),
                    )
                    .await;
                (text, outcome)
            })
        })
        .collect();
    let mut acked_at: HashMap<String, u64> = HashMap::new();
    for a in appenders {
        let (text, outcome) = a.await.unwrap();
        let count = outcome.ok()["findings_count"].as_u64().expect("count");
        acked_at.insert(text, count);
    }
    let append_time = started.elapsed();
    let counts: BTreeSet<u64> = acked_at.values().copied().collect();
    assert_eq!(
        counts,
        (1..=APPENDS as u64).collect::<BTreeSet<_>>(),
        "every append saw its own count"
    );
    for url in &urls {
        let status = rpc
            .call(url, "get_task_status", json!({"handle": handle}))
            .await;
        assert_eq!(status.ok()["findings_count"], APPENDS);
        let findings = rpc.all_findings(url, &handle).await.expect("results");
        let indexes: Vec<u64> = findings
            .iter()
            .map(|f| f["index"].as_u64().unwrap())
            .collect();
        assert_eq!(indexes, (1..=APPENDS as u64).collect::<Vec<_>>());
        for f in &findings {
            let text = f["text"].as_str().unwrap();
            assert_eq!(acked_at.get(text), f["index"].as_u64().as_ref(), "{f}");
        }
    }

    // start_research_task with one idempotency key, raced from two instances: one task.
    for round in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = (0..2)
            .map(|i| {
                let (rpc, url, barrier) = (rpc.clone(), urls[i].clone(), Arc::clone(&barrier));
                tokio::spawn(async move {
                    barrier.wait().await;
                    rpc.call(
                        &url,
                        "start_research_task",
                        json!({"topic": "idempotent race", "depth": 2, "idempotency_key": format!("race-{round}")}),
                    )
                    .await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for r in racers {
            outcomes.push(r.await.unwrap());
        }
        let (a, b) = (outcomes[0].ok(), outcomes[1].ok());
        assert_eq!(a["handle"], b["handle"], "round {round}: one task");
        let replays: Vec<bool> = [a, b].iter().map(|v| v["replayed"] == true).collect();
        assert_eq!(
            replays.iter().filter(|r| !**r).count(),
            1,
            "round {round}: exactly one call created the task: {outcomes:?}"
        );
    }
    for url in &urls {
        let tasks = rpc.all_tasks(url, Some("running")).await.expect("list");
        let raced: BTreeSet<String> = tasks
            .iter()
            .filter(|t| t["topic"] == "idempotent race")
            .map(handle_of)
            .collect();
        let listed = tasks
            .iter()
            .filter(|t| t["topic"] == "idempotent race")
            .count();
        assert_eq!((raced.len(), listed), (ROUNDS, ROUNDS), "one task per key");
    }
    eprintln!("1,000 concurrent appends over two instances took {append_time:?}");
}

// ---------------------------------------------------------------------------------------
// Completing and cancelling one task from two instances at once
// ---------------------------------------------------------------------------------------

const COMPLETE: &str = "complete_research_task";
const CANCEL: &str = "cancel_research_task";

/// The tool error of the loser of a race, given what the winner did (the wire messages of
/// docs/consistency.md's concurrency contract).
fn refusal(loser: &str, winner: &str) -> &'static str {
    match (loser, winner) {
        (COMPLETE, COMPLETE) => ALREADY_COMPLETE,
        (COMPLETE, CANCEL) => "cannot complete the task: the task is already cancelled",
        (CANCEL, COMPLETE) => "cannot cancel the task: the task is already complete",
        (CANCEL, CANCEL) => "cannot cancel the task: the task is already cancelled",
        other => unreachable!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_races_complete_against_cancel_and_cancel_against_cancel() {
    let Some(fleet) = Fleet::start(FleetOptions {
        instances: 2,
        nginx: false,
        proxy: false,
        extra_args: &["--db-acquire-timeout", "30s"],
    }) else {
        return;
    };
    let rpc = Rpc::new(Duration::from_secs(60));
    let urls = fleet.live_urls();
    const ROUNDS: usize = 20;
    // Each pair of tools raced; which of them wins is up to the race.
    let races = [(COMPLETE, CANCEL), (CANCEL, COMPLETE), (CANCEL, CANCEL)];
    let mut wins: BTreeMap<String, usize> = BTreeMap::new();
    for (tools, round) in races
        .iter()
        .flat_map(|tools| (0..ROUNDS / 2).map(move |round| (*tools, round)))
    {
        let handle = handle_of(
            rpc.call(
                &urls[round % 2],
                "start_research_task",
                json!({"topic": format!("{tools:?} race {round}")}),
            )
            .await
            .ok(),
        );
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = [tools.0, tools.1]
            .into_iter()
            .enumerate()
            .map(|(i, tool)| {
                // Each tool runs on each instance in turn.
                let instance = (i + round) % 2;
                let (rpc, url, handle, barrier) = (
                    rpc.clone(),
                    urls[instance].clone(),
                    handle.clone(),
                    Arc::clone(&barrier),
                );
                tokio::spawn(async move {
                    let args = if tool == COMPLETE {
                        json!({"handle": handle, "findings": [format!("by instance {instance}")]})
                    } else {
                        json!({"handle": handle})
                    };
                    barrier.wait().await;
                    rpc.call(&url, tool, args).await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for r in racers {
            outcomes.push(r.await.unwrap());
        }
        let what = format!("{tools:?} round {round}: {outcomes:?}");
        let winners: Vec<usize> = (0..2).filter(|i| outcomes[*i].is_ok()).collect();
        assert_eq!(winners.len(), 1, "exactly one wins: {what}");
        let (winner, loser) = (winners[0], 1 - winners[0]);
        let tool = |i: usize| if i == 0 { tools.0 } else { tools.1 };
        assert_eq!(
            outcomes[loser].tool_error(),
            refusal(tool(loser), tool(winner)),
            "{what}"
        );
        *wins
            .entry(format!("{} beat {}", tool(winner), tool(loser)))
            .or_default() += 1;

        // Every instance sees the winner's outcome, and only the winner's findings.
        let (status, findings) = if tool(winner) == COMPLETE {
            (
                "complete",
                vec![format!("by instance {}", (winner + round) % 2)],
            )
        } else {
            ("cancelled", vec![])
        };
        for url in &urls {
            let seen = rpc
                .call(url, "get_task_status", json!({"handle": handle}))
                .await;
            assert_eq!(seen.ok()["status"], status, "{what}");
            let stored: Vec<String> = rpc
                .all_findings(url, &handle)
                .await
                .expect("results")
                .iter()
                .map(|f| f["text"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(stored, findings, "{what}");
        }
    }
    eprintln!("races over two instances: {wins:?}");
}
