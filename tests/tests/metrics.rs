//! `/metrics` and the audit log end to end: a known sequence of calls moves every counter by
//! exactly the calls made, labels never carry a principal or a handle, `/metrics` answers
//! without credentials on an authenticated server (never rate-limited or shed), and
//! `--metrics-listen` moves it to its own address. The audit events of the same calls reach
//! the logs on the `baton::audit` target with the principal hashed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::{collections::BTreeMap, time::Duration};

use baton_e2e::support::{
    auth::create_api_key,
    fleet::{Fleet, FleetOptions},
    http::{self, free_port},
    mcp::{call, lifecycle, modern_client, ok},
    rpc::{Outcome, Rpc},
    server::{Server, sqlite_url},
    wait,
};
use serde_json::{Value, json};

/// One scrape: every sample, keyed by metric name and its labels in order.
#[derive(Debug)]
struct Scrape {
    text: String,
    samples: BTreeMap<(String, BTreeMap<String, String>), f64>,
}

impl Scrape {
    fn parse(text: String) -> Scrape {
        let mut samples = BTreeMap::new();
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            let value: f64 = value.parse().expect("a sample value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let rest = rest.strip_suffix('}').expect("closing brace");
                    let labels = rest
                        .split("\",")
                        .filter(|l| !l.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once("=\"").expect("label=value");
                            (k.to_owned(), v.trim_end_matches('"').to_owned())
                        })
                        .collect();
                    (name.to_owned(), labels)
                }
                None => (series.to_owned(), BTreeMap::new()),
            };
            samples.insert((name, labels), value);
        }
        Scrape { text, samples }
    }

    /// The value of `name` with exactly `labels` (0 when the series does not exist yet).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .get(&(name.to_owned(), labels))
            .copied()
            .unwrap_or(0.0)
    }

    /// The sum of every series of `name`.
    fn sum(&self, name: &str) -> f64 {
        self.samples
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|(_, v)| v)
            .sum()
    }
}

async fn scrape(url: &str) -> Scrape {
    let response = http::client(Duration::from_secs(10))
        .get(url)
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status().as_u16(), 200, "GET {url}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    Scrape::parse(response.text().await.expect("metrics text"))
}

/// `handle` with one symbol changed: a handle that was never issued.
fn forged(handle: &str) -> String {
    let last = handle.chars().last().expect("a handle");
    let swapped = if last == '0' { '1' } else { '0' };
    format!("{}{swapped}", &handle[..handle.len() - 1])
}

