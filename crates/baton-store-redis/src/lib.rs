//! The Redis backend of baton's stores ([`ResearchStore`], [`KeyStore`], [`BulkImport`]), on
//! one Redis server or a Redis Cluster, for a fleet of stateless instances.
//!
//! [`RedisStore::connect`] opens a kept async connection (the `redis` crate's connection
//! manager on one server, its async cluster client on a cluster), both of which reconnect by
//! themselves after a Redis restart or failover, and returns a store that is cheap to clone.
//!
//! # URLs
//!
//! * `redis://[user:password@]host[:port][/db]`: one server; `rediss://` for TLS.
//! * `redis+cluster://[user:password@]host:port[,host:port…]`: a Redis Cluster, from any of
//!   its nodes; `rediss+cluster://` for TLS.
//! * `?key_prefix=NAME` (default `baton`) puts every key under `NAME:`, so that several
//!   deployments (or test runs) can share one Redis.
//!
//! ```
//! use baton_store_redis::{RedisTarget, ConfigErrorKind};
//!
//! let target = RedisTarget::parse("redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7000?key_prefix=prod")?;
//! assert!(target.is_cluster());
//! assert_eq!(target.key_prefix(), Some("prod"));
//! let bad = RedisTarget::parse("redis+cluster://h:7000/3").unwrap_err();
//! assert_eq!(bad.kind(), &ConfigErrorKind::ClusterDatabase);
//! # Ok::<(), baton_store_redis::ConfigError>(())
//! ```
//!
//! # Connecting
//!
//! ```no_run
//! use baton_store::{Lifetimes, ResearchStore};
//! use baton_store_redis::{RedisOptions, RedisStore};
//!
//! # async fn example() -> Result<(), baton_store::StoreError> {
//! let store = RedisStore::connect("redis://127.0.0.1:6379/0", RedisOptions::default()).await?;
//! store.ping().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Consistency model
//!
//! * **Atomic:** every change is one Lua script (loaded once, called by
//!   SHA), which Redis runs whole with nothing in between: appends take contiguous indexes,
//!   of two racing completions one wins, racing starts with one idempotency key create one
//!   task, quotas are checked and counted in the same step.
//! * **Cluster-ready:** every key a script touches is passed to it and carries the owner's
//!   hash tag, so all of them live in one slot. The key store's keys share the tag `{keys}`.
//!   Only the sweeper's worklist (`PREFIX:sweep`) is a key of its own; it is a hint, written
//!   before a task exists, and the sweeper checks each task in its owner's slot before it
//!   deletes anything.
//! * **Expiry:** a task is invisible once its stored deadline passes, on every read. Its keys
//!   also carry a Redis TTL a minute past that deadline, so memory is freed even without a
//!   sweeper; the sweeper then brings the owner's indexes and quota counters in step.
//! * **Errors:** a refused connection, a loading or resharding server is
//!   [`StoreErrorKind::Unavailable`] (nothing changed); a write whose connection broke after
//!   it was sent is [`StoreErrorKind::Interrupted`] (it may or may not have been applied).
//!
//! # Durability
//!
//! Redis acknowledges a write once it is in memory. Whether it survives a Redis crash
//! depends on the server's persistence: with none, a restart loses everything; with
//! `appendonly yes` and `appendfsync everysec` up to about a second of acknowledged writes;
//! with `appendfsync always` none. [`RedisStore::persistence`] reads the server's setting so
//! that baton can warn at start-up.
#![deny(missing_docs)]

mod error;
mod keys;
mod keystore;
mod research;
mod scripts;

use std::time::Duration;

use baton_store::{Lifetimes, StoreError, StoreErrorKind};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

pub use error::{ConfigError, ConfigErrorKind};

#[doc(no_inline)]
pub use baton_store::{BulkImport, KeyStore, ResearchStore};

use crate::error::{Access, from_redis};
use crate::keys::Layout;

/// The key prefix when neither the URL nor the options name one.
pub const DEFAULT_KEY_PREFIX: &str = "baton";

/// How long past a task's deadline Redis keeps its keys (the store hides it at the deadline).
pub(crate) const KEY_GRACE_MS: i64 = 60_000;

/// How a [`RedisStore`] connects and how long its tasks live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisOptions {
    /// Task lifetimes (idle and absolute).
    pub lifetimes: Lifetimes,
    /// Every key starts with `PREFIX:`; a `key_prefix` in the URL wins over this.
    pub key_prefix: String,
    /// How long a connection attempt may take.
    pub connection_timeout: Duration,
    /// How long a call waits for its answer; past it a read is `Unavailable` and a write
    /// `Interrupted`.
    pub response_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            lifetimes: Lifetimes::default(),
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            connection_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(5),
        }
    }
}

