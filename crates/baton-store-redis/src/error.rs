//! The one place where Redis errors become [`StoreError`]s, and this crate's own error for
//! bad configuration.
//!
//! [`StoreErrorKind::Unavailable`] (nothing was changed; retry): a refused connection, the
//! server loading its data set (`LOADING`), a cluster that is down or resharding
//! (`CLUSTERDOWN`, `TRYAGAIN`, `MOVED`/`ASK` left over after the client's own retries,
//! `MASTERDOWN`), a replica or a full server refusing writes (`READONLY`, `OOM`,
//! `MISCONF`, `NOREPLICAS`), a script running too long elsewhere (`BUSY`), and any failure
//! of a read.
//!
//! [`StoreErrorKind::Interrupted`] (the outcome is unknown): a write whose connection broke,
//! or whose answer did not come within the response timeout, after it was sent. Redis runs
//! each script whole or not at all, but the client cannot tell which.
//!
//! Everything else is [`StoreErrorKind::Internal`].

use baton_store::{StoreError, StoreErrorKind};
use redis::{ErrorKind, RedisError, ServerErrorKind};

/// Whether a call changes data (then a broken connection leaves its outcome unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

/// Server error codes that mean "refused for now, nothing changed".
const RETRYABLE_CODES: &[&str] = &["OOM", "MISCONF", "NOREPLICAS", "BUSY", "LOADING"];

fn kind_of(err: &RedisError, access: Access) -> StoreErrorKind {
    if err.is_connection_refusal() {
        return StoreErrorKind::Unavailable;
    }
    if err.is_io_error() || err.is_timeout() || err.is_connection_dropped() {
        return match access {
            Access::Read => StoreErrorKind::Unavailable,
            Access::Write => StoreErrorKind::Interrupted,
        };
    }
    match err.kind() {
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ReadOnly
            | ServerErrorKind::Moved
            | ServerErrorKind::Ask,
        )
        | ErrorKind::ClusterConnectionNotFound => StoreErrorKind::Unavailable,
        _ if err.code().is_some_and(|c| RETRYABLE_CODES.contains(&c)) => {
            StoreErrorKind::Unavailable
        }
        _ => StoreErrorKind::Internal,
    }
}

/// Converts a Redis error, naming the operation that failed.
pub(crate) fn from_redis(operation: &str, access: Access, err: RedisError) -> StoreError {
    let kind = kind_of(&err, access);
    let message = match kind {
        StoreErrorKind::Unavailable => format!("redis unavailable during {operation}: {err}"),
        StoreErrorKind::Interrupted => {
            format!("redis connection lost during {operation} (outcome unknown): {err}")
        }
        _ => format!("redis error during {operation}: {err}"),
    };
    StoreError::new(kind, message).with_source(err)
}

/// An [`StoreErrorKind::Internal`] error for data the store cannot make sense of.
pub(crate) fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::new(
        StoreErrorKind::Internal,
        format!("corrupt data in redis: {}", what.into()),
    )
}

/// What is wrong with a Redis URL or store option.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The URL's scheme is none of `redis`, `rediss`, `redis+cluster`, `rediss+cluster`.
    Scheme,
    /// A cluster URL names no node, or an empty one.
    NoNodes,
    /// A cluster URL names a database (Redis Cluster has only database 0).
    ClusterDatabase,
    /// The key prefix is empty, too long, or holds `{`, `}` or white space.
    KeyPrefix,
    /// The client refused the URL.
    Client,
}

/// A bad Redis URL or option. Its text never repeats a password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    kind: ConfigErrorKind,
    detail: String,
}

impl ConfigError {
    pub(crate) fn new(kind: ConfigErrorKind, detail: impl Into<String>) -> ConfigError {
        ConfigError {
            kind,
            detail: detail.into(),
        }
    }

    /// What is wrong.
    pub fn kind(&self) -> &ConfigErrorKind {
        &self.kind
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            ConfigErrorKind::Scheme => write!(
                f,
                "redis url: scheme must be redis://, rediss://, redis+cluster:// or rediss+cluster://"
            )?,
            ConfigErrorKind::NoNodes => {
                write!(f, "redis url: a cluster url needs host:port[,host:port…]")?
            }
            ConfigErrorKind::ClusterDatabase => write!(
                f,
                "redis url: a cluster url cannot name a database (Redis Cluster has only database 0)"
            )?,
            ConfigErrorKind::KeyPrefix => write!(
                f,
                "redis key_prefix: 1 to 64 characters, without '{{', '}}' or white space"
            )?,
            ConfigErrorKind::Client => write!(f, "redis url refused by the client")?,
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for StoreError {
    fn from(e: ConfigError) -> StoreError {
        StoreError::new(StoreErrorKind::Internal, e.to_string()).with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_errors_depend_on_the_access() {
        let refused = RedisError::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        ));
        assert_eq!(
            from_redis("start", Access::Write, refused).kind(),
            &StoreErrorKind::Unavailable
        );
        let reset = || {
            RedisError::from(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "reset",
            ))
        };
        assert_eq!(
            from_redis("append", Access::Write, reset()).kind(),
            &StoreErrorKind::Interrupted
        );
        assert_eq!(
            from_redis("get", Access::Read, reset()).kind(),
            &StoreErrorKind::Unavailable
        );
    }

    #[test]
    fn config_errors_name_the_problem() {
        let e = ConfigError::new(ConfigErrorKind::Scheme, "");
        assert_eq!(
            e.to_string(),
            "redis url: scheme must be redis://, rediss://, redis+cluster:// or rediss+cluster://"
        );
        assert_eq!(
            ConfigError::new(ConfigErrorKind::KeyPrefix, "\"a{b\"").to_string(),
            "redis key_prefix: 1 to 64 characters, without '{', '}' or white space: \"a{b\""
        );
    }
}
