//! The checks of [`ToolTaskStore`]: the Tasks extension's durable tool calls, their lease,
//! input round trips, expiry and change feed.

use serde_json::{Map, Value, json};

use super::*;
use crate::{
    Claim, NewToolTask, Progress, ToolTask, ToolTaskId, ToolTaskOutcome, ToolTaskStatus,
    ToolTaskStore,
};

/// A deterministic tool task id, apart from research task ids.
fn ttid(n: u64) -> ToolTaskId {
    ToolTaskId::from_bytes(*tid(n ^ 0x7A5C_0000_0000_0000).as_bytes())
}

fn new_tool_task(n: u64, owner: &str) -> NewToolTask {
    NewToolTask {
        id: ttid(n),
        owner: owner.to_owned(),
        tool: "compile_research_report".to_owned(),
        arguments: json!({"handles": [format!("h{n}")], "n": n}),
        status_message: "Queued".to_owned(),
        ttl: hours(1),
        poll_interval_ms: 500,
        max_live: 100,
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not a JSON object: {other}"),
    }
}

async fn create<S: ToolTaskStore>(store: &S, new: NewToolTask, now: DateTime<Utc>) -> ToolTask {
    ok(store.create_tool_task(new, now).await, "create_tool_task")
}

async fn read<S: ToolTaskStore>(
    store: &S,
    owner: &str,
    id: &ToolTaskId,
    now: DateTime<Utc>,
) -> ToolTask {
    ok(store.tool_task(owner, id, now).await, "tool_task")
}

async fn claim<S: ToolTaskStore>(store: &S, worker: &str, now: DateTime<Utc>) -> Option<Claim> {
    ok(
        store.claim_tool_task(worker, secs(30), now).await,
        "claim_tool_task",
    )
}

fn completed(n: u64) -> ToolTaskOutcome {
    ToolTaskOutcome::Completed(json!({"content": [{"type": "text", "text": format!("done {n}")}]}))
}

/// A created task reads back exactly as returned (times to the millisecond), for its owner
/// only: `working`, no lease, no outcome, TTL counted from creation.
pub async fn tool_tasks_round_trip<B: Backend>(backend: &B)
where
    B::Store: ToolTaskStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let now = T0() + ms(1_234);
    let created = create(&store, new_tool_task(1, ALICE), now).await;
    assert_eq!(created.id, ttid(1));
    assert_eq!(created.owner, ALICE);
    assert_eq!(created.tool, "compile_research_report");
    assert_eq!(created.arguments, json!({"handles": ["h1"], "n": 1}));
    assert_eq!(created.status, ToolTaskStatus::Working);
    assert_eq!(created.status_message.as_deref(), Some("Queued"));
    assert!(created.input_requests.is_empty() && created.input_responses.is_empty());
    assert!(created.asked_keys.is_empty());
    assert_eq!(created.checkpoint, None);
    assert_eq!(created.outcome, None);
    assert_eq!(created.poll_interval_ms, 500);
    assert_eq!(created.attempts, 0);
    assert_eq!((created.created_at, created.updated_at), (now, now));
    assert_eq!(created.expires_at, now + hours(1));
    assert_eq!(created.ttl_ms(), 3_600_000);

    assert_eq!(read(&store, ALICE, &ttid(1), now).await, created);
    for (owner, id, what) in [
        (BOB, ttid(1), "another owner's task"),
        (ALICE, ttid(2), "a missing task"),
    ] {
        fails(
            store.tool_task(owner, &id, now).await,
            StoreErrorKind::NotFound,
            what,
        );
        fails(
            store.cancel_tool_task(owner, &id, now).await,
            StoreErrorKind::NotFound,
            what,
        );
        fails(
            store
                .answer_tool_task(owner, &id, &object(json!({"k": 1})), now)
                .await,
            StoreErrorKind::NotFound,
            what,
        );
    }
    // Bob's attempts changed nothing.
    assert_eq!(read(&store, ALICE, &ttid(1), now).await, created);
}

