//! The checks of [`ShareStore`]: delegation grants.

use super::*;
use crate::{Access, Grant, GrantId, NewGrant, Quota, ShareRight, ShareStore, SharedListCursor};

const DAVE: &str = "dave";

/// A deterministic grant id, apart from task ids.
fn gid(n: u64) -> GrantId {
    GrantId::from_bytes(*tid(n ^ 0x5EED_0000_0000_0000).as_bytes())
}

fn access(right: ShareRight, reshare: bool) -> Access {
    Access { right, reshare }
}

/// A grant of `owner`'s task `task` from `grantor` to `delegate`.
#[allow(clippy::too_many_arguments)]
fn grant(
    n: u64,
    task: ResearchTaskId,
    owner: &str,
    grantor: &str,
    delegate: &str,
    access: Access,
    parent: Option<(GrantId, u8)>,
    expires_at: DateTime<Utc>,
) -> NewGrant {
    NewGrant {
        id: gid(n),
        task,
        owner: owner.to_owned(),
        grantor: grantor.to_owned(),
        delegate: delegate.to_owned(),
        access,
        parent: parent.map(|(p, _)| p),
        depth: parent.map_or(1, |(_, d)| d + 1),
        expires_at,
        max_grants_per_task: 100,
    }
}

async fn resolve_fails<S: ShareStore>(
    store: &S,
    id: &GrantId,
    who: &str,
    now: DateTime<Utc>,
    what: &str,
) {
    fails(
        store.resolve_grant(id, who, now).await,
        StoreErrorKind::NotFound,
        what,
    );
}

/// A grant round-trips: `create_grant` returns it as stored (times to the millisecond),
/// its delegate resolves it, nobody else does, the owner lists it, and the delegate sees
/// the task in `shared_with`, with the task as the owner sees it.
pub async fn grants_round_trip<B: Backend>(backend: &B)
where
    B::Store: ResearchStore + ShareStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let now = T0();
    let task = start(&store, new_task(1, ALICE, "tides", 2, None), now).await;
    let new = grant(
        1,
        task.id,
        ALICE,
        ALICE,
        BOB,
        access(ShareRight::Append, false),
        None,
        now + hours(1) + Duration::microseconds(7),
    );
    let created = ok(
        store.create_grant(new.clone(), now + ms(5)).await,
        "create_grant",
    );
    let expected = Grant {
        id: new.id,
        task: task.id,
        owner: ALICE.into(),
        grantor: ALICE.into(),
        delegate: BOB.into(),
        access: new.access,
        parent: None,
        depth: 1,
        created_at: now + ms(5),
        expires_at: now + hours(1),
    };
    assert_eq!(created, expected, "create_grant's answer");
    let later = now + mins(1);
    assert_eq!(
        ok(
            store.resolve_grant(&new.id, BOB, later).await,
            "resolve by bob"
        ),
        expected,
        "resolve_grant by the delegate"
    );
    resolve_fails(
        &store,
        &new.id,
        CAROL,
        later,
        "resolve by carol (not the delegate)",
    )
    .await;
    resolve_fails(
        &store,
        &new.id,
        ALICE,
        later,
        "resolve by alice (the owner, not the delegate)",
    )
    .await;
    resolve_fails(&store, &gid(99), BOB, later, "resolve an unknown grant").await;
    assert_eq!(
        ok(
            store.grants_of(ALICE, &task.id, later).await,
            "grants_of alice"
        ),
        vec![expected.clone()],
        "the owner's listing"
    );
    assert_eq!(
        ok(store.grants_of(BOB, &task.id, later).await, "grants_of bob"),
        vec![],
        "grants_of is scoped by owner: bob owns no task"
    );
    let page = ok(
        store.shared_with(BOB, None, None, 10, later).await,
        "shared_with bob",
    );
    assert_eq!(page.next, None, "one shared task: no next page");
    assert_eq!(page.shared.len(), 1, "bob has one shared task");
    assert_eq!(page.shared[0].grant, expected, "the shared task's grant");
    assert_eq!(
        page.shared[0].task,
        get(&store, ALICE, &task.id, later).await,
        "the shared task as its owner sees it"
    );
    let none = ok(
        store.shared_with(CAROL, None, None, 10, later).await,
        "shared_with carol",
    );
    assert!(
        none.shared.is_empty() && none.next.is_none(),
        "carol has nothing shared"
    );
}

