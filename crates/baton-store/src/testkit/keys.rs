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
            promoted_at: Some(exact),
            ..stored
        }],
        "signing key times must be truncated to the millisecond"
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

/// A key is stored with its lifecycle times (a verify-only key has none); updating a key
/// replaces its secret and times, keeps its creation time, survives a reopen, and answers
/// false for an unknown id; [`crate::signer`] picks the active key promoted last.
pub async fn signing_key_lifecycle<B: Backend>(backend: &B)
where
    B::Store: KeyStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let now = T0();
    let first = key(1, 3, now);
    let added = SigningKeyRecord {
        promoted_at: None,
        ..key(2, 5, now + secs(1))
    };
    ok(
        store.insert_signing_key(first.clone()).await,
        "insert key 1",
    );
    let keys = ok(
        store.insert_signing_key(added.clone()).await,
        "insert key 2",
    );
    assert_eq!(
        keys,
        vec![first.clone(), added.clone()],
        "a verify-only key"
    );
    assert_eq!(
        crate::signer(&keys).map(|k| k.key_id),
        Some(1),
        "a verify-only key does not sign"
    );
    let promoted = SigningKeyRecord {
        promoted_at: Some(now + secs(10)),
        ..added.clone()
    };
    assert!(
        ok(store.update_signing_key(promoted.clone()).await, "promote"),
        "updating an existing key"
    );
    let retired = SigningKeyRecord {
        retired_at: Some(now + secs(20)),
        secret: vec![9; 48],
        ..first.clone()
    };
    assert!(ok(
        store.update_signing_key(retired.clone()).await,
        "retire"
    ));
    assert!(
        !ok(
            store.update_signing_key(key(7, 1, now)).await,
            "update unknown"
        ),
        "updating an unknown id"
    );
    let store = backend.reopen(store).await;
    let keys = ok(store.signing_keys().await, "signing_keys");
    assert_eq!(
        keys,
        vec![retired, promoted],
        "keys after updates and a reopen"
    );
    assert_eq!(
        crate::signer(&keys).map(|k| k.key_id),
        Some(2),
        "the promoted key signs"
    );
}

fn api_key(id: &str, principal: &str, created_at: DateTime<Utc>) -> StoredApiKey {
    let mut hash: Vec<u8> = id.bytes().cycle().take(32).collect();
    hash[0] = 0;
    hash[31] = 0xff;
    StoredApiKey {
        id: id.to_owned(),
        principal: principal.to_owned(),
        scopes: "research:read research:write".to_owned(),
        hash,
        created_at,
        expires_at: None,
        revoked_at: None,
    }
}

/// API keys are stored exactly (times to the millisecond), found by id, listed oldest first
/// (ties by id), survive a reopen, and a second key with an existing id changes nothing.
pub async fn api_keys_round_trip<B: Backend>(backend: &B)
where
    B::Store: KeyStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let now = T0();
    assert!(
        ok(store.api_keys().await, "api_keys").is_empty(),
        "a fresh store has api keys"
    );
    let first = StoredApiKey {
        expires_at: Some(now + hours(1)),
        ..api_key("k1aaaa", "ci-bot", now + Duration::microseconds(1_500))
    };
    let second = api_key("k0bbbb", "orchestrator", now + secs(1));
    let tie = api_key("k2cccc", "sub-agent", now + secs(1));
    for key in [&first, &second, &tie] {
        ok(store.insert_api_key(key.clone()).await, "insert_api_key");
    }
    let first = StoredApiKey {
        created_at: now + ms(1),
        ..first
    };
    assert_eq!(
        ok(store.api_key("k1aaaa").await, "api_key"),
        Some(first.clone()),
        "an api key read back (created_at truncated to the millisecond)"
    );
    assert_eq!(
        ok(store.api_key("nope").await, "api_key"),
        None,
        "an unknown id"
    );
    let duplicate = StoredApiKey {
        principal: "intruder".into(),
        ..api_key("k1aaaa", "intruder", now)
    };
    assert!(
        store.insert_api_key(duplicate).await.is_err(),
        "a second key with an existing id must be refused"
    );
    let all = vec![first, second, tie];
    assert_eq!(
        ok(store.api_keys().await, "api_keys"),
        all,
        "api keys, oldest first, ties by id"
    );
    let store = backend.reopen(store).await;
    assert_eq!(
        ok(store.api_keys().await, "api_keys"),
        all,
        "api keys after reopen"
    );
}

/// Revoking marks a key with the revocation time, keeps the first time when revoked again,
/// leaves other keys alone, and answers `None` for an unknown id.
pub async fn api_key_revocation<B: Backend>(backend: &B)
where
    B::Store: KeyStore,
{
    let store = backend.open_fresh(default_lifetimes()).await;
    let now = T0();
    let key = api_key("rev1", "ci-bot", now);
    let other = api_key("rev2", "ci-bot", now);
    ok(store.insert_api_key(key.clone()).await, "insert_api_key");
    ok(store.insert_api_key(other.clone()).await, "insert_api_key");
    let revoked = StoredApiKey {
        revoked_at: Some(now + secs(5)),
        ..key
    };
    assert_eq!(
        ok(store.revoke_api_key("rev1", now + secs(5)).await, "revoke"),
        Some(revoked.clone()),
        "the revoked key"
    );
    assert_eq!(
        ok(
            store.revoke_api_key("rev1", now + secs(9)).await,
            "revoke again"
        ),
        Some(revoked.clone()),
        "revoking again keeps the first revocation time"
    );
    assert_eq!(
        ok(store.revoke_api_key("nope", now).await, "revoke unknown"),
        None,
        "revoking an unknown id"
    );
    assert_eq!(
        ok(store.api_key("rev1").await, "api_key"),
        Some(revoked),
        "a revoked key read back"
    );
    assert_eq!(
        ok(store.api_key("rev2").await, "api_key"),
        Some(other),
        "another key is untouched"
    );
}
