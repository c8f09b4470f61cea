//! [`KeyStore`] on Redis: one hash per key record, a set of ids, all under the hash tag
//! `{keys}`.

use async_trait::async_trait;
use baton_store::rules::truncate_to_millis;
use baton_store::{KeyStore, SigningKeyRecord, StoreError, StoreErrorKind, StoredApiKey};
use chrono::{DateTime, TimeZone, Utc};
use data_encoding::HEXLOWER;
use redis::AsyncCommands;

use crate::RedisStore;
use crate::error::{Access, corrupt, from_redis};
use crate::scripts::{INSERT_RECORD, REVOKE_API_KEY, UPDATE_SIGNING_KEY};

const SIGNING_FIELDS: [&str; 4] = ["secret", "created", "promoted", "retired"];
const API_FIELDS: [&str; 6] = [
    "principal",
    "scopes",
    "hash",
    "created",
    "expires",
    "revoked",
];

fn ms(t: DateTime<Utc>) -> String {
    truncate_to_millis(t).timestamp_millis().to_string()
}

fn opt_ms(t: Option<DateTime<Utc>>) -> String {
    t.map(ms).unwrap_or_default()
}

fn time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    text.parse::<i64>()
        .ok()
        .and_then(|v| Utc.timestamp_millis_opt(v).single())
        .ok_or_else(|| corrupt(format!("key time {text:?}")))
}

fn opt_time(text: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    if text.is_empty() {
        Ok(None)
    } else {
        time(text).map(Some)
    }
}

fn hex(text: &str) -> Result<Vec<u8>, StoreError> {
    HEXLOWER
        .decode(text.as_bytes())
        .map_err(|_| corrupt("key bytes are not hex"))
}

fn fields(values: Vec<Option<String>>) -> Option<Vec<String>> {
    values.into_iter().collect()
}

fn signing_key(key_id: u16, f: &[String]) -> Result<SigningKeyRecord, StoreError> {
    Ok(SigningKeyRecord {
        key_id,
        secret: hex(&f[0])?,
        created_at: time(&f[1])?,
        promoted_at: opt_time(&f[2])?,
        retired_at: opt_time(&f[3])?,
    })
}

fn api_key(id: &str, f: &[String]) -> Result<StoredApiKey, StoreError> {
    Ok(StoredApiKey {
        id: id.to_owned(),
        principal: f[0].clone(),
        scopes: f[1].clone(),
        hash: hex(&f[2])?,
        created_at: time(&f[3])?,
        expires_at: opt_time(&f[4])?,
        revoked_at: opt_time(&f[5])?,
    })
}

impl RedisStore {
    async fn read_api_key(&self, id: &str) -> Result<Option<StoredApiKey>, StoreError> {
        let mut conn = self.conn();
        let values: Vec<Option<String>> = conn
            .hmget(self.layout.api_key(id), &API_FIELDS[..])
            .await
            .map_err(|e| from_redis("api_key", Access::Read, e))?;
        if values.iter().all(Option::is_none) {
            return Ok(None);
        }
        let f = fields(values).ok_or_else(|| corrupt("api key without all its fields"))?;
        api_key(id, &f).map(Some)
    }
}

#[async_trait]
impl KeyStore for RedisStore {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let err = |e| from_redis("signing_keys", Access::Read, e);
        let mut conn = self.conn();
        let ids: Vec<u16> = conn
            .smembers(self.layout.signing_key_ids())
            .await
            .map_err(err)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hmget(self.layout.signing_key(*id), &SIGNING_FIELDS[..]);
        }
        let rows: Vec<Vec<Option<String>>> = pipe.query_async(&mut conn).await.map_err(err)?;
        let mut keys = Vec::with_capacity(ids.len());
        for (id, values) in ids.into_iter().zip(rows) {
            // An id whose record is missing was never completely written: skip it.
            if let Some(f) = fields(values) {
                keys.push(signing_key(id, &f)?);
            }
        }
        keys.sort_by_key(|k| (k.created_at, k.key_id));
        Ok(keys)
    }

    async fn insert_signing_key(
        &self,
        key: SigningKeyRecord,
    ) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let mut conn = self.conn();
        let _: u8 = INSERT_RECORD
            .key(self.layout.signing_key_ids())
            .key(self.layout.signing_key(key.key_id))
            .arg(key.key_id)
            .arg("secret")
            .arg(HEXLOWER.encode(&key.secret))
            .arg("created")
            .arg(ms(key.created_at))
            .arg("promoted")
            .arg(opt_ms(key.promoted_at))
            .arg("retired")
            .arg(opt_ms(key.retired_at))
            .invoke_async(&mut conn)
            .await
            .map_err(|e| from_redis("insert_signing_key", Access::Write, e))?;
        self.signing_keys().await
    }

    async fn update_signing_key(&self, key: SigningKeyRecord) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let updated: u8 = UPDATE_SIGNING_KEY
            .key(self.layout.signing_key(key.key_id))
            .arg(HEXLOWER.encode(&key.secret))
            .arg(opt_ms(key.promoted_at))
            .arg(opt_ms(key.retired_at))
            .invoke_async(&mut conn)
            .await
            .map_err(|e| from_redis("update_signing_key", Access::Write, e))?;
        Ok(updated == 1)
    }

    async fn insert_api_key(&self, key: StoredApiKey) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let inserted: u8 = INSERT_RECORD
            .key(self.layout.api_key_ids())
            .key(self.layout.api_key(&key.id))
            .arg(&key.id)
            .arg("principal")
            .arg(&key.principal)
            .arg("scopes")
            .arg(&key.scopes)
            .arg("hash")
            .arg(HEXLOWER.encode(&key.hash))
            .arg("created")
            .arg(ms(key.created_at))
            .arg("expires")
            .arg(opt_ms(key.expires_at))
            .arg("revoked")
            .arg(opt_ms(key.revoked_at))
            .invoke_async(&mut conn)
            .await
            .map_err(|e| from_redis("insert_api_key", Access::Write, e))?;
        if inserted == 0 {
            return Err(StoreError::new(
                StoreErrorKind::Internal,
                "redis: an api key with this id exists already",
            ));
        }
        Ok(())
    }

    async fn api_key(&self, id: &str) -> Result<Option<StoredApiKey>, StoreError> {
        self.read_api_key(id).await
    }

    async fn api_keys(&self) -> Result<Vec<StoredApiKey>, StoreError> {
        let err = |e| from_redis("api_keys", Access::Read, e);
        let mut conn = self.conn();
        let ids: Vec<String> = conn
            .smembers(self.layout.api_key_ids())
            .await
            .map_err(err)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hmget(self.layout.api_key(id), &API_FIELDS[..]);
        }
        let rows: Vec<Vec<Option<String>>> = pipe.query_async(&mut conn).await.map_err(err)?;
        let mut keys = Vec::with_capacity(ids.len());
        for (id, values) in ids.iter().zip(rows) {
            if let Some(f) = fields(values) {
                keys.push(api_key(id, &f)?);
            }
        }
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    async fn revoke_api_key(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredApiKey>, StoreError> {
        let mut conn = self.conn();
        let found: u8 = REVOKE_API_KEY
            .key(self.layout.api_key(id))
            .arg(ms(now))
            .invoke_async(&mut conn)
            .await
            .map_err(|e| from_redis("revoke_api_key", Access::Write, e))?;
        if found == 0 {
            return Ok(None);
        }
        self.read_api_key(id).await
    }
}
