//! The MCP Tasks extension (`io.modelcontextprotocol/tasks`) on a durable store: a
//! `tools/call` that runs as a task is stored before its `CreateTaskResult` is sent, run by
//! whichever instance claims it (see [`worker`]), and answered by `tasks/get`,
//! `tasks/update` and `tasks/cancel` on any instance.
//!
//! * **Which calls become tasks.** A tool declares a [`TaskSupport`]. A call becomes a
//!   task only when the tool allows it **and** the request declared the extension; a tool
//!   that requires it answers `-32021` to a request that did not. Everything else runs
//!   synchronously, as before.
//! * **Task ids** are handles of their own kind (`tooltask_…`), signed and bound to the
//!   caller: another principal's id, an expired one and a made-up one all get the same
//!   `-32602 unknown task`.
//! * **Tool code** reports progress, saves checkpoints and asks for input through
//!   [`context`]; run synchronously, those calls cost nothing.
//! * **Guarantee**: at-least-once execution, exactly-once completion. A task's work may run
//!   again after a crash or a lost lease (from its last checkpoint, when the tool saves
//!   them), but its outcome is stored once, by the claim that holds it: a worker whose
//!   lease was taken over can no longer write. See ARCHITECTURE.md.

pub mod context;
pub mod worker;

use std::{sync::Arc, time::Duration};

use baton_store::{NewToolTask, StoreError, StoreErrorKind, ToolTask, ToolTaskId, ToolTaskStatus};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use rmcp::{
    ErrorData,
    model::{DetailedTask, JsonObject, Task, TaskPayload, TaskStatus},
};
use serde_json::{Map, Value};
use tokio::sync::Notify;

use crate::{
    keys::{HandleKeys, HandleKind},
    principal::Principal,
    tools::ToolTable,
};

/// Whether a tool may run as a task (the extension lets the server decide, per call).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TaskSupport {
    /// Always runs synchronously (the default).
    #[default]
    Never,
    /// Runs as a task for requests that declare the extension, synchronously otherwise.
    Optional,
    /// Runs only as a task: requests that do not declare the extension get `-32021`.
    Required,
}

/// Tool task settings of `baton serve`.
#[derive(Clone, Debug, Args)]
pub struct TaskArgs {
    /// How long a tool task (MCP Tasks extension) stays readable, counted from its
    /// creation; its `ttlMs`. Work still running then is abandoned.
    #[arg(long, env = "BATON_TASK_TTL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub task_ttl: Duration,

    /// How often clients are told to poll a tool task (`pollIntervalMs`).
    #[arg(long, env = "BATON_TASK_POLL_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub task_poll_interval: Duration,

    /// How long an instance's claim on a tool task holds without a heartbeat (sent every
    /// third of it). When an instance dies, another takes its tasks over after at most this
    /// long.
    #[arg(long, env = "BATON_TASK_LEASE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub task_lease: Duration,

    /// How many tool tasks this instance runs at once. 0: it accepts and answers tasks, and
    /// leaves running them to other instances.
    #[arg(long, env = "BATON_TASK_WORKERS", default_value_t = 4)]
    pub task_workers: u16,

    /// The most live tool tasks one principal may hold.
    #[arg(long, env = "BATON_MAX_LIVE_TOOL_TASKS", default_value_t = 100)]
    pub max_live_tool_tasks: u64,
}

impl TaskArgs {
    /// Checks every value, naming the flag of any out of range.
    pub fn validate(&self) -> anyhow::Result<()> {
        let day = Duration::from_secs(24 * 3600);
        for (flag, value, min, max) in [
            ("task-ttl", self.task_ttl, Duration::from_secs(1), 30 * day),
            (
                "task-poll-interval",
                self.task_poll_interval,
                Duration::from_millis(10),
                Duration::from_secs(3600),
            ),
            (
                "task-lease",
                self.task_lease,
                Duration::from_millis(300),
                Duration::from_secs(3600),
            ),
        ] {
            anyhow::ensure!(
                value >= min && value <= max,
                "--{flag} must be between {} and {} (got {})",
                humantime::format_duration(min),
                humantime::format_duration(max),
                humantime::format_duration(value)
            );
        }
        anyhow::ensure!(
            self.task_workers <= 1024,
            "--task-workers must be at most 1024 (got {})",
            self.task_workers
        );
        anyhow::ensure!(
            self.max_live_tool_tasks >= 1,
            "--max-live-tool-tasks must be at least 1"
        );
        Ok(())
    }

