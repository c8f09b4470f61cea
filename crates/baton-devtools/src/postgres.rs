//! The Postgres server the tests and chores use.

use std::{ffi::OsString, fmt};

use crate::{Error, ErrorKind, redact_password};

/// The test Postgres when `BATON_TEST_POSTGRES_URL` is not set: the machine's, trust auth.
pub const DEFAULT_TEST_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The admin URL of the test Postgres: `$BATON_TEST_POSTGRES_URL`, else
/// [`DEFAULT_TEST_POSTGRES_URL`]. Tests create and drop their own databases on it.
pub fn test_postgres_url() -> String {
    test_postgres_url_in(|name| std::env::var_os(name))
}

/// [`test_postgres_url`] reading variables through `lookup` instead of the process
/// environment (an empty value counts as unset).
pub fn test_postgres_url_in(lookup: impl Fn(&str) -> Option<OsString>) -> String {
    lookup("BATON_TEST_POSTGRES_URL")
        .map(|v| v.to_string_lossy().into_owned())
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_TEST_POSTGRES_URL.to_owned())
}

/// `url` (a `postgres://` or `postgresql://` URL) with its database replaced by `database`,
/// and its port by `port` when given (to reach the server through a proxy); user, password,
/// host and query are kept. Tests use it to connect to the database they created on the
/// [test Postgres](test_postgres_url).
///
/// ```
/// use baton_devtools::database_url;
///
/// let admin = "postgres://postgres@127.0.0.1:5432/test";
/// assert_eq!(database_url(admin, "t1", None)?, "postgres://postgres@127.0.0.1:5432/t1");
/// assert_eq!(
///     database_url("postgres://u:pw@db/app?sslmode=disable", "t1", Some(7))?,
///     "postgres://u:pw@db:7/t1?sslmode=disable"
/// );
/// assert_eq!(database_url("postgresql://h:5432", "t1", None)?, "postgresql://h:5432/t1");
/// assert_eq!(
///     database_url("http://u:pw@h/app", "t1", None).unwrap_err().to_string(),
///     "cannot use URL http://u:***@h/app: the scheme is not postgres:// or postgresql://"
/// );
/// # Ok::<(), baton_devtools::Error>(())
/// ```
pub fn database_url(url: &str, database: &str, port: Option<u16>) -> Result<String, Error> {
    let bad = |reason: String| {
        Error::new(ErrorKind::Url {
            url: redact_password(url),
            reason,
        })
    };
    let mut parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err(bad(
            "the scheme is not postgres:// or postgresql://".to_owned()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("it names no host".to_owned()));
    }
    parsed.set_path(&format!("/{database}"));
    if port.is_some() {
        parsed
            .set_port(port)
            .map_err(|()| bad("its port cannot be changed".to_owned()))?;
    }
    Ok(parsed.into())
}

/// Where a Postgres URL points over TCP: the host and port a connection probe dials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresAddress {
    /// The host name or IP address (IPv6 without brackets).
    pub host: String,
    /// The port (5432 when the URL names none).
    pub port: u16,
}

impl PostgresAddress {
    /// Reads the host and port of a `postgres://` (or `postgresql://`) URL. A `host` or
    /// `port` query parameter overrides the authority part, as in libpq and sqlx; a host
    /// that is a folder (a Unix socket) is an error, since there is no TCP address to dial.
    ///
    /// ```
    /// use baton_devtools::PostgresAddress;
    ///
    /// let at = |url| PostgresAddress::parse(url).map(|a| a.to_string());
    /// assert_eq!(at("postgres://postgres@127.0.0.1:5432/test")?, "127.0.0.1:5432");
    /// assert_eq!(at("postgresql://u:pw@db.internal/app")?, "db.internal:5432");
    /// assert_eq!(at("postgres://u@[::1]:6543/app")?, "[::1]:6543");
    /// assert_eq!(at("postgres://u@localhost/app?port=5433")?, "localhost:5433");
    /// assert_eq!(
    ///     at("mysql://u:pw@h/app").unwrap_err().to_string(),
    ///     "cannot use URL mysql://u:***@h/app: the scheme is not postgres:// or postgresql://"
    /// );
    /// # Ok::<(), baton_devtools::Error>(())
    /// ```
    pub fn parse(url: &str) -> Result<PostgresAddress, Error> {
        let bad = |reason: &str| {
            Error::new(ErrorKind::Url {
                url: redact_password(url),
                reason: reason.to_owned(),
            })
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(bad("the scheme is not postgres:// or postgresql://"));
        }
        let query = |key: &str| {
            parsed
                .query_pairs()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.into_owned())
        };
        let host = match query("host") {
            Some(h) => h,
            None => parsed
                .host_str()
                .unwrap_or_default()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        };
        if host.is_empty() {
            return Err(bad("it names no host"));
        }
        if host.starts_with('/') {
            return Err(bad("its host is a Unix socket folder, not a TCP address"));
        }
        let port = match query("port") {
            Some(p) => p
                .parse()
                .map_err(|_| bad(&format!("port {p:?} is not a number from 1 to 65535")))?,
            None => parsed.port().unwrap_or(5432),
        };
        Ok(PostgresAddress { host, port })
    }
}

impl fmt::Display for PostgresAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}
