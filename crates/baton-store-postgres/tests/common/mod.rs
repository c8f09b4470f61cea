//! Test support: a uniquely named database per test run, dropped afterwards.
//!
//! The server comes from `BATON_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); that database is only used to create and drop
//! the test databases. When the server cannot be reached the tests fail under CI and are
//! skipped, with a `BATON-SKIP:` line, otherwise (`baton_devtools::skip_or_fail`).
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use baton_store::Lifetimes;
use baton_store_postgres::{PostgresOptions, PostgresStore};
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Executor};

fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{:08x}_{}",
        std::process::id(),
        nanos ^ 0x5bd1_e995,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

async fn admin_connection() -> Result<PgConnection, String> {
    let url = baton_devtools::test_postgres_url();
    let shown = baton_devtools::redact_password(&url);
    match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(format!("cannot connect to {shown}: {e}")),
        Err(_) => Err(format!("cannot connect to {shown}: timed out")),
    }
}

/// Handles an unreachable server by the one rule: a failure under CI, a `BATON-SKIP:` line
/// (which `cargo xtask test` counts and reports) elsewhere.
fn unreachable(reason: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("a baton-store-postgres test")
        .to_owned();
    baton_devtools::skip_or_fail(&format!(
        "{test}: Postgres is unreachable ({reason}); start it (pg_ctlcluster <version> main \
         start) or set BATON_TEST_POSTGRES_URL"
    ));
}

/// A database created for this test and dropped (with `FORCE`) when this is dropped,
/// including when the test panics.
pub struct TestDb {
    /// Its name.
    pub name: String,
    /// A URL connecting to it.
    pub url: String,
}

impl TestDb {
    /// Creates an empty database; `None` (after the skip notice) when Postgres is
    /// unreachable outside CI.
    pub async fn create() -> Option<TestDb> {
        Self::create_from(None).await
    }

    /// Creates a database copied from `template` (or an empty one).
    pub async fn create_from(template: Option<&str>) -> Option<TestDb> {
        let mut admin = match admin_connection().await {
            Ok(c) => c,
            Err(reason) => {
                unreachable(&reason);
                return None;
            }
        };
        let name = unique_name("baton_test");
        let sql = match template {
            Some(t) => format!("CREATE DATABASE \"{name}\" TEMPLATE \"{t}\""),
            None => format!("CREATE DATABASE \"{name}\""),
        };
        admin
            .execute(sql.as_str())
            .await
            .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
        let _ = admin.close().await;
        let url = baton_devtools::database_url(&baton_devtools::test_postgres_url(), &name, None)
            .unwrap_or_else(|e| panic!("{e}"));
        Some(TestDb { name, url })
    }

    /// Opens a store on this database with test-friendly options.
    pub async fn store(&self, lifetimes: Lifetimes) -> PostgresStore {
        PostgresStore::connect(&self.url, options(lifetimes))
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e:?}", self.name))
    }

    /// Terminates every connection to this database (as a server restart would).
    pub async fn terminate_connections(&self) -> u64 {
        let mut admin = admin_connection().await.unwrap();
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()) t",
        )
        .bind(&self.name)
        .fetch_one(&mut admin)
        .await
        .unwrap();
        let _ = admin.close().await;
        n as u64
    }
}

/// Pool options for tests: enough connections for the race tests.
pub fn options(lifetimes: Lifetimes) -> PostgresOptions {
    PostgresOptions {
        lifetimes,
        max_connections: 8,
        min_connections: 0,
        acquire_timeout: Duration::from_secs(30),
        statement_timeout: Duration::from_secs(30),
        migrate_on_connect: true,
    }
}

/// Drops `name` on a throwaway runtime (usable from `Drop`, even during a panic).
pub fn drop_database(name: &str) {
    let name = name.to_owned();
    let joined = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            match admin_connection().await {
                Ok(mut admin) => {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    if let Err(e) = admin.execute(sql.as_str()).await {
                        eprintln!("warning: could not drop test database {name}: {e}");
                    }
                    let _ = admin.close().await;
                }
                Err(e) => eprintln!("warning: could not drop test database {name}: {e}"),
            }
        });
    })
    .join();
    if joined.is_err() {
        eprintln!("warning: dropping a test database panicked");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        drop_database(&self.name);
    }
}
