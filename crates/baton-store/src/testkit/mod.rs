//! The conformance kit: one suite of checks every backend must pass, in parts that follow
//! the store traits: [`ResearchStore`] ([`run_research`]), [`KeyStore`] ([`run_keys`]), and
//! the optional [`crate::ShareStore`] ([`run_shares`]), [`crate::ToolTaskStore`]
//! ([`run_tool_tasks`]), [`BulkImport`] ([`run_bulk_import`])
//! and [`crate::StoreStats`] ([`run_task_counts`]).
//!
//! A backend's test implements [`Backend`] (how to open a fresh, empty store and how to
//! reopen one on the same data) and runs the parts its store implements, usually all of
//! them with [`run_all`]:
//!
//! ```ignore
//! struct Sqlite { dir: tempfile::TempDir }
//!
//! #[async_trait::async_trait]
//! impl baton_store::testkit::Backend for Sqlite {
//!     type Store = SqliteStore;
//!     async fn open_fresh(&self, lifetimes: Lifetimes) -> SqliteStore { /* new file */ }
//!     async fn reopen(&self, store: SqliteStore) -> SqliteStore { /* close, open again */ }
//! }
//!
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn conformance() {
//!     baton_store::testkit::run_all(&Sqlite::new()).await;
//! }
//! ```
//!
//! Each part runs its checks one after another, each on its own fresh store, prints one
//! line per check and a summary ("ran N of M checks"), and panics at the end with the names
//! and messages of all the checks that failed. Each check is also a `pub async fn` of a
//! submodule ([`research`], [`keys`], [`import`], [`counts`]), so a backend may run one alone.
//!
//! Set `BATON_TESTKIT_FILTER` to a substring to run only the checks whose name contains it
//! (handy when debugging one check); a filter that matches no check of a run fails it, so a
//! typo never passes as a green run.
//!
//! Checks that race calls against each other run each call in its own Tokio task, so run
//! the kit on a multi-threaded runtime (`#[tokio::test(flavor = "multi_thread")]`) for the
//! races to be real.
//!
//! # What the kit assumes
//!
//! * **Time is an argument.** Nothing sleeps; checks move `now` forward. The kit's times
//!   start at [`T0`] (2030-01-01T00:00:00Z).
//! * **Times are kept to the millisecond.** A store truncates every time it is given to
//!   whole milliseconds ([`crate::rules::truncate_to_millis`]) and returns exactly that;
//!   `time_precision_is_milliseconds` checks it. Every other check uses whole-millisecond
//!   times and compares returned times exactly.
//! * **Expiry.** A task is visible while `expires_at > now`. A write at `now` sets
//!   `expires_at` to [`expiry_after_write`]`(now, hard_expires_at)` and `updated_at` to
//!   `now`. A read ([`ResearchStore::get`]) refreshes `expires_at` the same way, and stores
//!   it, but leaves `updated_at` alone, and only when the stored value lags by more than
//!   [`Lifetimes::refresh_slack`] (a minute, or half the idle lifetime when shorter):
//!   [`crate::rules::refreshed_expiry`].
//! * **Listing order.** [`ResearchStore::list`] returns newest first, ties on
//!   `created_at` broken by id, highest id (byte order) first. `next` is `Some` exactly
//!   when more tasks (of the requested status) follow the page.
//! * **Error precedence.** Not visible (missing, expired or foreign) → `NotFound`; then a
//!   final status → `WrongStatus(current)`; then the findings limit → `TooManyFindings`
//!   ([`crate::rules::explain_refusal`]). A failed call changes nothing. This holds for
//!   every method, in every state: `error_precedence_on_every_method` tries them all.
//! * **Idempotency.** A key is bound to the task it created while that task is alive;
//!   once the task has expired, the key may start a new task.
//! * **Isolation between checks.** `open_fresh` must return an empty store (no tasks, no
//!   signing keys, no API keys). The previous check's store has been dropped before the next opens.
//!   Checks use owners named `alice`, `bob` and `carol`.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::FutureExt;

use crate::{
    Appended, BulkImport, FindingLimits, FindingsBatch, KeyStore, Lifetimes, NewResearchTask,
    Quota, ResearchListCursor, ResearchStatus, ResearchStore, ResearchTask, ResearchTaskId,
    SigningKeyRecord, StoreError, StoreErrorKind, StoredApiKey, expiry_after_write,
};

pub mod counts;
pub mod import;
pub mod keys;
pub mod research;
pub mod shares;
pub mod tool_tasks;

/// How a backend's test gives the kit stores to check.
#[async_trait]
pub trait Backend: Send + Sync {
    /// The store under test. Cheap to clone: racing checks hand a clone to each task.
    type Store: Clone + Send + Sync + 'static;

    /// Opens a new, empty store whose tasks live for `lifetimes`.
    async fn open_fresh(&self, lifetimes: Lifetimes) -> Self::Store;

    /// Closes `store` and opens the same data again, with the same lifetimes, as a restarted
    /// process would. Used to check durability.
    async fn reopen(&self, store: Self::Store) -> Self::Store;
}

/// The kit's epoch: 2030-01-01T00:00:00Z. Every check's `now` is this plus some offset.
pub const T0_MILLIS: i64 = 1_893_456_000_000;

/// [`T0_MILLIS`] as a time.
#[allow(non_snake_case)]
pub fn T0() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(T0_MILLIS)
        .single()
        .expect("T0 is a valid time")
}

