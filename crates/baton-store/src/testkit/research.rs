//! The checks of [`ResearchStore`]: tasks, findings, listing, idempotency, expiry, races.

use super::*;

/// `ping` succeeds on a fresh store, which holds no tasks.
pub async fn ping_answers<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    ok(store.ping().await, "ping");
    let tasks = all_tasks(&store, ALICE, None, 10, T0()).await;
    assert!(tasks.is_empty(), "a fresh store has tasks");
}

/// `start` returns the task with exact field values, and `get` reads it back
/// identically; odd topics (Unicode, quotes, 500 characters) survive.
pub async fn create_and_get_round_trip<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
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
        let out = ok(store.start(new.clone(), now).await, "start");
        assert!(!out.replayed, "a new task came back with replayed = true");
        assert_eq!(out.task, expected, "start returned the wrong task");
        assert_eq!(
            get(&store, ALICE, &new.id, now).await,
            expected,
            "get right after start"
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
        "get of an id never stored",
    );
}

/// Times are truncated to whole milliseconds and returned exactly so.
pub async fn time_precision_is_milliseconds<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let exact = T0() + ms(123);
    let now = exact + Duration::nanoseconds(456_789);
    let new = new_task(1, ALICE, "precision", 2, None);
    let expected = expected_new(&new, exact, &lt);
    let task = ok(store.start(new.clone(), now).await, "start").task;
    assert_eq!(
        task, expected,
        "times must be truncated to the millisecond (start at {now})"
    );
    assert_eq!(get(&store, ALICE, &new.id, now).await, expected, "get");
    let later = exact + secs(1) + Duration::microseconds(999);
    let task = ok(
        append(&store, ALICE, &new.id, &texts("f", 0..1), MAX_TOTAL, later).await,
        "append_findings",
    );
    assert_eq!(
        task.updated_at,
        exact + secs(1),
        "updated_at must be truncated to the millisecond"
    );
}

/// Another owner cannot see, change or list a task: every call gives `NotFound`, and the
/// task is untouched.
pub async fn owner_isolation<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let a = start(&store, new_task(1, ALICE, "alice's", 2, None), now).await;
    let a = ok(
        append(&store, ALICE, &a.id, &texts("a", 0..2), MAX_TOTAL, now).await,
        "append_findings",
    );
    let b = start(&store, new_task(2, BOB, "bob's", 3, None), now).await;
    let t = now + secs(1);
    let one = texts("x", 0..1);

    fails(
        store.get(BOB, &a.id, t).await,
        StoreErrorKind::NotFound,
        "bob get(alice's)",
    );
    fails(
        append(&store, BOB, &a.id, &one, MAX_TOTAL, t).await,
        StoreErrorKind::NotFound,
        "bob append_findings(alice's)",
    );
    fails(
        finish(&store, BOB, &a.id, &one, MAX_TOTAL, t).await,
        StoreErrorKind::NotFound,
        "bob complete(alice's)",
    );
    fails(
        finish(&store, BOB, &a.id, &[], MAX_TOTAL, t).await,
        StoreErrorKind::NotFound,
        "bob complete(alice's, no findings)",
    );
    fails(
        store.cancel(BOB, &a.id, t).await,
        StoreErrorKind::NotFound,
        "bob cancel(alice's)",
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
        "get as `Alice`",
    );
    fails(
        store.get("alice ", &a.id, t).await,
        StoreErrorKind::NotFound,
        "get as `alice `",
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

/// Tasks, findings, statuses and idempotency keys survive closing and
/// reopening the store.
pub async fn durability_across_reopen<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let running = start(&store, new_task(1, ALICE, "running", 1, Some("k1")), now).await;
    let running = ok(
        append(
            &store,
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
        finish(
            &store,
            ALICE,
            &done.id,
            &texts("d", 0..2),
            MAX_TOTAL,
            now + secs(2),
        )
        .await,
        "complete",
    );
    let cancelled = start(&store, new_task(3, BOB, "cancelled", 3, None), now).await;
    let cancelled = ok(
        store.cancel(BOB, &cancelled.id, now + secs(3)).await,
        "cancel",
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
    let replay = ok(
        store
            .start(new_task(9, ALICE, "running", 1, Some("k1")), t)
            .await,
        "start with a key used before the reopen",
    );
    assert!(
        replay.replayed,
        "an idempotency key was forgotten by the reopen"
    );
    assert_eq!(replay.task.id, running.id, "idempotency key after reopen");
    // And writes still work.
    let after = ok(
        append(&store, ALICE, &running.id, &texts("r", 3..4), MAX_TOTAL, t).await,
        "append_findings after reopen",
    );
    assert_eq!(
        after.findings_count, 4,
        "findings_count after reopen and append"
    );
}

/// running → complete and running → cancelled, with exact resulting fields.
pub async fn complete_and_cancel_transitions<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
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
        finish(&store, ALICE, &a.id, &[], MAX_TOTAL, t1).await,
        "complete",
    );
    let expected = ResearchTask {
        status: ResearchStatus::Complete,
        ..written(&a, t1, &lt)
    };
    assert_eq!(done, expected, "complete without findings");
    assert_eq!(
        get(&store, ALICE, &a.id, t1).await,
        expected,
        "get after complete"
    );

    let t2 = now + mins(2);
    let cancelled = ok(store.cancel(ALICE, &b.id, t2).await, "cancel");
    let expected = ResearchTask {
        status: ResearchStatus::Cancelled,
        ..written(&b, t2, &lt)
    };
    assert_eq!(cancelled, expected, "cancel");
    assert_eq!(
        get(&store, ALICE, &b.id, t2).await,
        expected,
        "get after cancel"
    );

    let t3 = now + mins(3);
    let done = ok(
        finish(&store, ALICE, &c.id, &texts("c", 0..3), MAX_TOTAL, t3).await,
        "complete with findings",
    );
    let expected = ResearchTask {
        status: ResearchStatus::Complete,
        findings_count: 3,
        ..written(&c, t3, &lt)
    };
    assert_eq!(done, expected, "complete with findings");
    assert_eq!(
        all_findings(&store, ALICE, &c.id, t3).await,
        numbered(&texts("c", 0..3)),
        "findings of a task completed with findings"
    );
}

