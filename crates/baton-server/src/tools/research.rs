//! The research-task tools: the article's three, done properly, plus the verbs users need.
//!
//! Each tool validates its arguments (naming the field on error), verifies the handle
//! against the caller before touching the store, and maps store outcomes to the protocol's
//! exact error messages. Unknown, expired, malformed, forged and foreign handles all end in
//! [`ToolError::UnknownHandle`].

use std::{sync::Arc, time::Duration};

use crate::keys::{HandleKeys, HandleKind};
use baton_auth::{Scope, Scopes};
use baton_protocol::{
    AddFindings, CancelledResearchTask, CompleteResearchTask, CompletedResearchTask, Finding,
    FindingsAdded, GetTaskResults, HandleArgs, Limits, ListResearchTasks, ResearchResults,
    ResearchTaskList, ResearchTaskSummary, ResearchTaskView, StartResearchTask,
    StartedResearchTask, ToolError, page_size, parse_arguments, tool, validate_findings,
    validate_idempotency_key,
};
use baton_store::{
    Access, FindingLimits, FindingsBatch, Grant, GrantId, Lifetimes, NewResearchTask, Quota,
    ResearchStore, ResearchTask, ResearchTaskId, ShareRight, ShareStore, StoreError,
    StoreErrorKind,
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
    pub(super) store: Arc<dyn ResearchStore>,
    /// Delegation grants, when the backend keeps them (the share tools exist only then).
    pub(super) shares: Option<Arc<dyn ShareStore>>,
    pub(super) keys: Arc<HandleKeys>,
    limits: Limits,
    lifetimes: Lifetimes,
    /// How long a write may wait for the store before the caller is told its outcome is
    /// unknown (a little under the request timeout, so the caller gets that answer rather
    /// than a bare HTTP timeout).
    write_deadline: Duration,
}

/// The task a handle leads to for its caller, and what the caller may do with it.
pub(super) struct Target {
    /// The task's owner: every store call about the task is scoped by it.
    pub(super) owner: String,
    /// The task.
    pub(super) id: ResearchTaskId,
    /// How the caller holds it.
    pub(super) held: Held,
}

/// How a caller holds a task.
pub(super) enum Held {
    /// It is the owner (a task handle).
    Owner,
    /// Through a live grant (a delegated handle).
    Grant(Box<Grant>),
}

impl Target {
    /// What the caller may do.
    pub(super) fn access(&self) -> Access {
        match &self.held {
            Held::Owner => Access::OWNER,
            Held::Grant(grant) => grant.access,
        }
    }

    /// Fails with [`ToolError::MissingRight`] unless the caller holds `needed`.
    fn require(&self, tool: &'static str, needed: ShareRight) -> Result<(), ToolError> {
        let held = self.access().right;
        if held >= needed {
            Ok(())
        } else {
            Err(ToolError::MissingRight { tool, needed, held })
        }
    }

    /// The grant, for a delegated handle.
    pub(super) fn grant(&self) -> Option<&Grant> {
        match &self.held {
            Held::Owner => None,
            Held::Grant(grant) => Some(grant),
        }
    }
}

/// The id of a share as its owner sees it: `share_` and the grant id in hex. (Knowing it
/// gives nothing: the delegated handle is bound to the delegate and signed.)
pub(super) fn share_id(id: &GrantId) -> String {
    format!("share_{}", data_encoding::HEXLOWER.encode(id.as_bytes()))
}

/// Records a sharing event for the audit trail (target `baton::audit`, as
/// [`crate::audit::record`] does, with the share's id beside the task's pseudonym).
pub(super) fn audit(
    action: &'static str,
    who: &Principal,
    task: &ResearchTaskId,
    share: Option<&GrantId>,
    outcome: &str,
) {
    let task = crate::audit::task_ref(task);
    let share = share.map(share_id);
    tracing::info!(
        target: "baton::audit",
        action,
        principal = %crate::audit::principal_ref(who.as_str()),
        task = %task,
        share = share.as_deref().unwrap_or(""),
        outcome,
        "audit"
    );
}

/// The last whole second a handle ending at `end` (exclusive) may be valid through.
pub(super) fn last_valid_second(end: DateTime<Utc>) -> u64 {
    u64::try_from((end - chrono::Duration::milliseconds(1)).timestamp()).unwrap_or(0)
}

