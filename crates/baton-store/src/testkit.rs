//! The conformance kit: one suite of checks every [`ResearchStore`] backend must pass.
//!
//! A backend's test implements [`Backend`] (how to open a fresh, empty store and how to
//! reopen one on the same data) and calls [`run_all`]:
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
//! #[tokio::test]
//! async fn conformance() {
//!     baton_store::testkit::run_all(&Sqlite::new()).await;
//! }
//! ```
//!
//! [`run_all`] runs every check in [`CHECKS`] one after another, each on its own fresh
//! store, and panics at the end with the names and messages of all the checks that failed.
//! Each check is also a `pub async fn` of this module, so a backend may run one alone
//! (or use [`run_matching`]).
//!
//! # What the kit assumes
//!
//! * **Time is an argument.** Nothing sleeps; checks move `now` forward. The kit's times
//!   start at [`T0`] (2030-01-01T00:00:00Z).
//! * **Times are kept to the millisecond.** A store truncates every time it is given to
//!   whole milliseconds (for instance with `chrono::SubsecRound::trunc_subsecs(3)`) and
//!   returns exactly that; [`time_precision_is_milliseconds`] checks it. Every other check
//!   uses whole-millisecond times and compares returned times exactly.
//! * **Expiry.** A task is visible while `expires_at > now`. A write at `now` sets
//!   `expires_at` to [`expiry_after_write`]`(now, hard_expires_at)` and `updated_at` to
//!   `now`. A read ([`ResearchStore::get_task`]) may refresh `expires_at` the same way, but
//!   leaves `updated_at` alone, and refreshes only when the stored value is more than about
//!   a minute behind: the kit expects a read one second after a write to change nothing,
//!   and a read ten minutes or more after one to extend the deadline.
//! * **Listing order.** [`ResearchStore::list_tasks`] returns newest first, ties on
//!   `created_at` broken by id, highest id (byte order) first. `next` is `Some` exactly
//!   when more tasks follow the page.
//! * **Error precedence.** Not visible (missing, expired or foreign) → `NotFound`; then a
//!   final status → `WrongStatus(current)`; then the findings limit → `TooManyFindings`.
//!   A failed call changes nothing.
//! * **Idempotency.** A key is bound to the task it created while that task is alive;
//!   once the task has expired, the key may start a new task.
//! * **Isolation between checks.** `open_fresh` must return an empty store (no tasks, no
//!   signing keys). The previous check's store has been dropped before the next opens.
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
use futures::future::join_all;

use crate::{
    Lifetimes, NewResearchTask, SigningKeyRecord, StoreError, StoreErrorKind, ResearchTask, ResearchTaskId, ResearchListCursor,
    ResearchStatus, ResearchStore, expiry_after_write,
};