/// Tasks, their progress and their outcomes survive a restart.
pub async fn tool_tasks_survive_reopen<B: Backend>(backend: &B)
where
    B::Store: ToolTaskStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let now = T0();
    create(&store, new_tool_task(1, ALICE), now).await;
    create(&store, new_tool_task(2, ALICE), now + ms(1)).await;
    let first = claim(&store, "w1", now + ms(2))
        .await
        .expect("a task to claim");
    let progress = Progress {
        status_message: Some("step 1 of 2".to_owned()),
        checkpoint: Some(json!({"done": 1})),
    };
    assert!(ok(
        store
            .save_tool_task_progress(&first, progress, now + ms(3))
            .await,
        "save progress"
    ));
    let second = claim(&store, "w1", now + ms(4))
        .await
        .expect("a second task");
    assert!(ok(
        store
            .finish_tool_task(&second, completed(2), now + ms(5))
            .await,
        "finish"
    ));
    let before = (
        read(&store, ALICE, &ttid(1), now + ms(6)).await,
        read(&store, ALICE, &ttid(2), now + ms(6)).await,
    );
    let store = backend.reopen(store).await;
    let after = (
        read(&store, ALICE, &ttid(1), now + ms(6)).await,
        read(&store, ALICE, &ttid(2), now + ms(6)).await,
    );
    assert_eq!(after, before);
    assert_eq!(after.0.checkpoint, Some(json!({"done": 1})));
    assert_eq!(after.0.status_message.as_deref(), Some("step 1 of 2"));
    assert_eq!(after.1.status, ToolTaskStatus::Completed);
    assert_eq!(
        after.1.outcome,
        Some(json!({"content": [{"type": "text", "text": "done 2"}]}))
    );
}

/// Claims take the oldest runnable task; a held lease keeps others off until it runs out;
/// a takeover gets the next attempt; the old holder's writes then fail and change nothing;
/// the task is finished once, by the holder.
pub async fn leases_fence_out_a_lost_holder<B: Backend>(backend: &B)
where
    B::Store: ToolTaskStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let now = T0();
    create(&store, new_tool_task(2, ALICE), now + ms(1)).await;
    create(&store, new_tool_task(1, BOB), now).await;

    let a = claim(&store, "a", now + ms(10)).await.expect("a claims");
    assert_eq!(a.id(), &ttid(1), "the oldest task is claimed first");
    assert_eq!((a.attempt(), a.worker.as_str()), (1, "a"));
    assert_eq!(a.lease_until, now + ms(10) + secs(30));
    let b = claim(&store, "b", now + ms(11)).await.expect("b claims");
    assert_eq!(b.id(), &ttid(2));
    assert!(
        claim(&store, "c", now + secs(29)).await.is_none(),
        "live leases keep both tasks off"
    );
    // a renews; b does not, and loses its task to c after its lease runs out.
    assert!(ok(
        store
            .renew_tool_task_lease(&a, secs(30), now + secs(20))
            .await,
        "renew"
    ));
    let c = claim(&store, "c", now + ms(11) + secs(30))
        .await
        .expect("c takes over b's task when its lease ran out");
    assert_eq!((c.id(), c.attempt()), (&ttid(2), 2));
    assert!(
        claim(&store, "d", now + secs(45)).await.is_none(),
        "a renewed"
    );

    let later = now + secs(46);
    let progress = Progress {
        status_message: Some("stale".to_owned()),
        checkpoint: Some(json!("stale")),
    };
    assert!(!ok(
        store
            .save_tool_task_progress(&b, progress.clone(), later)
            .await,
        "b"
    ));
    assert!(!ok(
        store.renew_tool_task_lease(&b, secs(30), later).await,
        "b renews"
    ));
    assert!(!ok(
        store.finish_tool_task(&b, completed(0), later).await,
        "b finishes"
    ));
    let held = read(&store, ALICE, &ttid(2), later).await;
    assert_eq!(held.status, ToolTaskStatus::Working);
    assert_eq!((held.checkpoint, held.attempts), (None, 2));

    assert!(ok(
        store.finish_tool_task(&c, completed(2), later).await,
        "c finishes"
    ));
    assert!(!ok(
        store.finish_tool_task(&c, completed(9), later).await,
        "twice"
    ));
    let done = read(&store, ALICE, &ttid(2), later).await;
    assert_eq!(done.status, ToolTaskStatus::Completed);
    assert_eq!(
        done.outcome,
        Some(json!({"content": [{"type": "text", "text": "done 2"}]}))
    );
    assert_eq!(done.updated_at, later);

    let failure = json!({"code": -32603, "message": "boom"});
    assert!(ok(
        store
            .finish_tool_task(&a, ToolTaskOutcome::Failed(failure.clone()), later)
            .await,
        "a fails its task"
    ));
    let failed = read(&store, BOB, &ttid(1), later).await;
    assert_eq!(
        (failed.status, failed.outcome),
        (ToolTaskStatus::Failed, Some(failure))
    );
    assert!(
        claim(&store, "e", later + hours(2)).await.is_none(),
        "final tasks are never claimed"
    );
}