/// What a Redis URL names: one server or a cluster's nodes, and an optional key prefix.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisTarget {
    nodes: Vec<String>,
    cluster: bool,
    key_prefix: Option<String>,
}

impl std::fmt::Debug for RedisTarget {
    // The node URLs may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTarget")
            .field("nodes", &self.nodes.len())
            .field("cluster", &self.cluster)
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

fn check_prefix(prefix: &str) -> Result<(), ConfigError> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 64
        && !prefix.contains(['{', '}'])
        && !prefix.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(
            ConfigErrorKind::KeyPrefix,
            format!("{prefix:?}"),
        ))
    }
}

impl RedisTarget {
    /// Reads a `redis://`, `rediss://`, `redis+cluster://` or `rediss+cluster://` URL.
    pub fn parse(url: &str) -> Result<RedisTarget, ConfigError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| ConfigError::new(ConfigErrorKind::Scheme, ""))?;
        let (base, cluster) = match scheme {
            "redis" => ("redis", false),
            "rediss" => ("rediss", false),
            "redis+cluster" => ("redis", true),
            "rediss+cluster" => ("rediss", true),
            _ => return Err(ConfigError::new(ConfigErrorKind::Scheme, "")),
        };
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut key_prefix = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("key_prefix", value)) => {
                    check_prefix(value)?;
                    key_prefix = Some(value.to_owned());
                }
                _ => kept.push(pair),
            }
        }
        let query = if kept.is_empty() {
            String::new()
        } else {
            format!("?{}", kept.join("&"))
        };
        if !cluster {
            let url = format!("{base}://{rest}{query}");
            redis::Client::open(url.as_str())
                .map_err(|e| ConfigError::new(ConfigErrorKind::Client, e.category().to_owned()))?;
            return Ok(RedisTarget {
                nodes: vec![url],
                cluster,
                key_prefix,
            });
        }
        let (userinfo, hosts) = match rest.rsplit_once('@') {
            Some((user, hosts)) => (format!("{user}@"), hosts),
            None => (String::new(), rest),
        };
        let hosts = match hosts.split_once('/') {
            Some((hosts, "" | "0")) => hosts,
            Some(_) => return Err(ConfigError::new(ConfigErrorKind::ClusterDatabase, "")),
            None => hosts,
        };
        let nodes: Vec<String> = hosts
            .split(',')
            .map(|node| format!("{base}://{userinfo}{node}{query}"))
            .collect();
        if hosts.split(',').any(str::is_empty) {
            return Err(ConfigError::new(ConfigErrorKind::NoNodes, ""));
        }
        for node in &nodes {
            redis::Client::open(node.as_str())
                .map_err(|e| ConfigError::new(ConfigErrorKind::Client, e.category().to_owned()))?;
        }
        Ok(RedisTarget {
            nodes,
            cluster,
            key_prefix,
        })
    }

    /// Whether the URL names a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// The URL's `key_prefix`, if it has one.
    pub fn key_prefix(&self) -> Option<&str> {
        self.key_prefix.as_deref()
    }
}

/// The kept connection: one server's connection manager, or the cluster client's. Both
/// multiplex calls over few connections and reconnect by themselves.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// What the Redis server keeps on disk, as `CONFIG GET` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Persistence {
    /// Neither snapshots nor an append-only file: a restart loses every task.
    Nothing,
    /// Snapshots only (`save` rules): a crash loses what was written since the last one.
    Snapshots,
    /// An append-only file, with its `appendfsync` policy (`always`, `everysec`, `no`).
    AppendOnly {
        /// The fsync policy.
        fsync: String,
    },
    /// The server refused `CONFIG GET` (managed services often do).
    Unknown,
}

