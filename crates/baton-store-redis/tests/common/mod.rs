//! Test support: stores under a key prefix unique to the test run, on the machine's Redis
//! (`BATON_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`) or on a cluster the test
//! starts; the run's keys are deleted afterwards. When the machine's Redis cannot be reached
//! the tests fail under CI and are skipped, with a `BATON-SKIP:` line, otherwise
//! (`baton_devtools::skip_or_fail`).
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use baton_store::Lifetimes;
use baton_store::testkit::Backend;
use baton_store_redis::{RedisOptions, RedisStore};

/// A prefix no other run uses.
pub fn unique_prefix(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("baton-test-{what}-{}-{nanos:x}", std::process::id())
}

/// The machine's Redis URL, or `None` (after the skip notice) when it does not answer.
pub async fn machine_redis() -> Option<String> {
    let url = baton_devtools::test_redis_url();
    let reachable = match redis::Client::open(url.as_str()) {
        Ok(client) => tokio::time::timeout(
            std::time::Duration::from_secs(5),
            client.get_multiplexed_async_connection(),
        )
        .await
        .is_ok_and(|c| c.is_ok()),
        Err(_) => false,
    };
    if reachable {
        return Some(url);
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a baton-store-redis test")
        .to_owned();
    baton_devtools::skip_or_fail(&format!(
        "{test}: Redis is unreachable at {}; start it (redis-server --daemonize yes) or set \
         BATON_TEST_REDIS_URL",
        baton_devtools::redact_password(&url)
    ));
    None
}

/// `url` with `key_prefix=prefix` added.
pub fn with_prefix(url: &str, prefix: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}key_prefix={prefix}")
}

/// Deletes every key starting with `prefix` on the single server at `url`.
pub async fn delete_prefix(url: &str, prefix: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: () = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}

/// The kit's backend: each fresh store gets its own prefix under the run's.
pub struct Redis {
    pub url: String,
    pub run_prefix: String,
    counter: AtomicU64,
}

impl Redis {
    pub fn new(url: String, run_prefix: String) -> Redis {
        Redis {
            url,
            run_prefix,
            counter: AtomicU64::new(0),
        }
    }

    pub async fn open(&self, prefix: &str, lifetimes: Lifetimes) -> RedisStore {
        let options = RedisOptions {
            lifetimes,
            ..RedisOptions::default()
        };
        RedisStore::connect(&with_prefix(&self.url, prefix), options)
            .await
            .expect("connecting to the test redis")
    }
}

#[async_trait]
impl Backend for Redis {
    type Store = RedisStore;

    async fn open_fresh(&self, lifetimes: Lifetimes) -> RedisStore {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("{}-{n}", self.run_prefix);
        self.open(&prefix, lifetimes).await
    }

    async fn reopen(&self, store: RedisStore) -> RedisStore {
        let lifetimes = store.lifetimes();
        let prefix = store.key_prefix().to_owned();
        drop(store);
        self.open(&prefix, lifetimes).await
    }
}