/// Complete and cancelled tasks refuse every change with `WrongStatus(current)`, and are
/// left exactly as they were (findings included); the status check comes before the
/// findings limit.
pub async fn final_states_reject_changes<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let a = start(&store, new_task(1, ALICE, "complete", 2, None), now).await;
    let b = start(&store, new_task(2, ALICE, "cancelled", 2, None), now).await;
    ok(
        append(&store, ALICE, &a.id, &texts("a", 0..2), MAX_TOTAL, now).await,
        "append_findings",
    );
    let done = ok(
        finish(&store, ALICE, &a.id, &texts("a", 2..3), MAX_TOTAL, now).await,
        "complete",
    );
    let cancelled = ok(store.cancel(ALICE, &b.id, now).await, "cancel");
    let t = now + secs(1);
    let one = texts("late", 0..1);

    for (task, status) in [
        (&done, ResearchStatus::Complete),
        (&cancelled, ResearchStatus::Cancelled),
    ] {
        let ws = StoreErrorKind::WrongStatus(status);
        let name = status.as_str();
        fails(
            finish(&store, ALICE, &task.id, &[], MAX_TOTAL, t).await,
            ws.clone(),
            &format!("complete on a {name} task"),
        );
        fails(
            finish(&store, ALICE, &task.id, &one, MAX_TOTAL, t).await,
            ws.clone(),
            &format!("complete with findings on a {name} task"),
        );
        fails(
            append(&store, ALICE, &task.id, &one, MAX_TOTAL, t).await,
            ws.clone(),
            &format!("append_findings on a {name} task"),
        );
        fails(
            append(&store, ALICE, &task.id, &one, 0, t).await,
            ws.clone(),
            &format!("append_findings over the limit on a {name} task (status comes first)"),
        );
        fails(
            store.cancel(ALICE, &task.id, t).await,
            ws.clone(),
            &format!("cancel on a {name} task"),
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
/// `complete`'s final findings come after them. Each append returns the updated task.
pub async fn findings_order_and_indexes<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
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
            append(&store, ALICE, &task.id, batch, MAX_TOTAL, t).await,
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
        finish(&store, ALICE, &task.id, &finals, MAX_TOTAL, t).await,
        "complete",
    );
    all.extend(finals);
    assert_eq!(
        done,
        ResearchTask {
            status: ResearchStatus::Complete,
            findings_count: all.len() as u32,
            ..written(&task, t, &lt)
        },
        "complete's task"
    );
    assert_eq!(
        all_findings(&store, ALICE, &task.id, t).await,
        numbered(&all),
        "findings in order with indexes 1..n"
    );
}