/// How a backend's test gives the kit stores to check.
#[async_trait]
pub trait Backend: Send + Sync {
    /// The store under test.
    type Store: ResearchStore;

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

/// The name of every check, in the order [`run_all`] runs them.
pub const CHECKS: &[&str] = &[
    "ping_answers",
    "create_and_get_round_trip",
    "time_precision_is_milliseconds",
    "owner_isolation",
    "durability_across_reopen",
    "complete_and_cancel_transitions",
    "final_states_reject_changes",
    "findings_order_and_indexes",
    "too_many_findings_stores_nothing",
    "list_findings_pagination",
    "list_tasks_order_and_pagination",
    "idempotent_start",
    "idempotency_key_after_expiry",
    "racing_idempotent_starts",
    "idle_expiry",
    "writes_extend_expiry",
    "absolute_lifetime_caps_expiry",
    "expired_tasks_are_invisible",
    "reads_refresh_expiry_at_most_once_a_minute",
    "sweep_deletes_in_batches",
    "concurrent_appends_lose_nothing",
    "concurrent_batches_stay_contiguous",
    "racing_appends_respect_the_limit",
    "racing_completions",
    "signing_keys_insert_if_absent",
    "racing_signing_key_inserts",
    "import_writes_tasks_verbatim",
];

/// Runs every check in [`CHECKS`]; panics naming each failed check.
pub async fn run_all<B: Backend>(backend: &B) {
    run_matching(backend, |_| true).await;
}

/// Runs the checks whose name `filter` accepts; panics naming each failed check.
///
/// If the environment variable `BATON_TESTKIT_FILTER` is set, only checks whose name
/// contains it are run (handy when debugging one check).
pub async fn run_matching<B: Backend>(backend: &B, filter: impl Fn(&str) -> bool) {
    let env_filter = std::env::var("BATON_TESTKIT_FILTER").ok();
    let wanted =
        |name: &str| filter(name) && env_filter.as_deref().is_none_or(|f| name.contains(f));
    let mut failures: Vec<(&'static str, String)> = Vec::new();
    let mut ran = 0usize;

    macro_rules! checks {
        ($($name:ident),* $(,)?) => {
            // Keep CHECKS and this list in step.
            debug_assert_eq!(CHECKS, &[$(stringify!($name)),*]);
            $(
                if wanted(stringify!($name)) {
                    ran += 1;
                    run_one(stringify!($name), $name(backend), &mut failures).await;
                }
            )*
        };
    }
    checks!(
        ping_answers,
        create_and_get_round_trip,
        time_precision_is_milliseconds,
        owner_isolation,
        durability_across_reopen,
        complete_and_cancel_transitions,
        final_states_reject_changes,
        findings_order_and_indexes,
        too_many_findings_stores_nothing,
        list_findings_pagination,
        list_tasks_order_and_pagination,
        idempotent_start,
        idempotency_key_after_expiry,
        racing_idempotent_starts,
        idle_expiry,
        writes_extend_expiry,
        absolute_lifetime_caps_expiry,
        expired_tasks_are_invisible,
        reads_refresh_expiry_at_most_once_a_minute,
        sweep_deletes_in_batches,
        concurrent_appends_lose_nothing,
        concurrent_batches_stay_contiguous,
        racing_appends_respect_the_limit,
        racing_completions,
        signing_keys_insert_if_absent,
        racing_signing_key_inserts,
        import_writes_tasks_verbatim,
    );

    if !failures.is_empty() {
        let list: Vec<String> = failures
            .iter()
            .map(|(name, msg)| format!("  - {name}: {msg}"))
            .collect();
        panic!(
            "{} of {ran} store conformance checks failed:\n{}",
            failures.len(),
            list.join("\n")
        );
    }
}

async fn run_one(
    name: &'static str,
    check: impl Future<Output = ()>,
    failures: &mut Vec<(&'static str, String)>,
) {
    let started = Instant::now();
    match AssertUnwindSafe(check).catch_unwind().await {
        Ok(()) => eprintln!("store conformance: {name} ... ok ({:?})", started.elapsed()),
        Err(payload) => {
            let msg = panic_message(payload.as_ref());
            eprintln!("store conformance: {name} ... FAILED: {msg}");
            failures.push((name, msg));
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
    }
}

fn texts(prefix: &str, range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

/// The task `start_task` must create for `new` at `now`.
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

async fn start<S: ResearchStore>(store: &S, new: NewResearchTask, now: DateTime<Utc>) -> ResearchTask {
    let what = format!("start_task({:?}, owner {})", new.id, new.owner);
    let out = ok(store.start(new, now).await, &what);
    assert!(
        !out.replayed,
        "{what}: a new task came back with replayed = true"
    );
    out.task
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

async fn get<S: ResearchStore>(store: &S, owner: &str, id: &ResearchTaskId, now: DateTime<Utc>) -> ResearchTask {
    ok(
        store.get(owner, id, now).await,
        &format!("get_task({id:?}, owner {owner})"),
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
            &format!("list_tasks(owner {owner}, status {status:?})"),
        );
        assert!(
            page.tasks.len() <= page_size as usize,
            "list_tasks returned {} tasks for limit {page_size}",
            page.tasks.len()
        );
        out.extend(page.tasks);
        match page.next {
            Some(next) => {
                let last = out.last().expect("a page with a next cursor has tasks");
                assert_eq!(
                    (next.created_at, next.id),
                    (last.created_at, last.id),
                    "list_tasks: the next cursor must point at the page's last task"
                );
                cursor = Some(next);
            }
            None => return out,
        }
    }
    panic!("list_tasks never ended");
}

/// Whether the task is visible to `get_task` at `now`.
async fn visible<S: ResearchStore>(store: &S, owner: &str, id: &ResearchTaskId, now: DateTime<Utc>) -> bool {
    match store.get(owner, id, now).await {
        Ok(_) => true,
        Err(e) if e.kind() == &StoreErrorKind::NotFound => false,
        Err(e) => panic!(
            "get_task({id:?}) at {now}: unexpected {:?} error: {e}",
            e.kind()
        ),
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
    }
}

// ---------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------

/// `ping` succeeds on a fresh store, which holds no tasks and no signing keys.
pub async fn ping_answers<B: Backend>(backend: &B) {
    let store = backend.open_fresh(default_lifetimes()).await;
    ok(store.ping().await, "ping");
    let keys = ok(store.signing_keys().await, "signing_keys");
    assert!(keys.is_empty(), "a fresh store has signing keys: {keys:?}");
    let tasks = all_tasks(&store, ALICE, None, 10, T0()).await;
    assert!(tasks.is_empty(), "a fresh store has tasks");
}

/// `start_task` returns the task with exact field values, and `get_task` reads it back
/// identically; odd topics (Unicode, quotes, 500 characters) survive.
pub async fn create_and_get_round_trip<B: Backend>(backend: &B) {
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0() + ms(1_234);
    let topics = [
        "tidal energy".to_owned(),
        "ünïcödé ✓ — \"quotes\" 'and' ; DROP TABLE tasks; --".to_owned(),
        "é".repeat(500),
    ];
    for (n, topic) in topics.iter().enumerate() {
        let depth = (n as u8 % 5) + 1;
        let key = (n == 1).then_some("key-1");
        let new = new_task(n as u64, ALICE, topic, depth, key);
        let expected = expected_new(&new, now, &lt);
        let out = ok(store.start(new.clone(), now).await, "start_task");
        assert!(!out.replayed, "a new task came back with replayed = true");
        assert_eq!(out.task, expected, "start_task returned the wrong task");
        assert_eq!(
            get(&store, ALICE, &new.id, now).await,
            expected,
            "get_task right after start_task"
        );
        let page = ok(
            store.list_findings(ALICE, &new.id, 0, 10, now).await,
            "list_findings on a new task",
        );
        assert_eq!(page.task, expected, "list_findings' task");
        assert!(
            page.findings.is_empty() && !page.has_more,
            "a new task has findings"
        );
    }
    fails(
        store.get(ALICE, &tid(999), now).await,
        StoreErrorKind::NotFound,
        "get_task of an id never stored",
    );
}

/// Times are truncated to whole milliseconds and returned exactly so.
pub async fn time_precision_is_milliseconds<B: Backend>(backend: &B) {
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let exact = T0() + ms(123);
    let now = exact + Duration::nanoseconds(456_789);
    let new = new_task(1, ALICE, "precision", 2, None);
    let expected = expected_new(&new, exact, &lt);
    let task = ok(store.start(new.clone(), now).await, "start_task").task;
    assert_eq!(
        task, expected,
        "times must be truncated to the millisecond (start_task at {now})"
    );
    assert_eq!(get(&store, ALICE, &new.id, now).await, expected, "get_task");
    let later = exact + secs(1) + Duration::microseconds(999);
    let task = ok(
        store
            .append_findings(ALICE, &new.id, &texts("f", 0..1), MAX_TOTAL, later)
            .await,
        "append_findings",
    );
    assert_eq!(
        task.updated_at,
        exact + secs(1),
        "updated_at must be truncated to the millisecond"
    );
    let stored = key(1, 3, exact + Duration::microseconds(5));
    let keys = ok(
        store.insert_signing_key(stored.clone()).await,
        "insert_signing_key",
    );
    assert_eq!(
        keys,
        vec![SigningKeyRecord {
            created_at: exact,
            ..stored
        }],
        "signing key created_at must be truncated to the millisecond"
    );
}

/// Another owner cannot see, change or list a task: every call gives `NotFound`, and the
/// task is untouched.
pub async fn owner_isolation<B: Backend>(backend: &B) {
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let a = start(&store, new_task(1, ALICE, "alice's", 2, None), now).await;
    let a = ok(
        store
            .append_findings(ALICE, &a.id, &texts("a", 0..2), MAX_TOTAL, now)
            .await,
        "append_findings",
    );
    let b = start(&store, new_task(2, BOB, "bob's", 3, None), now).await;
    let t = now + secs(1);
    let one = texts("x", 0..1);

    fails(
        store.get(BOB, &a.id, t).await,
        StoreErrorKind::NotFound,
        "bob get_task(alice's)",
    );
    fails(
        store.append_findings(BOB, &a.id, &one, MAX_TOTAL, t).await,
        StoreErrorKind::NotFound,
        "bob append_findings(alice's)",
    );
    fails(
        store.complete(BOB, &a.id, &one, MAX_TOTAL, t).await,
        StoreErrorKind::NotFound,
        "bob complete_task(alice's)",
    );
    fails(
        store.complete(BOB, &a.id, &[], MAX_TOTAL, t).await,
        StoreErrorKind::NotFound,
        "bob complete_task(alice's, no findings)",
    );
    fails(
        store.cancel(BOB, &a.id, t).await,
        StoreErrorKind::NotFound,
        "bob cancel_task(alice's)",
    );
    fails(
        store.list_findings(BOB, &a.id, 0, 10, t).await,
        StoreErrorKind::NotFound,
        "bob list_findings(alice's)",
    );
    // Owner names are compared exactly.
    fails(
        store.get("Alice", &a.id, t).await,
        StoreErrorKind::NotFound,
        "get_task as `Alice`",
    );
    fails(
        store.get("alice ", &a.id, t).await,
        StoreErrorKind::NotFound,
        "get_task as `alice `",
    );

    assert_eq!(
        all_tasks(&store, BOB, None, 10, t).await,
        vec![b.clone()],
        "bob's listing"
    );
    assert_eq!(
        all_tasks(&store, ALICE, None, 10, t).await,
        vec![a.clone()],
        "alice's listing"
    );
    assert!(
        all_tasks(&store, CAROL, None, 10, t).await.is_empty(),
        "carol's listing"
    );
    assert_eq!(
        get(&store, ALICE, &a.id, t).await,
        a,
        "alice's task after bob's attempts"
    );
    assert_eq!(
        all_findings(&store, ALICE, &a.id, t).await,
        numbered(&texts("a", 0..2)),
        "alice's findings after bob's attempts"
    );
}

/// Tasks, findings, statuses, idempotency keys and signing keys survive closing and
/// reopening the store.
pub async fn durability_across_reopen<B: Backend>(backend: &B) {
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let running = start(&store, new_task(1, ALICE, "running", 1, Some("k1")), now).await;
    let running = ok(
        store
            .append_findings(
                ALICE,
                &running.id,
                &texts("r", 0..3),
                MAX_TOTAL,
                now + secs(1),
            )
            .await,
        "append_findings",
    );
    let done = start(&store, new_task(2, ALICE, "done", 2, None), now).await;
    let done = ok(
        store
            .complete(ALICE, &done.id, &texts("d", 0..2), MAX_TOTAL, now + secs(2))
            .await,
        "complete_task",
    );
    let cancelled = start(&store, new_task(3, BOB, "cancelled", 3, None), now).await;
    let cancelled = ok(
        store.cancel(BOB, &cancelled.id, now + secs(3)).await,
        "cancel_task",
    );
    let k = key(5, 9, now);
    ok(
        store.insert_signing_key(k.clone()).await,
        "insert_signing_key",
    );

    let store = backend.reopen(store).await;
    let t = now + secs(4);
    assert_eq!(
        get(&store, ALICE, &running.id, t).await,
        running,
        "running task after reopen"
    );
    assert_eq!(
        get(&store, ALICE, &done.id, t).await,
        done,
        "complete task after reopen"
    );
    assert_eq!(
        get(&store, BOB, &cancelled.id, t).await,
        cancelled,
        "cancelled task after reopen"
    );
    assert_eq!(
        all_findings(&store, ALICE, &running.id, t).await,
        numbered(&texts("r", 0..3)),
        "findings after reopen"
    );
    assert_eq!(
        all_findings(&store, ALICE, &done.id, t).await,
        numbered(&texts("d", 0..2)),
        "final findings after reopen"
    );
    assert_eq!(
        ok(store.signing_keys().await, "signing_keys"),
        vec![k],
        "signing keys after reopen"
    );
    let replay = ok(
        store
            .start(new_task(9, ALICE, "running", 1, Some("k1")), t)
            .await,
        "start_task with a key used before the reopen",
    );
    assert!(
        replay.replayed,
        "an idempotency key was forgotten by the reopen"
    );
    assert_eq!(replay.task.id, running.id, "idempotency key after reopen");
    // And writes still work.
    let after = ok(
        store
            .append_findings(ALICE, &running.id, &texts("r", 3..4), MAX_TOTAL, t)
            .await,
        "append_findings after reopen",
    );
    assert_eq!(
        after.findings_count, 4,
        "findings_count after reopen and append"
    );
}

/// running → complete and running → cancelled, with exact resulting fields.
pub async fn complete_and_cancel_transitions<B: Backend>(backend: &B) {
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let a = start(&store, new_task(1, ALICE, "to complete", 2, None), now).await;
    let b = start(&store, new_task(2, ALICE, "to cancel", 2, None), now).await;
    let c = start(
        &store,
        new_task(3, ALICE, "to complete with findings", 2, None),
        now,
    )
    .await;

    let t1 = now + mins(1);
    let done = ok(
        store.complete(ALICE, &a.id, &[], MAX_TOTAL, t1).await,
        "complete_task",
    );
    let expected = ResearchTask {
        status: ResearchStatus::Complete,
        ..written(&a, t1, &lt)
    };
    assert_eq!(done, expected, "complete_task without findings");
    assert_eq!(
        get(&store, ALICE, &a.id, t1).await,
        expected,
        "get_task after complete"
    );

    let t2 = now + mins(2);
    let cancelled = ok(store.cancel(ALICE, &b.id, t2).await, "cancel_task");
    let expected = ResearchTask {
        status: ResearchStatus::Cancelled,
        ..written(&b, t2, &lt)
    };
    assert_eq!(cancelled, expected, "cancel_task");
    assert_eq!(
        get(&store, ALICE, &b.id, t2).await,
        expected,
        "get_task after cancel"
    );

    let t3 = now + mins(3);
    let done = ok(
        store
            .complete(ALICE, &c.id, &texts("c", 0..3), MAX_TOTAL, t3)
            .await,
        "complete_task with findings",
    );
    let expected = ResearchTask {
        status: ResearchStatus::Complete,
        findings_count: 3,
        ..written(&c, t3, &lt)
    };
    assert_eq!(done, expected, "complete_task with findings");
    assert_eq!(
        all_findings(&store, ALICE, &c.id, t3).await,
        numbered(&texts("c", 0..3)),
        "findings of a task completed with findings"
    );
}

/// Complete and cancelled tasks refuse every change with `WrongStatus(current)`, and are
/// left exactly as they were (findings included); the status check comes before the
/// findings limit.
pub async fn final_states_reject_changes<B: Backend>(backend: &B) {
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let a = start(&store, new_task(1, ALICE, "complete", 2, None), now).await;
    let b = start(&store, new_task(2, ALICE, "cancelled", 2, None), now).await;
    ok(
        store
            .append_findings(ALICE, &a.id, &texts("a", 0..2), MAX_TOTAL, now)
            .await,
        "append_findings",
    );
    let done = ok(
        store
            .complete(ALICE, &a.id, &texts("a", 2..3), MAX_TOTAL, now)
            .await,
        "complete_task",
    );
    let cancelled = ok(store.cancel(ALICE, &b.id, now).await, "cancel_task");
    let t = now + secs(1);
    let one = texts("late", 0..1);

    for (task, status) in [
        (&done, ResearchStatus::Complete),
        (&cancelled, ResearchStatus::Cancelled),
    ] {
        let ws = StoreErrorKind::WrongStatus(status);
        let name = status.as_str();
        fails(
            store
                .complete(ALICE, &task.id, &[], MAX_TOTAL, t)
                .await,
            ws.clone(),
            &format!("complete_task on a {name} task"),
        );
        fails(
            store
                .complete(ALICE, &task.id, &one, MAX_TOTAL, t)
                .await,
            ws.clone(),
            &format!("complete_task with findings on a {name} task"),
        );
        fails(
            store
                .append_findings(ALICE, &task.id, &one, MAX_TOTAL, t)
                .await,
            ws.clone(),
            &format!("append_findings on a {name} task"),
        );
        fails(
            store.append_findings(ALICE, &task.id, &one, 0, t).await,
            ws.clone(),
            &format!("append_findings over the limit on a {name} task (status comes first)"),
        );
        fails(
            store.cancel(ALICE, &task.id, t).await,
            ws.clone(),
            &format!("cancel_task on a {name} task"),
        );
        assert_eq!(
            get(&store, ALICE, &task.id, t).await,
            *task,
            "a {name} task changed after refused calls"
        );
    }
    assert_eq!(
        all_findings(&store, ALICE, &done.id, t).await,
        numbered(&texts("a", 0..3)),
        "findings of a complete task changed after refused calls"
    );
    assert!(
        all_findings(&store, ALICE, &cancelled.id, t)
            .await
            .is_empty(),
        "a cancelled task gained findings"
    );
}

/// Findings keep their order, get indexes 1..n across several appends, and
/// `complete_task`'s final findings come after them. Each append returns the updated task.
pub async fn findings_order_and_indexes<B: Backend>(backend: &B) {
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let mut task = start(&store, new_task(1, ALICE, "order", 4, None), now).await;
    let batches: Vec<Vec<String>> = vec![
        vec!["first".into(), "second".into()],
        vec!["ünïcode ✓\nwith a newline and \"quotes\"".into()],
        vec![
            "x".repeat(4_000),
            "'; DELETE FROM findings; --".into(),
            "  spaced  ".into(),
        ],
        texts("bulk", 0..100),
    ];
    let mut all: Vec<String> = Vec::new();
    for (i, batch) in batches.iter().enumerate() {
        let t = now + mins(i as i64 + 1);
        let got = ok(
            store
                .append_findings(ALICE, &task.id, batch, MAX_TOTAL, t)
                .await,
            "append_findings",
        );
        all.extend(batch.iter().cloned());
        let expected = ResearchTask {
            findings_count: all.len() as u32,
            ..written(&task, t, &lt)
        };
        assert_eq!(
            got,
            expected,
            "append_findings #{} returned the wrong task",
            i + 1
        );
        task = got;
    }
    let t = now + mins(10);
    let finals = vec!["final one".to_owned(), "final two".to_owned()];
    let done = ok(
        store
            .complete(ALICE, &task.id, &finals, MAX_TOTAL, t)
            .await,
        "complete_task",
    );
    all.extend(finals);
    assert_eq!(
        done,
        ResearchTask {
            status: ResearchStatus::Complete,
            findings_count: all.len() as u32,
            ..written(&task, t, &lt)
        },
        "complete_task's task"
    );
    assert_eq!(
        all_findings(&store, ALICE, &task.id, t).await,
        numbered(&all),
        "findings in order with indexes 1..n"
    );
}

/// A call that would take a task past `max_total` fails with `TooManyFindings { limit }` and
/// stores nothing; reaching the limit exactly is fine.
pub async fn too_many_findings_stores_nothing<B: Backend>(backend: &B) {
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let limit = 5;
    let tmf = StoreErrorKind::TooManyFindings { limit };
    let task = start(&store, new_task(1, ALICE, "limit", 2, None), now).await;
    let task = ok(
        store
            .append_findings(ALICE, &task.id, &texts("a", 0..3), limit, now)
            .await,
        "append_findings",
    );
    let t = now + secs(1);
    fails(
        store
            .append_findings(ALICE, &task.id, &texts("b", 0..3), limit, t)
            .await,
        tmf.clone(),
        "append_findings past the limit",
    );
    fails(
        store
            .complete(ALICE, &task.id, &texts("c", 0..3), limit, t)
            .await,
        tmf.clone(),
        "complete_task past the limit",
    );
    assert_eq!(
        get(&store, ALICE, &task.id, t).await,
        task,
        "task after refused appends"
    );
    assert_eq!(
        all_findings(&store, ALICE, &task.id, t).await,
        numbered(&texts("a", 0..3)),
        "findings after refused appends"
    );
    // Up to the limit exactly.
    let task = ok(
        store
            .append_findings(ALICE, &task.id, &texts("a", 3..5), limit, t)
            .await,
        "append_findings up to the limit",
    );
    assert_eq!(task.findings_count, 5, "findings_count at the limit");
    fails(
        store
            .append_findings(ALICE, &task.id, &texts("z", 0..1), limit, t)
            .await,
        tmf.clone(),
        "append_findings at the limit",
    );
    fails(
        store
            .complete(ALICE, &task.id, &texts("z", 0..1), limit, t)
            .await,
        tmf.clone(),
        "complete_task with findings at the limit",
    );
    assert_eq!(
        get(&store, ALICE, &task.id, t).await.status,
        ResearchStatus::Running,
        "a refused complete_task changed the status"
    );
    let done = ok(
        store.complete(ALICE, &task.id, &[], limit, t).await,
        "complete_task without findings at the limit",
    );
    assert_eq!(
        (done.status, done.findings_count),
        (ResearchStatus::Complete, 5),
        "completed at the limit"
    );
    // A first call over the limit stores nothing either.
    let other = start(&store, new_task(2, ALICE, "limit 2", 2, None), now).await;
    fails(
        store
            .append_findings(ALICE, &other.id, &texts("o", 0..6), limit, t)
            .await,
        tmf,
        "a first append_findings past the limit",
    );
    assert_eq!(
        get(&store, ALICE, &other.id, t).await,
        other,
        "task after a refused first append"
    );
    assert!(
        all_findings(&store, ALICE, &other.id, t).await.is_empty(),
        "a refused append stored findings"
    );
}

/// `list_findings` pages with `after` and `limit`; `has_more` is true exactly when findings
/// follow the page; final tasks can still be read.
pub async fn list_findings_pagination<B: Backend>(backend: &B) {
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let task = start(&store, new_task(1, ALICE, "pages", 2, None), now).await;
    let empty = ok(
        store.list_findings(ALICE, &task.id, 0, 3, now).await,
        "list_findings",
    );
    assert!(
        empty.findings.is_empty() && !empty.has_more,
        "an empty task's findings page"
    );
    ok(
        store
            .append_findings(ALICE, &task.id, &texts("f", 1..5), MAX_TOTAL, now)
            .await,
        "append_findings",
    );
    let task = ok(
        store
            .append_findings(ALICE, &task.id, &texts("f", 5..8), MAX_TOTAL, now)
            .await,
        "append_findings",
    );
    let cases: &[(u32, u32, std::ops::Range<u32>, bool)] = &[
        (0, 3, 1..4, true),
        (3, 3, 4..7, true),
        (6, 3, 7..8, false),
        (4, 3, 5..8, false),
        (7, 3, 8..8, false),
        (100, 3, 8..8, false),
        (0, 7, 1..8, false),
        (0, 6, 1..7, true),
        (0, 1, 1..2, true),
        (2, 1, 3..4, true),
    ];
    for &(after, limit, ref want, has_more) in cases {
        let page = ok(
            store
                .list_findings(ALICE, &task.id, after, limit, now)
                .await,
            "list_findings",
        );
        let got: Vec<(u32, String)> = page
            .findings
            .into_iter()
            .map(|f| (f.index, f.text))
            .collect();
        let expected: Vec<(u32, String)> = want.clone().map(|i| (i, format!("f{i}"))).collect();
        assert_eq!(got, expected, "list_findings(after {after}, limit {limit})");
        assert_eq!(
            page.has_more, has_more,
            "has_more of list_findings(after {after}, limit {limit})"
        );
        assert_eq!(
            page.task, task,
            "the task of list_findings(after {after}, limit {limit})"
        );
    }
    let done = ok(
        store
            .complete(ALICE, &task.id, &[], MAX_TOTAL, now)
            .await,
        "complete_task",
    );
    let page = ok(
        store.list_findings(ALICE, &task.id, 5, 10, now).await,
        "list_findings",
    );
    assert_eq!(page.task, done, "list_findings on a complete task");
    assert_eq!(
        page.findings.iter().map(|f| f.index).collect::<Vec<_>>(),
        vec![6, 7],
        "list_findings on a complete task"
    );
}

/// `list_tasks`: newest first, ties by id (highest first), status filter, and a cursor that
/// continues without duplicates or gaps even when tasks are created or change between pages.
pub async fn list_tasks_order_and_pagination<B: Backend>(backend: &B) {
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let base = T0();
    let mut alice: Vec<ResearchTask> = Vec::new();
    // 12 tasks in groups of 3 sharing one creation time, interleaved with bob's.
    for i in 0..12u64 {
        let created = base + mins((i / 3) as i64);
        alice.push(
            start(
                &store,
                new_task(100 + i, ALICE, &format!("a{i}"), 2, None),
                created,
            )
            .await,
        );
        start(
            &store,
            new_task(200 + i, BOB, &format!("b{i}"), 2, None),
            created,
        )
        .await;
    }
    let t = base + mins(30);
    for i in [1usize, 4, 7] {
        alice[i] = ok(
            store
                .complete(ALICE, &alice[i].id, &[], MAX_TOTAL, t)
                .await,
            "complete_task",
        );
    }
    for i in [2usize, 9] {
        alice[i] = ok(
            store.cancel(ALICE, &alice[i].id, t).await,
            "cancel_task",
        );
    }
    let mut expected = alice.clone();
    expected.sort_by_key(|t| std::cmp::Reverse((t.created_at, t.id)));

    for page_size in [1u32, 4, 5, 12, 50] {
        assert_eq!(
            all_tasks(&store, ALICE, None, page_size, t).await,
            expected,
            "alice's tasks in pages of {page_size} (newest first, ties by id descending)"
        );
    }
    for status in [
        ResearchStatus::Running,
        ResearchStatus::Complete,
        ResearchStatus::Cancelled,
    ] {
        let want: Vec<ResearchTask> = expected
            .iter()
            .filter(|t| t.status == status)
            .cloned()
            .collect();
        for page_size in [1u32, 2, 50] {
            assert_eq!(
                all_tasks(&store, ALICE, Some(status), page_size, t).await,
                want,
                "alice's {status} tasks in pages of {page_size}"
            );
        }
    }
    // A page of exactly the remaining tasks has no next cursor.
    let page = ok(
        store.list(ALICE, None, None, 12, t).await,
        "list_tasks",
    );
    assert!(
        page.next.is_none(),
        "a page holding every task has a next cursor"
    );
    let page = ok(
        store.list(ALICE, None, None, 11, t).await,
        "list_tasks",
    );
    assert!(
        page.next.is_some(),
        "a page missing one task has no next cursor"
    );

    // Continue a listing after new tasks appear and old ones change: the cursor is a
    // position, so the rest of the listing is exactly the older tasks.
    let first = ok(
        store.list(ALICE, None, None, 5, t).await,
        "list_tasks",
    );
    assert_eq!(first.tasks, expected[..5], "first page");
    let cursor = first.next.expect("a next cursor after 5 of 12");
    start(&store, new_task(300, ALICE, "newer", 2, None), t).await;
    let changed = ok(
        store.cancel(ALICE, &expected[6].id, t).await,
        "cancel_task",
    );
    let mut rest = Vec::new();
    let mut after = Some(cursor);
    while let Some(c) = after {
        let page = ok(
            store.list(ALICE, None, Some(&c), 5, t).await,
            "list_tasks",
        );
        rest.extend(page.tasks);
        after = page.next;
    }
    let mut want_rest = expected[5..].to_vec();
    want_rest[1] = changed;
    assert_eq!(rest, want_rest, "the listing continued from a cursor");
}

/// The same key with the same arguments replays the task; with another topic or depth it
/// conflicts; another owner's identical key is independent.
pub async fn idempotent_start<B: Backend>(backend: &B) {
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let first = start(&store, new_task(1, ALICE, "topic", 2, Some("key-1")), now).await;
    let t = now + secs(1);

    let again = ok(
        store
            .start(new_task(2, ALICE, "topic", 2, Some("key-1")), t)
            .await,
        "start_task with a used key",
    );
    assert!(again.replayed, "a replayed start must say replayed = true");
    assert_eq!(
        again.task, first,
        "a replayed start must return the first task"
    );
    fails(
        store.get(ALICE, &tid(2), t).await,
        StoreErrorKind::NotFound,
        "the replay's unused id",
    );

    fails(
        store
            .start(new_task(3, ALICE, "other topic", 2, Some("key-1")), t)
            .await,
        StoreErrorKind::IdempotencyConflict,
        "same key, different topic",
    );
    fails(
        store
            .start(new_task(4, ALICE, "topic", 3, Some("key-1")), t)
            .await,
        StoreErrorKind::IdempotencyConflict,
        "same key, different depth",
    );
    fails(
        store.get(ALICE, &tid(3), t).await,
        StoreErrorKind::NotFound,
        "a conflicting start's id",
    );
    fails(
        store.get(ALICE, &tid(4), t).await,
        StoreErrorKind::NotFound,
        "a conflicting start's id",
    );

    let bobs = start(&store, new_task(5, BOB, "topic", 2, Some("key-1")), t).await;
    assert_eq!(
        bobs.id,
        tid(5),
        "bob's start with alice's key must create bob's task"
    );

    // Keys are exact; no key means a new task every time.
    start(&store, new_task(6, ALICE, "topic", 2, Some("KEY-1")), t).await;
    start(&store, new_task(7, ALICE, "topic", 2, None), t).await;
    start(&store, new_task(8, ALICE, "topic", 2, None), t).await;
    assert_eq!(
        all_tasks(&store, ALICE, None, 50, t).await.len(),
        4,
        "alice's task count"
    );
    assert_eq!(
        all_tasks(&store, BOB, None, 50, t).await.len(),
        1,
        "bob's task count"
    );

    // A replay returns the task as it is now.
    let t2 = now + secs(2);
    ok(
        store
            .append_findings(ALICE, &first.id, &texts("f", 0..2), MAX_TOTAL, t2)
            .await,
        "append_findings",
    );
    let done = ok(
        store
            .complete(ALICE, &first.id, &[], MAX_TOTAL, t2)
            .await,
        "complete_task",
    );
    let again = ok(
        store
            .start(new_task(9, ALICE, "topic", 2, Some("key-1")), t2)
            .await,
        "start_task with a used key",
    );
    assert!(again.replayed, "replay after completion");
    assert_eq!(
        again.task, done,
        "a replay must return the task's current state"
    );
}

/// Once the task a key created has expired, the key starts a new task (even with another
/// topic), before or after the sweeper ran.
pub async fn idempotency_key_after_expiry<B: Backend>(backend: &B) {
    let lt = short_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let old = start(&store, new_task(1, ALICE, "old", 2, Some("k")), now).await;
    start(&store, new_task(2, ALICE, "old", 2, Some("k2")), now).await;
    let t = old.expires_at;
    let new = start(&store, new_task(3, ALICE, "new topic", 4, Some("k")), t).await;
    assert_eq!(
        new.id,
        tid(3),
        "a key whose task expired must start a new task"
    );
    let replay = ok(
        store
            .start(new_task(4, ALICE, "new topic", 4, Some("k")), t)
            .await,
        "start_task replaying the re-used key",
    );
    assert!(
        replay.replayed && replay.task.id == tid(3),
        "the re-used key must now replay the new task"
    );
    fails(
        store
            .start(new_task(5, ALICE, "old", 2, Some("k")), t)
            .await,
        StoreErrorKind::IdempotencyConflict,
        "the re-used key with the old topic",
    );
    ok(store.sweep_expired(t, 100).await, "sweep_expired");
    let new2 = start(&store, new_task(6, ALICE, "old", 2, Some("k2")), t).await;
    assert_eq!(
        new2.id,
        tid(6),
        "a key whose task was swept must start a new task"
    );
}

/// Racing starts with one key create one task: every caller with the winning arguments gets
/// it (exactly one with replayed = false), every caller with other arguments conflicts.
pub async fn racing_idempotent_starts<B: Backend>(backend: &B) {
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let calls = (0..16u64).map(|i| {
        let topic = if i % 2 == 0 { "even" } else { "odd" };
        store.start(new_task(i, ALICE, topic, 2, Some("race")), now)
    });
    let results = join_all(calls).await;
    let winners: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter(|o| !o.replayed)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "racing starts with one key created {} tasks",
        winners.len()
    );
    let winner = winners[0].task.clone();
    for (i, r) in results.iter().enumerate() {
        let topic = if i % 2 == 0 { "even" } else { "odd" };
        match r {
            Ok(o) => {
                assert_eq!(o.task, winner, "racer {i} got another task");
                assert_eq!(
                    topic, winner.topic,
                    "racer {i} with other arguments succeeded"
                );
            }
            Err(e) => {
                assert_eq!(
                    e.kind(),
                    &StoreErrorKind::IdempotencyConflict,
                    "racer {i}: {e}"
                );
                assert_ne!(
                    topic, winner.topic,
                    "racer {i} with the winning arguments conflicted"
                );
            }
        }
    }
    let listed = all_tasks(&store, ALICE, None, 50, now).await;
    assert_eq!(listed, vec![winner], "racing starts must leave one task");
}

/// A task unused for the idle lifetime is invisible: at `created + idle` it is gone, a
/// millisecond before it is there.
pub async fn idle_expiry<B: Backend>(backend: &B) {
    let lt = short_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let a = start(&store, new_task(1, ALICE, "a", 2, None), now).await;
    let b = start(&store, new_task(2, ALICE, "b", 2, None), now).await;
    assert_eq!(a.expires_at, now + hours(1), "expires_at of a new task");
    assert!(
        !visible(&store, ALICE, &a.id, now + hours(1)).await,
        "visible at its expiry"
    );
    assert!(
        visible(&store, ALICE, &b.id, now + hours(1) - ms(1)).await,
        "invisible before its expiry"
    );
}

/// Each write (append, complete, cancel) pushes the idle deadline to `now + idle`.
pub async fn writes_extend_expiry<B: Backend>(backend: &B) {
    let lt = short_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let w = now + mins(30);
    let deadline = w + hours(1);
    let one = texts("f", 0..1);
    // Twins: one probed just before the new deadline, one at it (each probe is the first
    // read after the write, so a read's own refresh does not interfere).
    for (n, op) in [(0u64, "append"), (2, "complete"), (4, "cancel")] {
        for twin in 0..2u64 {
            let task = start(&store, new_task(n + twin, ALICE, op, 2, None), now).await;
            let got = match op {
                "append" => {
                    store
                        .append_findings(ALICE, &task.id, &one, MAX_TOTAL, w)
                        .await
                }
                "complete" => {
                    store
                        .complete(ALICE, &task.id, &one, MAX_TOTAL, w)
                        .await
                }
                _ => store.cancel(ALICE, &task.id, w).await,
            };
            let got = ok(got, op);
            assert_eq!(got.expires_at, deadline, "expires_at after {op}");
            let probe = if twin == 0 {
                deadline - ms(1)
            } else {
                deadline
            };
            assert_eq!(
                visible(&store, ALICE, &task.id, probe).await,
                twin == 0,
                "visibility at {} after {op} at +30 min",
                if twin == 0 {
                    "the new deadline - 1 ms"
                } else {
                    "the new deadline"
                }
            );
        }
    }
}

/// However much a task is used, it expires at `created + absolute`.
pub async fn absolute_lifetime_caps_expiry<B: Backend>(backend: &B) {
    let lt = short_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let task = start(&store, new_task(1, ALICE, "capped", 2, None), now).await;
    let hard = now + hours(5);
    assert_eq!(task.hard_expires_at, hard, "hard_expires_at");
    let mut t = now;
    let mut last = task;
    while t + mins(50) < hard {
        t += mins(50);
        last = ok(
            store
                .append_findings(ALICE, &last.id, &texts("f", 0..1), MAX_TOTAL, t)
                .await,
            "append_findings",
        );
        assert_eq!(
            last.expires_at,
            (t + hours(1)).min(hard),
            "expires_at after a write at {t}"
        );
        assert_eq!(last.hard_expires_at, hard, "hard_expires_at changed");
    }
    assert_eq!(
        last.expires_at, hard,
        "the idle deadline must be capped by the absolute one"
    );
    let read = get(&store, ALICE, &last.id, hard - ms(1)).await;
    assert_eq!(
        read.expires_at, hard,
        "a read must not extend past the absolute lifetime"
    );
    assert!(
        !visible(&store, ALICE, &last.id, hard).await,
        "visible at its absolute expiry"
    );
    fails(
        store
            .append_findings(ALICE, &last.id, &texts("g", 0..1), MAX_TOTAL, hard)
            .await,
        StoreErrorKind::NotFound,
        "append_findings at the absolute expiry",
    );
}

/// Expired tasks are invisible to every method, whatever their status, before any sweep.
pub async fn expired_tasks_are_invisible<B: Backend>(backend: &B) {
    let lt = short_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let running = start(&store, new_task(1, ALICE, "running", 2, Some("k")), now).await;
    ok(
        store
            .append_findings(ALICE, &running.id, &texts("f", 0..2), MAX_TOTAL, now)
            .await,
        "append_findings",
    );
    let done = start(&store, new_task(2, ALICE, "done", 2, None), now).await;
    ok(
        store
            .complete(ALICE, &done.id, &[], MAX_TOTAL, now)
            .await,
        "complete_task",
    );
    let cancelled = start(&store, new_task(3, ALICE, "cancelled", 2, None), now).await;
    ok(
        store.cancel(ALICE, &cancelled.id, now).await,
        "cancel_task",
    );
    let t = now + hours(2);
    let one = texts("x", 0..1);
    for task in [&running, &done, &cancelled] {
        let nf = StoreErrorKind::NotFound;
        fails(
            store.get(ALICE, &task.id, t).await,
            nf.clone(),
            "get_task of an expired task",
        );
        fails(
            store
                .append_findings(ALICE, &task.id, &one, MAX_TOTAL, t)
                .await,
            nf.clone(),
            "append_findings to an expired task",
        );
        fails(
            store
                .complete(ALICE, &task.id, &[], MAX_TOTAL, t)
                .await,
            nf.clone(),
            "complete_task of an expired task",
        );
        fails(
            store.cancel(ALICE, &task.id, t).await,
            nf.clone(),
            "cancel_task of an expired task",
        );
        fails(
            store.list_findings(ALICE, &task.id, 0, 10, t).await,
            nf,
            "list_findings of an expired task",
        );
    }
    assert!(
        all_tasks(&store, ALICE, None, 10, t).await.is_empty(),
        "list_tasks shows expired tasks"
    );
    for status in [
        ResearchStatus::Running,
        ResearchStatus::Complete,
        ResearchStatus::Cancelled,
    ] {
        assert!(
            all_tasks(&store, ALICE, Some(status), 10, t)
                .await
                .is_empty(),
            "list_tasks({status}) shows expired tasks"
        );
    }
    // Still stored (nothing swept), yet invisible: a read does not resurrect it.
    assert!(
        !visible(&store, ALICE, &running.id, t).await,
        "an expired task came back"
    );
}

/// A read refreshes the idle deadline when it is well behind (here 40 minutes), without
/// touching `updated_at`, but a read one second after a write changes nothing.
pub async fn reads_refresh_expiry_at_most_once_a_minute<B: Backend>(backend: &B) {
    let lt = short_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let task = start(&store, new_task(1, ALICE, "read me", 2, None), now).await;
    assert_eq!(
        get(&store, ALICE, &task.id, now + secs(1)).await,
        task,
        "a read one second after a write must change nothing"
    );
    let t1 = now + mins(40);
    let read = get(&store, ALICE, &task.id, t1).await;
    assert_eq!(
        read,
        ResearchTask {
            expires_at: t1 + hours(1),
            ..task.clone()
        },
        "a read 40 minutes after the last use must push expires_at to now + idle and keep updated_at"
    );
    // Without the refresh it would be gone at +1 h.
    let t2 = now + mins(90);
    let read = get(&store, ALICE, &task.id, t2).await;
    assert_eq!(
        read.expires_at,
        t2 + hours(1),
        "a second refresh at +90 min"
    );
    assert_eq!(
        get(&store, ALICE, &task.id, t2 + secs(1)).await.expires_at,
        t2 + hours(1),
        "a read one second after a refresh must change nothing"
    );
    // The refresh was stored: visible up to, not at, its deadline.
    let mut twin = start(&store, new_task(2, ALICE, "twin", 2, None), now).await;
    twin = get(&store, ALICE, &twin.id, t1).await;
    assert!(
        !visible(&store, ALICE, &twin.id, twin.expires_at).await,
        "visible at the refreshed deadline"
    );
}

/// `sweep_expired` deletes at most `batch` expired tasks per call and returns how many; live
/// tasks, their findings and keys stay.
pub async fn sweep_deletes_in_batches<B: Backend>(backend: &B) {
    let lt = short_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    for i in 0..7u64 {
        let task = start(
            &store,
            new_task(i, ALICE, "old", 2, Some(&format!("old-{i}"))),
            now,
        )
        .await;
        ok(
            store
                .append_findings(ALICE, &task.id, &texts("f", 0..3), MAX_TOTAL, now)
                .await,
            "append_findings",
        );
    }
    // Expires exactly at the sweep time: swept too.
    let edge = start(&store, new_task(50, BOB, "edge", 2, None), now + mins(30)).await;
    let later = now + mins(90);
    let mut live = Vec::new();
    for i in 0..3u64 {
        let task = start(
            &store,
            new_task(100 + i, BOB, "live", 2, Some(&format!("live-{i}"))),
            later,
        )
        .await;
        live.push(ok(
            store
                .append_findings(BOB, &task.id, &texts("l", 0..2), MAX_TOTAL, later)
                .await,
            "append_findings",
        ));
    }
    assert_eq!(
        ok(
            store.sweep_expired(now + mins(30), 100).await,
            "sweep_expired"
        ),
        0,
        "nothing expired yet"
    );
    let t = edge.expires_at;
    let mut counts = Vec::new();
    for _ in 0..4 {
        counts.push(ok(store.sweep_expired(t, 3).await, "sweep_expired"));
    }
    assert_eq!(
        counts,
        vec![3, 3, 2, 0],
        "sweep_expired(batch 3) counts over 8 expired tasks"
    );
    // The swept tasks' keys went with them.
    start(
        &store,
        new_task(500, ALICE, "another topic", 2, Some("old-0")),
        t,
    )
    .await;
    for (i, task) in live.iter().enumerate() {
        assert_eq!(
            get(&store, BOB, &task.id, t).await,
            *task,
            "a live task after the sweep"
        );
        assert_eq!(
            all_findings(&store, BOB, &task.id, t).await,
            numbered(&texts("l", 0..2)),
            "a live task's findings after the sweep"
        );
        let replay = ok(
            store
                .start(new_task(999, BOB, "live", 2, Some(&format!("live-{i}"))), t)
                .await,
            "start_task with a live task's key",
        );
        assert!(
            replay.replayed && replay.task.id == task.id,
            "a live task's idempotency key after the sweep"
        );
    }
    assert_eq!(
        all_tasks(&store, BOB, None, 50, t).await.len(),
        3,
        "bob's tasks after the sweep"
    );
}

/// 20 tasks × 50 concurrent single-finding appends: nothing is lost, every task ends with
/// indexes exactly 1..=50, and the counts the appends returned are exactly 1..=50 per task.
pub async fn concurrent_appends_lose_nothing<B: Backend>(backend: &B) {
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    const TASKS: u64 = 20;
    const PER_TASK: u32 = 50;
    let mut ids = Vec::new();
    for i in 0..TASKS {
        ids.push(
            start(&store, new_task(i, ALICE, "busy", 2, None), now)
                .await
                .id,
        );
    }
    let t = now + secs(1);
    let calls =
        (0..PER_TASK).flat_map(|f| ids.iter().enumerate().map(move |(ti, id)| (ti, f, *id)));
    let store_ref = &store;
    let results = join_all(calls.map(|(ti, f, id)| async move {
        let text = vec![format!("t{ti}-f{f}")];
        let r = store_ref
            .append_findings(ALICE, &id, &text, MAX_TOTAL, t)
            .await;
        (ti, r)
    }))
    .await;
    let mut counts: BTreeMap<usize, BTreeSet<u32>> = BTreeMap::new();
    for (ti, r) in results {
        let task = ok(r, "a concurrent append_findings");
        assert!(
            counts.entry(ti).or_default().insert(task.findings_count),
            "two appends to task {ti} returned findings_count {}",
            task.findings_count
        );
    }
    let want: BTreeSet<u32> = (1..=PER_TASK).collect();
    for (ti, id) in ids.iter().enumerate() {
        assert_eq!(
            counts.get(&ti),
            Some(&want),
            "counts returned by task {ti}'s appends"
        );
        let found = all_findings(&store, ALICE, id, t).await;
        let indexes: Vec<u32> = found.iter().map(|(i, _)| *i).collect();
        assert_eq!(
            indexes,
            (1..=PER_TASK).collect::<Vec<_>>(),
            "task {ti}'s indexes"
        );
        let texts: BTreeSet<String> = found.into_iter().map(|(_, t)| t).collect();
        let want_texts: BTreeSet<String> = (0..PER_TASK).map(|f| format!("t{ti}-f{f}")).collect();
        assert_eq!(texts, want_texts, "task {ti}'s findings");
        assert_eq!(
            get(&store, ALICE, id, t).await.findings_count,
            PER_TASK,
            "task {ti}'s findings_count"
        );
    }
}

/// Concurrent multi-finding appends to one task are atomic: each batch lands contiguous
/// and in order.
pub async fn concurrent_batches_stay_contiguous<B: Backend>(backend: &B) {
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let task = start(&store, new_task(1, ALICE, "batches", 2, None), now).await;
    let batches: Vec<Vec<String>> = (0..10).map(|b| texts(&format!("b{b}-"), 0..5)).collect();
    let results = join_all(
        batches
            .iter()
            .map(|batch| store.append_findings(ALICE, &task.id, batch, MAX_TOTAL, now)),
    )
    .await;
    for r in results {
        ok(r, "a concurrent append_findings");
    }
    let found = all_findings(&store, ALICE, &task.id, now).await;
    assert_eq!(found.len(), 50, "findings after 10 concurrent batches of 5");
    for (chunk_no, chunk) in found.chunks(5).enumerate() {
        let prefix = chunk[0].1.split('-').next().unwrap_or_default().to_owned();
        let got: Vec<&str> = chunk.iter().map(|(_, t)| t.as_str()).collect();
        let want = texts(&format!("{prefix}-"), 0..5);
        assert_eq!(
            got,
            want,
            "findings {}..{} must be one batch in order",
            chunk_no * 5 + 1,
            chunk_no * 5 + 5
        );
    }
    let indexes: Vec<u32> = found.iter().map(|(i, _)| *i).collect();
    assert_eq!(indexes, (1..=50).collect::<Vec<_>>(), "indexes");
}

/// Racing single-finding appends near the limit: exactly as many succeed as fit.
pub async fn racing_appends_respect_the_limit<B: Backend>(backend: &B) {
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let task = start(&store, new_task(1, ALICE, "limit race", 2, None), now).await;
    let limit = 5;
    let batches: Vec<Vec<String>> = (0..12).map(|i| texts(&format!("r{i}-"), 0..1)).collect();
    let results = join_all(
        batches
            .iter()
            .map(|b| store.append_findings(ALICE, &task.id, b, limit, now)),
    )
    .await;
    let mut succeeded = 0;
    for r in results {
        match r {
            Ok(_) => succeeded += 1,
            Err(e) => assert_eq!(
                e.kind(),
                &StoreErrorKind::TooManyFindings { limit },
                "a racing append failed otherwise: {e}"
            ),
        }
    }
    assert_eq!(succeeded, 5, "racing appends with room for 5");
    assert_eq!(
        get(&store, ALICE, &task.id, now).await.findings_count,
        5,
        "findings_count"
    );
    assert_eq!(
        all_findings(&store, ALICE, &task.id, now).await.len(),
        5,
        "findings stored"
    );
}

/// Of racing completions exactly one succeeds (its final finding alone is stored); the rest
/// get `WrongStatus(Complete)`. Racing completions and cancellations: one wins, the rest get
/// `WrongStatus(winner's status)`.
pub async fn racing_completions<B: Backend>(backend: &B) {
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let task = start(&store, new_task(1, ALICE, "race", 2, None), now).await;
    let finals: Vec<Vec<String>> = (0..10).map(|i| vec![format!("final-{i}")]).collect();
    let results = join_all(
        finals
            .iter()
            .map(|f| store.complete(ALICE, &task.id, f, MAX_TOTAL, now)),
    )
    .await;
    let mut winner = None;
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(t) => {
                assert!(winner.is_none(), "two racing complete_task calls succeeded");
                assert_eq!(
                    (t.status, t.findings_count),
                    (ResearchStatus::Complete, 1),
                    "the winner's task"
                );
                winner = Some(i);
            }
            Err(e) => assert_eq!(
                e.kind(),
                &StoreErrorKind::WrongStatus(ResearchStatus::Complete),
                "a losing complete_task: {e}"
            ),
        }
    }
    let winner = winner.expect("no racing complete_task succeeded");
    assert_eq!(
        all_findings(&store, ALICE, &task.id, now).await,
        vec![(1, format!("final-{winner}"))],
        "only the winner's final finding is stored"
    );

    let task = start(&store, new_task(2, ALICE, "race 2", 2, None), now).await;
    let calls = (0..10).map(|i| {
        let store = &store;
        let id = task.id;
        async move {
            if i % 2 == 0 {
                store.complete(ALICE, &id, &[], MAX_TOTAL, now).await
            } else {
                store.cancel(ALICE, &id, now).await
            }
        }
    });
    let results = join_all(calls).await;
    let wins: Vec<ResearchStatus> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|t| t.status)
        .collect();
    assert_eq!(
        wins.len(),
        1,
        "racing complete/cancel: {} succeeded",
        wins.len()
    );
    for r in &results {
        if let Err(e) = r {
            assert_eq!(
                e.kind(),
                &StoreErrorKind::WrongStatus(wins[0]),
                "a losing complete/cancel: {e}"
            );
        }
    }
    assert_eq!(
        get(&store, ALICE, &task.id, now).await.status,
        wins[0],
        "the final status"
    );
}

/// `insert_signing_key` inserts if absent by id (the stored key wins), and every call
/// returns all keys, oldest first (by `created_at`, not by id), exactly as stored.
pub async fn signing_keys_insert_if_absent<B: Backend>(backend: &B) {
    let store = backend.open_fresh(default_lifetimes()).await;
    let now = T0();
    let k1 = key(10, 3, now);
    let k2 = key(2, 5, now + secs(1));
    let k3 = key(65_535, 7, now + secs(2));
    assert_eq!(
        ok(store.insert_signing_key(k1.clone()).await, "insert k1"),
        vec![k1.clone()],
        "after k1"
    );
    assert_eq!(
        ok(
            store.insert_signing_key(key(10, 99, now + secs(5))).await,
            "insert k1 again"
        ),
        vec![k1.clone()],
        "inserting an existing id must keep the stored key"
    );
    assert_eq!(
        ok(store.insert_signing_key(k2.clone()).await, "insert k2"),
        vec![k1.clone(), k2.clone()],
        "after k2"
    );
    assert_eq!(
        ok(store.insert_signing_key(k3.clone()).await, "insert k3"),
        vec![k1.clone(), k2.clone(), k3.clone()],
        "after k3"
    );
    let k0 = key(0, 11, now + secs(3));
    let all = vec![k1, k2, k3, k0.clone()];
    assert_eq!(
        ok(store.insert_signing_key(k0).await, "insert k0"),
        all,
        "after k0"
    );
    assert_eq!(
        ok(store.signing_keys().await, "signing_keys"),
        all,
        "signing_keys"
    );
}

/// Racing inserts of one key id keep one key, and every caller sees that one.
pub async fn racing_signing_key_inserts<B: Backend>(backend: &B) {
    let store = backend.open_fresh(default_lifetimes()).await;
    let now = T0();
    let offers: Vec<SigningKeyRecord> = (0..10u8).map(|i| key(7, i + 1, now)).collect();
    let results = join_all(offers.iter().map(|k| store.insert_signing_key(k.clone()))).await;
    let stored = ok(store.signing_keys().await, "signing_keys");
    assert_eq!(
        stored.len(),
        1,
        "racing inserts of one id stored {} keys",
        stored.len()
    );
    assert!(
        offers.contains(&stored[0]),
        "the stored key is none of the offered ones"
    );
    for r in results {
        assert_eq!(
            ok(r, "a racing insert_signing_key"),
            stored,
            "a racer saw another key"
        );
    }
}

/// `import_tasks` writes tasks exactly as given, skips ids that exist, and imported tasks
/// behave like any other (visible to their owner only, writable while running, expiring).
pub async fn import_writes_tasks_verbatim<B: Backend>(backend: &B) {
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let mut tasks = Vec::new();
    for n in 0..2_500u64 {
        let created = now - chrono::Duration::milliseconds(n as i64);
        tasks.push(ResearchTask {
            id: tid(900_000 + n),
            owner: if n % 2 == 0 {
                "alice".into()
            } else {
                "bob".into()
            },
            topic: format!("imported {n}"),
            depth: (n % 5 + 1) as u8,
            status: match n % 3 {
                0 => ResearchStatus::Running,
                1 => ResearchStatus::Complete,
                _ => ResearchStatus::Cancelled,
            },
            findings_count: 0,
            created_at: created,
            updated_at: created,
            expires_at: created + lt.idle,
            hard_expires_at: created + lt.absolute,
        });
    }
    let written = store.import_research_tasks(&tasks).await.expect("import");
    assert_eq!(written, 2_500, "every new task is written");
    assert_eq!(
        store.import_research_tasks(&tasks[..10]).await.expect("re-import"),
        0,
        "existing ids are skipped"
    );
    for t in [&tasks[0], &tasks[1], &tasks[2], &tasks[2_499]] {
        let got = store
            .get(&t.owner, &t.id, now)
            .await
            .expect("imported task is readable");
        assert_eq!(&got, t, "imported verbatim");
        let other = if t.owner == "alice" { "bob" } else { "alice" };
        assert_eq!(
            store
                .get(other, &t.id, now)
                .await
                .map(|_| ())
                .map_err(|e| e.kind().clone()),
            Err(StoreErrorKind::NotFound)
        );
    }
    let appended = store
        .append_findings("alice", &tasks[0].id, &texts("f", 0..3), MAX_TOTAL, now)
        .await
        .expect("imported running task accepts findings");
    assert_eq!(appended.findings_count, 3);
    let refused = store
        .append_findings("bob", &tasks[1].id, &texts("f", 0..1), MAX_TOTAL, now)
        .await;
    assert_eq!(
        refused.map(|_| ()).map_err(|e| e.kind().clone()),
        Err(StoreErrorKind::WrongStatus(ResearchStatus::Complete))
    );
    let later = now + lt.idle + chrono::Duration::hours(1);
    assert!(
        store.get("alice", &tasks[2].id, later).await.is_err(),
        "imported tasks expire"
    );
}
