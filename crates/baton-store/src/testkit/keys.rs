//! The checks of [`KeyStore`]: handle-signing keys.

use super::*;

/// A fresh store holds no signing keys.
pub async fn fresh_store_has_no_signing_keys<B: Backend>(backend: &B)
where
    B::Store: KeyStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let keys = ok(store.signing_keys().await, "signing_keys");
    assert!(keys.is_empty(), "a fresh store has signing keys: {keys:?}");
}

/// A key's `created_at` is truncated to the millisecond and returned exactly so.
pub async fn signing_key_times_are_milliseconds<B: Backend>(backend: &B)
where
    B::Store: KeyStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let exact = T0() + ms(123);
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

/// Signing keys survive closing and reopening the store, secrets byte for byte.
pub async fn signing_keys_survive_reopen<B: Backend>(backend: &B)
where
    B::Store: KeyStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let k1 = key(5, 9, T0());
    let k2 = key(6, 13, T0() + secs(1));
    ok(store.insert_signing_key(k1.clone()).await, "insert k1");
    ok(store.insert_signing_key(k2.clone()).await, "insert k2");
    let store = backend.reopen(store).await;
    assert_eq!(
        ok(store.signing_keys().await, "signing_keys"),
        vec![k1, k2],
        "signing keys after reopen"
    );
}

/// `insert_signing_key` inserts if absent by id (the stored key wins), and every call
/// returns all keys, oldest first (by `created_at`, not by id), exactly as stored.
pub async fn signing_keys_insert_if_absent<B: Backend>(backend: &B)
where
    B::Store: KeyStore,
{
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
pub async fn racing_signing_key_inserts<B: Backend>(backend: &B)
where
    B::Store: KeyStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let now = T0();
    let offers: Vec<SigningKeyRecord> = (0..10u8).map(|i| key(7, i + 1, now)).collect();
    let results = race(&store, offers.len(), |store, i| {
        let offer = offers[i].clone();
        async move { store.insert_signing_key(offer).await }
    })
    .await;
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