#[tokio::test]
async fn metrics_move_by_exactly_the_calls_made_and_the_audit_log_records_each_change() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let key = create_api_key(&url, "alice", &[], None);
    let server = Server::start(&[
        "--database-url",
        &url,
        "--auth",
        "api-key",
        "--log-format",
        "json",
        "--sweep-interval",
        "1h",
    ]);
    let metrics_url = server.http_url("/metrics");
    let mcp = server.url();
    // No credentials: /metrics is outside authentication.
    let before = scrape(&metrics_url).await;

    let rpc = Rpc::default().with_token(&key.key);
    let started = rpc
        .call(&mcp, "start_research_task", json!({"topic": "tides"}))
        .await;
    let handle = started.ok()["handle"].as_str().unwrap().to_owned();
    rpc.call(&mcp, "get_task_status", json!({"handle": handle}))
        .await
        .ok();
    rpc.call(
        &mcp,
        "add_findings",
        json!({"handle": handle, "findings": ["a", "b"]}),
    )
    .await
    .ok();
    rpc.call(
        &mcp,
        "complete_research_task",
        json!({"handle": handle, "findings": []}),
    )
    .await
    .ok();
    rpc.call(
        &mcp,
        "complete_research_task",
        json!({"handle": handle, "findings": []}),
    )
    .await
    .tool_error();
    rpc.call(&mcp, "get_task_status", json!({"handle": forged(&handle)}))
        .await
        .tool_error();
    // Two refused requests: no credentials, and a key that does not exist.
    let anonymous = Rpc::default()
        .call(&mcp, "list_research_tasks", json!({}))
        .await;
    assert!(
        matches!(&anonymous, Outcome::Failed(m) if m.starts_with("status 401")),
        "{anonymous:?}"
    );
    let wrong = Rpc::default()
        .with_token(&forged(&key.key))
        .call(&mcp, "list_research_tasks", json!({}))
        .await;
    assert!(
        matches!(&wrong, Outcome::Failed(m) if m.starts_with("status 401")),
        "{wrong:?}"
    );

    let after = scrape(&metrics_url).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    let calls = "baton_mcp_requests_total";
    for (tool, outcome, n) in [
        ("start_research_task", "ok", 1.0),
        ("get_task_status", "ok", 1.0),
        ("get_task_status", "tool_error", 1.0),
        ("add_findings", "ok", 1.0),
        ("complete_research_task", "ok", 1.0),
        ("complete_research_task", "tool_error", 1.0),
        ("list_research_tasks", "ok", 0.0),
    ] {
        let labels = [
            ("method", "tools/call"),
            ("tool", tool),
            ("outcome", outcome),
        ];
        assert_eq!(delta(calls, &labels), n, "{tool} {outcome}\n{}", after.text);
    }
    assert_eq!(after.sum(calls) - before.sum(calls), 6.0, "{}", after.text);
    let latency = "baton_mcp_request_duration_seconds_count";
    let labels = [("method", "tools/call"), ("tool", "complete_research_task")];
    assert_eq!(delta(latency, &labels), 2.0);

    let errors = "baton_tool_errors_total";
    assert_eq!(delta(errors, &[("kind", "wrong_status")]), 1.0);
    assert_eq!(delta(errors, &[("kind", "unknown_handle")]), 1.0);
    assert_eq!(after.sum(errors) - before.sum(errors), 2.0);
    let refused = "baton_handle_verification_failures_total";
    assert_eq!(
        after.sum(refused) - before.sum(refused),
        1.0,
        "{}",
        after.text
    );

    let store = "baton_store_operations_total";
    for (op, outcome, n) in [
        ("start", "ok", 1.0),
        ("get", "ok", 1.0),
        ("append_findings", "ok", 1.0),
        ("complete", "ok", 1.0),
        ("complete", "wrong_status", 1.0),
        ("list", "ok", 0.0),
    ] {
        let labels = [("operation", op), ("outcome", outcome)];
        assert_eq!(delta(store, &labels), n, "{op} {outcome}\n{}", after.text);
    }
    let store_latency = "baton_store_operation_duration_seconds_count";
    assert_eq!(delta(store_latency, &[("operation", "complete")]), 2.0);

    let auth = "baton_auth_failures_total";
    assert_eq!(delta(auth, &[("reason", "missing_credentials")]), 1.0);
    assert_eq!(delta(auth, &[("reason", "invalid_token")]), 1.0);
    let requests = "baton_http_requests_total";
    assert_eq!(
        delta(requests, &[("route", "/mcp"), ("status", "200")]),
        6.0
    );
    assert_eq!(
        delta(requests, &[("route", "/mcp"), ("status", "401")]),
        2.0
    );
    // The first scrape is counted once it is answered.
    assert_eq!(
        delta(requests, &[("route", "/metrics"), ("status", "200")]),
        1.0
    );
    assert_eq!(after.sum("baton_rate_limited_requests_total"), 0.0);
    assert_eq!(after.sum("baton_shed_requests_total"), 0.0);
    // The process.
    assert!(
        after.value("process_resident_memory_bytes", &[]) > 0.0,
        "{}",
        after.text
    );
    assert!(after.value("process_open_fds", &[]) > 0.0, "{}", after.text);

    // No label carries a principal, a key or a handle.
    for secret in [
        "alice",
        handle.as_str(),
        key.key.as_str(),
        key.secret(),
        "tides",
    ] {
        assert!(!after.text.contains(secret), "{secret} in /metrics");
    }

    // The audit log: one event per change, on its own target, the principal hashed. Events
    // are logged before the answers are sent, but may still be in the pipe.
    let audit_events = |logs: &str| -> Vec<Value> {
        logs.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["target"] == "baton::audit")
            .collect()
    };
    wait::until_blocking(Duration::from_secs(10), || {
        audit_events(&server.logs()).len() >= 4
    });
    let logs = server.logs();
    let events = audit_events(&logs);
    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("research.start", "ok"),
            ("research.add_findings", "ok"),
            ("research.complete", "ok"),
            ("research.complete", "wrong_status"),
        ],
        "{logs}"
    );
    let principal = events[0]["principal"].as_str().unwrap();
    let task = events[0]["task"].as_str().unwrap();
    assert_eq!(principal.len(), 16, "{principal}");
    assert_eq!(task.len(), 16, "{task}");
    for event in &events {
        assert_eq!(event["principal"], principal);
        assert_eq!(event["task"], task);
        let text = event.to_string();
        assert!(!text.contains("alice") && !text.contains(&handle), "{text}");
    }
}