/// The default per-task findings limit the checks pass as `max_total`, unless a check is
/// about the limit.
pub const MAX_TOTAL: u32 = 10_000;

/// Declares a part of the kit: the list of its check names and a function running them.
macro_rules! part {
    ($(#[$doc:meta])* $list:ident, $collect:ident, $module:ident, [$bound:path $(, $more:path)*], [$($name:ident),* $(,)?]) => {
        $(#[$doc])*
        pub const $list: &[&str] = &[$(stringify!($name)),*];

        async fn $collect<B: Backend>(backend: &B, run: &mut Run)
        where
            B::Store: $bound $(+ $more)*,
        {
            $(run.check(stringify!($name), $module::$name(backend)).await;)*
        }
    };
}

part!(
    /// The checks of [`ResearchStore`], in the order [`run_research`] runs them.
    RESEARCH_CHECKS, collect_research, research, [ResearchStore],
    [
        ping_answers,
        create_and_get_round_trip,
        time_precision_is_milliseconds,
        owner_isolation,
        durability_across_reopen,
        complete_and_cancel_transitions,
        final_states_reject_changes,
        error_precedence_on_every_method,
        findings_order_and_indexes,
        too_many_findings_stores_nothing,
        list_findings_pagination,
        list_tasks_order_and_pagination,
        filtered_listing_says_next_exactly_when_more_follow,
        idempotent_start,
        idempotency_key_after_expiry,
        racing_idempotent_starts,
        idle_expiry,
        writes_extend_expiry,
        absolute_lifetime_caps_expiry,
        expired_tasks_are_invisible,
        reads_refresh_expiry_at_most_once_a_minute,
        reads_refresh_with_a_short_idle_lifetime,
        sweep_deletes_in_batches,
        concurrent_appends_lose_nothing,
        concurrent_batches_stay_contiguous,
        racing_appends_respect_the_limit,
        racing_completions,
        idempotent_appends,
        racing_idempotent_appends,
        live_task_quota,
        stored_bytes_quota,
        racing_appends_respect_the_byte_quota,
    ]
);

part!(
    /// The checks of [`KeyStore`], in the order [`run_keys`] runs them.
    KEY_CHECKS, collect_keys, keys, [KeyStore],
    [
        fresh_store_has_no_signing_keys,
        signing_keys_insert_if_absent,
        signing_key_times_are_milliseconds,
        signing_keys_survive_reopen,
        racing_signing_key_inserts,
        signing_key_lifecycle,
        api_keys_round_trip,
        api_key_revocation,
    ]
);

part!(
    /// The checks of [`crate::ShareStore`], in the order [`run_shares`] runs them.
    SHARE_CHECKS, collect_shares, shares, [ResearchStore, crate::ShareStore],
    [
        grants_round_trip,
        grants_survive_reopen,
        grant_refusals,
        grant_expiry_follows_the_chain_and_the_task,
        revocation_cascades,
        shared_listing_order_filter_and_pages,
    ]
);

part!(
    /// The checks of [`crate::ToolTaskStore`], in the order [`run_tool_tasks`] runs them.
    TOOL_TASK_CHECKS, collect_tool_tasks, tool_tasks, [crate::ToolTaskStore],
    [
        tool_tasks_round_trip,
        tool_tasks_survive_reopen,
        leases_fence_out_a_lost_holder,
        cancel_stops_the_holder,
        input_requests_round_trip,
        racing_claims_take_each_task_once,
        tool_task_expiry_sweep_and_quota,
        changes_are_published,
    ]
);

/// Runs [`TOOL_TASK_CHECKS`]; panics naming each failed check.
pub async fn run_tool_tasks<B: Backend>(backend: &B)
where
    B::Store: crate::ToolTaskStore,
{
    let mut run = Run::new("tool task store conformance");
    collect_tool_tasks(backend, &mut run).await;
    run.finish();
}

part!(
    /// The checks of [`BulkImport`], in the order [`run_bulk_import`] runs them.
    IMPORT_CHECKS, collect_import, import, [ResearchStore, BulkImport],
    [import_writes_tasks_verbatim]
);

part!(
    /// The checks of [`crate::StoreStats`], in the order [`run_task_counts`] runs them.
    COUNT_CHECKS, collect_counts, counts, [ResearchStore, crate::StoreStats],
    [counts_by_status_cover_every_owner_and_skip_expired]
);

/// Runs [`COUNT_CHECKS`]; panics naming each failed check.
pub async fn run_task_counts<B: Backend>(backend: &B)
where
    B::Store: ResearchStore + crate::StoreStats,
{
    let mut run = Run::new("task counts conformance");
    collect_counts(backend, &mut run).await;
    run.finish();
}

/// Runs every check of every part: for stores with research tasks, signing keys and bulk
/// import. Panics naming each failed check.
pub async fn run_all<B: Backend>(backend: &B)
where
    B::Store: ResearchStore + KeyStore + BulkImport,
{
    let mut run = Run::new("store conformance");
    collect_research(backend, &mut run).await;
    collect_keys(backend, &mut run).await;
    collect_import(backend, &mut run).await;
    run.finish();
}

/// Runs [`RESEARCH_CHECKS`]; panics naming each failed check.
pub async fn run_research<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
    let mut run = Run::new("research store conformance");
    collect_research(backend, &mut run).await;
    run.finish();
}

/// Runs [`KEY_CHECKS`]; panics naming each failed check.
pub async fn run_keys<B: Backend>(backend: &B)
where
    B::Store: KeyStore,
{
    let mut run = Run::new("key store conformance");
    collect_keys(backend, &mut run).await;
    run.finish();
}

/// Runs [`SHARE_CHECKS`]; panics naming each failed check.
pub async fn run_shares<B: Backend>(backend: &B)
where
    B::Store: ResearchStore + crate::ShareStore,
{
    let mut run = Run::new("share store conformance");
    collect_shares(backend, &mut run).await;
    run.finish();
}

/// Runs [`IMPORT_CHECKS`]; panics naming each failed check.
pub async fn run_bulk_import<B: Backend>(backend: &B)
where
    B::Store: ResearchStore + BulkImport,
{
    let mut run = Run::new("bulk import conformance");
    collect_import(backend, &mut run).await;
    run.finish();
}

/// One run of the kit: which checks ran, which were filtered out, which failed.
struct Run {
    label: &'static str,
    filter: Option<String>,
    ran: usize,
    filtered_out: usize,
    failures: Vec<(&'static str, String)>,
}

impl Run {
    fn new(label: &'static str) -> Run {
        Run {
            label,
            filter: std::env::var("BATON_TESTKIT_FILTER")
                .ok()
                .filter(|f| !f.is_empty()),
            ran: 0,
            filtered_out: 0,
            failures: Vec::new(),
        }
    }

    async fn check(&mut self, name: &'static str, check: impl Future<Output = ()>) {
        if self.filter.as_deref().is_some_and(|f| !name.contains(f)) {
            self.filtered_out += 1;
            return;
        }
        self.ran += 1;
        let started = Instant::now();
        match AssertUnwindSafe(check).catch_unwind().await {
            Ok(()) => eprintln!("{}: {name} ... ok ({:?})", self.label, started.elapsed()),
            Err(payload) => {
                let msg = panic_message(payload.as_ref());
                eprintln!("{}: {name} ... FAILED: {msg}", self.label);
                self.failures.push((name, msg));
            }
        }
    }

    fn finish(self) {
        let total = self.ran + self.filtered_out;
        match &self.filter {
            Some(f) => eprintln!(
                "{}: ran {} of {total} checks (BATON_TESTKIT_FILTER={f:?} left out {})",
                self.label, self.ran, self.filtered_out
            ),
            None => eprintln!("{}: ran {} of {total} checks", self.label, self.ran),
        }
        assert!(
            self.ran > 0,
            "{}: no check ran: BATON_TESTKIT_FILTER={:?} matches none of the {total} checks",
            self.label,
            self.filter.as_deref().unwrap_or_default()
        );
        if !self.failures.is_empty() {
            let list: Vec<String> = self
                .failures
                .iter()
                .map(|(name, msg)| format!("  - {name}: {msg}"))
                .collect();
            panic!(
                "{}: {} of {} checks failed:\n{}",
                self.label,
                self.failures.len(),
                self.ran,
                list.join("\n")
            );
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_owned()
    }
}

/// Runs `n` calls at once, each in its own Tokio task (so that on a multi-threaded runtime
/// they truly race), and returns their outcomes in call order.
async fn race<S, T, F, Fut>(store: &S, n: usize, call: F) -> Vec<T>
where
    S: Clone + Send + Sync + 'static,
    F: Fn(S, usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let tasks: Vec<_> = (0..n)
        .map(|i| tokio::spawn(call(store.clone(), i)))
        .collect();
    let mut out = Vec::with_capacity(n);
    for task in tasks {
        match task.await {
            Ok(v) => out.push(v),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

const ALICE: &str = "alice";
const BOB: &str = "bob";
const CAROL: &str = "carol";

fn default_lifetimes() -> Lifetimes {
    Lifetimes {
        idle: Duration::hours(24),
        absolute: Duration::days(7),
    }
}

/// Short lifetimes for the expiry checks: idle 1 h, absolute 5 h.
fn short_lifetimes() -> Lifetimes {
    Lifetimes {
        idle: Duration::hours(1),
        absolute: Duration::hours(5),
    }
}

fn ms(n: i64) -> Duration {
    Duration::milliseconds(n)
}
fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}
fn mins(n: i64) -> Duration {
    Duration::minutes(n)
}
fn hours(n: i64) -> Duration {
    Duration::hours(n)
}

/// A deterministic, well-spread task id (splitmix64 of `n`).
fn tid(n: u64) -> ResearchTaskId {
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    let a = mix(n);
    let b = mix(a ^ 0xA5A5_A5A5_A5A5_A5A5);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_be_bytes());
    bytes[8..].copy_from_slice(&b.to_be_bytes());
    ResearchTaskId::from_bytes(bytes)
}

fn new_task(n: u64, owner: &str, topic: &str, depth: u8, key: Option<&str>) -> NewResearchTask {
    NewResearchTask {
        id: tid(n),
        owner: owner.to_owned(),
        topic: topic.to_owned(),
        depth,
        idempotency_key: key.map(str::to_owned),
        max_live_tasks: u64::MAX,
    }
}

fn texts(prefix: &str, range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

/// The task `start` must create for `new` at `now`.
fn expected_new(new: &NewResearchTask, now: DateTime<Utc>, lt: &Lifetimes) -> ResearchTask {
    let hard = now + lt.absolute;
    ResearchTask {
        id: new.id,
        owner: new.owner.clone(),
        topic: new.topic.clone(),
        depth: new.depth,
        status: ResearchStatus::Running,
        findings_count: 0,
        created_at: now,
        updated_at: now,
        expires_at: expiry_after_write(now, hard, lt),
        hard_expires_at: hard,
    }
}

/// `task` after a successful write at `now`.
fn written(task: &ResearchTask, now: DateTime<Utc>, lt: &Lifetimes) -> ResearchTask {
    ResearchTask {
        updated_at: now,
        expires_at: expiry_after_write(now, task.hard_expires_at, lt),
        ..task.clone()
    }
}

async fn start<S: ResearchStore>(
    store: &S,
    new: NewResearchTask,
    now: DateTime<Utc>,
) -> ResearchTask {
    let what = format!("start({:?}, owner {})", new.id, new.owner);
    let out = ok(store.start(new, now).await, &what);
    assert!(
        !out.replayed,
        "{what}: a new task came back with replayed = true"
    );
    out.task
}

/// `append_findings` without an idempotency key or byte quota, giving the task.
async fn append<S: ResearchStore>(
    store: &S,
    owner: &str,
    id: &ResearchTaskId,
    findings: &[String],
    per_task: u32,
    now: DateTime<Utc>,
) -> Result<ResearchTask, StoreError> {
    let batch = FindingsBatch::new(findings, FindingLimits::per_task(per_task));
    store
        .append_findings(owner, id, batch, now)
        .await
        .map(|appended| appended.task)
}

/// `complete` without a byte quota.
async fn finish<S: ResearchStore>(
    store: &S,
    owner: &str,
    id: &ResearchTaskId,
    findings: &[String],
    per_task: u32,
    now: DateTime<Utc>,
) -> Result<ResearchTask, StoreError> {
    store
        .complete(owner, id, findings, FindingLimits::per_task(per_task), now)
        .await
}

#[track_caller]
fn ok<T>(result: Result<T, StoreError>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what}: expected success, got {:?} error: {e}", e.kind()),
    }
}

#[track_caller]
fn fails<T: Debug>(result: Result<T, StoreError>, kind: StoreErrorKind, what: &str) {
    match result {
        Ok(v) => panic!("{what}: expected {kind:?}, got success: {v:?}"),
        Err(e) => assert_eq!(
            e.kind(),
            &kind,
            "{what}: expected {kind:?}, got {:?} error: {e}",
            e.kind()
        ),
    }
}

async fn get<S: ResearchStore>(
    store: &S,
    owner: &str,
    id: &ResearchTaskId,
    now: DateTime<Utc>,
) -> ResearchTask {
    ok(
        store.get(owner, id, now).await,
        &format!("get({id:?}, owner {owner})"),
    )
}

async fn all_findings<S: ResearchStore>(
    store: &S,
    owner: &str,
    id: &ResearchTaskId,
    now: DateTime<Utc>,
) -> Vec<(u32, String)> {
    let page = ok(
        store.list_findings(owner, id, 0, 100_000, now).await,
        &format!("list_findings({id:?}, owner {owner})"),
    );
    assert!(
        !page.has_more,
        "list_findings with a limit above the count said has_more"
    );
    page.findings
        .into_iter()
        .map(|f| (f.index, f.text))
        .collect()
}

fn numbered(texts: &[String]) -> Vec<(u32, String)> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| (i as u32 + 1, t.clone()))
        .collect()
}

async fn all_tasks<S: ResearchStore>(
    store: &S,
    owner: &str,
    status: Option<ResearchStatus>,
    page_size: u32,
    now: DateTime<Utc>,
) -> Vec<ResearchTask> {
    let mut out = Vec::new();
    let mut cursor: Option<ResearchListCursor> = None;
    for _ in 0..10_000 {
        let page = ok(
            store
                .list(owner, status, cursor.as_ref(), page_size, now)
                .await,
            &format!("list(owner {owner}, status {status:?})"),
        );
        assert!(
            page.tasks.len() <= page_size as usize,
            "list returned {} tasks for limit {page_size}",
            page.tasks.len()
        );
        out.extend(page.tasks);
        match page.next {
            Some(next) => {
                let last = out.last().expect("a page with a next cursor has tasks");
                assert_eq!(
                    (next.created_at, next.id),
                    (last.created_at, last.id),
                    "list: the next cursor must point at the page's last task"
                );
                cursor = Some(next);
            }
            None => return out,
        }
    }
    panic!("list never ended");
}

/// Whether the task is visible to `get` at `now`.
async fn visible<S: ResearchStore>(
    store: &S,
    owner: &str,
    id: &ResearchTaskId,
    now: DateTime<Utc>,
) -> bool {
    match store.get(owner, id, now).await {
        Ok(_) => true,
        Err(e) if e.kind() == &StoreErrorKind::NotFound => false,
        Err(e) => panic!("get({id:?}) at {now}: unexpected {:?} error: {e}", e.kind()),
    }
}

fn key(id: u16, secret_byte: u8, created_at: DateTime<Utc>) -> SigningKeyRecord {
    let mut secret: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(secret_byte)).collect();
    // Make sure zero and 0xff bytes survive the round trip.
    secret[0] = 0;
    secret[31] = 0xff;
    secret[1] = secret_byte;
    SigningKeyRecord {
        key_id: id,
        secret,
        created_at,
        promoted_at: Some(created_at),
        retired_at: None,
    }
}
