//! The research-task tools: the article's three, done properly, plus the verbs users need.
//!
//! Each tool validates its arguments (naming the field on error), verifies the handle
//! against the caller before touching the store, and maps store outcomes to the protocol's
//! exact error messages. Unknown, expired, malformed, forged and foreign handles all end in
//! [`ToolError::UnknownHandle`].

use std::{sync::Arc, time::Duration};

use crate::keys::HandleKeys;
use baton_auth::{Scope, Scopes};
use baton_protocol::{
    AddFindings, CancelledResearchTask, CompleteResearchTask, CompletedResearchTask, Finding,
    FindingsAdded, GetTaskResults, HandleArgs, Limits, ListResearchTasks, ResearchResults,
    ResearchTaskList, ResearchTaskSummary, ResearchTaskView, StartResearchTask,
    StartedResearchTask, ToolError, page_size, parse_arguments, tool, validate_findings,
    validate_idempotency_key,
};
use baton_store::{
    FindingLimits, FindingsBatch, Lifetimes, NewResearchTask, Quota, ResearchListCursor,
    ResearchStore, ResearchTask, ResearchTaskId, StoreError, StoreErrorKind,
};
use chrono::{DateTime, SecondsFormat, Utc};
use rmcp::{
    handler::server::common::{schema_for_input, schema_for_output},
    model::{JsonObject, Tool, ToolAnnotations},
};
use serde::{Serialize, de::DeserializeOwned};

use super::{ToolFn, ToolTable, into_result};
use crate::{cursor, fault, principal::Principal};

/// The research-task service: what the tools do, independent of the wire.
pub struct Research {
    store: Arc<dyn ResearchStore>,
    keys: Arc<HandleKeys>,
    limits: Limits,
    lifetimes: Lifetimes,
    /// How long a write may wait for the store before the caller is told its outcome is
    /// unknown (a little under the request timeout, so the caller gets that answer rather
    /// than a bare HTTP timeout).
    write_deadline: Duration,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Maps the error of a call that writes to the tool error the caller sees. Faults are
/// logged here, with a reference the caller can quote; the caller never sees internals.
fn store_error(action: &'static str) -> impl Fn(StoreError) -> ToolError {
    map_store_error(action, false)
}

/// Like [`store_error`], for a call that only reads: it changes nothing, so an interrupted
/// one is simply unavailable.
fn read_error(action: &'static str) -> impl Fn(StoreError) -> ToolError {
    map_store_error(action, true)
}

fn map_store_error(action: &'static str, read_only: bool) -> impl Fn(StoreError) -> ToolError {
    move |e| match e.kind() {
        StoreErrorKind::NotFound => ToolError::UnknownHandle,
        StoreErrorKind::WrongStatus(status) => ToolError::WrongStatus {
            action,
            status: *status,
        },
        StoreErrorKind::TooManyFindings { limit } => ToolError::LimitExceeded {
            field: "findings",
            limit: u64::from(*limit),
            what: "findings per task",
        },
        StoreErrorKind::IdempotencyConflict => ToolError::invalid(
            "idempotency_key",
            "was already used with other arguments (a start with another topic or depth, an add_findings call with other findings)",
        ),
        StoreErrorKind::QuotaExceeded(Quota::LiveTasks { limit }) => ToolError::QuotaExceeded {
            what: "you hold too many live research tasks",
            limit: *limit,
            advice: "tasks count until they expire and are swept; retry later",
        },
        StoreErrorKind::QuotaExceeded(Quota::StoredBytes { limit }) => ToolError::QuotaExceeded {
            what: "your research tasks would hold too many bytes of findings",
            limit: *limit,
            advice: "add fewer or shorter findings; bytes are freed when tasks expire and are swept",
        },
        StoreErrorKind::Unavailable => {
            tracing::warn!(error = %e, source = ?std::error::Error::source(&e), action, "task store unavailable");
            ToolError::Unavailable
        }
        StoreErrorKind::Interrupted if read_only => {
            tracing::warn!(error = %e, action, "task store connection lost during a read");
            ToolError::Unavailable
        }
        StoreErrorKind::Interrupted => {
            tracing::warn!(error = %e, source = ?std::error::Error::source(&e), action, "task store connection lost during a write; outcome unknown");
            ToolError::Interrupted
        }
        _ => {
            let reference = fault::reference();
            tracing::error!(error = %e, source = ?std::error::Error::source(&e), action, reference, "task store fault");
            ToolError::Internal { reference }
        }
    }
}

impl Research {
    /// Creates the service.
    pub fn new(
        store: Arc<dyn ResearchStore>,
        keys: Arc<HandleKeys>,
        limits: Limits,
        lifetimes: Lifetimes,
        request_timeout: Duration,
    ) -> Self {
        // Leave the last second (or half, for short timeouts) to answer in.
        let margin = Duration::from_secs(1).min(request_timeout / 2);
        Research {
            store,
            keys,
            limits,
            lifetimes,
            write_deadline: request_timeout.saturating_sub(margin),
        }
    }