/// Cancelling a running task makes it final at once; its holder's writes fail from then
/// on; cancelling a final task changes nothing.
pub async fn cancel_stops_the_holder<B: Backend>(backend: &B)
where
    B::Store: ToolTaskStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let now = T0();
    create(&store, new_tool_task(1, ALICE), now).await;
    let held = claim(&store, "w", now + ms(1)).await.expect("claim");
    let cancelled = ok(
        store.cancel_tool_task(ALICE, &ttid(1), now + ms(2)).await,
        "cancel",
    );
    assert_eq!(cancelled.status, ToolTaskStatus::Cancelled);
    assert_eq!(cancelled.updated_at, now + ms(2));
    assert!(!ok(
        store
            .renew_tool_task_lease(&held, secs(30), now + ms(3))
            .await,
        "renew"
    ));
    assert!(!ok(
        store
            .save_tool_task_progress(&held, Progress::default(), now + ms(3))
            .await,
        "progress"
    ));
    assert!(!ok(
        store
            .finish_tool_task(&held, completed(1), now + ms(3))
            .await,
        "finish"
    ));
    let again = ok(
        store.cancel_tool_task(ALICE, &ttid(1), now + ms(9)).await,
        "cancel again",
    );
    assert_eq!(again, cancelled, "a final task is returned unchanged");

    // A completed task stays completed.
    create(&store, new_tool_task(2, ALICE), now + ms(10)).await;
    let held = claim(&store, "w", now + ms(11)).await.expect("claim");
    assert!(ok(
        store
            .finish_tool_task(&held, completed(2), now + ms(12))
            .await,
        "finish"
    ));
    let done = ok(
        store.cancel_tool_task(ALICE, &ttid(2), now + ms(13)).await,
        "cancel done",
    );
    assert_eq!(done.status, ToolTaskStatus::Completed);
}