/// Grants survive closing and reopening the store.
pub async fn grants_survive_reopen<B: Backend>(backend: &B)
where
    B::Store: ResearchStore + ShareStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let now = T0();
    let task = start(&store, new_task(1, ALICE, "tides", 2, None), now).await;
    let new = grant(
        1,
        task.id,
        ALICE,
        ALICE,
        BOB,
        access(ShareRight::Read, true),
        None,
        now + hours(2),
    );
    let created = ok(store.create_grant(new, now).await, "create_grant");
    let store = backend.reopen(store).await;
    assert_eq!(
        ok(
            store.resolve_grant(&created.id, BOB, now + secs(1)).await,
            "resolve after reopen"
        ),
        created
    );
}

/// A grant needs a live task of the owner's, and a re-share a live parent on the same task
/// held by the grantor; otherwise `NotFound`, and nothing is stored. The task's live-grant
/// limit gives `QuotaExceeded(GrantsPerTask)`, and a revoked grant frees its place.
pub async fn grant_refusals<B: Backend>(backend: &B)
where
    B::Store: ResearchStore + ShareStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let now = T0();
    let end = now + hours(1);
    let t1 = start(&store, new_task(1, ALICE, "one", 2, None), now).await;
    let t2 = start(&store, new_task(2, ALICE, "two", 2, None), now).await;
    let full = access(ShareRight::Complete, true);
    fails(
        store
            .create_grant(grant(1, tid(77), ALICE, ALICE, BOB, full, None, end), now)
            .await,
        StoreErrorKind::NotFound,
        "a grant on a missing task",
    );
    fails(
        store
            .create_grant(grant(2, t1.id, BOB, BOB, CAROL, full, None, end), now)
            .await,
        StoreErrorKind::NotFound,
        "a grant naming the wrong owner",
    );
    let g = ok(
        store
            .create_grant(grant(3, t1.id, ALICE, ALICE, BOB, full, None, end), now)
            .await,
        "alice shares t1 with bob",
    );
    fails(
        store
            .create_grant(
                grant(4, t1.id, ALICE, CAROL, DAVE, full, Some((g.id, 1)), end),
                now,
            )
            .await,
        StoreErrorKind::NotFound,
        "a re-share by someone not holding the parent",
    );
    fails(
        store
            .create_grant(
                grant(5, t2.id, ALICE, BOB, DAVE, full, Some((g.id, 1)), end),
                now,
            )
            .await,
        StoreErrorKind::NotFound,
        "a re-share of a grant on another task",
    );
    fails(
        store
            .create_grant(
                grant(6, t1.id, ALICE, BOB, DAVE, full, Some((gid(42), 1)), end),
                now,
            )
            .await,
        StoreErrorKind::NotFound,
        "a re-share of a missing grant",
    );
    for n in [1, 2, 4, 5, 6] {
        resolve_fails(
            &store,
            &gid(n),
            BOB,
            now,
            "a refused grant must not be stored",
        )
        .await;
        resolve_fails(
            &store,
            &gid(n),
            CAROL,
            now,
            "a refused grant must not be stored",
        )
        .await;
        resolve_fails(
            &store,
            &gid(n),
            DAVE,
            now,
            "a refused grant must not be stored",
        )
        .await;
    }
    // The live-grant limit: t2 may have two.
    let limited = |n: u64, delegate: &str| NewGrant {
        max_grants_per_task: 2,
        ..grant(n, t2.id, ALICE, ALICE, delegate, full, None, end)
    };
    let first = ok(
        store.create_grant(limited(10, BOB), now).await,
        "first of two",
    );
    ok(
        store.create_grant(limited(11, CAROL), now).await,
        "second of two",
    );
    fails(
        store.create_grant(limited(12, DAVE), now).await,
        StoreErrorKind::QuotaExceeded(Quota::GrantsPerTask { limit: 2 }),
        "a third grant past the limit of two",
    );
    resolve_fails(&store, &gid(12), DAVE, now, "the refused third grant").await;
    ok(
        store.revoke_grant(ALICE, &first.id, now).await,
        "revoke the first",
    );
    ok(
        store.create_grant(limited(12, DAVE), now + secs(1)).await,
        "a revoked grant frees its place",
    );
    // A task that is gone takes its grants with it, and takes none new.
    ok(store.cancel(ALICE, &t1.id, now).await, "cancel t1");
    ok(
        store.resolve_grant(&g.id, BOB, now + secs(1)).await,
        "a grant on a cancelled (but live) task still resolves",
    );
}

