//! The MCP Tasks extension on real processes, driven by rmcp's own client (which implements
//! the extension): a tool call that runs as a durable task on SQLite, and on a Postgres
//! pair a task started on one instance, polled, answered and cancelled through the other,
//! then taken over after the instance running it is killed with SIGKILL.
//!
//! The pair serves the conformance fixtures (`--conformance-fixtures`) for their slow and
//! input-asking tools; they run through the same durable runtime as baton's own tools.
//! Every wait is bounded; everything talks to 127.0.0.1.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use baton_e2e::support::{
    fleet::{Fleet, FleetOptions},
    mcp::{McpClient, call, handle_of, ok},
    postgres::psql,
    server::Server,
};
use rmcp::{
    ClientLifecycleMode, ClientServiceExt,
    model::{
        CallToolRequestParams, CallToolResponse, CancelTaskParams, ClientConfig, DetailedTask,
        ErrorCode, GetTaskParams, ProtocolVersion, TaskPayload, TaskStatus, UpdateTaskParams,
    },
    service::ServiceError,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};

/// An rmcp client of the 2026-07-28 era that declares the Tasks extension (or not).
async fn client(url: &str, tasks: bool) -> McpClient {
    let mut config = ClientConfig::default();
    if tasks {
        config.capabilities =
            serde_json::from_value(json!({"extensions": {"io.modelcontextprotocol/tasks": {}}}))
                .expect("client capabilities");
    }
    config
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_config(
                StreamableHttpClientTransportConfig::with_uri(url.to_owned()),
            ),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .unwrap_or_else(|e| panic!("client connects to {url}: {e}"))
}

fn params(tool: &str, args: Value) -> CallToolRequestParams {
    let Value::Object(arguments) = args else {
        panic!("arguments must be an object")
    };
    CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments)
}

/// Calls `tool` expecting a task; returns its id.
async fn start_task(client: &McpClient, tool: &str, args: Value) -> String {
    match client.call_tool_once(params(tool, args)).await {
        Ok(CallToolResponse::Task(created)) => {
            assert_eq!(created.task.status, TaskStatus::Working);
            assert!(created.task.task_id.starts_with("tooltask_"));
            assert_eq!(created.task.ttl_ms, Some(3_600_000));
            created.task.task_id
        }
        other => panic!("{tool}: expected a task, got {other:?}"),
    }
}