/// Input requests: the task waits in `input_required` (never claimed), partial and
/// repeated answers are kept or ignored as the extension says, and once every request is
/// answered the task is claimable again, with the answers.
pub async fn input_requests_round_trip<B: Backend>(backend: &B)
where
    B::Store: ToolTaskStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let now = T0();
    create(&store, new_tool_task(1, ALICE), now).await;
    let held = claim(&store, "w", now + ms(1)).await.expect("claim");
    let requests = object(json!({
        "confirm": {"method": "elicitation/create", "params": {"message": "go on?"}},
        "pick": {"method": "elicitation/create", "params": {"message": "which?"}},
    }));
    let progress = Progress {
        status_message: Some("waiting for you".to_owned()),
        checkpoint: Some(json!({"step": 1})),
    };
    assert!(ok(
        store
            .request_tool_task_input(&held, &requests, progress, now + ms(2))
            .await,
        "request input"
    ));
    let waiting = read(&store, ALICE, &ttid(1), now + ms(3)).await;
    assert_eq!(waiting.status, ToolTaskStatus::InputRequired);
    assert_eq!(waiting.input_requests, requests);
    assert_eq!(waiting.asked_keys.len(), 2);
    assert_eq!(waiting.checkpoint, Some(json!({"step": 1})));
    assert_eq!(waiting.status_message.as_deref(), Some("waiting for you"));
    assert!(
        !ok(
            store
                .finish_tool_task(&held, completed(1), now + ms(3))
                .await,
            "finish"
        ),
        "asking for input releases the claim"
    );
    assert!(
        claim(&store, "w", now + hours(0) + secs(40))
            .await
            .is_none()
    );

    // A partial answer, with an unknown key, is kept in part.
    let partial = ok(
        store
            .answer_tool_task(
                ALICE,
                &ttid(1),
                &object(json!({"confirm": {"action": "accept"}, "nope": 1})),
                now + ms(4),
            )
            .await,
        "partial answer",
    );
    assert_eq!(partial.status, ToolTaskStatus::InputRequired);
    assert_eq!(partial.input_requests.keys().collect::<Vec<_>>(), ["pick"]);
    assert_eq!(
        partial.input_responses,
        object(json!({"confirm": {"action": "accept"}}))
    );
    assert!(claim(&store, "w", now + ms(5)).await.is_none());

    // Answering `confirm` again is ignored; `pick` completes the set.
    let answered = ok(
        store
            .answer_tool_task(
                ALICE,
                &ttid(1),
                &object(json!({"confirm": {"action": "decline"}, "pick": {"n": 2}})),
                now + ms(6),
            )
            .await,
        "full answer",
    );
    assert_eq!(answered.status, ToolTaskStatus::Working);
    assert!(answered.input_requests.is_empty());
    assert_eq!(
        answered.input_responses,
        object(json!({"confirm": {"action": "accept"}, "pick": {"n": 2}}))
    );
    let again = claim(&store, "v", now + ms(7))
        .await
        .expect("claimable again");
    assert_eq!(again.attempt(), 2);
    assert_eq!(again.task.input_responses, answered.input_responses);
    assert_eq!(again.task.checkpoint, Some(json!({"step": 1})));
    let mut keys = again.task.asked_keys.clone();
    keys.sort();
    assert_eq!(keys, ["confirm", "pick"]);

    // Answers to a final task are ignored.
    assert!(ok(
        store
            .finish_tool_task(&again, completed(1), now + ms(8))
            .await,
        "finish"
    ));
    let done = ok(
        store
            .answer_tool_task(ALICE, &ttid(1), &object(json!({"pick": 3})), now + ms(9))
            .await,
        "answer a final task",
    );
    assert_eq!(done.status, ToolTaskStatus::Completed);
    assert_eq!(done.input_responses, answered.input_responses);
}

/// Many workers claiming at once never share an attempt: every task is claimed exactly
/// once, and finished exactly once.
pub async fn racing_claims_take_each_task_once<B: Backend>(backend: &B)
where
    B::Store: ToolTaskStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let now = T0();
    for n in 0..24 {
        create(&store, new_tool_task(n, ALICE), now + ms(n as i64)).await;
    }
    let claimed = race(&store, 6, move |store, i| async move {
        let mut mine = Vec::new();
        let worker = format!("w{i}");
        while let Some(c) = ok(
            store
                .claim_tool_task(&worker, secs(30), now + secs(1))
                .await,
            "claim",
        ) {
            assert!(ok(
                store
                    .finish_tool_task(&c, completed(0), now + secs(1))
                    .await,
                "finish"
            ));
            mine.push(*c.id());
            assert!(mine.len() <= 24, "claimed more tasks than exist");
        }
        mine
    })
    .await;
    let mut all: Vec<ToolTaskId> = claimed.into_iter().flatten().collect();
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(before, 24, "claims: one per task");
    assert_eq!(all.len(), 24, "no task claimed twice");
}