/// A grant ends at its `expires_at`, when its task expires, and when any grant up its chain
/// ends, whatever the grant's own end says; `sweep_grants` deletes ended grants.
pub async fn grant_expiry_follows_the_chain_and_the_task<B: Backend>(backend: &B)
where
    B::Store: ResearchStore + ShareStore,
{
    let store = backend.open_fresh(short_lifetimes()).await;
    let now = T0();
    let task = start(&store, new_task(1, ALICE, "tides", 2, None), now).await;
    let parent = ok(
        store
            .create_grant(
                grant(
                    1,
                    task.id,
                    ALICE,
                    ALICE,
                    BOB,
                    access(ShareRight::Append, true),
                    None,
                    now + mins(10),
                ),
                now,
            )
            .await,
        "alice → bob, 10 minutes",
    );
    // The store keeps what it is given: a child that claims to outlive its parent.
    let child = ok(
        store
            .create_grant(
                grant(
                    2,
                    task.id,
                    ALICE,
                    BOB,
                    CAROL,
                    access(ShareRight::Read, false),
                    Some((parent.id, parent.depth)),
                    now + mins(50),
                ),
                now + secs(1),
            )
            .await,
        "bob → carol, 50 minutes",
    );
    assert_eq!(child.depth, 2, "a re-share is one deeper");
    assert_eq!(child.parent, Some(parent.id));
    let before = now + mins(10) - ms(1);
    ok(
        store.resolve_grant(&parent.id, BOB, before).await,
        "parent just before its end",
    );
    ok(
        store.resolve_grant(&child.id, CAROL, before).await,
        "child just before the parent's end",
    );
    let at = now + mins(10);
    resolve_fails(&store, &parent.id, BOB, at, "the parent at its end").await;
    resolve_fails(
        &store,
        &child.id,
        CAROL,
        at,
        "the child once its parent ended",
    )
    .await;
    assert!(
        ok(
            store.shared_with(BOB, None, None, 10, at).await,
            "shared_with bob"
        )
        .shared
        .is_empty(),
        "an ended grant is not listed"
    );
    assert!(
        ok(store.grants_of(ALICE, &task.id, at).await, "grants_of")
            .iter()
            .all(|g| g.id != parent.id),
        "an ended grant is not among the task's shares"
    );
    // A grant outliving its task ends with it (idle expiry: 1 h without a write).
    let long = ok(
        store
            .create_grant(
                grant(
                    3,
                    task.id,
                    ALICE,
                    ALICE,
                    DAVE,
                    access(ShareRight::Read, false),
                    None,
                    now + hours(4),
                ),
                now,
            )
            .await,
        "alice → dave, 4 hours",
    );
    let task_end = get(&store, ALICE, &task.id, now).await.expires_at;
    ok(
        store.resolve_grant(&long.id, DAVE, task_end - ms(1)).await,
        "dave's grant before the task ends",
    );
    resolve_fails(
        &store,
        &long.id,
        DAVE,
        task_end,
        "dave's grant once the task expired",
    )
    .await;
    // Sweeping: the parent (ended) goes; the child goes with it.
    let swept = ok(store.sweep_grants(at, 100).await, "sweep_grants");
    assert!(
        swept >= 1,
        "sweep_grants deleted {swept} grants; the ended parent must go"
    );
    resolve_fails(
        &store,
        &child.id,
        CAROL,
        before,
        "a child whose parent was swept",
    )
    .await;
    ok(
        store.resolve_grant(&long.id, DAVE, at).await,
        "a live grant survives the sweep",
    );
}