async fn get(client: &McpClient, task_id: &str) -> DetailedTask {
    client
        .get_task(GetTaskParams::new(task_id.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("tasks/get: {e}"))
        .task
}

/// Polls (every 100 ms) until the task is in a state `wanted` accepts, or `within`
/// passes (then panics with the last state seen).
async fn until(
    client: &McpClient,
    task_id: &str,
    within: Duration,
    wanted: impl Fn(TaskStatus) -> bool,
) -> DetailedTask {
    let deadline = Instant::now() + within;
    loop {
        let task = get(client, task_id).await;
        if wanted(task.status()) {
            return task;
        }
        assert!(
            Instant::now() < deadline,
            "task {task_id} not in the awaited state within {within:?}: {task:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls until the task is final.
async fn until_final(client: &McpClient, task_id: &str, within: Duration) -> DetailedTask {
    until(client, task_id, within, |s| s.is_terminal()).await
}

fn completed_result(task: &DetailedTask) -> &serde_json::Map<String, Value> {
    match &task.payload {
        TaskPayload::Completed { result } => result,
        other => panic!("expected a completed task, got {other:?}"),
    }
}

fn result_text(task: &DetailedTask) -> String {
    completed_result(task)["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn error_code(e: ServiceError) -> ErrorCode {
    match e {
        ServiceError::McpError(data) => data.code,
        other => panic!("expected a JSON-RPC error, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compile_research_report_runs_as_a_durable_task_with_the_synchronous_result() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::sqlite(dir.path(), &[]);
    let plain = client(&server.url(), false).await;
    let tasks = client(&server.url(), true).await;

    // Two research tasks, with overlapping findings.
    let mut handles = Vec::new();
    for (topic, findings) in [
        (
            "rust",
            json!(["Rust is fast", "Cargo builds", "rust  is FAST"]),
        ),
        ("go", json!(["Go is simple", "Rust is fast"])),
    ] {
        let started = ok(&call(&plain, "start_research_task", json!({"topic": topic})).await);
        let handle = handle_of(&started);
        ok(&call(
            &plain,
            "add_findings",
            json!({"handle": handle, "findings": findings}),
        )
        .await);
        handles.push(handle);
    }
    let args = json!({"handles": handles});

    // Without the extension: a synchronous result.
    let direct = ok(&call(&plain, "compile_research_report", args.clone()).await);
    assert_eq!(direct["total_findings"], 5);
    assert_eq!(direct["distinct_findings"], 3);
    assert_eq!(direct["findings"][0]["text"], "Rust is fast");
    assert_eq!(direct["findings"][0]["count"], 3);
    assert_eq!(direct["findings"][0]["sources"], json!([0, 1]));

    // With it: a task whose result is the same report.
    let task_id = start_task(&tasks, "compile_research_report", args).await;
    let done = until_final(&tasks, &task_id, Duration::from_secs(20)).await;
    assert_eq!(done.status(), TaskStatus::Completed, "{done:?}");
    assert_eq!(completed_result(&done)["structuredContent"], direct);
    assert_eq!(
        done.task.status_message.as_deref(),
        Some("merging the findings")
    );

    // A final task: cancel is an empty acknowledgement, and changes nothing.
    tasks
        .cancel_task(CancelTaskParams::new(task_id.clone()))
        .await
        .expect("cancel of a final task is acknowledged");
    assert_eq!(get(&tasks, &task_id).await.status(), TaskStatus::Completed);

    // Unknown, forged and research-handle ids all get the same -32602.
    let forged = format!("{}x", &task_id[..task_id.len() - 1]);
    for id in [forged.as_str(), "tooltask_nope", handles[0].as_str()] {
        let e = tasks
            .get_task(GetTaskParams::new(id.to_owned()))
            .await
            .expect_err("an unknown task id is refused");
        assert_eq!(error_code(e), ErrorCode::INVALID_PARAMS, "{id}");
    }
    // A client without the extension may not use tasks/*.
    let e = plain
        .get_task(GetTaskParams::new(task_id.clone()))
        .await
        .expect_err("tasks/get without the extension");
    assert_eq!(error_code(e), ErrorCode(-32021));

    // Bad arguments are a tool error naming the field, whichever way the tool runs.
    let id = start_task(
        &tasks,
        "compile_research_report",
        json!({"handles": [handles[0], handles[0]]}),
    )
    .await;
    let failed = until_final(&tasks, &id, Duration::from_secs(20)).await;
    let result = completed_result(&failed);
    assert_eq!(result["isError"], true);
    assert!(
        result["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("handles[1]")),
        "{result:?}"
    );

    // Two tasks made, two completed (a tool error is a completed task).
    let metrics = baton_e2e::support::http::client(Duration::from_secs(10))
        .get(server.http_url("/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    for event in ["created", "completed"] {
        let line = format!("baton_tool_tasks_total{{event=\"{event}\"}} 2");
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in:\n{metrics}"
        );
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_on_a_postgres_pair_is_polled_answered_cancelled_and_taken_over_across_instances() {
    let Some(mut fleet) = Fleet::start(FleetOptions {
        instances: 2,
        nginx: false,
        proxy: false,
        extra_args: &["--conformance-fixtures", "--task-lease", "1s"],
    }) else {
        return;
    };
    let a = client(&fleet.url(0), true).await;
    let b = client(&fleet.url(1), true).await;
    let b_plain = client(&fleet.url(1), false).await;

    // Started through A, polled through B: the result a synchronous call gives.
    let id = start_task(&a, "slow_compute", json!({"seconds": 1, "label": "pair"})).await;
    assert_eq!(
        get(&b, &id).await.task.task_id,
        id,
        "durable before the answer"
    );
    let done = until_final(&b, &id, Duration::from_secs(30)).await;
    let direct = call(
        &b_plain,
        "slow_compute",
        json!({"seconds": 1, "label": "pair"}),
    )
    .await;
    assert_eq!(
        result_text(&done),
        direct.content[0].as_text().unwrap().text
    );

    // Input through the other instance: asked on one, answered on the other.
    let id = start_task(&a, "confirm_delete", json!({"filename": "notes.txt"})).await;
    let waiting = until(&b, &id, Duration::from_secs(20), |s| {
        s == TaskStatus::InputRequired
    })
    .await;
    let TaskPayload::InputRequired { input_requests } = &waiting.payload else {
        panic!("expected input_required, got {waiting:?}");
    };
    let keys: Vec<String> = input_requests.keys().cloned().collect();
    assert_eq!(keys, ["confirm"]);
    let answers: BTreeMap<String, Value> = keys
        .iter()
        .map(|k| {
            (
                k.clone(),
                json!({"action": "accept", "content": {"confirm": true}}),
            )
        })
        .chain([("not-asked".to_owned(), json!(1))])
        .collect();
    b.update_task(UpdateTaskParams::new(id.clone(), answers))
        .await
        .expect("tasks/update");
    let done = until_final(&a, &id, Duration::from_secs(20)).await;
    assert_eq!(result_text(&done), "Deleted notes.txt");

    // Cancelled through the instance that is not running it: final at once on both, and
    // the running work stops.
    let id = start_task(
        &a,
        "slow_compute",
        json!({"seconds": 60, "label": "cancel"}),
    )
    .await;
    let db_url = fleet.db().url(None);
    let holder_sql = "SELECT lease_owner FROM tool_tasks \
         WHERE arguments->>'label' = 'cancel' AND lease_owner IS NOT NULL";
    let deadline = Instant::now() + Duration::from_secs(10);
    let holder = loop {
        let owner = psql(&db_url, holder_sql).unwrap_or_default();
        if !owner.is_empty() || Instant::now() >= deadline {
            break owner;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let pids: Vec<u32> = fleet.instances.iter().flatten().map(Server::pid).collect();
    let running_on = pids
        .iter()
        .position(|pid| holder.ends_with(&format!(":{pid}")))
        .unwrap_or_else(|| panic!("the task is held by {holder:?}, not by {pids:?}"));
    let (runner, other) = match running_on {
        0 => (&a, &b),
        _ => (&b, &a),
    };
    other
        .cancel_task(CancelTaskParams::new(id.clone()))
        .await
        .expect("tasks/cancel");
    assert_eq!(get(runner, &id).await.status(), TaskStatus::Cancelled);
    assert_eq!(get(other, &id).await.status(), TaskStatus::Cancelled);
    // (Panics with the runner's logs when its work did not stop.)
    fleet.instances[running_on].as_ref().unwrap().wait_for_log(
        "tool task stopped: cancelled or taken over",
        Duration::from_secs(10),
    );

    // SIGKILL an instance with tasks in flight, five times over (a new instance each
    // round): B takes their tasks over after the lease; no task is lost and none is
    // completed twice.
    let args = [
        "--database-url",
        db_url.as_str(),
        "--conformance-fixtures",
        "--task-lease",
        "1s",
    ];
    let mut killed_logs = String::new();
    let mut ids = Vec::new();
    for round in 0..5 {
        let victim = match round {
            0 => fleet.instances[0].take().expect("instance 0 runs"),
            _ => Server::start(&args),
        };
        let through_victim = client(&victim.url(), true).await;
        let held_by_victim = format!(
            "SELECT count(*) FROM tool_tasks WHERE lease_owner LIKE '%:{}'",
            victim.pid()
        );
        // A task goes to whichever instance claims it first: B, told by the change feed,
        // wins the race for all four of a batch about one time in sixteen. Another batch
        // then gives the victim its turn; a victim that never claims fails below.
        let mut holds = 0;
        for batch in 0..3 {
            for n in 0..4 {
                let label = format!("k{round}.{batch}.{n}");
                ids.push(
                    start_task(
                        &through_victim,
                        "slow_compute",
                        json!({"seconds": 2, "label": label}),
                    )
                    .await,
                );
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            holds = loop {
                let n: u32 = psql(&db_url, &held_by_victim).map_or(0, |n| n.parse().unwrap_or(0));
                if n > 0 || Instant::now() >= deadline {
                    break n;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            if holds > 0 {
                break;
            }
        }
        assert!(
            holds > 0,
            "round {round}: the instance to kill ran none of its tasks; its logs:\n{}",
            victim.logs()
        );
        drop(through_victim);
        killed_logs.push_str(&victim.kill().logs);
    }
    for id in &ids {
        let done = until_final(&b, id, Duration::from_secs(90)).await;
        assert_eq!(done.status(), TaskStatus::Completed, "{done:?}");
        assert!(result_text(&done).starts_with('k'), "{done:?}");
    }
    let taken_over: u32 = psql(
        &db_url,
        "SELECT count(*) FROM tool_tasks WHERE tool = 'slow_compute' AND status = 'completed' AND attempts > 1",
    )
    .unwrap()
    .parse()
    .unwrap();
    let logs = format!("--- killed instances:\n{killed_logs}\n{}", fleet.logs());
    let completions = logs
        .lines()
        .filter(|l| l.contains("tool_task.complete"))
        .count();
    // The first two tasks completed above; the ones here each exactly once.
    assert_eq!(
        completions,
        2 + ids.len(),
        "one completion per task:\n{logs}"
    );
    assert!(
        taken_over >= 5,
        "each killed instance's running tasks were taken over (attempts > 1): {taken_over}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_resume_after_a_restart_and_finished_ones_stay_readable() {
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--conformance-fixtures", "--task-lease", "1s"];
    let server = Server::sqlite(dir.path(), &flags);
    let tasks = client(&server.url(), true).await;
    let finished = start_task(
        &tasks,
        "slow_compute",
        json!({"seconds": 0, "label": "before"}),
    )
    .await;
    until_final(&tasks, &finished, Duration::from_secs(20)).await;
    let running = start_task(
        &tasks,
        "slow_compute",
        json!({"seconds": 3, "label": "across"}),
    )
    .await;
    until(&tasks, &running, Duration::from_secs(10), |s| {
        s == TaskStatus::Working
    })
    .await;
    // Let the work start, then stop the server mid-task, and start it again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(tasks);
    let stopped = server.terminate(Duration::from_secs(20));
    assert!(stopped.exited_cleanly(), "{}", stopped.logs);
    let server = Server::sqlite(dir.path(), &flags);
    let tasks = client(&server.url(), true).await;
    let done = until_final(&tasks, &running, Duration::from_secs(30)).await;
    assert_eq!(result_text(&done), "across: computed for 3 s");
    // The new process ran it again: its second claim.
    assert!(
        server
            .logs()
            .lines()
            .any(|l| l.contains("running a tool task") && l.contains("attempt=2")),
        "{}",
        server.logs()
    );
    let before = get(&tasks, &finished).await;
    assert_eq!(result_text(&before), "before: computed for 0 s");
}