/// A task is visible until its TTL from creation passes, never claimed after, and swept.
/// The live-task quota counts unswept tasks.
pub async fn tool_task_expiry_sweep_and_quota<B: Backend>(backend: &B)
where
    B::Store: ToolTaskStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let now = T0();
    let mut quota = new_tool_task(1, ALICE);
    quota.max_live = 2;
    create(&store, quota.clone(), now).await;
    quota.id = ttid(2);
    create(&store, quota.clone(), now).await;
    quota.id = ttid(3);
    fails(
        store.create_tool_task(quota.clone(), now).await,
        StoreErrorKind::QuotaExceeded(Quota::LiveToolTasks { limit: 2 }),
        "a third live task past the quota",
    );
    fails(
        store.tool_task(ALICE, &ttid(3), now).await,
        StoreErrorKind::NotFound,
        "refused",
    );
    create(&store, new_tool_task(4, BOB), now).await;

    let expiry = now + hours(1);
    read(&store, ALICE, &ttid(1), expiry - ms(1)).await;
    fails(
        store.tool_task(ALICE, &ttid(1), expiry).await,
        StoreErrorKind::NotFound,
        "expired",
    );
    assert!(
        claim(&store, "w", expiry).await.is_none(),
        "expired tasks are not claimed"
    );
    assert_eq!(ok(store.sweep_tool_tasks(expiry, 2).await, "sweep"), 2);
    assert_eq!(ok(store.sweep_tool_tasks(expiry, 2).await, "sweep"), 1);
    assert_eq!(ok(store.sweep_tool_tasks(expiry, 2).await, "sweep"), 0);
    quota.id = ttid(5);
    create(&store, quota, expiry).await;
}

/// Every change a client can see is published after it commits.
pub async fn changes_are_published<B: Backend>(backend: &B)
where
    B::Store: ToolTaskStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let mut changes = store.tool_task_changes();
    let now = T0();
    async fn next(
        changes: &mut tokio::sync::broadcast::Receiver<ToolTaskId>,
        what: &str,
    ) -> ToolTaskId {
        match tokio::time::timeout(std::time::Duration::from_secs(10), changes.recv()).await {
            Ok(Ok(id)) => id,
            Ok(Err(e)) => panic!("{what}: the change feed failed: {e}"),
            Err(_) => panic!("{what}: no change published within 10 s"),
        }
    }
    // A backend that shares changes across instances has its listener attached by the time
    // the store is open, so the very first change is seen.
    create(&store, new_tool_task(1, ALICE), now).await;
    assert_eq!(next(&mut changes, "create").await, ttid(1));
    let held = claim(&store, "w", now + ms(1)).await.expect("claim");
    let progress = Progress {
        status_message: Some("half way".to_owned()),
        checkpoint: None,
    };
    assert!(ok(
        store
            .save_tool_task_progress(&held, progress, now + ms(2))
            .await,
        "progress"
    ));
    assert_eq!(next(&mut changes, "progress").await, ttid(1));
    assert!(ok(
        store
            .finish_tool_task(&held, completed(1), now + ms(3))
            .await,
        "finish"
    ));
    assert_eq!(next(&mut changes, "finish").await, ttid(1));
    create(&store, new_tool_task(2, ALICE), now + ms(4)).await;
    assert_eq!(next(&mut changes, "create 2").await, ttid(2));
    ok(
        store.cancel_tool_task(ALICE, &ttid(2), now + ms(5)).await,
        "cancel",
    );
    assert_eq!(next(&mut changes, "cancel").await, ttid(2));
}
