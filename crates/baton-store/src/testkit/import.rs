//! The checks of [`BulkImport`], run only on backends that have it.

use super::*;

/// `import_research_tasks` writes tasks exactly as given, skips ids that exist, and imported tasks
/// behave like any other (visible to their owner only, writable while running, expiring).
pub async fn import_writes_tasks_verbatim<B: Backend>(backend: &B)
where
    B::Store: ResearchStore + BulkImport,
{
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
        store
            .import_research_tasks(&tasks[..10])
            .await
            .expect("re-import"),
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
    let appended = append(
        &store,
        "alice",
        &tasks[0].id,
        &texts("f", 0..3),
        MAX_TOTAL,
        now,
    )
    .await
    .expect("imported running task accepts findings");
    assert_eq!(appended.findings_count, 3);
    let refused = append(
        &store,
        "bob",
        &tasks[1].id,
        &texts("f", 0..1),
        MAX_TOTAL,
        now,
    )
    .await;
    assert_eq!(
        refused.map(|_| ()).map_err(|e| e.kind().clone()),
        Err(StoreErrorKind::WrongStatus(ResearchStatus::Complete))
    );
    // Imported tasks count against the owner's live-task quota.
    let mut one_more = new_task(1, "alice", "past the quota", 2, None);
    one_more.max_live_tasks = 1_250;
    assert_eq!(
        store
            .start(one_more.clone(), now)
            .await
            .map(|_| ())
            .map_err(|e| e.kind().clone()),
        Err(StoreErrorKind::QuotaExceeded(Quota::LiveTasks {
            limit: 1_250
        })),
        "alice's 1,250 imported tasks fill a quota of 1,250"
    );
    one_more.max_live_tasks = 1_251;
    ok(store.start(one_more, now).await, "a start within the quota");
    let later = now + lt.idle + chrono::Duration::hours(1);
    assert!(
        store.get("alice", &tasks[2].id, later).await.is_err(),
        "imported tasks expire"
    );
}