    fn ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.task_ttl).unwrap_or(chrono::Duration::hours(1))
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.task_lease).unwrap_or(chrono::Duration::seconds(30))
    }

    fn poll_interval_ms(&self) -> u32 {
        u32::try_from(self.task_poll_interval.as_millis()).unwrap_or(u32::MAX)
    }
}

/// The tool task runtime of one instance: creates and answers tasks, and runs its share of
/// them ([`worker`]).
pub struct ToolTasks {
    store: Arc<dyn baton_store::ToolTaskStore>,
    keys: Arc<HandleKeys>,
    args: TaskArgs,
    tools: ToolTable,
    /// Wakes this instance's dispatcher when work was made here.
    wake: Notify,
    /// This instance's name in leases (for operators reading the table).
    instance: String,
}

/// The one answer to a task id that does not resolve to a live task of the caller's.
pub fn unknown_task() -> ErrorData {
    ErrorData::invalid_params("unknown task", None)
}

impl ToolTasks {
    /// A runtime over `store`, running the handlers of `tools`.
    pub fn new(
        store: Arc<dyn baton_store::ToolTaskStore>,
        keys: Arc<HandleKeys>,
        args: TaskArgs,
        tools: ToolTable,
    ) -> Arc<ToolTasks> {
        let instance = format!(
            "{}:{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "baton".to_owned()),
            std::process::id()
        );
        Arc::new(ToolTasks {
            store,
            keys,
            args,
            tools,
            wake: Notify::new(),
            instance,
        })
    }

    /// Stores a call of `tool` as a task of `who`'s, durably, and returns its wire form:
    /// `tasks/get` resolves it on any instance as soon as this returns.
    pub async fn create(
        &self,
        who: &Principal,
        tool: &str,
        arguments: JsonObject,
    ) -> Result<Task, ErrorData> {
        let now = Utc::now();
        let ttl = self.args.ttl();
        let not_after = u64::try_from((now + ttl).timestamp()).unwrap_or(0);
        let minted = self.keys.codecs().tool_task.mint(who.as_str(), not_after);
        let created = self
            .store
            .create_tool_task(
                NewToolTask {
                    id: ToolTaskId::from_bytes(*minted.id.as_bytes()),
                    owner: who.as_str().to_owned(),
                    tool: tool.to_owned(),
                    arguments: Value::Object(arguments),
                    status_message: "Queued".to_owned(),
                    ttl,
                    poll_interval_ms: self.args.poll_interval_ms(),
                    max_live: self.args.max_live_tool_tasks,
                },
                now,
            )
            .await
            .map_err(|e| store_error("create a task", e))?;
        crate::audit::tool_task(who.as_str(), "tool_task.create", &created.id, "ok");
        crate::observability::tool_task("created");
        self.wake.notify_one();
        Ok(wire_task(&minted.handle, &created))
    }

    /// `tasks/get`.
    pub async fn get(&self, who: &Principal, task_id: &str) -> Result<DetailedTask, ErrorData> {
        let id = self.resolve(who, task_id).await?;
        let task = self
            .store
            .tool_task(who.as_str(), &id, Utc::now())
            .await
            .map_err(|e| store_error("read a task", e))?;
        detailed(task_id, &task)
    }

