//! Redis for the tests: a key prefix of the test's own on the machine's Redis
//! ([`baton_devtools::test_redis_url`], deleted when dropped), or a Redis Cluster / a
//! `redis-server` with its own persistence settings that the test starts (killed when
//! dropped). `redis-cli` reads and cleans up.

use std::{
    process::Command,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use baton_devtools::{RedisCluster, RedisServer, run_captured};

use super::ci;

/// How long one `redis-cli` command may take.
const CLI_WITHIN: Duration = Duration::from_secs(60);

/// The port of a `redis://host:port…` URL on 127.0.0.1 (6379 when none is given).
fn loopback_port(url: &str) -> Option<u16> {
    let rest = url.strip_prefix("redis://")?;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit('@').next()?;
    match host_port.split_once(':') {
        Some(("127.0.0.1" | "localhost", port)) => port.parse().ok(),
        None if host_port == "127.0.0.1" || host_port == "localhost" => Some(6379),
        _ => None,
    }
}

/// Runs `redis-cli -p PORT ARGS…` and returns its output.
pub fn cli(port: u16, args: &[&str]) -> Result<String, String> {
    run_captured(
        Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args),
        CLI_WITHIN,
    )
    .map(|out| out.stdout.trim().to_owned())
    .map_err(|e| e.to_string())
}

/// Where a fleet keeps its data on Redis: a URL with a `key_prefix` of its own, and what
/// must live as long as the fleet (a cluster or server the test started). Dropping it
/// deletes the prefix's keys on the machine's Redis.
pub struct RedisDatabase {
    /// The `--database-url` for baton.
    pub url: String,
    /// The key prefix.
    pub prefix: String,
    /// The single server's port, for `redis-cli` (none on a cluster).
    pub port: Option<u16>,
    cleanup: bool,
    _cluster: Option<(RedisCluster, tempfile::TempDir)>,
}

fn unique_prefix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "baton-e2e-{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

impl RedisDatabase {
    /// A fresh prefix on the machine's Redis; `None` (the test skips, or fails under CI)
    /// when it does not answer.
    pub fn on_machine() -> Option<RedisDatabase> {
        let url = baton_devtools::test_redis_url();
        let Some(port) = loopback_port(&url) else {
            return ci::skip(&format!(
                "BATON_TEST_REDIS_URL must be redis://127.0.0.1:PORT for the fleet tests, not {}",
                baton_devtools::redact_password(&url)
            ));
        };
        if !baton_devtools::redis_answers(port, Duration::from_secs(5)) {
            return ci::skip(&format!(
                "Redis does not answer on 127.0.0.1:{port}; start it (redis-server --daemonize yes) \
                 or set BATON_TEST_REDIS_URL"
            ));
        }
        let prefix = unique_prefix();
        Some(RedisDatabase {
            url: format!("redis://127.0.0.1:{port}/0?key_prefix={prefix}"),
            prefix,
            port: Some(port),
            cleanup: true,
            _cluster: None,
        })
    }

    /// A three-node cluster started for this test; `None` when redis-server is missing.
    pub fn on_new_cluster() -> Option<RedisDatabase> {
        let dir = tempfile::tempdir().expect("temp dir");
        let cluster = match RedisCluster::start(dir.path()) {
            Ok(c) => c,
            Err(e) => return ci::skip(&format!("cannot start a three-node Redis Cluster: {e}")),
        };
        let prefix = unique_prefix();
        Some(RedisDatabase {
            url: format!("{}?key_prefix={prefix}", cluster.url()),
            prefix,
            port: None,
            cleanup: false,
            _cluster: Some((cluster, dir)),
        })
    }

    /// A prefix on a server the test started (which the test keeps and drops itself).
    pub fn on_server(server: &RedisServer) -> RedisDatabase {
        let prefix = unique_prefix();
        RedisDatabase {
            url: format!("{}/0?key_prefix={prefix}", server.url()),
            prefix,
            port: Some(server.port()),
            cleanup: false,
            _cluster: None,
        }
    }

    /// Runs `redis-cli` against the single server.
    pub fn cli(&self, args: &[&str]) -> Result<String, String> {
        cli(self.port.expect("a single redis server"), args)
    }
}

impl Drop for RedisDatabase {
    fn drop(&mut self) {
        if !self.cleanup {
            return;
        }
        let Some(port) = self.port else { return };
        let pattern = format!("{}:*", self.prefix);
        if let Ok(keys) = cli(port, &["--scan", "--pattern", &pattern]) {
            for chunk in keys.lines().collect::<Vec<_>>().chunks(500) {
                let mut args = vec!["UNLINK"];
                args.extend_from_slice(chunk);
                let _ = cli(port, &args);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_ports() {
        assert_eq!(loopback_port("redis://127.0.0.1:6390/0"), Some(6390));
        assert_eq!(loopback_port("redis://127.0.0.1"), Some(6379));
        assert_eq!(loopback_port("redis://:pw@localhost:7?x=1"), Some(7));
        assert_eq!(loopback_port("redis://10.0.0.1:6379"), None);
    }
}
