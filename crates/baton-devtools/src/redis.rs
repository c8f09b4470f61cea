//! The Redis servers the tests use: the machine's (`$BATON_TEST_REDIS_URL`), and servers a
//! test starts itself (one with its own persistence settings, or a three-node cluster), on
//! loopback ports, killed when dropped.

use std::{
    ffi::OsString,
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use crate::{ChildGuard, Error, ErrorKind, run_captured};

/// The test Redis when `BATON_TEST_REDIS_URL` is not set: the machine's.
pub const DEFAULT_TEST_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// How long a started server (or cluster) may take to answer.
pub const REDIS_READY_WITHIN: Duration = Duration::from_secs(30);

/// The URL of the test Redis: `$BATON_TEST_REDIS_URL`, else [`DEFAULT_TEST_REDIS_URL`].
/// Tests keep their keys under a prefix of their own and delete them afterwards.
pub fn test_redis_url() -> String {
    test_redis_url_in(|name| std::env::var_os(name))
}

/// [`test_redis_url`] reading variables through `lookup` (an empty value counts as unset).
///
/// ```
/// use baton_devtools::test_redis_url_in;
/// assert_eq!(test_redis_url_in(|_| None), "redis://127.0.0.1:6379");
/// assert_eq!(test_redis_url_in(|_| Some("redis://r:1".into())), "redis://r:1");
/// ```
pub fn test_redis_url_in(lookup: impl Fn(&str) -> Option<OsString>) -> String {
    lookup("BATON_TEST_REDIS_URL")
        .map(|v| v.to_string_lossy().into_owned())
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_TEST_REDIS_URL.to_owned())
}

/// Whether a Redis server answers `PING` with `+PONG` at `127.0.0.1:port` within `limit`
/// (one attempt; no password).
pub fn redis_answers(port: u16, limit: Duration) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), limit) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(limit));
    let _ = stream.set_write_timeout(Some(limit));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 5];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG"
}

/// A loopback port that is free now, and whose cluster bus port (+10000) is free too.
fn free_port() -> Result<u16, Error> {
    for _ in 0..200 {
        let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| io("bind", e))?;
        let port = listener.local_addr().map_err(|e| io("bind", e))?.port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return Ok(port);
        }
    }
    Err(service("redis-server", "found no free loopback port pair"))
}

fn io(action: &'static str, e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io {
        action,
        path: PathBuf::from("127.0.0.1"),
        reason: e.to_string(),
    })
}

fn service(which: &str, reason: &str) -> Error {
    Error::new(ErrorKind::Service {
        service: which.to_owned(),
        reason: reason.to_owned(),
    })
}

/// A `redis-server` this test started on a loopback port, in a folder of its own; killed on
/// drop. It can be killed (`SIGKILL`) and started again on the same port and folder, as a
/// crash and a restart.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    args: Vec<String>,
    child: Option<ChildGuard>,
}

impl RedisServer {
    /// Starts `redis-server` in `dir` (created if needed) with `args` (for example
    /// `["--appendonly", "yes", "--appendfsync", "always"]`) and waits until it answers.
    pub fn start(dir: &Path, args: &[&str]) -> Result<RedisServer, Error> {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::new(ErrorKind::Io {
                action: "create folder",
                path: dir.to_owned(),
                reason: e.to_string(),
            })
        })?;
        let mut server = RedisServer {
            port: free_port()?,
            dir: dir.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
        };
        server.restart()?;
        Ok(server)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server with `SIGKILL` (a crash: nothing is flushed) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on the same port and folder, and waits until it answers
    /// `PING` (after loading its data).
    pub fn restart(&mut self) -> Result<(), Error> {
        self.kill();
        let mut cmd = Command::new("redis-server");
        cmd.current_dir(&self.dir)
            .args(["--port", &self.port.to_string()])
            .args([
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--protected-mode",
                "no",
            ])
            .args(["--dir", &self.dir.to_string_lossy()])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = ChildGuard::spawn(&mut cmd)?;
        let deadline = Instant::now() + REDIS_READY_WITHIN;
        loop {
            if redis_answers(self.port, Duration::from_secs(1)) {
                self.child = Some(child);
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(service(
                    &format!("redis-server on port {}", self.port),
                    &format!("exited at start-up ({status})"),
                ));
            }
            if Instant::now() >= deadline {
                return Err(service(
                    &format!("redis-server on port {}", self.port),
                    "did not answer PING in time",
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A three-node Redis Cluster (three primaries, no replicas) this test started on loopback
/// ports with `redis-server --cluster-enabled yes` and `redis-cli --cluster create`; every
/// node is killed on drop.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three nodes in sub-folders of `dir`, joins them, and waits until every node
    /// reports `cluster_state:ok`.
    pub fn start(dir: &Path) -> Result<RedisCluster, Error> {
        let mut nodes = Vec::new();
        for n in 0..3 {
            nodes.push(RedisServer::start(
                &dir.join(format!("node{n}")),
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "5000",
                    "--appendonly",
                    "no",
                ],
            )?);
        }
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for node in &nodes {
            create.arg(format!("127.0.0.1:{}", node.port()));
        }
        create.args(["--cluster-replicas", "0", "--cluster-yes"]);
        run_captured(&mut create, REDIS_READY_WITHIN)?;
        let deadline = Instant::now() + REDIS_READY_WITHIN;
        for node in &nodes {
            loop {
                let mut info = Command::new("redis-cli");
                info.args(["-p", &node.port().to_string(), "cluster", "info"]);
                let ok = run_captured(&mut info, Duration::from_secs(10))
                    .map(|out| out.stdout.contains("cluster_state:ok"))
                    .unwrap_or(false);
                if ok {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(service(
                        &format!("redis cluster node on port {}", node.port()),
                        "did not report cluster_state:ok in time",
                    ));
                }
                thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(RedisCluster { nodes })
    }

    /// `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    /// The nodes' ports.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(RedisServer::port).collect()
    }
}