/// Revoking a grant revokes every grant re-shared from it, at once; only the task's owner
/// or the grant's grantor may revoke it; a revoked grant cannot be revoked again nor
/// re-shared.
pub async fn revocation_cascades<B: Backend>(backend: &B)
where
    B::Store: ResearchStore + ShareStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let now = T0();
    let end = now + hours(2);
    let task = start(&store, new_task(1, ALICE, "tides", 2, None), now).await;
    let share = access(ShareRight::Append, true);
    let g1 = ok(
        store
            .create_grant(grant(1, task.id, ALICE, ALICE, BOB, share, None, end), now)
            .await,
        "alice → bob",
    );
    let g2 = ok(
        store
            .create_grant(
                grant(2, task.id, ALICE, BOB, CAROL, share, Some((g1.id, 1)), end),
                now,
            )
            .await,
        "bob → carol",
    );
    let g3 = ok(
        store
            .create_grant(
                grant(3, task.id, ALICE, CAROL, DAVE, share, Some((g2.id, 2)), end),
                now,
            )
            .await,
        "carol → dave",
    );
    let side = ok(
        store
            .create_grant(
                grant(
                    4,
                    task.id,
                    ALICE,
                    ALICE,
                    DAVE,
                    access(ShareRight::Read, false),
                    None,
                    end,
                ),
                now,
            )
            .await,
        "alice → dave directly",
    );
    let later = now + secs(10);
    fails(
        store.revoke_grant(DAVE, &g2.id, later).await,
        StoreErrorKind::NotFound,
        "dave revokes bob → carol",
    );
    fails(
        store.revoke_grant(CAROL, &g1.id, later).await,
        StoreErrorKind::NotFound,
        "carol revokes alice → bob",
    );
    ok(
        store.resolve_grant(&g3.id, DAVE, later).await,
        "nothing was revoked by refused revocations",
    );
    // Bob, the grantor of g2, may revoke it: g2 and g3 end, g1 stays.
    assert_eq!(
        ok(
            store.revoke_grant(BOB, &g2.id, later).await,
            "bob revokes bob → carol"
        ),
        2
    );
    resolve_fails(&store, &g2.id, CAROL, later, "g2 after its revocation").await;
    resolve_fails(
        &store,
        &g3.id,
        DAVE,
        later,
        "g3 after its parent's revocation",
    )
    .await;
    ok(
        store.resolve_grant(&g1.id, BOB, later).await,
        "g1 after its child's revocation",
    );
    fails(
        store.revoke_grant(BOB, &g2.id, later).await,
        StoreErrorKind::NotFound,
        "revoking g2 again",
    );
    fails(
        store
            .create_grant(
                grant(5, task.id, ALICE, CAROL, DAVE, share, Some((g2.id, 2)), end),
                later,
            )
            .await,
        StoreErrorKind::NotFound,
        "re-sharing a revoked grant",
    );
    // The owner revokes g1 and, with it, what was made from it since.
    let g6 = ok(
        store
            .create_grant(
                grant(6, task.id, ALICE, BOB, CAROL, share, Some((g1.id, 1)), end),
                later,
            )
            .await,
        "bob → carol again",
    );
    assert_eq!(
        ok(
            store.revoke_grant(ALICE, &g1.id, later).await,
            "alice revokes g1"
        ),
        2
    );
    resolve_fails(&store, &g1.id, BOB, later, "g1 after its revocation").await;
    resolve_fails(
        &store,
        &g6.id,
        CAROL,
        later,
        "g6 after its parent's revocation",
    )
    .await;
    ok(
        store.resolve_grant(&side.id, DAVE, later).await,
        "a grant outside the chain stays",
    );
    assert_eq!(
        ok(store.grants_of(ALICE, &task.id, later).await, "grants_of")
            .into_iter()
            .map(|g| g.id)
            .collect::<Vec<_>>(),
        vec![side.id],
        "only the untouched grant is listed"
    );
}

