//! Prometheus metrics: the recorder, `GET /metrics`, and the few hooks the layers and the
//! store wrapper call. Metrics are taken in two places, never in a tool:
//!
//! - HTTP layers ([`layers`]): every request by route and status with its latency, the
//!   rejections (authentication failures, rate limits, shedding) by reason, and every MCP
//!   request by JSON-RPC method, tool and outcome with its latency;
//! - the store wrapper ([`ObservedStore`]): every store operation by kind and outcome with
//!   its latency (and the audit events of state changes, see [`crate::audit`]).
//!
//! Besides: handle verification failures by reason, tool errors by kind, sweeps and swept
//! tasks, research tasks by status (read at most every [`TASK_COUNT_MAX_AGE`] on scrape),
//! connection pools and the SQLite writer (queue depth, batches, writes) on scrape, and
//! the process (`process_*`: CPU, RSS, open file descriptors).
//!
//! Traces (feature `otel`, `--otlp-endpoint`) are taken in the same two places: see
//! `traces`.
//!
//! Names follow Prometheus conventions: a `baton_` prefix, base units (`_seconds`), `_total`
//! on counters, and labels from bounded sets only (never a handle, principal, topic or any
//! other caller-chosen text: a method or tool name the server does not know is `other`).

mod handles;
mod layers;
mod store;
#[cfg(feature = "otel")]
pub mod traces;

pub use layers::{HttpMetrics, McpLabels, track_http, track_mcp};
pub use store::ObservedStore;

use std::{
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use axum::{
    extract::State,
    http::header::CONTENT_TYPE,
    response::{IntoResponse, Response},
};
use baton_store::{ResearchStatus, StoreStats};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

/// Latency buckets, in seconds, of every `_seconds` histogram (1 ms to 30 s).
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How old the research-task counts may be when scraped.
pub const TASK_COUNT_MAX_AGE: Duration = Duration::from_secs(30);

/// Metric names.
pub mod names {
    /// HTTP requests by route and status (counter).
    pub const HTTP_REQUESTS: &str = "baton_http_requests_total";
    /// HTTP request latency by route (histogram).
    pub const HTTP_DURATION: &str = "baton_http_request_duration_seconds";
    /// MCP requests by method, tool and outcome (counter).
    pub const MCP_REQUESTS: &str = "baton_mcp_requests_total";
    /// MCP request latency by method and tool (histogram).
    pub const MCP_DURATION: &str = "baton_mcp_request_duration_seconds";
    /// Tool errors by kind (counter).
    pub const TOOL_ERRORS: &str = "baton_tool_errors_total";
    /// Store operations by operation and outcome (counter).
    pub const STORE_OPERATIONS: &str = "baton_store_operations_total";
    /// Store operation latency by operation (histogram).
    pub const STORE_DURATION: &str = "baton_store_operation_duration_seconds";
    /// Handle verification failures by reason (counter).
    pub const HANDLE_FAILURES: &str = "baton_handle_verification_failures_total";
    /// Requests refused authentication, by reason (counter).
    pub const AUTH_FAILURES: &str = "baton_auth_failures_total";
    /// Requests refused by a rate limit (counter).
    pub const RATE_LIMITED: &str = "baton_rate_limited_requests_total";
    /// Requests shed or timed out, by reason (counter).
    pub const SHED: &str = "baton_shed_requests_total";
    /// Sweeps by outcome (counter).
    pub const SWEEPS: &str = "baton_sweeps_total";
    /// Tool tasks (MCP Tasks extension) by event: `created`, `resumed` (claimed again after
    /// an answer, a takeover or a restart), `completed`, `failed`, `cancelled` (counter).
    pub const TOOL_TASKS: &str = "baton_tool_tasks_total";
    /// Expired tasks deleted by sweeps (counter).
    pub const SWEPT: &str = "baton_swept_tasks_total";
    /// When the last sweep succeeded, in Unix seconds (gauge).
    pub const LAST_SWEEP: &str = "baton_last_successful_sweep_timestamp_seconds";
    /// Live research tasks by status, over the whole store (gauge).
    pub const TASKS: &str = "baton_research_tasks";
    /// Store connections by pool and state (`in_use`, `idle`) (gauge).
    pub const CONNECTIONS: &str = "baton_store_connections";
    /// Writes waiting for the SQLite writer (gauge).
    pub const WRITER_QUEUE: &str = "baton_store_writer_queue_depth";
    /// Batches (transactions) the SQLite writer ran (counter).
    pub const WRITER_BATCHES: &str = "baton_store_writer_batches_total";
    /// Writes those batches carried (counter; over batches: the mean batch size).
    pub const WRITER_WRITES: &str = "baton_store_writer_writes_total";
    /// Postgres read lanes by state (`connected`, `down`) (gauge).
    pub const READ_LANES: &str = "baton_store_read_lanes";
    /// Task-by-id reads by the path that answered them (`lane`, `pool`) (counter).
    pub const LANE_READS: &str = "baton_store_lane_reads_total";
}

/// The process-wide recorder's handle: installs the recorder on first use. Every baton app in
/// one process shares it (metrics are per process, as Prometheus scrapes them).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        let builder = builder
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &LATENCY_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was installed already; /metrics will be empty");
        }
        describe();
        process().describe();
        handle
    })
}

