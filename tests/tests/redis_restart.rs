//! Redis restarts under load: the test starts its own `redis-server` (append-only file,
//! `appendfsync always`) on a loopback port, runs two baton instances on it with a write
//! load, kills Redis with SIGKILL mid-load and starts it again on the same folder. Checked:
//! no acknowledged write is lost, the calls made during the outage got only the retryable
//! answers, `/readyz` said so, and the instances recovered by themselves (no baton restart).
//!
//! Needs `redis-server`: when `CI` is set a missing one fails the test, otherwise it is
//! skipped with a `BATON-SKIP:` line.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use baton_devtools::RedisServer;
use baton_e2e::support::{
    ci,
    fleet::{Fleet, FleetOptions},
    http::readyz,
    mcp::handle_of,
    redis::{RedisDatabase, cli},
    rpc::{Outcome, Rpc},
    wait::{until as eventually, until_blocking},
};
use baton_protocol::ToolError;
use serde_json::json;

struct Write {
    task: usize,
    text: String,
    started: Instant,
    outcome: Outcome,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_under_load_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let server = tokio::task::block_in_place(|| {
        RedisServer::start(
            dir.path(),
            &["--appendonly", "yes", "--appendfsync", "always"],
        )
    });
    let mut server = match server {
        Ok(s) => s,
        Err(e) => {
            ci::skip::<()>(&format!("cannot start redis-server: {e}"));
            return;
        }
    };
    assert_eq!(
        cli(server.port(), &["CONFIG", "GET", "appendfsync"]),
        Ok("appendfsync\nalways".to_owned())
    );
    let Some(fleet) = Fleet::start_on_redis(
        RedisDatabase::on_server(&server),
        FleetOptions {
            instances: 2,
            nginx: false,
            proxy: false,
            extra_args: &["--db-statement-timeout", "2s", "--db-acquire-timeout", "2s"],
        },
    ) else {
        return;
    };
    // Each instance read the server's persistence at start-up and did not warn.
    for server in fleet.instances.iter().flatten() {
        server.wait_for_log(
            "Redis fsyncs its append-only file on every write",
            Duration::from_secs(30),
        );
        assert!(!server.logs().contains("keeps nothing on disk"));
    }
    let rpc = Rpc::new(Duration::from_secs(30));
    let urls = fleet.live_urls();
    let ports: Vec<u16> = fleet
        .instances
        .iter()
        .flatten()
        .map(|s| s.addr.port())
        .collect();

    const WRITERS: usize = 4;
    const WRITES_PER_WRITER: usize = 5_000;
    const ACKS_BEFORE_KILL: usize = 200;
    const ACKS_AFTER_RESTART: usize = 200;
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut handles = Vec::new();
    for w in 0..WRITERS {
        let started = rpc
            .call(
                &urls[w % 2],
                "start_research_task",
                json!({"topic": format!("restart writer {w}")}),
            )
            .await;
        handles.push(handle_of(started.ok()));
    }

