//! Where API key records come from: the [`ApiKeyDirectory`] trait a server implements over
//! its store, an in-memory one, and a short-lived cache in front of either.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::{ApiKeyId, KeyHash, PresentedApiKey};
use crate::{
    error::{Error, ErrorKind},
    identity::Identity,
    scope::Scopes,
};

/// What a directory's failure is: any error, kept as the source of an
/// [`ErrorKind::DirectoryUnavailable`] error (so it must not contain a secret).
pub type DirectoryError = Box<dyn std::error::Error + Send + Sync>;

/// A stored API key: everything but the key's secret, of which only the hash is kept.
///
/// `Debug` redacts the hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The key's public id.
    pub id: ApiKeyId,
    /// The principal name the key acts for (checked by
    /// [`validate_principal_name`](crate::validate_principal_name) when the key was created);
    /// the key's identity is the principal `key:<principal>`.
    pub principal: String,
    /// The scopes the key grants.
    pub scopes: Scopes,
    /// The hash of the key's secret.
    pub hash: KeyHash,
    /// When the key was created.
    pub created_at: DateTime<Utc>,
    /// When the key stops working, if ever. The key is refused from this instant on.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the key was revoked, if it was. A revoked key is refused whatever this time is
    /// (instances' clocks differ; a revocation is never scheduled).
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKeyRecord {
    /// The record for a freshly generated key, created `now`.
    pub fn new(
        key: &super::NewApiKey,
        principal: &str,
        scopes: Scopes,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<ApiKeyRecord, Error> {
        super::validate_principal_name(principal)?;
        Ok(ApiKeyRecord {
            id: key.id().clone(),
            principal: principal.to_owned(),
            scopes,
            hash: key.hash().clone(),
            created_at: now,
            expires_at,
            revoked_at: None,
        })
    }

    /// The identity `presented` proves at `now`: the secret must match this record's hash
    /// (compared in constant time), then the key must be neither revoked nor expired.
    ///
    /// A wrong secret gives the same [`ErrorKind::UnknownApiKey`] as a missing record; only
    /// the holder of the real secret learns that a key was revoked or has expired.
    pub fn authenticate(
        &self,
        presented: &PresentedApiKey,
        now: DateTime<Utc>,
    ) -> Result<Identity, Error> {
        if presented.id() != &self.id || !presented.verify(&self.hash) {
            return Err(Error::new(ErrorKind::UnknownApiKey));
        }
        if self.revoked_at.is_some() {
            return Err(Error::with_detail(
                ErrorKind::ApiKeyRevoked,
                format!("key id {}", self.id),
            ));
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            return Err(Error::with_detail(
                ErrorKind::ApiKeyExpired,
                format!("key id {}", self.id),
            ));
        }
        Ok(Identity::api_key(
            self.id.clone(),
            &self.principal,
            self.scopes,
        ))
    }
}

/// Looks API key records up by id. A server implements it over its store.
#[async_trait]
pub trait ApiKeyDirectory: Send + Sync {
    /// The record with this id, `None` if there is none. Revoked and expired records are
    /// returned too (they are refused with a precise error); an `Err` means the directory
    /// could not be read (the request then gets a 503, not a 401).
    async fn find(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, DirectoryError>;
}

#[async_trait]
impl<T: ApiKeyDirectory + ?Sized> ApiKeyDirectory for Arc<T> {
    async fn find(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, DirectoryError> {
        (**self).find(id).await
    }
}

/// An [`ApiKeyDirectory`] in memory: for tests, examples and single-process tools.
#[derive(Debug, Default)]
pub struct MemoryApiKeyDirectory {
    records: RwLock<HashMap<ApiKeyId, ApiKeyRecord>>,
}

impl MemoryApiKeyDirectory {
    /// An empty directory.
    pub fn new() -> MemoryApiKeyDirectory {
        MemoryApiKeyDirectory::default()
    }

    /// Adds or replaces a record.
    pub fn insert(&self, record: ApiKeyRecord) {
        self.records
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(record.id.clone(), record);
    }

    /// Marks a key revoked at `at`; `false` if there is no such key.
    pub fn revoke(&self, id: &ApiKeyId, at: DateTime<Utc>) -> bool {
        let mut records = self
            .records
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match records.get_mut(id) {
            Some(record) => {
                record.revoked_at.get_or_insert(at);
                true
            }
            None => false,
        }
    }
}

#[async_trait]
impl ApiKeyDirectory for MemoryApiKeyDirectory {
    async fn find(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, DirectoryError> {
        Ok(self
            .records
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(id)
            .cloned())
    }
}

/// A cache in front of a directory: each answer (a record, or "no such key") is reused for
/// `ttl`, so a key in steady use costs one directory read per `ttl` per instance, not one per
/// request.
///
/// # The revocation bound
///
/// A revocation (or any change to a record) that the store has committed at time *T* is
/// honoured by **every** instance for every request that starts after *T* + `ttl` (plus the
/// duration of one directory read that was already in flight at *T*). With the default
/// [`DEFAULT_TTL`](CachedDirectory::DEFAULT_TTL) of 5 s, a revoked key stops working
/// everywhere within about 5 seconds. Expiry is exact: the cached record carries
/// `expires_at`, which is checked on every request. Failed reads are not cached.
///
/// The cache holds at most `max_entries` answers (default 10,000); when it is full, stale
/// answers are dropped first, and if none are stale, all are.
#[derive(Debug)]
pub struct CachedDirectory<D> {
    inner: D,
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<ApiKeyId, Cached>>,
}

#[derive(Debug)]
struct Cached {
    fetched: Instant,
    record: Option<ApiKeyRecord>,
}

impl<D: ApiKeyDirectory> CachedDirectory<D> {
    /// How long an answer is reused by default.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(5);

    /// A cache with the default TTL in front of `inner`.
    pub fn new(inner: D) -> CachedDirectory<D> {
        CachedDirectory {
            inner,
            ttl: CachedDirectory::<D>::DEFAULT_TTL,
            max_entries: 10_000,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Sets how long an answer is reused: the revocation bound. Zero disables caching.
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> CachedDirectory<D> {
        self.ttl = ttl;
        self
    }

    /// Sets the most answers kept (at least 1).
    #[must_use]
    pub fn with_max_entries(mut self, max_entries: usize) -> CachedDirectory<D> {
        self.max_entries = max_entries.max(1);
        self
    }

    /// The directory behind the cache.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<ApiKeyId, Cached>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl<D: ApiKeyDirectory> ApiKeyDirectory for CachedDirectory<D> {
    async fn find(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, DirectoryError> {
        if let Some(cached) = self.entries().get(id)
            && cached.fetched.elapsed() < self.ttl
        {
            return Ok(cached.record.clone());
        }
        let fetched = Instant::now();
        let record = self.inner.find(id).await?;
        if !self.ttl.is_zero() {
            let mut entries = self.entries();
            if entries.len() >= self.max_entries && !entries.contains_key(id) {
                entries.retain(|_, c| c.fetched.elapsed() < self.ttl);
                if entries.len() >= self.max_entries {
                    entries.clear();
                }
            }
            entries.insert(
                id.clone(),
                Cached {
                    fetched,
                    record: record.clone(),
                },
            );
        }
        Ok(record)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::{NewApiKey, Scope};

    struct Counting {
        inner: MemoryApiKeyDirectory,
        reads: AtomicUsize,
        fail: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl ApiKeyDirectory for Counting {
        async fn find(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, DirectoryError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            if self.fail.load(Ordering::SeqCst) {
                return Err("connection refused".into());
            }
            self.inner.find(id).await
        }
    }

    fn setup() -> (NewApiKey, CachedDirectory<Counting>) {
        let key = NewApiKey::generate();
        let dir = MemoryApiKeyDirectory::new();
        let record = ApiKeyRecord::new(
            &key,
            "alice",
            Scopes::from_iter([Scope::ResearchRead]),
            Utc::now(),
            None,
        )
        .unwrap();
        dir.insert(record);
        let counting = Counting {
            inner: dir,
            reads: AtomicUsize::new(0),
            fail: false.into(),
        };
        (key, CachedDirectory::new(counting))
    }

    #[tokio::test(start_paused = true)]
    async fn a_hot_key_costs_one_read_per_ttl_and_revocation_lands_within_it() {
        let (key, cache) = setup();
        let reads = || cache.inner().reads.load(Ordering::SeqCst);
        for _ in 0..100 {
            assert!(cache.find(key.id()).await.unwrap().is_some());
        }
        assert_eq!(reads(), 1);

        cache.inner().inner.revoke(key.id(), Utc::now());
        // Within the TTL the cached record is still served.
        tokio::time::advance(Duration::from_millis(4_900)).await;
        let cached = cache.find(key.id()).await.unwrap().unwrap();
        assert!(cached.revoked_at.is_none());
        assert_eq!(reads(), 1);
        // After the TTL the revocation is seen.
        tokio::time::advance(Duration::from_millis(100)).await;
        let fresh = cache.find(key.id()).await.unwrap().unwrap();
        assert!(fresh.revoked_at.is_some());
        assert_eq!(reads(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_ids_are_cached_and_failures_are_not() {
        let (_, cache) = setup();
        let other = NewApiKey::generate();
        assert!(cache.find(other.id()).await.unwrap().is_none());
        assert!(cache.find(other.id()).await.unwrap().is_none());
        assert_eq!(cache.inner().reads.load(Ordering::SeqCst), 1);

        cache.inner().fail.store(true, Ordering::SeqCst);
        let third = NewApiKey::generate();
        assert!(cache.find(third.id()).await.is_err());
        assert!(cache.find(third.id()).await.is_err());
        assert_eq!(cache.inner().reads.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn the_cache_stays_bounded() {
        let (_, cache) = setup();
        let cache = cache.with_max_entries(8);
        for _ in 0..50 {
            cache.find(NewApiKey::generate().id()).await.unwrap();
        }
        assert!(cache.entries().len() <= 8);
    }

    #[test]
    fn records_refuse_wrong_secrets_revoked_and_expired_keys() {
        let key = NewApiKey::generate();
        let now = Utc::now();
        let mut record = ApiKeyRecord::new(&key, "alice", Scopes::all(), now, None).unwrap();
        let presented = PresentedApiKey::parse(key.reveal()).unwrap();
        let shown = format!("{record:?}");
        assert!(shown.contains("KeyHash(<redacted>)"), "{shown}");
        assert!(!shown.contains(&key.hash().to_hex()), "{shown}");
        let identity = record.authenticate(&presented, now).unwrap();
        assert_eq!(identity.principal(), "key:alice");
        assert_eq!(identity.scopes(), Scopes::all());

        let other = PresentedApiKey::parse(NewApiKey::generate().reveal()).unwrap();
        assert_eq!(
            record.authenticate(&other, now).unwrap_err().kind(),
            &ErrorKind::UnknownApiKey
        );

        record.expires_at = Some(now);
        assert_eq!(
            record.authenticate(&presented, now).unwrap_err().kind(),
            &ErrorKind::ApiKeyExpired
        );
        record.expires_at = Some(now + chrono::Duration::seconds(1));
        assert!(record.authenticate(&presented, now).is_ok());

        record.revoked_at = Some(now + chrono::Duration::hours(1));
        let err = record.authenticate(&presented, now).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::ApiKeyRevoked);
        assert_eq!(
            err.to_string(),
            format!("the API key has been revoked: key id {}", key.id())
        );
    }
}