/// A call that would take a task past `max_total` fails with `TooManyFindings { limit }` and
/// stores nothing; reaching the limit exactly is fine.
pub async fn too_many_findings_stores_nothing<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let limit = 5;
    let tmf = StoreErrorKind::TooManyFindings { limit };
    let task = start(&store, new_task(1, ALICE, "limit", 2, None), now).await;
    let task = ok(
        append(&store, ALICE, &task.id, &texts("a", 0..3), limit, now).await,
        "append_findings",
    );
    let t = now + secs(1);
    fails(
        append(&store, ALICE, &task.id, &texts("b", 0..3), limit, t).await,
        tmf.clone(),
        "append_findings past the limit",
    );
    fails(
        finish(&store, ALICE, &task.id, &texts("c", 0..3), limit, t).await,
        tmf.clone(),
        "complete past the limit",
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
        append(&store, ALICE, &task.id, &texts("a", 3..5), limit, t).await,
        "append_findings up to the limit",
    );
    assert_eq!(task.findings_count, 5, "findings_count at the limit");
    fails(
        append(&store, ALICE, &task.id, &texts("z", 0..1), limit, t).await,
        tmf.clone(),
        "append_findings at the limit",
    );
    fails(
        finish(&store, ALICE, &task.id, &texts("z", 0..1), limit, t).await,
        tmf.clone(),
        "complete with findings at the limit",
    );
    assert_eq!(
        get(&store, ALICE, &task.id, t).await.status,
        ResearchStatus::Running,
        "a refused complete changed the status"
    );
    let done = ok(
        finish(&store, ALICE, &task.id, &[], limit, t).await,
        "complete without findings at the limit",
    );
    assert_eq!(
        (done.status, done.findings_count),
        (ResearchStatus::Complete, 5),
        "completed at the limit"
    );
    // A first call over the limit stores nothing either.
    let other = start(&store, new_task(2, ALICE, "limit 2", 2, None), now).await;
    fails(
        append(&store, ALICE, &other.id, &texts("o", 0..6), limit, t).await,
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
pub async fn list_findings_pagination<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
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
        append(&store, ALICE, &task.id, &texts("f", 1..5), MAX_TOTAL, now).await,
        "append_findings",
    );
    let task = ok(
        append(&store, ALICE, &task.id, &texts("f", 5..8), MAX_TOTAL, now).await,
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
        finish(&store, ALICE, &task.id, &[], MAX_TOTAL, now).await,
        "complete",
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

/// `list`: newest first, ties by id (highest first), status filter, and a cursor that
/// continues without duplicates or gaps even when tasks are created or change between pages.
pub async fn list_tasks_order_and_pagination<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
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
            finish(&store, ALICE, &alice[i].id, &[], MAX_TOTAL, t).await,
            "complete",
        );
    }
    for i in [2usize, 9] {
        alice[i] = ok(store.cancel(ALICE, &alice[i].id, t).await, "cancel");
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
    let page = ok(store.list(ALICE, None, None, 12, t).await, "list");
    assert!(
        page.next.is_none(),
        "a page holding every task has a next cursor"
    );
    let page = ok(store.list(ALICE, None, None, 11, t).await, "list");
    assert!(
        page.next.is_some(),
        "a page missing one task has no next cursor"
    );

    // Continue a listing after new tasks appear and old ones change: the cursor is a
    // position, so the rest of the listing is exactly the older tasks.
    let first = ok(store.list(ALICE, None, None, 5, t).await, "list");
    assert_eq!(first.tasks, expected[..5], "first page");
    let cursor = first.next.expect("a next cursor after 5 of 12");
    start(&store, new_task(300, ALICE, "newer", 2, None), t).await;
    let changed = ok(store.cancel(ALICE, &expected[6].id, t).await, "cancel");
    let mut rest = Vec::new();
    let mut after = Some(cursor);
    while let Some(c) = after {
        let page = ok(store.list(ALICE, None, Some(&c), 5, t).await, "list");
        rest.extend(page.tasks);
        after = page.next;
    }
    let mut want_rest = expected[5..].to_vec();
    want_rest[1] = changed;
    assert_eq!(rest, want_rest, "the listing continued from a cursor");
}

/// The same key with the same arguments replays the task; with another topic or depth it
/// conflicts; another owner's identical key is independent.
pub async fn idempotent_start<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let first = start(&store, new_task(1, ALICE, "topic", 2, Some("key-1")), now).await;
    let t = now + secs(1);

    let again = ok(
        store
            .start(new_task(2, ALICE, "topic", 2, Some("key-1")), t)
            .await,
        "start with a used key",
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
        append(&store, ALICE, &first.id, &texts("f", 0..2), MAX_TOTAL, t2).await,
        "append_findings",
    );
    let done = ok(
        finish(&store, ALICE, &first.id, &[], MAX_TOTAL, t2).await,
        "complete",
    );
    let again = ok(
        store
            .start(new_task(9, ALICE, "topic", 2, Some("key-1")), t2)
            .await,
        "start with a used key",
    );
    assert!(again.replayed, "replay after completion");
    assert_eq!(
        again.task, done,
        "a replay must return the task's current state"
    );
}

/// Once the task a key created has expired, the key starts a new task (even with another
/// topic), before or after the sweeper ran.
pub async fn idempotency_key_after_expiry<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
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
        "start replaying the re-used key",
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
pub async fn racing_idempotent_starts<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let results = race(&store, 16, move |store, i| async move {
        let topic = if i % 2 == 0 { "even" } else { "odd" };
        store
            .start(new_task(i as u64, ALICE, topic, 2, Some("race")), now)
            .await
    })
    .await;
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
pub async fn idle_expiry<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
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
pub async fn writes_extend_expiry<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
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
                "append" => append(&store, ALICE, &task.id, &one, MAX_TOTAL, w).await,
                "complete" => finish(&store, ALICE, &task.id, &one, MAX_TOTAL, w).await,
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
pub async fn absolute_lifetime_caps_expiry<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
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
            append(&store, ALICE, &last.id, &texts("f", 0..1), MAX_TOTAL, t).await,
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
        append(&store, ALICE, &last.id, &texts("g", 0..1), MAX_TOTAL, hard).await,
        StoreErrorKind::NotFound,
        "append_findings at the absolute expiry",
    );
}

