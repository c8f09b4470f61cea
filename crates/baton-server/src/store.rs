//! Opening the stores a `--database-url` names.

use std::sync::Arc;

use anyhow::Context;
use baton_store::{
    BulkImport, KeyStore, Lifetimes, ResearchStore, ShareStore, StoreStats, ToolTaskStore,
};
use baton_store_postgres::{PostgresOptions, PostgresStore};
use baton_store_redis::{Persistence, RedisOptions, RedisStore};
use baton_store_sqlite::{SqliteOptions, SqliteStore};

use crate::config::DatabaseArgs;

/// Which backend a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://…` (or `sqlite:…`).
    Sqlite,
    /// `postgres://…` or `postgresql://…`.
    Postgres,
    /// `redis://…`, `rediss://…` (TLS), `redis+cluster://…` or `rediss+cluster://…`.
    Redis,
}

impl Backend {
    /// Reads the scheme of a database URL.
    pub fn of(url: &str) -> anyhow::Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if [
            "redis://",
            "rediss://",
            "redis+cluster://",
            "rediss+cluster://",
        ]
        .iter()
        .any(|scheme| url.starts_with(scheme))
        {
            Ok(Backend::Redis)
        } else {
            anyhow::bail!(
                "unsupported --database-url scheme (use sqlite://PATH, postgres://USER@HOST/DB, \
                 redis://HOST:PORT/DB or redis+cluster://HOST:PORT,HOST:PORT)"
            )
        }
    }
}

/// One backend's stores, each behind the trait of its job. Clones share the backend.
#[derive(Clone)]
pub struct Stores {
    /// Research tasks.
    pub research: Arc<dyn ResearchStore>,
    /// Handle-signing keys.
    pub keys: Arc<dyn KeyStore>,
    /// Bulk loading, when the backend has it.
    pub import: Option<Arc<dyn BulkImport>>,
    /// Delegation grants, when the backend keeps them (the share tools need them).
    pub shares: Option<Arc<dyn ShareStore>>,
    /// Counting tasks by status (for `/metrics`), when the backend has it.
    pub counts: Option<Arc<dyn StoreStats>>,
    /// Tool tasks (the MCP Tasks extension), when the backend keeps them.
    pub tool_tasks: Option<Arc<dyn ToolTaskStore>>,
}

impl Stores {
    /// The stores of a backend that does every job but statistics.
    fn of<S: ResearchStore + KeyStore + BulkImport + ShareStore>(store: S) -> Stores {
        let store = Arc::new(store);
        Stores {
            research: store.clone(),
            keys: store.clone(),
            shares: Some(store.clone()),
            import: Some(store),
            counts: None,
            tool_tasks: None,
        }
    }

    /// The stores of a backend that does every job, statistics and tool tasks included.
    fn with_everything<
        S: ResearchStore + KeyStore + BulkImport + ShareStore + StoreStats + ToolTaskStore,
    >(
        store: S,
    ) -> Stores {
        let store = Arc::new(store);
        Stores {
            research: store.clone(),
            keys: store.clone(),
            shares: Some(store.clone()),
            import: Some(store.clone()),
            counts: Some(store.clone()),
            tool_tasks: Some(store),
        }
    }
}

/// Opens the stores. SQLite creates the file and migrates on open; Postgres migrates only
/// when `migrate` is set (`baton serve --migrate` or `baton migrate`).
pub async fn open(
    db: &DatabaseArgs,
    lifetimes: Lifetimes,
    migrate: bool,
) -> anyhow::Result<Stores> {
    match Backend::of(&db.database_url)? {
        Backend::Sqlite => {
            let options = SqliteOptions {
                lifetimes,
                max_connections: db.db_max_connections.unwrap_or(4),
                busy_timeout: db.db_statement_timeout,
                ..SqliteOptions::default()
            };
            let store = SqliteStore::open(&db.database_url, options)
                .await
                .with_context(|| {
                    format!(
                        "cannot open the SQLite store at {}",
                        redact(&db.database_url)
                    )
                })?;
            Ok(Stores::with_everything(store))
        }
        Backend::Postgres => {
            let options = PostgresOptions {
                lifetimes,
                max_connections: db.db_max_connections.unwrap_or(16),
                acquire_timeout: db.db_acquire_timeout,
                statement_timeout: db.db_statement_timeout,
                migrate_on_connect: migrate,
                ..PostgresOptions::default()
            };
            let store = PostgresStore::connect(&db.database_url, options)
                .await
                .with_context(|| {
                    format!("cannot connect to Postgres at {}", redact(&db.database_url))
                })?;
            Ok(Stores::with_everything(store))
        }
        Backend::Redis => {
            let options = RedisOptions {
                lifetimes,
                connection_timeout: db.db_acquire_timeout,
                response_timeout: db.db_statement_timeout,
                ..RedisOptions::default()
            };
            let store = RedisStore::connect(&db.database_url, options)
                .await
                .with_context(|| {
                    format!("cannot connect to Redis at {}", redact(&db.database_url))
                })?;
            warn_about_persistence(&store).await;
            Ok(Stores::of(store))
        }
    }
}

/// Says at start-up what Redis keeps on disk, and warns when a restart of it would lose
/// acknowledged writes.
async fn warn_about_persistence(store: &RedisStore) {
    match store.persistence().await {
        Ok(Persistence::Nothing) => tracing::warn!(
            "Redis keeps nothing on disk (no appendonly file, no snapshots): a Redis restart \
             loses every task; set appendonly yes and appendfsync always (or everysec) for \
             durability"
        ),
        Ok(Persistence::Snapshots) => tracing::warn!(
            "Redis keeps only snapshots: a Redis crash loses the writes since the last one; \
             set appendonly yes and appendfsync always (or everysec) for durability"
        ),
        Ok(Persistence::AppendOnly { fsync }) if fsync != "always" => tracing::warn!(
            appendfsync = %fsync,
            "Redis appends to its log but does not fsync every write: a crash of the Redis \
             machine may lose up to a second of acknowledged writes (appendfsync always \
             loses none)"
        ),
        Ok(Persistence::AppendOnly { .. }) => {
            tracing::info!("Redis fsyncs its append-only file on every write")
        }
        Ok(Persistence::Unknown) => tracing::info!(
            "Redis did not say what it keeps on disk (CONFIG GET refused); check its persistence"
        ),
        Err(e) => tracing::warn!(error = %e, "could not read Redis's persistence settings"),
    }
}

/// A database URL with any password replaced, for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/baton"),
            "postgres://app:***@db:5432/baton"
        );
        assert_eq!(redact("postgres://app@db/baton"), "postgres://app@db/baton");
        assert_eq!(redact("sqlite://baton.db"), "sqlite://baton.db");
        assert_eq!(redact("redis://:s3cret@r:6379/0"), "redis://:***@r:6379/0");
    }

    #[test]
    fn schemes() {
        assert_eq!(Backend::of("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of("postgresql://h/d").unwrap(), Backend::Postgres);
        assert_eq!(Backend::of("redis://h:6379/0").unwrap(), Backend::Redis);
        assert_eq!(Backend::of("rediss://h:6380").unwrap(), Backend::Redis);
        assert_eq!(
            Backend::of("redis+cluster://a:7000,b:7001").unwrap(),
            Backend::Redis
        );
        assert!(Backend::of("mysql://h/d").is_err());
    }
}