#[tokio::test]
async fn metrics_listen_serves_metrics_apart_with_task_counts() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let metrics_addr = format!("127.0.0.1:{port}");
    let server = Server::sqlite(dir.path(), &["--metrics-listen", &metrics_addr]);
    let client = modern_client(&server.url()).await;
    // One complete task, then one running one.
    lifecycle(&client).await;
    let rpc = Rpc::default();
    rpc.call(&server.url(), "start_research_task", json!({"topic": "t"}))
        .await
        .ok();

    let scraped = scrape(&format!("http://{metrics_addr}/metrics")).await;
    let tasks = "baton_research_tasks";
    assert_eq!(
        scraped.value(tasks, &[("status", "complete")]),
        1.0,
        "{}",
        scraped.text
    );
    assert_eq!(scraped.value(tasks, &[("status", "running")]), 1.0);
    assert_eq!(scraped.value(tasks, &[("status", "cancelled")]), 0.0);
    // The SQLite writer ran every write of the lifecycle (start, add, complete twice: the
    // refused one too, it is decided in the transaction; the second start), in batches.
    let writes = scraped.value("baton_store_writer_writes_total", &[]);
    let batches = scraped.value("baton_store_writer_batches_total", &[]);
    assert!(
        writes >= 5.0 && batches >= 1.0 && batches <= writes,
        "{}",
        scraped.text
    );
    assert_eq!(scraped.value("baton_store_writer_queue_depth", &[]), 0.0);
    let idle = [("pool", "read"), ("state", "idle")];
    let in_use = [("pool", "read"), ("state", "in_use")];
    assert!(
        scraped.value("baton_store_connections", &idle)
            + scraped.value("baton_store_connections", &in_use)
            >= 1.0,
        "{}",
        scraped.text
    );
    assert!(
        scraped.value(
            "baton_mcp_requests_total",
            &[
                ("method", "server/discover"),
                ("tool", ""),
                ("outcome", "ok"),
            ]
        ) >= 1.0,
        "{}",
        scraped.text
    );
    // SQLite has no Postgres read lanes: no such series.
    assert!(
        !scraped
            .samples
            .keys()
            .any(|(name, _)| name.contains("read_lanes") || name.contains("lane_reads")),
        "{}",
        scraped.text
    );
    // Not on the main listener.
    let main = http::client(Duration::from_secs(10))
        .get(server.http_url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(main.status().as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_task_reads_are_counted_by_the_path_that_answered_them() {
    let Some(fleet) = Fleet::start(FleetOptions {
        instances: 1,
        nginx: false,
        proxy: false,
        extra_args: &[],
    }) else {
        return;
    };
    let server = fleet.instances[0].as_ref().unwrap();
    let metrics_url = server.http_url("/metrics");
    let client = modern_client(&server.url()).await;
    let handle = lifecycle(&client).await;
    let before = scrape(&metrics_url).await;
    for _ in 0..5 {
        ok(&call(&client, "get_task_status", json!({"handle": handle})).await);
    }
    let after = scrape(&metrics_url).await;
    let reads =
        |scraped: &Scrape, path| scraped.value("baton_store_lane_reads_total", &[("path", path)]);
    // The lanes connected at start-up and answer every task-by-id read; none fell back.
    assert!(
        reads(&after, "lane") - reads(&before, "lane") >= 5.0,
        "{}",
        after.text
    );
    assert_eq!(reads(&after, "pool"), 0.0, "{}", after.text);
    let lanes = |state| after.value("baton_store_read_lanes", &[("state", state)]);
    assert!(lanes("connected") >= 1.0, "{}", after.text);
    assert_eq!(lanes("down"), 0.0, "{}", after.text);
}

#[test]
fn key_and_token_commands_are_audited_as_the_operator() {
    use baton_devtools::run_to_end;
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let baton = |args: &[&str]| {
        let mut cmd = std::process::Command::new(baton_e2e::support::server::baton_bin());
        cmd.args(args)
            .args(["--database-url", &url, "--log-format", "json"])
            .env_remove("RUST_LOG")
            .env_remove("BATON_DATABASE_URL");
        run_to_end(&mut cmd, Duration::from_secs(120)).unwrap()
    };
    let created = baton(&["token", "create", "--principal", "ops"]);
    let key = created.stdout.trim().to_owned();
    assert!(key.starts_with("baton_"), "{}", created.stderr);
    let id = key.split('_').nth(1).unwrap().to_owned();
    let revoked = baton(&["token", "revoke", &id]);
    let missing = baton(&["token", "revoke", "nosuchkey"]);
    assert!(!missing.status.success());
    let events: Vec<Value> = [&created, &revoked, &missing]
        .iter()
        .flat_map(|out| out.stderr.lines())
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["target"] == "baton::audit")
        .collect();
    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("api_key.create", "ok"),
            ("api_key.revoke", "ok"),
            ("api_key.revoke", "not_found")
        ]
    );
    for event in &events {
        assert_eq!(event["principal"], events[0]["principal"]);
        assert!(!event.to_string().contains(&key));
    }
}