/// Expired tasks are invisible to every method, whatever their status, before any sweep.
pub async fn expired_tasks_are_invisible<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
    let lt = short_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let running = start(&store, new_task(1, ALICE, "running", 2, Some("k")), now).await;
    ok(
        append(
            &store,
            ALICE,
            &running.id,
            &texts("f", 0..2),
            MAX_TOTAL,
            now,
        )
        .await,
        "append_findings",
    );
    let done = start(&store, new_task(2, ALICE, "done", 2, None), now).await;
    ok(
        finish(&store, ALICE, &done.id, &[], MAX_TOTAL, now).await,
        "complete",
    );
    let cancelled = start(&store, new_task(3, ALICE, "cancelled", 2, None), now).await;
    ok(store.cancel(ALICE, &cancelled.id, now).await, "cancel");
    let t = now + hours(2);
    let one = texts("x", 0..1);
    for task in [&running, &done, &cancelled] {
        let nf = StoreErrorKind::NotFound;
        fails(
            store.get(ALICE, &task.id, t).await,
            nf.clone(),
            "get of an expired task",
        );
        fails(
            append(&store, ALICE, &task.id, &one, MAX_TOTAL, t).await,
            nf.clone(),
            "append_findings to an expired task",
        );
        fails(
            finish(&store, ALICE, &task.id, &[], MAX_TOTAL, t).await,
            nf.clone(),
            "complete of an expired task",
        );
        fails(
            store.cancel(ALICE, &task.id, t).await,
            nf.clone(),
            "cancel of an expired task",
        );
        fails(
            store.list_findings(ALICE, &task.id, 0, 10, t).await,
            nf,
            "list_findings of an expired task",
        );
    }
    assert!(
        all_tasks(&store, ALICE, None, 10, t).await.is_empty(),
        "list shows expired tasks"
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
            "list({status}) shows expired tasks"
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
pub async fn reads_refresh_expiry_at_most_once_a_minute<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
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
    // The refresh was stored, not only returned: after a reopen, a listing (which never
    // refreshes) past the original deadline shows the refreshed one.
    let store = backend.reopen(store).await;
    let listed = all_tasks(&store, ALICE, None, 10, now + mins(61)).await;
    assert_eq!(
        listed.iter().map(|t| t.expires_at).collect::<Vec<_>>(),
        vec![t1 + hours(1)],
        "the refreshed deadline, read back after a reopen"
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

/// With an idle lifetime under two minutes, reads refresh once the stored deadline lags by
/// more than half of it: with 30 s, a read 20 s after a write extends the deadline to
/// `now + 30 s` and stores it; a read 10 s after one changes nothing.
pub async fn reads_refresh_with_a_short_idle_lifetime<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
    let lt = Lifetimes {
        idle: secs(30),
        absolute: hours(1),
    };
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let task = start(&store, new_task(1, ALICE, "short", 2, None), now).await;
    assert_eq!(task.expires_at, now + secs(30), "expires_at of a new task");
    assert_eq!(
        get(&store, ALICE, &task.id, now + secs(10)).await,
        task,
        "a read 10 s after a write (lag 10 s, slack 15 s) must change nothing"
    );
    let t1 = now + secs(20);
    assert_eq!(
        get(&store, ALICE, &task.id, t1).await,
        ResearchTask {
            expires_at: t1 + secs(30),
            ..task.clone()
        },
        "a read 20 s after a write (lag 20 s, slack 15 s) must push expires_at to now + idle"
    );
    let store = backend.reopen(store).await;
    let listed = all_tasks(&store, ALICE, None, 10, now + secs(31)).await;
    assert_eq!(
        listed.iter().map(|t| t.expires_at).collect::<Vec<_>>(),
        vec![t1 + secs(30)],
        "the refreshed deadline, read back after a reopen past the original one"
    );
    assert_eq!(
        get(&store, ALICE, &task.id, t1 + secs(1)).await.expires_at,
        t1 + secs(30),
        "a read 1 s after a refresh must change nothing"
    );
    assert!(
        !visible(&store, ALICE, &task.id, t1 + secs(30)).await,
        "visible at the refreshed deadline"
    );
}

/// Every method, in every state, refuses with the contract's precedence: not visible
/// (missing, expired, foreign) → `NotFound`, whatever else is wrong; then a final status →
/// `WrongStatus(current)`, even for a batch over the limit; then the limit →
/// `TooManyFindings`. No refused call changes anything.
pub async fn error_precedence_on_every_method<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
    let lt = short_lifetimes();
    let store = backend.open_fresh(lt).await;
    let limit = 3;
    let old = T0();
    let expired_running = start(&store, new_task(1, ALICE, "expired", 2, None), old).await;
    let expired_done = start(&store, new_task(2, ALICE, "expired done", 2, None), old).await;
    ok(
        finish(
            &store,
            ALICE,
            &expired_done.id,
            &texts("e", 0..1),
            limit,
            old,
        )
        .await,
        "complete",
    );
    let now = old + hours(2);
    let running = start(&store, new_task(3, ALICE, "running", 2, None), now).await;
    let running = ok(
        append(&store, ALICE, &running.id, &texts("r", 0..2), limit, now).await,
        "append_findings",
    );
    let done = start(&store, new_task(4, ALICE, "done", 2, None), now).await;
    let done = ok(
        finish(&store, ALICE, &done.id, &texts("d", 0..1), limit, now).await,
        "complete",
    );
    let cancelled = start(&store, new_task(5, ALICE, "cancelled", 2, None), now).await;
    let cancelled = ok(store.cancel(ALICE, &cancelled.id, now).await, "cancel");
    let bobs = start(&store, new_task(6, BOB, "bob's", 2, None), now).await;
    let t = now + secs(1);

    let not_found = Some(StoreErrorKind::NotFound);
    let complete = Some(StoreErrorKind::WrongStatus(ResearchStatus::Complete));
    let cancelled_kind = Some(StoreErrorKind::WrongStatus(ResearchStatus::Cancelled));
    let too_many = Some(StoreErrorKind::TooManyFindings { limit });
    // (what, id, expected error of reads, of fitting writes, of writes over the limit)
    let cases: Vec<(&str, ResearchTaskId, _, _, _)> = vec![
        (
            "a missing task",
            tid(99),
            not_found.clone(),
            not_found.clone(),
            not_found.clone(),
        ),
        (
            "an expired running task",
            expired_running.id,
            not_found.clone(),
            not_found.clone(),
            not_found.clone(),
        ),
        (
            "an expired complete task",
            expired_done.id,
            not_found.clone(),
            not_found.clone(),
            not_found.clone(),
        ),
        (
            "another owner's task",
            bobs.id,
            not_found.clone(),
            not_found.clone(),
            not_found.clone(),
        ),
        ("a complete task", done.id, None, complete.clone(), complete),
        (
            "a cancelled task",
            cancelled.id,
            None,
            cancelled_kind.clone(),
            cancelled_kind,
        ),
        ("a running task", running.id, None, None, too_many),
    ];
    for (what, id, read, write, over) in cases {
        let one = texts("x", 0..1);
        let two = texts("x", 0..2); // fits alone, not with the running task's 2
        let five = texts("x", 0..5); // can never fit under 3
        let check = |result: Result<(), StoreError>,
                     expected: &Option<StoreErrorKind>,
                     call: &str| match (result, expected) {
            (Ok(()), None) => {}
            (Ok(()), Some(kind)) => panic!("{call} on {what}: expected {kind:?}, got success"),
            (Err(e), Some(kind)) => assert_eq!(
                e.kind(),
                kind,
                "{call} on {what}: expected {kind:?}, got {:?}: {e}",
                e.kind()
            ),
            (Err(e), None) => panic!(
                "{call} on {what}: expected success, got {:?}: {e}",
                e.kind()
            ),
        };
        check(store.get(ALICE, &id, t).await.map(drop), &read, "get");
        check(
            store.list_findings(ALICE, &id, 0, 10, t).await.map(drop),
            &read,
            "list_findings",
        );
        if write.is_some() {
            check(
                append(&store, ALICE, &id, &one, limit, t).await.map(drop),
                &write,
                "append_findings (fits)",
            );
            check(
                finish(&store, ALICE, &id, &[], limit, t).await.map(drop),
                &write,
                "complete (no findings)",
            );
            check(
                finish(&store, ALICE, &id, &one, limit, t).await.map(drop),
                &write,
                "complete (fits)",
            );
            check(
                store.cancel(ALICE, &id, t).await.map(drop),
                &write,
                "cancel",
            );
        }
        for batch in [&two, &five] {
            let n = batch.len();
            check(
                append(&store, ALICE, &id, batch, limit, t).await.map(drop),
                &over,
                &format!("append_findings ({n}, over the limit)"),
            );
            check(
                finish(&store, ALICE, &id, batch, limit, t).await.map(drop),
                &over,
                &format!("complete ({n}, over the limit)"),
            );
        }
    }
    // Nothing changed.
    for (task, owner) in [
        (&running, ALICE),
        (&done, ALICE),
        (&cancelled, ALICE),
        (&bobs, BOB),
    ] {
        assert_eq!(
            get(&store, owner, &task.id, t).await,
            *task,
            "a task changed after refused calls"
        );
    }
    assert_eq!(
        all_findings(&store, ALICE, &running.id, t).await,
        numbered(&texts("r", 0..2)),
        "the running task's findings after refused calls"
    );
    assert_eq!(
        all_findings(&store, ALICE, &done.id, t).await,
        numbered(&texts("d", 0..1)),
        "the complete task's findings after refused calls"
    );
    assert!(
        all_findings(&store, BOB, &bobs.id, t).await.is_empty(),
        "bob's task gained findings"
    );
}