    /// `tasks/update`: stores the answers to outstanding input requests (others ignored).
    pub async fn update(
        &self,
        who: &Principal,
        task_id: &str,
        responses: Map<String, Value>,
    ) -> Result<(), ErrorData> {
        let id = self.resolve(who, task_id).await?;
        let task = self
            .store
            .answer_tool_task(who.as_str(), &id, &responses, Utc::now())
            .await
            .map_err(|e| store_error("answer a task", e))?;
        if task.status == ToolTaskStatus::Working {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// `tasks/cancel`: cooperative; the task is `cancelled` at once unless it was final.
    pub async fn cancel(&self, who: &Principal, task_id: &str) -> Result<(), ErrorData> {
        let id = self.resolve(who, task_id).await?;
        let task = self
            .store
            .cancel_tool_task(who.as_str(), &id, Utc::now())
            .await
            .map_err(|e| store_error("cancel a task", e))?;
        if task.status == ToolTaskStatus::Cancelled {
            crate::audit::tool_task(who.as_str(), "tool_task.cancel", &task.id, "ok");
            crate::observability::tool_task("cancelled");
        }
        Ok(())
    }

    /// The task a `taskId` names, if it is a tool task id of `who`'s.
    async fn resolve(&self, who: &Principal, task_id: &str) -> Result<ToolTaskId, ErrorData> {
        let now = u64::try_from(Utc::now().timestamp()).unwrap_or(0);
        match self.keys.accept(task_id, who.as_str(), now).await {
            Some((HandleKind::ToolTask, verified)) => {
                Ok(ToolTaskId::from_bytes(*verified.id.as_bytes()))
            }
            _ => Err(unknown_task()),
        }
    }

    /// Deletes expired tasks, up to `batch`.
    pub async fn sweep(&self, batch: u32) -> Result<u64, StoreError> {
        self.store.sweep_tool_tasks(Utc::now(), batch).await
    }
}

/// A store failure as a JSON-RPC error: unknown task (-32602), quota (-32602 naming the
/// limit), or internal (-32603, the detail in the logs only).
fn store_error(action: &'static str, e: StoreError) -> ErrorData {
    match e.kind() {
        StoreErrorKind::NotFound => unknown_task(),
        StoreErrorKind::QuotaExceeded(baton_store::Quota::LiveToolTasks { limit }) => {
            ErrorData::invalid_params(
                format!(
                    "too many live tasks: a caller may hold at most {limit}; wait for some to end or cancel them"
                ),
                None,
            )
        }
        _ => {
            tracing::warn!(error = %e, source = ?std::error::Error::source(&e), action, "task store failed");
            ErrorData::internal_error(format!("could not {action}; try again"), None)
        }
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn wire_status(status: ToolTaskStatus) -> TaskStatus {
    match status {
        ToolTaskStatus::Working => TaskStatus::Working,
        ToolTaskStatus::InputRequired => TaskStatus::InputRequired,
        ToolTaskStatus::Completed => TaskStatus::Completed,
        ToolTaskStatus::Failed => TaskStatus::Failed,
        ToolTaskStatus::Cancelled => TaskStatus::Cancelled,
    }
}

/// The extension's `Task` for a stored task named `task_id`.
fn wire_task(task_id: &str, task: &ToolTask) -> Task {
    let mut wire = Task::new(
        task_id,
        wire_status(task.status),
        iso(task.created_at),
        iso(task.updated_at),
    )
    .with_ttl_ms(task.ttl_ms())
    .with_poll_interval_ms(u64::from(task.poll_interval_ms));
    wire.status_message = task.status_message.clone();
    wire
}

fn object(value: &Option<Value>) -> JsonObject {
    match value {
        Some(Value::Object(map)) => map.clone(),
        _ => JsonObject::new(),
    }
}

/// The extension's `DetailedTask` for a stored task named `task_id`.
fn detailed(task_id: &str, task: &ToolTask) -> Result<DetailedTask, ErrorData> {
    let payload = match task.status {
        ToolTaskStatus::Working => TaskPayload::Working,
        ToolTaskStatus::InputRequired => {
            let input_requests = task
                .input_requests
                .iter()
                .map(|(key, request)| {
                    serde_json::from_value(request.clone())
                        .map(|request| (key.clone(), request))
                        .map_err(|e| {
                            ErrorData::internal_error(
                                format!("a stored input request is not valid: {e}"),
                                None,
                            )
                        })
                })
                .collect::<Result<_, _>>()?;
            TaskPayload::InputRequired { input_requests }
        }
        ToolTaskStatus::Completed => TaskPayload::Completed {
            result: object(&task.outcome),
        },
        ToolTaskStatus::Failed => TaskPayload::Failed {
            error: object(&task.outcome),
        },
        ToolTaskStatus::Cancelled => TaskPayload::Cancelled,
    };
    Ok(DetailedTask::new(wire_task(task_id, task), payload))
}
