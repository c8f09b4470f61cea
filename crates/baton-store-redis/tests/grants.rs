//! What only Redis does with grants: their keys carry a TTL a minute past the grant's end,
//! the indexes outside the owner's slot follow the grants (revoked and swept, swept with
//! their task, or expired by Redis itself), nothing of a grant is left once it is gone, and
//! racing grants never pass a task's live-grant limit.
#![allow(clippy::unwrap_used)]

mod common;

use baton_store::testkit::{Backend, T0};
use baton_store::{
    Access, GrantId, Lifetimes, NewGrant, NewResearchTask, ResearchStore, ResearchTaskId,
    ShareRight, ShareStore, StoreErrorKind,
};
use chrono::{DateTime, Duration, Utc};
use common::{Redis, delete_prefix, machine_redis, unique_prefix};
use redis::aio::MultiplexedConnection;

fn new_task(n: u8) -> NewResearchTask {
    NewResearchTask {
        id: ResearchTaskId::from_bytes([n; 16]),
        owner: "alice".into(),
        topic: "tides".into(),
        depth: 2,
        idempotency_key: Some(format!("key-{n}")),
        max_live_tasks: 10,
    }
}

fn new_grant(
    n: u8,
    task: u8,
    grantor: &str,
    delegate: &str,
    parent: Option<u8>,
    expires_at: DateTime<Utc>,
) -> NewGrant {
    NewGrant {
        id: GrantId::from_bytes([n; 16]),
        task: ResearchTaskId::from_bytes([task; 16]),
        owner: "alice".into(),
        grantor: grantor.into(),
        delegate: delegate.into(),
        access: Access {
            right: ShareRight::Read,
            reshare: true,
        },
        parent: parent.map(|p| GrantId::from_bytes([p; 16])),
        depth: if parent.is_some() { 2 } else { 1 },
        expires_at,
        max_grants_per_task: 10,
    }
}

fn hex(n: u8) -> String {
    format!("{n:02x}").repeat(16)
}

async fn keys(raw: &mut MultiplexedConnection, pattern: &str) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(pattern)
        .query_async(raw)
        .await
        .unwrap();
    keys.sort();
    keys
}

