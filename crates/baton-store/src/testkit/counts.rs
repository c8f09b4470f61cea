//! The checks of [`StoreStats`], run only on backends that have it.

use super::*;
use crate::StoreStats;

/// `count_by_status` counts every owner's live tasks by status, and leaves out expired ones.
pub async fn counts_by_status_cover_every_owner_and_skip_expired<B: Backend>(backend: &B)
where
    B::Store: ResearchStore + StoreStats,
{
    let lt = short_lifetimes();
    let store = backend.open_fresh(lt).await;
    let now = T0();
    let counts = |v: Vec<(ResearchStatus, u64)>| -> BTreeMap<&'static str, u64> {
        v.into_iter().map(|(s, n)| (s.as_str(), n)).collect()
    };
    assert_eq!(
        counts(ok(store.count_by_status(now).await, "count, empty")),
        BTreeMap::new(),
        "an empty store has no tasks"
    );
    for n in 0..3 {
        start(&store, new_task(7_000 + n, ALICE, "a", 1, None), now).await;
    }
    for n in 3..5 {
        start(&store, new_task(7_000 + n, BOB, "b", 1, None), now).await;
    }
    ok(
        finish(&store, ALICE, &tid(7_000), &[], MAX_TOTAL, now).await,
        "complete",
    );
    ok(store.cancel(BOB, &tid(7_003), now).await, "cancel");
    // One task started later: alive when the others have expired.
    let later = now + mins(30);
    start(&store, new_task(7_010, CAROL, "c", 1, None), later).await;
    assert_eq!(
        counts(ok(store.count_by_status(later).await, "count")),
        BTreeMap::from([("running", 4), ("complete", 1), ("cancelled", 1)]),
        "every owner's live tasks, by status"
    );
    // After the first tasks' idle expiry (1 h), only Carol's is alive.
    let expired = now + mins(61);
    assert_eq!(
        counts(ok(
            store.count_by_status(expired).await,
            "count after expiry"
        )),
        BTreeMap::from([("running", 1)]),
        "expired tasks are not counted, swept or not"
    );
}