fn process() -> &'static metrics_process::Collector {
    static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();
    PROCESS.get_or_init(metrics_process::Collector::default)
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    use names::*;
    describe_counter!(HTTP_REQUESTS, "HTTP requests by route and status.");
    describe_counter!(
        TOOL_TASKS,
        "Tool tasks (MCP Tasks extension) by event: created, resumed, completed, failed, cancelled."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency by route."
    );
    describe_counter!(
        MCP_REQUESTS,
        "MCP requests by JSON-RPC method, tool and outcome (ok, tool_error, protocol_error, http_error)."
    );
    describe_histogram!(
        MCP_DURATION,
        Unit::Seconds,
        "MCP request latency by method and tool."
    );
    describe_counter!(TOOL_ERRORS, "Tool errors by kind.");
    describe_counter!(
        STORE_OPERATIONS,
        "Store operations by operation and outcome."
    );
    describe_histogram!(
        STORE_DURATION,
        Unit::Seconds,
        "Store operation latency by operation."
    );
    describe_counter!(
        HANDLE_FAILURES,
        "Handles refused, by reason (callers always get the one unknown-handle answer)."
    );
    describe_counter!(AUTH_FAILURES, "Requests refused authentication, by reason.");
    describe_counter!(RATE_LIMITED, "Requests refused by a rate limit (429).");
    describe_counter!(
        SHED,
        "Requests shed (overloaded) or timed out (503), by reason."
    );
    describe_counter!(SWEEPS, "Expiry sweeps by outcome.");
    describe_counter!(SWEPT, "Expired research tasks deleted by sweeps.");
    describe_gauge!(
        LAST_SWEEP,
        Unit::Seconds,
        "When the last sweep succeeded (Unix time)."
    );
    describe_gauge!(TASKS, "Live research tasks in the store, by status.");
    describe_gauge!(
        CONNECTIONS,
        "Store connections by pool and state (in_use, idle)."
    );
    describe_gauge!(WRITER_QUEUE, "Writes waiting for the SQLite writer.");
    describe_counter!(
        WRITER_BATCHES,
        "Batches (transactions) run by the SQLite writer."
    );
    describe_counter!(
        WRITER_WRITES,
        "Writes carried by the SQLite writer's batches (over batches: the mean batch size)."
    );
    describe_gauge!(
        READ_LANES,
        "Postgres read lanes (pipelined connections for the task-by-id read) by state (connected, down)."
    );
    describe_counter!(
        LANE_READS,
        "Postgres task-by-id reads by the path that answered them: a read lane, or the pool when no lane could."
    );
}

/// Keeps the recorder's histograms drained; stops with `shutdown`.
pub fn spawn_upkeep(shutdown: CancellationToken) {
    let handle = handle();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticker.tick() => handle.run_upkeep(),
            }
        }
    });
}

/// What `GET /metrics` needs: the store to count tasks in (when the backend can).
#[derive(Clone)]
pub struct MetricsState {
    counts: Option<Arc<dyn StoreStats>>,
    last: Arc<Mutex<Option<Instant>>>,
}

impl MetricsState {
    /// `counts` reads the research tasks by status (`None`: the gauge is not published).
    pub fn new(counts: Option<Arc<dyn StoreStats>>) -> Self {
        MetricsState {
            counts,
            last: Arc::new(Mutex::new(None)),
        }
    }

    /// Publishes the pools, the writer and the read lanes (read from memory, on every scrape).
    fn refresh_pools(&self) {
        let Some(stats) = &self.counts else { return };
        for pool in stats.pools() {
            let in_use = pool.size.saturating_sub(pool.idle);
            metrics::gauge!(names::CONNECTIONS, "pool" => pool.name, "state" => "in_use")
                .set(f64::from(in_use));
            metrics::gauge!(names::CONNECTIONS, "pool" => pool.name, "state" => "idle")
                .set(f64::from(pool.idle));
        }
        if let Some(writer) = stats.writer() {
            metrics::gauge!(names::WRITER_QUEUE).set(writer.queued as f64);
            metrics::counter!(names::WRITER_BATCHES).absolute(writer.batches);
            metrics::counter!(names::WRITER_WRITES).absolute(writer.writes);
        }
        if let Some(lanes) = stats.lane_reads() {
            let down = lanes.lanes.saturating_sub(lanes.connected);
            metrics::gauge!(names::READ_LANES, "state" => "connected")
                .set(f64::from(lanes.connected));
            metrics::gauge!(names::READ_LANES, "state" => "down").set(f64::from(down));
            metrics::counter!(names::LANE_READS, "path" => "lane").absolute(lanes.on_lane);
            metrics::counter!(names::LANE_READS, "path" => "pool").absolute(lanes.on_pool);
        }
    }