/// When a task stops being visible to the caller: its own expiry, or its grant's end.
fn visible_until(task: &ResearchTask, target: &Target) -> DateTime<Utc> {
    match target.grant() {
        Some(grant) => task.expires_at.min(grant.expires_at),
        None => task.expires_at,
    }
}

pub(super) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Maps the error of a call that writes to the tool error the caller sees. Faults are
/// logged here, with a reference the caller can quote; the caller never sees internals.
pub(super) fn store_error(action: &'static str) -> impl Fn(StoreError) -> ToolError {
    map_store_error(action, false)
}

/// Like [`store_error`], for a call that only reads: it changes nothing, so an interrupted
/// one is simply unavailable.
pub(super) fn read_error(action: &'static str) -> impl Fn(StoreError) -> ToolError {
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
            what: "the task owner's research tasks would hold too many bytes of findings",
            limit: *limit,
            advice: "add fewer or shorter findings; bytes are freed when tasks expire and are swept",
        },
        StoreErrorKind::QuotaExceeded(Quota::GrantsPerTask { limit }) => ToolError::QuotaExceeded {
            what: "the task has too many live shares",
            limit: *limit,
            advice: "revoke shares that are no longer needed with revoke_research_task_share",
        },
        StoreErrorKind::QuotaExceeded(Quota::LiveToolTasks { limit }) => ToolError::QuotaExceeded {
            what: "too many live tool tasks",
            limit: *limit,
            advice: "wait for running tool tasks to end, or cancel some with tasks/cancel",
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
    /// Creates the service; with `shares`, tasks can be shared through delegated handles.
    pub fn new(
        store: Arc<dyn ResearchStore>,
        shares: Option<Arc<dyn ShareStore>>,
        keys: Arc<HandleKeys>,
        limits: Limits,
        lifetimes: Lifetimes,
        request_timeout: Duration,
    ) -> Self {
        // Leave the last second (or half, for short timeouts) to answer in.
        let margin = Duration::from_secs(1).min(request_timeout / 2);
        Research {
            store,
            shares,
            keys,
            limits,
            lifetimes,
            write_deadline: request_timeout.saturating_sub(margin),
        }
    }

    /// Runs a store write, answering [`ToolError::TimedOut`] (outcome unknown: the write
    /// may still be applied, e.g. queued in SQLite's writer) when it outlasts the deadline.
    pub(super) async fn write<T>(
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

    /// Verifies a handle for `who` and finds the task it leads to: the caller's own (a task
    /// handle) or one shared with it (a delegated handle, whose grant must be live). Every
    /// failure is the one unknown-handle error.
    pub(super) async fn target(
        &self,
        handle: &str,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<Target, ToolError> {
        let now_secs = u64::try_from(now.timestamp()).unwrap_or(0);
        let (kind, verified) = self
            .keys
            .accept(handle, who.as_str(), now_secs)
            .await
            .ok_or(ToolError::UnknownHandle)?;
        let bytes = *verified.id.as_bytes();
        match kind {
            // A tool task id names no research task.
            HandleKind::ToolTask => Err(ToolError::UnknownHandle),
            HandleKind::Task => Ok(Target {
                owner: who.as_str().to_owned(),
                id: ResearchTaskId::from_bytes(bytes),
                held: Held::Owner,
            }),
            HandleKind::Delegated => {
                let Some(shares) = &self.shares else {
                    return Err(ToolError::UnknownHandle);
                };
                let grant = shares
                    .resolve_grant(&GrantId::from_bytes(bytes), who.as_str(), now)
                    .await
                    .map_err(read_error("resolve a shared handle"))?;
                Ok(Target {
                    owner: grant.owner.clone(),
                    id: grant.task,
                    held: Held::Grant(Box::new(grant)),
                })
            }
        }
    }

    /// [`Research::target`], then checks that the caller holds `needed` for `tool`.
    pub(super) async fn target_for(
        &self,
        tool: &'static str,
        needed: ShareRight,
        handle: &str,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<Target, ToolError> {
        let target = self.target(handle, who, now).await?;
        if let Err(e) = target.require(tool, needed) {
            self.used(&target, tool, who, &Err::<(), _>(e.clone()));
            return Err(e);
        }
        Ok(target)
    }

    /// Audits a call made through a delegated handle (calls by owners are audited only
    /// when they change sharing).
    fn used<T>(
        &self,
        target: &Target,
        tool: &'static str,
        who: &Principal,
        outcome: &Result<T, ToolError>,
    ) {
        if let Some(grant) = target.grant() {
            let outcome = match outcome {
                Ok(_) => "ok",
                Err(ToolError::MissingRight { .. }) => "missing right",
                Err(_) => "error",
            };
            audit(tool, who, &target.id, Some(&grant.id), outcome);
        }
    }

    fn handle_of(&self, task: &ResearchTask, who: &Principal) -> String {
        let not_after = u64::try_from(task.hard_expires_at.timestamp()).unwrap_or(0);
        self.keys.codecs().task.render(
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
        let minted = self.keys.codecs().task.mint(who.as_str(), not_after);
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
        let target = self
            .target_for(
                tool::GET_TASK_STATUS,
                ShareRight::Read,
                &args.handle,
                &who,
                now,
            )
            .await?;
        let outcome = self
            .store
            .get(&target.owner, &target.id, now)
            .await
            .map_err(read_error("read the task"))
            .map(|task| ResearchTaskView {
                expires_at: rfc3339(visible_until(&task, &target)),
                handle: args.handle,
                topic: task.topic,
                depth: task.depth,
                status: task.status,
                findings_count: task.findings_count,
                created_at: rfc3339(task.created_at),
                updated_at: rfc3339(task.updated_at),
            });
        self.used(&target, tool::GET_TASK_STATUS, &who, &outcome);
        outcome
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
        let target = self
            .target_for(
                tool::ADD_FINDINGS,
                ShareRight::Append,
                &args.handle,
                &who,
                now,
            )
            .await?;
        let mut batch = FindingsBatch::new(&args.findings, self.finding_limits());
        if let Some(key) = &args.idempotency_key {
            batch = batch.with_key(key);
        }
        let outcome = self
            .write(
                "add findings",
                self.store
                    .append_findings(&target.owner, &target.id, batch, now),
            )
            .await
            .map(|appended| FindingsAdded {
                handle: args.handle,
                status: appended.task.status,
                added: u32::try_from(args.findings.len()).unwrap_or(u32::MAX),
                findings_count: appended.last_index,
            });
        self.used(&target, tool::ADD_FINDINGS, &who, &outcome);
        outcome
    }

    /// `complete_research_task`.
    pub async fn complete(
        &self,
        who: Principal,
        args: CompleteResearchTask,
    ) -> Result<CompletedResearchTask, ToolError> {
        let now = Utc::now();
        validate_findings(&args.findings, true, &self.limits)?;
        let target = self
            .target_for(
                tool::COMPLETE_RESEARCH_TASK,
                ShareRight::Complete,
                &args.handle,
                &who,
                now,
            )
            .await?;
        let outcome = self
            .write(
                "complete the task",
                self.store.complete(
                    &target.owner,
                    &target.id,
                    &args.findings,
                    self.finding_limits(),
                    now,
                ),
            )
            .await
            .map(|task| CompletedResearchTask {
                handle: args.handle,
                status: task.status,
                result_count: task.findings_count,
            });
        self.used(&target, tool::COMPLETE_RESEARCH_TASK, &who, &outcome);
        outcome
    }

    /// `cancel_research_task`.
    pub async fn cancel(
        &self,
        who: Principal,
        args: HandleArgs,
    ) -> Result<CancelledResearchTask, ToolError> {
        let now = Utc::now();
        let target = self
            .target_for(
                tool::CANCEL_RESEARCH_TASK,
                ShareRight::Complete,
                &args.handle,
                &who,
                now,
            )
            .await?;
        let outcome = self
            .write(
                "cancel the task",
                self.store.cancel(&target.owner, &target.id, now),
            )
            .await
            .map(|task| CancelledResearchTask {
                handle: args.handle,
                status: task.status,
            });
        self.used(&target, tool::CANCEL_RESEARCH_TASK, &who, &outcome);
        outcome
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
        let target = self
            .target_for(
                tool::GET_TASK_RESULTS,
                ShareRight::Read,
                &args.handle,
                &who,
                now,
            )
            .await?;
        let outcome = self
            .store
            .list_findings(&target.owner, &target.id, after, limit, now)
            .await
            .map_err(read_error("read the findings"))
            .map(|page| {
                let next_cursor = match (page.has_more, page.findings.last()) {
                    (true, Some(last)) => Some(cursor::encode_findings(last.index)),
                    _ => None,
                };
                ResearchResults {
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
                }
            });
        self.used(&target, tool::GET_TASK_RESULTS, &who, &outcome);
        outcome
    }

    /// `list_research_tasks`: the caller's own tasks, newest first, then the tasks shared
    /// with it, newest share first, as one sequence of pages.
    pub async fn list(
        &self,
        who: Principal,
        args: ListResearchTasks,
    ) -> Result<ResearchTaskList, ToolError> {
        let now = Utc::now();
        let limit = page_size(args.limit, &self.limits)?;
        let position = match args.cursor.as_deref() {
            None => cursor::ListPosition::Own(None),
            Some(c) => cursor::decode_list(c).ok_or_else(|| {
                ToolError::invalid("cursor", "is not a cursor returned by list_research_tasks")
            })?,
        };
        let mut tasks = Vec::new();
        let shared_after = match position {
            cursor::ListPosition::Own(after) => {
                let page = self
                    .store
                    .list(who.as_str(), args.status, after.as_ref(), limit, now)
                    .await
                    .map_err(read_error("list tasks"))?;
                tasks.extend(page.tasks.iter().map(|t| ResearchTaskSummary {
                    handle: self.handle_of(t, &who),
                    topic: t.topic.clone(),
                    status: t.status,
                    findings_count: t.findings_count,
                    created_at: rfc3339(t.created_at),
                    expires_at: rfc3339(t.expires_at),
                    shared_rights: None,
                }));
                if let Some(next) = page.next {
                    return Ok(ResearchTaskList {
                        tasks,
                        next_cursor: Some(cursor::encode_list(&cursor::ListPosition::Own(Some(
                            next,
                        )))),
                    });
                }
                None
            }
            cursor::ListPosition::Shared(after) => after,
        };
        let Some(shares) = &self.shares else {
            return Ok(ResearchTaskList {
                tasks,
                next_cursor: None,
            });
        };
        // A full page of own tasks: the shared ones start on the next page, if any exist.
        let room = limit.saturating_sub(u32::try_from(tasks.len()).unwrap_or(u32::MAX));
        let page = shares
            .shared_with(
                who.as_str(),
                args.status,
                shared_after.as_ref(),
                room.max(1),
                now,
            )
            .await
            .map_err(read_error("list shared tasks"))?;
        if room == 0 {
            let next_cursor = (!page.shared.is_empty())
                .then(|| cursor::encode_list(&cursor::ListPosition::Shared(None)));
            return Ok(ResearchTaskList { tasks, next_cursor });
        }
        let codecs = self.keys.codecs();
        tasks.extend(page.shared.iter().map(|shared| {
            let (grant, task) = (&shared.grant, &shared.task);
            let not_after = last_valid_second(grant.expires_at);
            ResearchTaskSummary {
                handle: codecs.delegated.render(
                    &baton_handle::Id::from_bytes(*grant.id.as_bytes()),
                    who.as_str(),
                    not_after,
                ),
                topic: task.topic.clone(),
                status: task.status,
                findings_count: task.findings_count,
                created_at: rfc3339(task.created_at),
                expires_at: rfc3339(task.expires_at.min(grant.expires_at)),
                shared_rights: Some(grant.access.right),
            }
        }));
        Ok(ResearchTaskList {
            tasks,
            next_cursor: page
                .next
                .map(|next| cursor::encode_list(&cursor::ListPosition::Shared(Some(next)))),
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

    /// Registers the research-task tools (seven, and the three share tools when the
    /// backend keeps grants).
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
                "List your own research tasks with their handles, newest first, then the tasks shared with you (marked with `shared_rights`, with your delegated handle), optionally only those in one `status`; a page at a time (`limit` 1-{}, default {}).",
                l.max_page_size, l.default_page_size
            ),
            read_only,
            |r, who, a| async move { r.list(who, a).await },
        )?;
        if self.shares.is_some() {
            self.register_shares(table)?;
        }
        Ok(())
    }
}

/// How a tool is listed: its name, title, and the scope its callers need.
pub(super) struct Listing {
    pub(super) name: &'static str,
    pub(super) scope: Scope,
    pub(super) title: &'static str,
}

/// Registers one typed tool: schemas from the argument and result types, arguments parsed
/// with field paths in errors, outcome rendered as structured content or a tool error.
pub(super) fn register<A, R, F, Fut>(
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