/// With a status filter, `next` is set exactly when more tasks *of that status* follow,
/// even when tasks of other statuses come after the last one.
pub async fn filtered_listing_says_next_exactly_when_more_follow<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let base = T0();
    // Oldest to newest: c0, r1, c1, r2, c2, r3 (c: complete, r: running).
    let mut running = Vec::new();
    let mut complete = Vec::new();
    for i in 0..6u64 {
        let created = base + mins(i as i64);
        let task = start(
            &store,
            new_task(10 + i, ALICE, &format!("t{i}"), 2, None),
            created,
        )
        .await;
        if i % 2 == 0 {
            complete.push(ok(
                finish(&store, ALICE, &task.id, &[], MAX_TOTAL, created).await,
                "complete",
            ));
        } else {
            running.push(task);
        }
    }
    running.reverse();
    complete.reverse();
    let t = base + mins(10);
    for (status, want) in [
        (ResearchStatus::Running, &running),
        (ResearchStatus::Complete, &complete),
    ] {
        let all = ok(store.list(ALICE, Some(status), None, 3, t).await, "list");
        assert_eq!(&all.tasks, want, "every {status} task in one page");
        assert!(
            all.next.is_none(),
            "a page holding every {status} task has a next cursor (other statuses follow)"
        );
        let first = ok(store.list(ALICE, Some(status), None, 2, t).await, "list");
        assert_eq!(first.tasks, want[..2], "first page of {status} tasks");
        let cursor = first
            .next
            .unwrap_or_else(|| panic!("no next cursor after 2 of 3 {status} tasks"));
        let rest = ok(
            store.list(ALICE, Some(status), Some(&cursor), 1, t).await,
            "list",
        );
        assert_eq!(rest.tasks, want[2..], "last page of {status} tasks");
        assert!(
            rest.next.is_none(),
            "the last page of {status} tasks has a next cursor"
        );
    }
    let none = ok(
        store
            .list(ALICE, Some(ResearchStatus::Cancelled), None, 5, t)
            .await,
        "list",
    );
    assert!(
        none.tasks.is_empty() && none.next.is_none(),
        "no cancelled tasks: an empty last page"
    );
}

