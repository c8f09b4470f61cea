//! The store wrapper: metrics for every store operation, and the audit events of state
//! changes, around any [`ResearchStore`].

use std::{future::Future, sync::Arc, time::Instant};

use async_trait::async_trait;
use baton_store::{
    Appended, FindingLimits, FindingsBatch, FindingsPage, NewResearchTask, ResearchListCursor,
    ResearchStatus, ResearchStore, ResearchTask, ResearchTaskId, ResearchTasksPage, StartOutcome,
    StoreError, StoreErrorKind,
};
use chrono::{DateTime, Utc};

use metrics::{Counter, Histogram};

use super::{handles::Handles, names};
use crate::audit;

/// A [`ResearchStore`] that counts and times every call (`baton_store_operations_total`,
/// `baton_store_operation_duration_seconds`) and records every state change in the audit log.
pub struct ObservedStore {
    inner: Arc<dyn ResearchStore>,
    metrics: StoreMetrics,
}

/// The handles of the store metrics, by operation (and outcome).
#[derive(Default)]
struct StoreMetrics {
    durations: Handles<&'static str, Histogram>,
    operations: Handles<(&'static str, &'static str), Counter>,
}

impl ObservedStore {
    /// Wraps `inner`.
    pub fn wrap(inner: Arc<dyn ResearchStore>) -> Arc<dyn ResearchStore> {
        Arc::new(ObservedStore {
            inner,
            metrics: StoreMetrics::default(),
        })
    }
}

/// The outcome label of a store error (a bounded set).
pub(crate) fn error_label(error: &StoreError) -> &'static str {
    match error.kind() {
        StoreErrorKind::NotFound => "not_found",
        StoreErrorKind::WrongStatus(_) => "wrong_status",
        StoreErrorKind::TooManyFindings { .. } => "too_many_findings",
        StoreErrorKind::IdempotencyConflict => "idempotency_conflict",
        StoreErrorKind::QuotaExceeded(_) => "quota_exceeded",
        StoreErrorKind::Unavailable => "unavailable",
        StoreErrorKind::Interrupted => "interrupted",
        StoreErrorKind::Internal => "internal",
        _ => "other",
    }
}

impl ObservedStore {
    /// Runs one store call, counting it by `op` and outcome and timing it (inside a span of
    /// its own when traces are exported).
    async fn observe<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        #[cfg(feature = "otel")]
        if crate::telemetry::traces_enabled() {
            return super::traces::store_call(op, self.measure(op, call)).await;
        }
        self.measure(op, call).await
    }

    async fn measure<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = call.await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => error_label(e),
        };
        self.metrics
            .durations
            .get(
                &op,
                || metrics::histogram!(names::STORE_DURATION, "operation" => op),
            )
            .record(started.elapsed().as_secs_f64());
        self.metrics
            .operations
            .get(&(op, outcome), || {
                metrics::counter!(names::STORE_OPERATIONS, "operation" => op, "outcome" => outcome)
            })
            .increment(1);
        result
    }
}

/// The audit outcome of a write.
fn audited<T>(result: &Result<T, StoreError>, replayed: impl Fn(&T) -> bool) -> &'static str {
    match result {
        Ok(value) if replayed(value) => "replayed",
        Ok(_) => "ok",
        Err(e) => error_label(e),
    }
}

#[async_trait]
impl ResearchStore for ObservedStore {
    async fn start(
        &self,
        new: NewResearchTask,
        now: DateTime<Utc>,
    ) -> Result<StartOutcome, StoreError> {
        let owner = new.owner.clone();
        let id = new.id;
        let result = self.observe("start", self.inner.start(new, now)).await;
        // A replay names the task the key created first.
        let task = result.as_ref().map_or(id, |o| o.task.id);
        let outcome = audited(&result, |o| o.replayed);
        audit::record(&owner, "research.start", Some(&task), outcome);
        result
    }

    async fn get(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError> {
        self.observe("get", self.inner.get(owner, id, now)).await
    }

    async fn append_findings(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        batch: FindingsBatch<'_>,
        now: DateTime<Utc>,
    ) -> Result<Appended, StoreError> {
        let result = self
            .observe(
                "append_findings",
                self.inner.append_findings(owner, id, batch, now),
            )
            .await;
        let outcome = audited(&result, |a| a.replayed);
        audit::record(owner, "research.add_findings", Some(id), outcome);
        result
    }

    async fn complete(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        findings: &[String],
        limits: FindingLimits,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError> {
        let result = self
            .observe(
                "complete",
                self.inner.complete(owner, id, findings, limits, now),
            )
            .await;
        audit::record(
            owner,
            "research.complete",
            Some(id),
            audited(&result, |_| false),
        );
        result
    }

    async fn cancel(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError> {
        let result = self
            .observe("cancel", self.inner.cancel(owner, id, now))
            .await;
        audit::record(
            owner,
            "research.cancel",
            Some(id),
            audited(&result, |_| false),
        );
        result
    }

    async fn list_findings(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        after: u32,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<FindingsPage, StoreError> {
        self.observe(
            "list_findings",
            self.inner.list_findings(owner, id, after, limit, now),
        )
        .await
    }

    async fn list(
        &self,
        owner: &str,
        status: Option<ResearchStatus>,
        after: Option<&ResearchListCursor>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<ResearchTasksPage, StoreError> {
        self.observe("list", self.inner.list(owner, status, after, limit, now))
            .await
    }

    async fn sweep_expired(&self, now: DateTime<Utc>, batch: u32) -> Result<u64, StoreError> {
        self.observe("sweep_expired", self.inner.sweep_expired(now, batch))
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.observe("ping", self.inner.ping()).await
    }
}