/// `shared_with` lists newest grant first (ties by id, highest first), filters by task
/// status, pages with `next` set exactly when more follow, and leaves out grants of other
/// delegates and ended grants.
pub async fn shared_listing_order_filter_and_pages<B: Backend>(backend: &B)
where
    B::Store: ResearchStore + ShareStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let now = T0();
    let end = now + hours(3);
    let mut expected: Vec<GrantId> = Vec::new();
    for n in 0..7u64 {
        let task = start(
            &store,
            new_task(n + 1, ALICE, &format!("t{n}"), 2, None),
            now,
        )
        .await;
        // Two grants share each creation time, so ties are broken by id.
        let at = now + secs((n / 2) as i64);
        let g = ok(
            store
                .create_grant(
                    grant(
                        n + 1,
                        task.id,
                        ALICE,
                        ALICE,
                        BOB,
                        access(ShareRight::Read, false),
                        None,
                        end,
                    ),
                    at,
                )
                .await,
            "share with bob",
        );
        ok(
            store
                .create_grant(
                    grant(
                        n + 100,
                        task.id,
                        ALICE,
                        ALICE,
                        CAROL,
                        access(ShareRight::Read, false),
                        None,
                        end,
                    ),
                    at,
                )
                .await,
            "share with carol",
        );
        if n % 3 == 0 {
            ok(store.cancel(ALICE, &task.id, at).await, "cancel");
        }
        expected.push(g.id);
    }
    let created: Vec<(DateTime<Utc>, GrantId)> = (0..7u64)
        .map(|n| (now + secs((n / 2) as i64), expected[n as usize]))
        .collect();
    let mut order = created.clone();
    order.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.as_bytes().cmp(a.1.as_bytes())));
    let later = now + mins(1);
    for (status, want) in [
        (None, order.clone()),
        (
            Some(ResearchStatus::Cancelled),
            order
                .iter()
                .copied()
                .filter(|(_, id)| [0, 3, 6].iter().any(|n| expected[*n] == *id))
                .collect(),
        ),
        (
            Some(ResearchStatus::Running),
            order
                .iter()
                .copied()
                .filter(|(_, id)| ![0, 3, 6].iter().any(|n| expected[*n] == *id))
                .collect(),
        ),
    ] {
        for page_size in [1u32, 2, 3, 10] {
            let mut got: Vec<GrantId> = Vec::new();
            let mut cursor: Option<SharedListCursor> = None;
            for _ in 0..100 {
                let page = ok(
                    store
                        .shared_with(BOB, status, cursor.as_ref(), page_size, later)
                        .await,
                    "shared_with",
                );
                assert!(
                    page.shared.len() <= page_size as usize,
                    "a page longer than its limit"
                );
                for s in &page.shared {
                    assert_eq!(s.grant.delegate, BOB, "another delegate's grant listed");
                    if let Some(st) = status {
                        assert_eq!(s.task.status, st, "a task of another status listed");
                    }
                }
                got.extend(page.shared.iter().map(|s| s.grant.id));
                let more = got.len() < want.len();
                assert_eq!(
                    page.next.is_some(),
                    more,
                    "status {status:?}, page size {page_size}: next must be set exactly when more follow (have {}, want {})",
                    got.len(),
                    want.len()
                );
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            assert_eq!(
                got,
                want.iter().map(|(_, id)| *id).collect::<Vec<_>>(),
                "status {status:?}, page size {page_size}: order"
            );
        }
    }
}