    let acks = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(Mutex::new(Vec::<Write>::new()));
    let mut workers = Vec::new();
    for (w, handle) in handles.iter().enumerate() {
        let (rpc, urls, handle) = (rpc.clone(), urls.clone(), handle.clone());
        let (acks, writes, stop) = (Arc::clone(&acks), Arc::clone(&writes), Arc::clone(&stop));
        workers.push(tokio::spawn(async move {
            for k in 0..WRITES_PER_WRITER {
                if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
                    break;
                }
                let text = format!("writer {w} write {k}");
                let started = Instant::now();
                let outcome = rpc
                    .call(
                        &urls[(w + k) % 2],
                        "add_findings",
                        json!({"handle": handle, "findings": [text]}),
                    )
                    .await;
                if outcome.is_ok() {
                    acks.fetch_add(1, Ordering::SeqCst);
                } else {
                    // Pacing while Redis is down, not waiting for a condition.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                writes.lock().unwrap().push(Write {
                    task: w,
                    text,
                    started,
                    outcome,
                });
            }
        }));
    }
    let acked = |n: usize| {
        let acks = Arc::clone(&acks);
        move || {
            let acks = Arc::clone(&acks);
            async move { acks.load(Ordering::SeqCst) >= n }
        }
    };
    assert!(
        eventually(Duration::from_secs(90), acked(ACKS_BEFORE_KILL))
            .await
            .is_some(),
        "the load never reached {ACKS_BEFORE_KILL} acknowledged writes"
    );

    // Crash: SIGKILL, nothing flushed by Redis beyond what it fsynced per write.
    server.kill();
    let killed_at = Instant::now();
    let acks_at_kill = acks.load(Ordering::SeqCst);
    // Both instances say they are not ready while Redis is down.
    tokio::task::block_in_place(|| {
        for port in &ports {
            assert!(
                until_blocking(Duration::from_secs(30), || readyz(*port) == 503).is_some(),
                "/readyz of 127.0.0.1:{port} kept answering ready with Redis down"
            );
        }
    });
    // The load keeps hitting the outage for a moment, then Redis comes back on the same
    // folder (it replays its append-only file).
    let failures_seen = eventually(Duration::from_secs(30), || {
        let writes = Arc::clone(&writes);
        async move {
            writes
                .lock()
                .unwrap()
                .iter()
                .filter(|w| w.started > killed_at && !w.outcome.is_ok())
                .count()
                >= 10
        }
    })
    .await;
    tokio::task::block_in_place(|| server.restart()).expect("redis-server restarts");
    let restarted_at = Instant::now();
    tokio::task::block_in_place(|| {
        for port in &ports {
            assert!(
                until_blocking(Duration::from_secs(60), || readyz(*port) == 200).is_some(),
                "/readyz of 127.0.0.1:{port} did not recover after Redis came back"
            );
        }
    });
    let ready_again_at = Instant::now();
    let acks_at_restart = acks.load(Ordering::SeqCst);
    assert!(
        eventually(
            Duration::from_secs(90),
            acked(acks_at_restart + ACKS_AFTER_RESTART)
        )
        .await
        .is_some(),
        "the instances did not recover: fewer than {ACKS_AFTER_RESTART} writes acknowledged \
         after the restart\n{}",
        fleet.logs()
    );
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.unwrap();
    }
    let writes = std::mem::take(&mut *writes.lock().unwrap());
    assert!(failures_seen.is_some(), "the load never met the outage");

    // Every acknowledged write is stored once, where its answer said, on both instances.
    let mut lost = 0;
    for url in &urls {
        for (t, handle) in handles.iter().enumerate() {
            let stored = rpc.all_findings(url, handle).await.expect("read findings");
            let mut index_of: HashMap<String, u64> = HashMap::new();
            for (position, f) in stored.iter().enumerate() {
                let index = f["index"].as_u64().unwrap();
                assert_eq!(index, position as u64 + 1, "indexes are contiguous");
                let previous = index_of.insert(f["text"].as_str().unwrap().to_owned(), index);
                assert!(previous.is_none(), "stored twice: {f}");
            }
            for write in writes.iter().filter(|w| w.task == t && w.outcome.is_ok()) {
                match index_of.get(&write.text) {
                    Some(index) => assert_eq!(
                        Some(*index),
                        write.outcome.ok()["findings_count"].as_u64(),
                        "`{}` sits where its acknowledgement said",
                        write.text
                    ),
                    None => lost += 1,
                }
            }
        }
    }
    assert_eq!(lost, 0, "acknowledged writes lost across the Redis restart");

    // The calls that failed got the retryable answers only: unavailable (nothing changed)
    // or interrupted (check, then retry).
    let unavailable = ToolError::Unavailable.to_string();
    let interrupted = ToolError::Interrupted.to_string();
    let mut by_answer: HashMap<String, usize> = HashMap::new();
    for write in writes.iter().filter(|w| !w.outcome.is_ok()) {
        match &write.outcome {
            Outcome::ToolError(m) if *m == unavailable || *m == interrupted => {
                *by_answer.entry(m.clone()).or_default() += 1;
            }
            other => panic!("a call during the outage got {other:?}"),
        }
        assert!(
            write.started + Duration::from_secs(35) > killed_at,
            "a write failed before the kill: {:?}",
            write.outcome
        );
    }
    let acknowledged = writes.iter().filter(|w| w.outcome.is_ok()).count();
    eprintln!(
        "redis restart (appendfsync always): {} writes, {acknowledged} acknowledged \
         ({acks_at_kill} before the kill, {} after the restart), 0 lost; failed calls by \
         answer: {by_answer:?}; Redis down for {:?}, both instances ready {:?} after the kill",
        writes.len(),
        acknowledged - acks_at_restart.min(acknowledged),
        restarted_at - killed_at,
        ready_again_at - killed_at
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baton_warns_at_start_up_when_redis_keeps_nothing_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let server = tokio::task::block_in_place(|| {
        RedisServer::start(dir.path(), &["--appendonly", "no", "--save", ""])
    });
    let server = match server {
        Ok(s) => s,
        Err(e) => {
            ci::skip::<()>(&format!("cannot start redis-server: {e}"));
            return;
        }
    };
    let Some(fleet) = Fleet::start_on_redis(
        RedisDatabase::on_server(&server),
        FleetOptions {
            instances: 1,
            nginx: false,
            proxy: false,
            extra_args: &[],
        },
    ) else {
        return;
    };
    let instance = fleet.instances[0].as_ref().expect("instance");
    let line = instance.wait_for_log("keeps nothing on disk", Duration::from_secs(30));
    assert!(line.contains("WARN"), "{line}");
    assert_eq!(readyz(instance.addr.port()), 200);
}
