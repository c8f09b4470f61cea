//! Test support: a uniquely named database per test run, dropped afterwards.
//!
//! The server comes from `BATON_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); that database is only used to create and drop
//! the test databases. When the server cannot be reached the tests fail under CI (`CI` set
//! and not empty, `0` or `false`) and are skipped, with a `BATON-SKIP:` line, otherwise.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use baton_store::Lifetimes;
use baton_store_postgres::{PostgresOptions, PostgresStore};
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Executor};

/// The admin URL of the test server.
pub fn admin_url() -> String {
    std::env::var("BATON_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `url` with its database replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

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
    let url = admin_url();
    match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(format!("cannot connect to {url}: {e}")),
        Err(_) => Err(format!("cannot connect to {url}: timed out")),
    }
}

/// Whether this run is CI: `CI` set to anything but empty, `0` or `false` (the one rule every
/// baton test helper uses).
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// Handles an unreachable server: panics under CI; otherwise prints a `BATON-SKIP:` line,
/// which `cargo xtask test` counts and reports.
fn unreachable(reason: &str) {
    if in_ci() {
        panic!(
            "Postgres is required under CI but is unreachable: {reason}. \
             Start it (pg_ctlcluster <version> main start) or set BATON_TEST_POSTGRES_URL."
        );
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a baton-store-postgres test")
        .to_owned();
    eprintln!(
        "BATON-SKIP: {test}: Postgres is unreachable ({reason}); set BATON_TEST_POSTGRES_URL \
         or start Postgres on 127.0.0.1:5432"
    );
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
        let url = with_database(&admin_url(), &name);
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

#[test]
fn with_database_replaces_the_path() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/db?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://h:5432", "x"),
        "postgres://h:5432/x"
    );
}