/// `sweep_expired` deletes at most `batch` expired tasks per call and returns how many; live
/// tasks, their findings and keys stay.
pub async fn sweep_deletes_in_batches<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
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
            append(&store, ALICE, &task.id, &texts("f", 0..3), MAX_TOTAL, now).await,
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
            append(&store, BOB, &task.id, &texts("l", 0..2), MAX_TOTAL, later).await,
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
            "start with a live task's key",
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
pub async fn concurrent_appends_lose_nothing<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
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
    let calls: Vec<(usize, u32, ResearchTaskId)> = (0..PER_TASK)
        .flat_map(|f| ids.iter().enumerate().map(move |(ti, id)| (ti, f, *id)))
        .collect();
    let results = race(&store, calls.len(), |store, i| {
        let (ti, f, id) = calls[i];
        async move {
            let text = vec![format!("t{ti}-f{f}")];
            let r = append(&store, ALICE, &id, &text, MAX_TOTAL, t).await;
            (ti, r)
        }
    })
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
pub async fn concurrent_batches_stay_contiguous<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let task = start(&store, new_task(1, ALICE, "batches", 2, None), now).await;
    let batches: Vec<Vec<String>> = (0..10).map(|b| texts(&format!("b{b}-"), 0..5)).collect();
    let results = race(&store, batches.len(), |store, i| {
        let (batch, id) = (batches[i].clone(), task.id);
        async move { append(&store, ALICE, &id, &batch, MAX_TOTAL, now).await }
    })
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
pub async fn racing_appends_respect_the_limit<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let task = start(&store, new_task(1, ALICE, "limit race", 2, None), now).await;
    let limit = 5;
    let batches: Vec<Vec<String>> = (0..12).map(|i| texts(&format!("r{i}-"), 0..1)).collect();
    let results = race(&store, batches.len(), |store, i| {
        let (batch, id) = (batches[i].clone(), task.id);
        async move { append(&store, ALICE, &id, &batch, limit, now).await }
    })
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
pub async fn racing_completions<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
    let lt = default_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let task = start(&store, new_task(1, ALICE, "race", 2, None), now).await;
    let finals: Vec<Vec<String>> = (0..10).map(|i| vec![format!("final-{i}")]).collect();
    let results = race(&store, finals.len(), |store, i| {
        let (finding, id) = (finals[i].clone(), task.id);
        async move { finish(&store, ALICE, &id, &finding, MAX_TOTAL, now).await }
    })
    .await;
    let mut winner = None;
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(t) => {
                assert!(winner.is_none(), "two racing complete calls succeeded");
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
                "a losing complete: {e}"
            ),
        }
    }
    let winner = winner.expect("no racing complete succeeded");
    assert_eq!(
        all_findings(&store, ALICE, &task.id, now).await,
        vec![(1, format!("final-{winner}"))],
        "only the winner's final finding is stored"
    );

    let task = start(&store, new_task(2, ALICE, "race 2", 2, None), now).await;
    let id = task.id;
    let results = race(&store, 10, move |store, i| async move {
        if i % 2 == 0 {
            finish(&store, ALICE, &id, &[], MAX_TOTAL, now).await
        } else {
            store.cancel(ALICE, &id, now).await
        }
    })
    .await;
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

/// `add` with an idempotency key.
async fn append_keyed<S: ResearchStore>(
    store: &S,
    owner: &str,
    id: &ResearchTaskId,
    findings: &[String],
    key: &str,
    now: DateTime<Utc>,
) -> Result<Appended, StoreError> {
    let batch = FindingsBatch::new(findings, FindingLimits::per_task(MAX_TOTAL)).with_key(key);
    store.append_findings(owner, id, batch, now).await
}