    /// Refreshes the task gauge when it is older than [`TASK_COUNT_MAX_AGE`]. One count
    /// query per instance at most that often, whatever the scrape rate.
    async fn refresh_task_counts(&self) {
        let Some(counts) = &self.counts else { return };
        {
            let Ok(mut last) = self.last.lock() else {
                return;
            };
            if last.is_some_and(|t| t.elapsed() < TASK_COUNT_MAX_AGE) {
                return;
            }
            *last = Some(Instant::now());
        }
        let read = tokio::time::timeout(
            Duration::from_secs(2),
            counts.count_by_status(chrono::Utc::now()),
        )
        .await;
        match read {
            Ok(Ok(by_status)) => {
                for status in [
                    ResearchStatus::Running,
                    ResearchStatus::Complete,
                    ResearchStatus::Cancelled,
                ] {
                    let n = by_status
                        .iter()
                        .find(|(s, _)| *s == status)
                        .map_or(0, |(_, n)| *n);
                    metrics::gauge!(names::TASKS, "status" => status.as_str()).set(n as f64);
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot count research tasks for /metrics"),
            Err(_) => tracing::warn!("counting research tasks for /metrics took over 2s"),
        }
    }
}

/// `GET /metrics`: the Prometheus text exposition.
pub async fn metrics_endpoint(State(state): State<MetricsState>) -> Response {
    state.refresh_task_counts().await;
    state.refresh_pools();
    process().collect();
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        handle().render(),
    )
        .into_response()
}

/// A router serving only `GET /metrics` (for `--metrics-listen`).
pub fn router(state: MetricsState) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(metrics_endpoint))
        .with_state(state)
}

/// Counts a tool error by kind (the text the caller gets is not a label).
pub fn tool_error(error: &baton_protocol::ToolError) {
    use baton_protocol::ToolError as E;
    let kind = match error {
        E::UnknownHandle => "unknown_handle",
        E::InvalidArgument { .. } => "invalid_argument",
        E::BadArguments { .. } => "bad_arguments",
        E::LimitExceeded { .. } => "limit_exceeded",
        E::QuotaExceeded { .. } => "quota_exceeded",
        E::WrongStatus { .. } => "wrong_status",
        E::Unavailable => "unavailable",
        E::Interrupted => "interrupted",
        E::TimedOut => "timed_out",
        E::Internal { .. } => "internal",
        E::MissingRight { .. } => "missing_right",
        E::OwnerOnly { .. } => "owner_only",
        E::UnknownShare => "unknown_share",
    };
    metrics::counter!(names::TOOL_ERRORS, "kind" => kind).increment(1);
}

/// Counts a refused handle by reason. The reason stays server-side: callers get the one
/// unknown-handle answer whatever it is.
pub fn handle_rejected(error: &baton_handle::Error) {
    use baton_handle::ErrorKind as K;
    let reason = match error.kind() {
        K::TooLong => "too_long",
        K::Malformed => "malformed",
        K::WrongKind => "wrong_kind",
        K::UnsupportedVersion => "unsupported_version",
        K::UnknownKey => "unknown_key",
        K::BadTag => "bad_tag",
        K::Expired => "expired",
        _ => "other",
    };
    metrics::counter!(names::HANDLE_FAILURES, "reason" => reason).increment(1);
}

/// Counts a tool task event (`created`, `resumed`, `completed`, `failed`, `cancelled`).
pub fn tool_task(event: &'static str) {
    metrics::counter!(names::TOOL_TASKS, "event" => event).increment(1);
}

/// Counts a sweep (`Ok(deleted)` or a failure).
pub fn sweep(outcome: Result<u64, &baton_store::StoreError>) {
    match outcome {
        Ok(deleted) => {
            metrics::counter!(names::SWEEPS, "outcome" => "ok").increment(1);
            metrics::counter!(names::SWEPT).increment(deleted);
            metrics::gauge!(names::LAST_SWEEP).set(chrono::Utc::now().timestamp() as f64);
            if deleted > 0 {
                // The one state change no caller makes: the instance itself, for every owner.
                tracing::info!(
                    target: "baton::audit",
                    principal = "",
                    action = "research.sweep",
                    task = "",
                    outcome = "ok",
                    deleted,
                    "audit"
                );
            }
        }
        Err(_) => metrics::counter!(names::SWEEPS, "outcome" => "error").increment(1),
    }
}
