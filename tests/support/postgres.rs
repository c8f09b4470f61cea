//! A Postgres server for the tests: its admin URL, `psql`, and a fresh database per test.
//!
//! The server is [`baton_devtools::test_postgres_url`] (`BATON_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`); its own database is used only to create and
//! drop one database per test.

use std::{
    process::Command,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use baton_devtools::{database_url, run_captured};

/// How long one `psql` command may take.
const PSQL_WITHIN: Duration = Duration::from_secs(60);

/// Checks that `psql` can reach the server of `admin_url` (`SELECT 1`); the error says what
/// to do.
pub fn check_reachable(admin_url: &str) -> Result<(), String> {
    psql(admin_url, "SELECT 1").map(drop).map_err(|e| {
        format!(
            "Postgres is not usable at {}: {e}\n\
             Start it with `pg_ctlcluster <version> main start`, or set BATON_TEST_POSTGRES_URL.",
            baton_devtools::redact_password(admin_url)
        )
    })
}

/// Runs one SQL command with `psql` and returns its unaligned, tuples-only output.
pub fn psql(url: &str, sql: &str) -> Result<String, String> {
    run_captured(
        Command::new("psql")
            .arg(url)
            .args(["-X", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .env("PGCONNECT_TIMEOUT", "5"),
        PSQL_WITHIN,
    )
    .map(|out| out.stdout.trim().to_owned())
    .map_err(|e| e.to_string())
}

/// A uniquely named database, dropped (`WITH (FORCE)`) when this is dropped.
pub struct TestDatabase {
    /// Its name.
    pub name: String,
    admin_url: String,
}

impl TestDatabase {
    /// Creates `baton_e2e_<pid>_<nanos>_<n>`.
    pub fn create(admin_url: &str) -> TestDatabase {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "baton_e2e_{}_{:x}_{}",
            std::process::id(),
            nanos,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        psql(admin_url, &format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
        TestDatabase {
            name,
            admin_url: admin_url.to_owned(),
        }
    }

    /// The URL of this database on the server (or through a proxy on `port`).
    pub fn url(&self, port: Option<u16>) -> String {
        database_url(&self.admin_url, &self.name, port)
            .unwrap_or_else(|e| panic!("the test database's URL: {e}"))
    }

    /// Runs SQL on this database.
    pub fn sql(&self, sql: &str) -> Result<String, String> {
        psql(&self.url(None), sql)
    }

    /// Terminates every connection to this database except the caller's own (what a
    /// database restart or failover does to the instances' pools); returns how many.
    pub fn terminate_connections(&self) -> usize {
        let sql = format!(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            self.name
        );
        psql(&self.admin_url, &sql)
            .unwrap_or_else(|e| panic!("pg_terminate_backend failed: {e}"))
            .parse()
            .unwrap_or_else(|e| panic!("pg_terminate_backend count: {e}"))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Err(e) = psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        ) {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}