/// An append with an idempotency key stores its batch once per (task, key): a retry gets the
/// first call's `last_index` with `replayed`, even after later appends and once the task is
/// final; the same key with other findings conflicts and stores nothing; keys are scoped to
/// their task; a foreign or expired task is `NotFound` whatever the key.
pub async fn idempotent_appends<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
    let lt = short_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let task = start(&store, new_task(1, ALICE, "keyed", 2, None), now).await;
    let other = start(&store, new_task(2, ALICE, "other", 2, None), now).await;
    let bobs = start(&store, new_task(3, BOB, "bob's", 2, None), now).await;
    let batch = texts("a", 0..2);
    let t = now + secs(1);

    let first = ok(
        append_keyed(&store, ALICE, &task.id, &batch, "k1", t).await,
        "append",
    );
    assert_eq!(
        (first.last_index, first.replayed, first.task.findings_count),
        (2, false, 2),
        "a first keyed append"
    );
    let again = ok(
        append_keyed(&store, ALICE, &task.id, &batch, "k1", t + secs(1)).await,
        "retry",
    );
    assert_eq!(
        (again.last_index, again.replayed, again.task.findings_count),
        (2, true, 2),
        "a retry with the same key and findings must be a replay that stores nothing"
    );
    fails(
        append_keyed(&store, ALICE, &task.id, &texts("b", 0..2), "k1", t).await,
        StoreErrorKind::IdempotencyConflict,
        "the same key with other findings",
    );
    ok(
        append(&store, ALICE, &task.id, &texts("c", 0..1), MAX_TOTAL, t).await,
        "append",
    );
    let later = ok(
        append_keyed(&store, ALICE, &task.id, &batch, "k1", t).await,
        "retry",
    );
    assert_eq!(
        (later.last_index, later.replayed, later.task.findings_count),
        (2, true, 3),
        "a replay after a later append: the first call's index, the task as it is now"
    );
    // Keys are scoped to their task.
    let elsewhere = ok(
        append_keyed(&store, ALICE, &other.id, &batch, "k1", t).await,
        "append",
    );
    assert!(
        !elsewhere.replayed,
        "a key used on another task must not replay"
    );
    assert_eq!(
        elsewhere.task.findings_count, 2,
        "the other task got the batch"
    );
    // A foreign task is not found, key or not.
    fails(
        append_keyed(&store, ALICE, &bobs.id, &batch, "k1", t).await,
        StoreErrorKind::NotFound,
        "a keyed append to bob's task",
    );
    fails(
        append_keyed(&store, BOB, &task.id, &batch, "k1", t).await,
        StoreErrorKind::NotFound,
        "bob replaying alice's key on alice's task",
    );
    // Once final, a replay still answers; a new key is refused by the status.
    ok(
        finish(&store, ALICE, &task.id, &[], MAX_TOTAL, t).await,
        "complete",
    );
    let final_replay = ok(
        append_keyed(&store, ALICE, &task.id, &batch, "k1", t).await,
        "retry",
    );
    assert!(final_replay.replayed, "a replay on a complete task");
    fails(
        append_keyed(&store, ALICE, &task.id, &batch, "k2", t).await,
        StoreErrorKind::WrongStatus(ResearchStatus::Complete),
        "a new key on a complete task",
    );
    assert_eq!(
        all_findings(&store, ALICE, &task.id, t).await.len(),
        3,
        "the keyed batch was stored once"
    );
    // Expired: not found, even for a replay.
    fails(
        append_keyed(&store, ALICE, &task.id, &batch, "k1", now + hours(6)).await,
        StoreErrorKind::NotFound,
        "a replay on an expired task",
    );
}

/// Racing appends with one key store the batch once: one call stores it, every other gets
/// the same `last_index` as a replay.
pub async fn racing_idempotent_appends<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let now = T0();
    let task = start(&store, new_task(1, ALICE, "race", 2, None), now).await;
    let id = task.id;
    let results = race(&store, 12, move |store, _| async move {
        let batch = texts("r", 0..3);
        append_keyed(&store, ALICE, &id, &batch, "once", now).await
    })
    .await;
    let outcomes: Vec<Appended> = results
        .into_iter()
        .map(|r| ok(r, "a racing keyed append"))
        .collect();
    let stored = outcomes.iter().filter(|a| !a.replayed).count();
    assert_eq!(
        stored, 1,
        "racing keyed appends stored the batch {stored} times"
    );
    assert!(
        outcomes.iter().all(|a| a.last_index == 3),
        "every racer gets the first call's last index"
    );
    assert_eq!(
        all_findings(&store, ALICE, &task.id, now).await,
        numbered(&texts("r", 0..3)),
        "the batch, once"
    );
}

/// The live-task quota: starts past `max_live_tasks` are refused with
/// `QuotaExceeded(LiveTasks)` and create nothing; a replay is not a new task; other owners
/// are not affected; tasks count until swept, and the sweep frees them.
pub async fn live_task_quota<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
    let lt = short_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let quota = |mut new: NewResearchTask| {
        new.max_live_tasks = 3;
        new
    };
    for n in 0..3u64 {
        let key = (n == 0).then_some("k");
        start(&store, quota(new_task(n, ALICE, "t", 2, key)), now).await;
    }
    let refused = Quota::LiveTasks { limit: 3 };
    fails(
        store
            .start(quota(new_task(10, ALICE, "t", 2, None)), now)
            .await,
        StoreErrorKind::QuotaExceeded(refused),
        "a fourth task with a quota of 3",
    );
    fails(
        store
            .start(quota(new_task(11, ALICE, "t", 2, Some("new key"))), now)
            .await,
        StoreErrorKind::QuotaExceeded(refused),
        "a fourth task with a key, quota 3",
    );
    let replay = ok(
        store
            .start(quota(new_task(12, ALICE, "t", 2, Some("k"))), now)
            .await,
        "replay",
    );
    assert!(replay.replayed, "a replay at the quota is not a new task");
    start(&store, quota(new_task(20, BOB, "t", 2, None)), now).await;
    assert_eq!(
        all_tasks(&store, ALICE, None, 10, now).await.len(),
        3,
        "refused starts created nothing"
    );
    fails(
        get_result(&store, ALICE, &tid(11), now).await,
        StoreErrorKind::NotFound,
        "a refused keyed start's task",
    );
    // Expired but not swept: still counted; swept: freed.
    let later = now + hours(2);
    fails(
        store
            .start(quota(new_task(13, ALICE, "t", 2, None)), later)
            .await,
        StoreErrorKind::QuotaExceeded(refused),
        "expired tasks count until the sweeper deletes them",
    );
    ok(store.sweep_expired(later, 100).await, "sweep_expired");
    for n in 30..33u64 {
        start(&store, quota(new_task(n, ALICE, "t", 2, None)), later).await;
    }
    fails(
        store
            .start(quota(new_task(40, ALICE, "t", 2, None)), later)
            .await,
        StoreErrorKind::QuotaExceeded(refused),
        "the quota again after the sweep freed three",
    );
}

