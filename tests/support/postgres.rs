//! A Postgres server for the tests: its admin URL, `psql`, and a fresh database per test.
//!
//! The server is `BATON_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! its own database is used only to create and drop one database per test.

use std::{
    process::{Command, Stdio},
    sync::atomic::{AtomicU64, Ordering},
};

use super::process::run;

/// The admin URL of the test Postgres server.
pub fn admin_url() -> String {
    std::env::var("BATON_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Checks that `psql` can reach the server of `admin_url` (`SELECT 1`); the error says what
/// to do.
pub fn check_reachable(admin_url: &str) -> Result<(), String> {
    psql(admin_url, "SELECT 1").map(drop).map_err(|e| {
        format!(
            "Postgres is not usable at {admin_url}: {e}\n\
             Start it with `pg_ctlcluster <version> main start`, or set BATON_TEST_POSTGRES_URL."
        )
    })
}

/// `url` with its database replaced by `database` (and its port by `port`, if given).
pub fn with_database(url: &str, database: &str, port: Option<u16>) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut authority = base[scheme_end..authority_end].to_owned();
    if let Some(port) = port {
        let host_start = authority.rfind('@').map_or(0, |i| i + 1);
        let host_end = match authority[host_start..].rfind(':') {
            Some(i) if !authority[host_start..].ends_with(']') => host_start + i,
            _ => authority.len(),
        };
        authority = format!("{}:{port}", &authority[..host_end]);
    }
    let base = format!("{}{authority}/{database}", &base[..scheme_end]);
    match query {
        Some(q) => format!("{base}?{q}"),
        None => base,
    }
}

/// The host and port of a postgres URL.
pub fn host_port(url: &str) -> (String, u16) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host_port.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => (h.to_owned(), p.parse().unwrap_or(5432)),
        _ => (host_port.to_owned(), 5432),
    }
}

/// Runs one SQL command with `psql` and returns its unaligned, tuples-only output.
pub fn psql(url: &str, sql: &str) -> Result<String, String> {
    run(Command::new("psql")
        .arg(url)
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(Stdio::null()))
    .map(|out| out.trim().to_owned())
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
        with_database(&self.admin_url, &self.name, port)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x", None),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database(
                "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
                "x",
                Some(7)
            ),
            "postgres://postgres@127.0.0.1:7/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u:p@localhost/test", "x", Some(7)),
            "postgres://u:p@localhost:7/x"
        );
        assert_eq!(
            host_port("postgres://postgres@127.0.0.1:5433/test"),
            ("127.0.0.1".to_owned(), 5433)
        );
        assert_eq!(host_port("postgres://u:p@db/test"), ("db".to_owned(), 5432));
    }
}
