//! The `baton` binary under test, started as a child process.
//!
//! The binary is found next to the test executable (`target/<profile>/baton`), or at
//! `$BATON_BIN`. `cargo xtask test` builds it before running the tests.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::Duration,
};

use baton_devtools::{Captured, ChildGuard, run_to_end};

use super::wait;

/// How long a server may take to start listening (a loaded 2-core machine, several
/// instances starting at once, migrations).
pub const START_WITHIN: Duration = Duration::from_secs(60);

/// Path of the `baton` binary under test.
pub fn baton_bin() -> PathBuf {
    if let Ok(path) = std::env::var("BATON_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/baton
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join("baton");
    assert!(
        bin.exists(),
        "{} does not exist: build it first with `cargo build -p baton-server` (cargo xtask test does)",
        bin.display()
    );
    bin
}

/// How long a `baton` subcommand that finishes (`migrate`, `gc`, `token …`) may take.
pub const COMMAND_WITHIN: Duration = Duration::from_secs(120);

/// Runs `baton ARGS…` (with `RUST_LOG=warn`, standard input closed) to its end, however it
/// exits; panics only when it cannot be run or outlives [`COMMAND_WITHIN`].
pub fn run_baton(args: &[&str]) -> Captured {
    let mut cmd = Command::new(baton_bin());
    cmd.args(args)
        .env("RUST_LOG", "warn")
        .env_remove("BATON_DATABASE_URL");
    run_to_end(&mut cmd, COMMAND_WITHIN).unwrap_or_else(|e| panic!("{e}"))
}

/// The SQLite file the helpers put in a test's temporary directory.
pub fn sqlite_path(dir: &Path) -> PathBuf {
    dir.join("baton.db")
}

/// The `--database-url` of [`sqlite_path`].
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", sqlite_path(dir).display())
}

/// A running `baton` process, killed when dropped. Its stderr (the logs) is collected as it
/// comes.
pub struct Server {
    process: ChildGuard,
    /// Where it listens.
    pub addr: SocketAddr,
    logs: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

/// How a stopped server ended, with everything it logged.
#[derive(Debug)]
pub struct Stopped {
    /// Its exit status, or `None` if it had to be killed.
    pub status: Option<ExitStatus>,
    /// Its complete logs (read up to the end of its stderr).
    pub logs: String,
}

impl Stopped {
    /// Whether it exited by itself with status 0.
    pub fn exited_cleanly(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

impl Server {
    /// Starts `baton serve` on a free port with the given extra arguments and waits until it
    /// listens. Panics (with its logs) if it does not within [`START_WITHIN`].
    pub fn start(args: &[&str]) -> Server {
        Self::start_with_env(args, &[])
    }

    /// Starts `baton serve --database-url sqlite://<dir>/baton.db` with `extra` arguments.
    pub fn sqlite(dir: &Path, extra: &[&str]) -> Server {
        let url = sqlite_url(dir);
        let mut args = vec!["--database-url", url.as_str()];
        args.extend_from_slice(extra);
        Self::start(&args)
    }

    /// Like [`Server::start`], with extra environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut all = vec!["serve"];
        all.extend_from_slice(args);
        Self::start_program(baton_bin(), &all, env)
    }

    /// Starts `baton serve ARGS… --listen LISTEN` (say, a fixed port, or a non-loopback
    /// address) and waits until it listens. [`Server::addr`] is then the address it bound.
    pub fn start_on(listen: &str, args: &[&str]) -> Server {
        let mut all = vec!["serve"];
        all.extend_from_slice(args);
        Self::start_program_on(baton_bin(), &all, &[], listen)
    }

    /// Starts any program that takes `baton serve`'s flags (e.g. an example embedding baton)
    /// with `--listen 127.0.0.1:0` appended to `args`.
    pub fn start_program(program: PathBuf, args: &[&str], env: &[(&str, &str)]) -> Server {
        Self::start_program_on(program, args, env, "127.0.0.1:0")
    }

    fn start_program_on(
        program: PathBuf,
        args: &[&str],
        env: &[(&str, &str)],
        listen: &str,
    ) -> Server {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .arg("--listen")
            .arg(listen)
            .env("RUST_LOG", "info,baton_server=debug")
            .env_remove("BATON_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut process = ChildGuard::spawn(&mut cmd).expect("spawn baton");
        let stderr = process.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&logs);
        let reader = std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                // Keep the line before signalling the address, so that whoever wakes up on
                // the signal finds the line in the logs.
                {
                    let mut logs = sink.lock().expect("logs lock");
                    logs.push_str(&line);
                    logs.push('\n');
                }
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split('/').next().unwrap_or_default().to_owned();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
            }
        });
        let mut server = Server {
            process,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            logs,
            reader: Some(reader),
        };
        match rx.recv_timeout(START_WITHIN) {
            Ok(addr) => {
                server.addr = addr.parse().expect("listen address");
                server
            }
            Err(_) => {
                let stopped = server.kill();
                panic!(
                    "baton did not start listening within {START_WITHIN:?} ({:?}); its logs:\n{}",
                    stopped.status, stopped.logs
                );
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// The MCP endpoint URL.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// `http://<addr>` followed by `path`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Everything the server wrote to stderr so far (lines still in the pipe are not there
    /// yet: use [`Server::wait_for_log`] or the logs of [`Stopped`] to be sure).
    pub fn logs(&self) -> String {
        self.logs.lock().expect("logs lock").clone()
    }

    /// Waits up to `within` for a log line containing `needle`; returns that line. Panics
    /// with the logs if none comes.
    pub fn wait_for_log(&self, needle: &str, within: Duration) -> String {
        let mut found = None;
        wait::until_blocking(within, || {
            found = self
                .logs()
                .lines()
                .find(|l| l.contains(needle))
                .map(str::to_owned);
            found.is_some()
        });
        found.unwrap_or_else(|| {
            panic!(
                "no log line with {needle:?} within {within:?}; logs:\n{}",
                self.logs()
            )
        })
    }

    /// Sends SIGTERM, without waiting.
    pub fn sigterm(&self) {
        if let Err(e) = self.process.terminate() {
            eprintln!("warning: {e}");
        }
    }

    /// Its exit status, if it has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.process.try_wait().ok().flatten()
    }

    /// Waits up to `within` for it to exit (after a [`Server::sigterm`]); kills it if it does
    /// not. Returns how it ended and its complete logs.
    pub fn wait_stopped(mut self, within: Duration) -> Stopped {
        let status = self.process.wait_within(within);
        self.finish(status)
    }

    /// Sends SIGTERM and waits up to `within` for it to exit (killing it if it does not).
    pub fn terminate(mut self, within: Duration) -> Stopped {
        let status = self.process.stop(within);
        self.finish(status)
    }

    /// SIGKILLs it; returns its complete logs.
    pub fn kill(mut self) -> Stopped {
        self.finish(None)
    }

    fn finish(&mut self, status: Option<ExitStatus>) -> Stopped {
        // Either may fail because it exited already: then there is nothing to stop.
        let _ = self.process.kill();
        let _ = self.process.wait();
        // Its stderr is closed now: the reader ends at EOF, having kept every line.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        Stopped {
            status,
            logs: self.logs(),
        }
    }
}
