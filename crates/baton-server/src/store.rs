//! Opening the stores a `--database-url` names.

use std::sync::Arc;

use anyhow::Context;
use baton_store::{BulkImport, KeyStore, Lifetimes, ResearchStore, StoreStats};
use baton_store_postgres::{PostgresOptions, PostgresStore};
use baton_store_sqlite::{SqliteOptions, SqliteStore};

use crate::config::DatabaseArgs;

/// Which backend a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://…` (or `sqlite:…`).
    Sqlite,
    /// `postgres://…` or `postgresql://…`.
    Postgres,
}

impl Backend {
    /// Reads the scheme of a database URL.
    pub fn of(url: &str) -> anyhow::Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            anyhow::bail!(
                "unsupported --database-url scheme (use sqlite://PATH or postgres://USER@HOST/DB)"
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
    /// Counting tasks by status (for `/metrics`), when the backend has it.
    pub counts: Option<Arc<dyn StoreStats>>,
}

impl Stores {
    /// The stores of a backend that does every job.
    fn of<S: ResearchStore + KeyStore + BulkImport + StoreStats>(store: S) -> Stores {
        let store = Arc::new(store);
        Stores {
            research: store.clone(),
            keys: store.clone(),
            import: Some(store.clone()),
            counts: Some(store),
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
            Ok(Stores::of(store))
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
            Ok(Stores::of(store))
        }
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
    }

    #[test]
    fn schemes() {
        assert_eq!(Backend::of("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of("postgresql://h/d").unwrap(), Backend::Postgres);
        assert!(Backend::of("mysql://h/d").is_err());
    }
}