async fn get_result<S: ResearchStore>(
    store: &S,
    owner: &str,
    id: &ResearchTaskId,
    now: DateTime<Utc>,
) -> Result<ResearchTask, StoreError> {
    store.get(owner, id, now).await
}

/// The stored-bytes quota counts the UTF-8 bytes of all of an owner's findings: a batch
/// that would pass it is refused with `QuotaExceeded(StoredBytes)` (after the per-task limit
/// in precedence) and stores nothing; reaching it exactly is fine; other owners are not
/// affected; the sweep frees the bytes of the tasks it deletes.
pub async fn stored_bytes_quota<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
    let lt = short_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let limits = FindingLimits {
        per_task: 5,
        owner_bytes: 10,
    };
    let refused = StoreErrorKind::QuotaExceeded(Quota::StoredBytes { limit: 10 });
    let add = |id: ResearchTaskId, texts: Vec<String>, t: DateTime<Utc>| {
        let store = store.clone();
        async move {
            store
                .append_findings(ALICE, &id, FindingsBatch::new(&texts, limits), t)
                .await
                .map(|a| a.task)
        }
    };
    let a = start(&store, new_task(1, ALICE, "a", 2, None), now).await;
    let b = start(&store, new_task(2, ALICE, "b", 2, None), now).await;
    let bobs = start(&store, new_task(3, BOB, "b", 2, None), now).await;
    ok(add(a.id, vec!["abcd".into()], now).await, "4 bytes");
    // "é" is two bytes: 4 + 2 + 4 = 10, the quota exactly, over two tasks.
    ok(
        add(b.id, vec!["é".into(), "wxyz".into()], now).await,
        "6 bytes on another task",
    );
    fails(
        add(a.id, vec!["k".into()], now).await,
        refused.clone(),
        "one byte more",
    );
    fails(
        store
            .complete(ALICE, &b.id, &["z".into()], limits, now)
            .await,
        refused.clone(),
        "complete with one byte more",
    );
    fails(
        add(a.id, texts("x", 0..5), now).await,
        StoreErrorKind::TooManyFindings { limit: 5 },
        "the per-task limit comes before the quota",
    );
    assert_eq!(
        all_findings(&store, ALICE, &a.id, now).await,
        vec![(1, "abcd".to_owned())],
        "refused batches stored nothing"
    );
    ok(
        store.complete(ALICE, &b.id, &[], limits, now).await,
        "complete without findings",
    );
    let bob = store
        .append_findings(
            BOB,
            &bobs.id,
            FindingsBatch::new(&["0123456789".into()], limits),
            now,
        )
        .await;
    ok(bob, "bob's own 10 bytes");
    // The sweep frees what it deletes.
    let later = now + hours(2);
    ok(store.sweep_expired(later, 100).await, "sweep_expired");
    let c = start(&store, new_task(4, ALICE, "c", 2, None), later).await;
    ok(
        add(c.id, vec!["0123456789".into()], later).await,
        "10 bytes after the sweep",
    );
}

/// Racing appends of one owner to different tasks are counted exactly against the byte
/// quota: with room for 5 one-byte findings, exactly 5 of 12 racers succeed.
pub async fn racing_appends_respect_the_byte_quota<B: Backend>(backend: &B)
where
    B::Store: ResearchStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let now = T0();
    let mut ids = Vec::new();
    for n in 0..12u64 {
        ids.push(
            start(&store, new_task(n, ALICE, "race", 2, None), now)
                .await
                .id,
        );
    }
    let limits = FindingLimits {
        per_task: 100,
        owner_bytes: 5,
    };
    let results = race(&store, ids.len(), |store, i| {
        let id = ids[i];
        async move {
            let one = vec!["x".to_owned()];
            store
                .append_findings(ALICE, &id, FindingsBatch::new(&one, limits), now)
                .await
        }
    })
    .await;
    let mut succeeded = 0;
    for r in results {
        match r {
            Ok(_) => succeeded += 1,
            Err(e) => assert_eq!(
                e.kind(),
                &StoreErrorKind::QuotaExceeded(Quota::StoredBytes { limit: 5 }),
                "a racing append failed otherwise: {e}"
            ),
        }
    }
    assert_eq!(
        succeeded, 5,
        "racing one-byte appends with room for 5 bytes"
    );
}