/// A [`ResearchStore`], [`KeyStore`] and [`BulkImport`] on Redis. Cloning is cheap: clones
/// share the connection.
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    layout: Layout,
    lifetimes: Lifetimes,
    cluster: bool,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.layout.prefix())
            .field("cluster", &self.cluster)
            .field("lifetimes", &self.lifetimes)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the Redis server or cluster at `url` (see the crate docs for the forms).
    ///
    /// Fails with [`StoreErrorKind::Unavailable`] when Redis cannot be reached within
    /// `options.connection_timeout`, and [`StoreErrorKind::Internal`] on a bad URL.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<RedisStore, StoreError> {
        let target = RedisTarget::parse(url)?;
        let prefix = match target.key_prefix() {
            Some(p) => p.to_owned(),
            None => {
                check_prefix(&options.key_prefix)?;
                options.key_prefix.clone()
            }
        };
        let err = |e| from_redis("connect", Access::Read, e);
        let conn = if target.cluster {
            let client = ClusterClientBuilder::new(target.nodes.clone())
                .connection_timeout(options.connection_timeout)
                .response_timeout(options.response_timeout)
                .retries(3)
                .build()
                .map_err(err)?;
            Conn::Cluster(client.get_async_connection().await.map_err(err)?)
        } else {
            let client = redis::Client::open(target.nodes[0].as_str()).map_err(err)?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(options.connection_timeout))
                .set_response_timeout(Some(options.response_timeout))
                .set_number_of_retries(2)
                .set_max_delay(Duration::from_secs(1));
            Conn::Single(
                ConnectionManager::new_with_config(client, config)
                    .await
                    .map_err(err)?,
            )
        };
        tracing::debug!(cluster = target.cluster, prefix = %prefix, "connected to redis");
        Ok(RedisStore {
            conn,
            layout: Layout::new(&prefix),
            lifetimes: options.lifetimes,
            cluster: target.cluster,
        })
    }

    /// The task lifetimes this store applies.
    pub fn lifetimes(&self) -> Lifetimes {
        self.lifetimes
    }

    /// The prefix of every key of this store.
    pub fn key_prefix(&self) -> &str {
        self.layout.prefix()
    }

    /// Whether the store is on a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// What the server keeps on disk (on a cluster: the node that answers).
    pub async fn persistence(&self) -> Result<Persistence, StoreError> {
        let mut conn = self.conn.clone();
        let answer: Result<Vec<String>, _> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("appendonly")
            .arg("appendfsync")
            .arg("save")
            .query_async(&mut conn)
            .await;
        let pairs = match answer {
            Ok(pairs) => pairs,
            Err(e) if e.code().is_some() => return Ok(Persistence::Unknown),
            Err(e) => return Err(from_redis("persistence", Access::Read, e)),
        };
        let get = |name: &str| {
            pairs
                .chunks(2)
                .find(|p| p.first().map(String::as_str) == Some(name))
                .and_then(|p| p.get(1))
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        Ok(if get("appendonly") == "yes" {
            Persistence::AppendOnly {
                fsync: get("appendfsync"),
            }
        } else if !get("save").is_empty() {
            Persistence::Snapshots
        } else {
            Persistence::Nothing
        })
    }

    pub(crate) fn conn(&self) -> Conn {
        self.conn.clone()
    }

    /// Runs `PING`.
    pub(crate) async fn ping_server(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let pong: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|e| from_redis("ping", Access::Read, e))?;
        if pong != "PONG" {
            return Err(StoreError::new(
                StoreErrorKind::Internal,
                format!("redis answered PING with {pong:?}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let single = RedisTarget::parse("redis://127.0.0.1:6379/2?key_prefix=t1").unwrap();
        assert!(!single.is_cluster());
        assert_eq!(single.nodes, vec!["redis://127.0.0.1:6379/2".to_owned()]);
        assert_eq!(single.key_prefix(), Some("t1"));
        let cluster =
            RedisTarget::parse("rediss+cluster://u:pw@a:7000,b:7001/?protocol=resp3").unwrap();
        assert_eq!(
            cluster.nodes,
            vec![
                "rediss://u:pw@a:7000?protocol=resp3".to_owned(),
                "rediss://u:pw@b:7001?protocol=resp3".to_owned()
            ]
        );
        assert!(!format!("{cluster:?}").contains("pw"));
        let kind = |url: &str| RedisTarget::parse(url).unwrap_err().kind().clone();
        assert_eq!(kind("postgres://h/d"), ConfigErrorKind::Scheme);
        assert_eq!(kind("redis+cluster://a:1,,b:2"), ConfigErrorKind::NoNodes);
        assert_eq!(
            kind("redis+cluster://a:1/5"),
            ConfigErrorKind::ClusterDatabase
        );
        assert_eq!(kind("redis://h?key_prefix=a{b"), ConfigErrorKind::KeyPrefix);
        assert_eq!(kind("redis://h?key_prefix="), ConfigErrorKind::KeyPrefix);
    }
}