async fn expire_time(raw: &mut MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PEXPIRETIME")
        .arg(key)
        .query_async(raw)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_keys_expire_and_their_indexes_follow_the_grants() {
    let Some(url) = machine_redis().await else {
        return;
    };
    let backend = Redis::new(url.clone(), unique_prefix("grants"));
    let lifetimes = Lifetimes::new(Duration::hours(1), Duration::days(1)).unwrap();
    let store = backend.open_fresh(lifetimes).await;
    let p = store.key_prefix().to_owned();
    let mut raw = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let now = T0();
    let short = now + Duration::minutes(30);
    let long = now + Duration::minutes(50);
    store.start(new_task(1), now).await.unwrap();
    store.start(new_task(2), now).await.unwrap();
    // Task 1: alice → bob → carol; task 2: alice → dave, alice → erin.
    for g in [
        new_grant(1, 1, "alice", "bob", None, short),
        new_grant(2, 1, "bob", "carol", Some(1), long),
        new_grant(3, 2, "alice", "dave", None, long),
        new_grant(4, 2, "alice", "erin", None, short),
    ] {
        store.create_grant(g, now).await.unwrap();
    }

    // Each grant's hash and index entry expire a minute past its end; the task's grant set
    // and the delegate's listing when the last of their grants' keys does.
    let grace = 60_000;
    for (n, end) in [(1, short), (2, long), (3, long), (4, short)] {
        let at = end.timestamp_millis() + grace;
        let grant = keys(&mut raw, &format!("{p}:*:g:{}", hex(n))).await;
        assert_eq!(grant.len(), 1, "grant {n}: {grant:?}");
        assert_eq!(expire_time(&mut raw, &grant[0]).await, at, "grant {n}");
        let index = format!("{p}:gidx:{}", hex(n));
        assert_eq!(
            expire_time(&mut raw, &index).await,
            at,
            "index of grant {n}"
        );
    }
    let sets = keys(&mut raw, &format!("{p}:*:gt:*")).await;
    assert_eq!(sets.len(), 2, "{sets:?}");
    for set in &sets {
        assert_eq!(
            expire_time(&mut raw, set).await,
            long.timestamp_millis() + grace,
            "{set}: the later of its grants' ends"
        );
    }
    assert_eq!(keys(&mut raw, &format!("{p}:*:sh")).await.len(), 4);

    // Redis expires grant 4's hash by itself: erin's listing drops the entry, and the grant
    // sweeper drops its index once it is due.
    let erin = keys(&mut raw, &format!("{p}:*:g:{}", hex(4))).await;
    let _: () = redis::cmd("DEL")
        .arg(&erin)
        .query_async(&mut raw)
        .await
        .unwrap();
    let page = store
        .shared_with("erin", None, None, 10, now + Duration::seconds(1))
        .await
        .unwrap();
    assert!(page.shared.is_empty() && page.next.is_none());
    assert_eq!(keys(&mut raw, &format!("{p}:*:sh")).await.len(), 3);
    assert_eq!(
        store.sweep_grants(short, 10).await.unwrap(),
        1,
        "grant 1 ended"
    );
    assert!(
        keys(&mut raw, &format!("{p}:gidx:{}", hex(4)))
            .await
            .is_empty(),
        "the index of the grant Redis expired"
    );

    // Grant 1 ended and was swept: its hash, index and bob's listing are gone; grant 2 (its
    // re-share) no longer resolves and stays until its own end.
    assert!(
        keys(&mut raw, &format!("{p}:*:g:{}", hex(1)))
            .await
            .is_empty()
    );
    assert!(
        keys(&mut raw, &format!("{p}:gidx:{}", hex(1)))
            .await
            .is_empty()
    );
    assert_eq!(
        keys(&mut raw, &format!("{p}:*:sh")).await.len(),
        2,
        "carol's, dave's"
    );
    assert_eq!(
        store
            .resolve_grant(&GrantId::from_bytes([2; 16]), "carol", short)
            .await
            .unwrap_err()
            .kind(),
        &StoreErrorKind::NotFound
    );

    // Revoked: swept at once, whatever its end.
    assert_eq!(
        store
            .revoke_grant("alice", &GrantId::from_bytes([3; 16]), short)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.sweep_grants(short, 10).await.unwrap(),
        1,
        "grant 3 revoked"
    );
    assert_eq!(
        keys(&mut raw, &format!("{p}:*:sh")).await.len(),
        1,
        "carol's"
    );

    // The task sweeper deletes task 1 with grant 2, and the grant's index entries with it:
    // nothing is left under the prefix.
    let after = now + Duration::hours(2);
    assert_eq!(store.sweep_expired(after, 10).await.unwrap(), 2);
    assert_eq!(store.sweep_grants(after, 10).await.unwrap(), 0);
    assert_eq!(
        keys(&mut raw, &format!("{p}:*")).await,
        Vec::<String>::new()
    );
    delete_prefix(&url, &backend.run_prefix).await;
}

/// The live-grant limit is checked and the grant stored in one script: racing grants never
/// pass it (the trait allows a few more on backends without serializable writes; Redis
/// gives none).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_grants_never_pass_the_limit() {
    let Some(url) = machine_redis().await else {
        return;
    };
    let backend = Redis::new(url.clone(), unique_prefix("grant-race"));
    let lifetimes = Lifetimes::new(Duration::hours(1), Duration::days(1)).unwrap();
    let store = backend.open_fresh(lifetimes).await;
    let now = T0();
    store.start(new_task(1), now).await.unwrap();
    let limit = 5;
    let racers: Vec<_> = (0..24u8)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let grant = NewGrant {
                    max_grants_per_task: limit,
                    ..new_grant(
                        100 + n,
                        1,
                        "alice",
                        &format!("agent-{n}"),
                        None,
                        now + Duration::minutes(30),
                    )
                };
                store.create_grant(grant, now).await
            })
        })
        .collect();
    let mut granted = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(_) => granted += 1,
            Err(e) => assert_eq!(
                e.kind(),
                &StoreErrorKind::QuotaExceeded(baton_store::Quota::GrantsPerTask { limit }),
                "{e}"
            ),
        }
    }
    assert_eq!(
        granted, limit,
        "exactly the limit of racing grants is stored"
    );
    let listed = store
        .grants_of("alice", &ResearchTaskId::from_bytes([1; 16]), now)
        .await
        .unwrap();
    assert_eq!(listed.len() as u64, limit);
    delete_prefix(&url, &backend.run_prefix).await;
}