    /// Runs a store write, answering [`ToolError::TimedOut`] (outcome unknown: the write
    /// may still be applied, e.g. queued in SQLite's writer) when it outlasts the deadline.
    async fn write<T>(
        &self,
        action: &'static str,
        write: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, ToolError> {
        match tokio::time::timeout(self.write_deadline, write).await {
            Ok(done) => done.map_err(store_error(action)),
            Err(_) => {
                tracing::warn!(
                    action,
                    "a task-store write outlasted the request deadline; its outcome is unknown"
                );
                Err(ToolError::TimedOut)
            }
        }
    }

    /// Verifies a handle for `who`; every failure is the one unknown-handle error.
    async fn task_id(
        &self,
        handle: &str,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<ResearchTaskId, ToolError> {
        let now_secs = u64::try_from(now.timestamp()).unwrap_or(0);
        match self.keys.verify(handle, who.as_str(), now_secs).await {
            Ok(verified) => Ok(ResearchTaskId::from_bytes(*verified.id.as_bytes())),
            Err(e) => {
                // The reason stays in the server's logs; the caller gets the uniform answer.
                tracing::debug!(reason = %e, "handle rejected");
                crate::observability::handle_rejected(&e);
                Err(ToolError::UnknownHandle)
            }
        }
    }

    fn handle_of(&self, task: &ResearchTask, who: &Principal) -> String {
        let not_after = u64::try_from(task.hard_expires_at.timestamp()).unwrap_or(0);
        self.keys.codec().render(
            &baton_handle::Id::from_bytes(*task.id.as_bytes()),
            who.as_str(),
            not_after,
        )
    }

    /// `start_research_task`.
    pub async fn start(
        &self,
        who: Principal,
        args: StartResearchTask,
    ) -> Result<StartedResearchTask, ToolError> {
        let valid = args.validate(&self.limits)?;
        let now = Utc::now();
        let not_after = u64::try_from((now + self.lifetimes.absolute).timestamp()).unwrap_or(0);
        let minted = self.keys.codec().mint(who.as_str(), not_after);
        let outcome = self.store.start(
            NewResearchTask {
                id: ResearchTaskId::from_bytes(*minted.id.as_bytes()),
                owner: who.as_str().to_owned(),
                topic: valid.topic,
                depth: valid.depth,
                idempotency_key: valid.idempotency_key,
                max_live_tasks: self.limits.max_live_tasks_per_principal,
            },
            now,
        );
        let outcome = self.write("start the task", outcome).await?;
        Ok(StartedResearchTask {
            handle: self.handle_of(&outcome.task, &who),
            status: outcome.task.status,
            expires_at: rfc3339(outcome.task.expires_at),
            replayed: outcome.replayed,
        })
    }

    /// `get_task_status`.
    pub async fn status(
        &self,
        who: Principal,
        args: HandleArgs,
    ) -> Result<ResearchTaskView, ToolError> {
        let now = Utc::now();
        let id = self.task_id(&args.handle, &who, now).await?;
        let task = self
            .store
            .get(who.as_str(), &id, now)
            .await
            .map_err(read_error("read the task"))?;
        Ok(ResearchTaskView {
            handle: args.handle,
            topic: task.topic,
            depth: task.depth,
            status: task.status,
            findings_count: task.findings_count,
            created_at: rfc3339(task.created_at),
            updated_at: rfc3339(task.updated_at),
            expires_at: rfc3339(task.expires_at),
        })
    }

    /// The limits of a write of findings.
    fn finding_limits(&self) -> FindingLimits {
        FindingLimits {
            per_task: self.limits.max_findings_per_task,
            owner_bytes: self.limits.max_stored_bytes_per_principal,
        }
    }

    /// `add_findings`.
    pub async fn add_findings(
        &self,
        who: Principal,
        args: AddFindings,
    ) -> Result<FindingsAdded, ToolError> {
        let now = Utc::now();
        validate_findings(&args.findings, false, &self.limits)?;
        if let Some(key) = &args.idempotency_key {
            validate_idempotency_key(key, &self.limits)?;
        }
        let id = self.task_id(&args.handle, &who, now).await?;
        let mut batch = FindingsBatch::new(&args.findings, self.finding_limits());
        if let Some(key) = &args.idempotency_key {
            batch = batch.with_key(key);
        }
        let appended = self
            .write(
                "add findings",
                self.store.append_findings(who.as_str(), &id, batch, now),
            )
            .await?;
        Ok(FindingsAdded {
            handle: args.handle,
            status: appended.task.status,
            added: u32::try_from(args.findings.len()).unwrap_or(u32::MAX),
            findings_count: appended.last_index,
        })
    }

    /// `complete_research_task`.
    pub async fn complete(
        &self,
        who: Principal,
        args: CompleteResearchTask,
    ) -> Result<CompletedResearchTask, ToolError> {
        let now = Utc::now();
        validate_findings(&args.findings, true, &self.limits)?;
        let id = self.task_id(&args.handle, &who, now).await?;
        let task = self
            .write(
                "complete the task",
                self.store.complete(
                    who.as_str(),
                    &id,
                    &args.findings,
                    self.finding_limits(),
                    now,
                ),
            )
            .await?;
        Ok(CompletedResearchTask {
            handle: args.handle,
            status: task.status,
            result_count: task.findings_count,
        })
    }

    /// `cancel_research_task`.
    pub async fn cancel(
        &self,
        who: Principal,
        args: HandleArgs,
    ) -> Result<CancelledResearchTask, ToolError> {
        let now = Utc::now();
        let id = self.task_id(&args.handle, &who, now).await?;
        let task = self
            .write("cancel the task", self.store.cancel(who.as_str(), &id, now))
            .await?;
        Ok(CancelledResearchTask {
            handle: args.handle,
            status: task.status,
        })
    }

    /// `get_task_results`.
    pub async fn results(
        &self,
        who: Principal,
        args: GetTaskResults,
    ) -> Result<ResearchResults, ToolError> {
        let now = Utc::now();
        let limit = page_size(args.limit, &self.limits)?;
        let after = match args.cursor.as_deref() {
            None => 0,
            Some(c) => cursor::decode_findings(c).ok_or_else(|| {
                ToolError::invalid("cursor", "is not a cursor returned by get_task_results")
            })?,
        };
        let id = self.task_id(&args.handle, &who, now).await?;
        let page = self
            .store
            .list_findings(who.as_str(), &id, after, limit, now)
            .await
            .map_err(read_error("read the findings"))?;
        let next_cursor = match (page.has_more, page.findings.last()) {
            (true, Some(last)) => Some(cursor::encode_findings(last.index)),
            _ => None,
        };
        Ok(ResearchResults {
            handle: args.handle,
            status: page.task.status,
            findings_count: page.task.findings_count,
            findings: page
                .findings
                .into_iter()
                .map(|f| Finding {
                    index: f.index,
                    text: f.text,
                })
                .collect(),
            next_cursor,
        })
    }

    /// `list_research_tasks`.
    pub async fn list(
        &self,
        who: Principal,
        args: ListResearchTasks,
    ) -> Result<ResearchTaskList, ToolError> {
        let now = Utc::now();
        let limit = page_size(args.limit, &self.limits)?;
        let after: Option<ResearchListCursor> = match args.cursor.as_deref() {
            None => None,
            Some(c) => Some(cursor::decode_tasks(c).ok_or_else(|| {
                ToolError::invalid("cursor", "is not a cursor returned by list_research_tasks")
            })?),
        };
        let page = self
            .store
            .list(who.as_str(), args.status, after.as_ref(), limit, now)
            .await
            .map_err(read_error("list tasks"))?;
        Ok(ResearchTaskList {
            tasks: page
                .tasks
                .iter()
                .map(|t| ResearchTaskSummary {
                    handle: self.handle_of(t, &who),
                    topic: t.topic.clone(),
                    status: t.status,
                    findings_count: t.findings_count,
                    created_at: rfc3339(t.created_at),
                    expires_at: rfc3339(t.expires_at),
                })
                .collect(),
            next_cursor: page.next.as_ref().map(cursor::encode_tasks),
        })
    }

    /// A sentence on handle lifetimes, for tool descriptions.
    fn lifetime_sentence(&self) -> String {
        format!(
            "Handles expire after {} without use and {} after creation at the latest; an expired handle answers like an unknown one.",
            crate::config::human_duration(self.lifetimes.idle),
            crate::config::human_duration(self.lifetimes.absolute)
        )
    }

    /// Registers the seven research-task tools.
    pub fn register(self: &Arc<Self>, table: &mut ToolTable) -> anyhow::Result<()> {
        let life = self.lifetime_sentence();
        let l = &self.limits;
        let read_only = ToolAnnotations::new()
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(false);
        let writes = ToolAnnotations::new()
            .read_only(false)
            .destructive(false)
            .idempotent(false)
            .open_world(false);

        register::<StartResearchTask, StartedResearchTask, _, _>(
            table,
            self,
            Listing {
                name: tool::START_RESEARCH_TASK,
                scope: Scope::ResearchWrite,
                title: "Start research task",
            },
            format!(
                "Start a research task on a topic and get back its handle: pass that handle to every other research-task tool. \
                 `topic` is 1-{} characters; `depth` 1-5 (default 2). Give an `idempotency_key` to make retries safe: a repeated key returns the same task. {life}",
                l.max_topic_chars
            ),
            writes.clone().idempotent(true),
            |r, who, a| async move { r.start(who, a).await },
        )?;
        register::<HandleArgs, ResearchTaskView, _, _>(
            table,
            self,
            Listing {
                name: tool::GET_TASK_STATUS,
                scope: Scope::ResearchRead,
                title: "Get research task status",
            },
            format!(
                "Get a research task's topic, depth, status (running, complete or cancelled), findings count and times. {life}"
            ),
            read_only.clone(),
            |r, who, a| async move { r.status(who, a).await },
        )?;
        register::<AddFindings, FindingsAdded, _, _>(
            table,
            self,
            Listing {
                name: tool::ADD_FINDINGS,
                scope: Scope::ResearchWrite,
                title: "Add findings",
            },
            format!(
                "Append findings to a running research task, in order, and get the new total. Up to {} findings per call, {} characters each, {} per task. \
                 Fails without changing anything if the task is complete or cancelled.",
                l.max_findings_per_call, l.max_finding_chars, l.max_findings_per_task
            ),
            writes.clone(),
            |r, who, a| async move { r.add_findings(who, a).await },
        )?;
        register::<CompleteResearchTask, CompletedResearchTask, _, _>(
            table,
            self,
            Listing {
                name: tool::COMPLETE_RESEARCH_TASK,
                scope: Scope::ResearchWrite,
                title: "Complete research task",
            },
            format!(
                "Complete a running research task. The findings given (0-{} items) are appended after any added earlier with add_findings; \
                 together they are the task's result, readable with get_task_results. A task completes once: completing it again is an error that changes nothing.",
                l.max_findings_per_call
            ),
            writes.clone(),
            |r, who, a| async move { r.complete(who, a).await },
        )?;
        register::<GetTaskResults, ResearchResults, _, _>(
            table,
            self,
            Listing {
                name: tool::GET_TASK_RESULTS,
                scope: Scope::ResearchRead,
                title: "Get research task results",
            },
            format!(
                "Read a research task's findings in order, a page at a time (`limit` 1-{}, default {}); pass `next_cursor` back as `cursor` for the next page.",
                l.max_page_size, l.default_page_size
            ),
            read_only.clone(),
            |r, who, a| async move { r.results(who, a).await },
        )?;
        register::<HandleArgs, CancelledResearchTask, _, _>(
            table,
            self,
            Listing {
                name: tool::CANCEL_RESEARCH_TASK,
                scope: Scope::ResearchWrite,
                title: "Cancel research task",
            },
            "Cancel a running research task. Its findings stay readable; it accepts no more. Cancelling a complete or cancelled task is an error that changes nothing.".to_owned(),
            writes.destructive(true),
            |r, who, a| async move { r.cancel(who, a).await },
        )?;
        register::<ListResearchTasks, ResearchTaskList, _, _>(
            table,
            self,
            Listing {
                name: tool::LIST_RESEARCH_TASKS,
                scope: Scope::ResearchRead,
                title: "List research tasks",
            },
            format!(
                "List your own research tasks with their handles, newest first, optionally only those in one `status`; a page at a time (`limit` 1-{}, default {}).",
                l.max_page_size, l.default_page_size
            ),
            read_only,
            |r, who, a| async move { r.list(who, a).await },
        )?;
        Ok(())
    }
}

/// How a tool is listed: its name, title, and the scope its callers need.
struct Listing {
    name: &'static str,
    scope: Scope,
    title: &'static str,
}

/// Registers one typed tool: schemas from the argument and result types, arguments parsed
/// with field paths in errors, outcome rendered as structured content or a tool error.
fn register<A, R, F, Fut>(
    table: &mut ToolTable,
    service: &Arc<Research>,
    listing: Listing,
    description: String,
    annotations: ToolAnnotations,
    run: F,
) -> anyhow::Result<()>
where
    A: DeserializeOwned + schemars::JsonSchema + Send + 'static,
    R: Serialize + schemars::JsonSchema + 'static,
    F: Fn(Arc<Research>, Principal, A) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = Result<R, ToolError>> + Send + 'static,
{
    let Listing { name, scope, title } = listing;
    let input =
        schema_for_input::<A>().map_err(|e| anyhow::anyhow!("input schema of {name}: {e}"))?;
    let definition = Tool::new(name, description, input)
        .with_title(title)
        .with_raw_output_schema(schema_for_output::<R>())
        .with_annotations(annotations);
    let service = Arc::clone(service);
    let handler: ToolFn = Arc::new(move |who: Principal, arguments: JsonObject| {
        let service = Arc::clone(&service);
        Box::pin(async move {
            match parse_arguments::<A>(arguments) {
                Ok(args) => into_result(run(service, who, args).await),
                Err(e) => into_result::<R>(Err(e)),
            }
        })
    });
    table.register(definition, Scopes::from_iter([scope]), handler)
}
