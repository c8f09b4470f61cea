//! Step 2, the servers: build the binaries, prepare the Python peer, create databases, start
//! a server and wait until it is ready, seed baton in bulk, read a process's memory.

use std::{
    fs,
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, anyhow, bail};

use super::plan::Kind;
use crate::helpers::{ChildGuard, cargo_command, output_of, run_captured, wrapped};

/// What a run has ready before it starts any server: folders, binaries, the Python peer.
pub struct Env {
    pub root: PathBuf,
    pub out_dir: PathBuf,
    pub work_dir: PathBuf,
    pub log_dir: PathBuf,
    pub loadgen: PathBuf,
    pub ceiling: PathBuf,
    /// The release `baton`, or why there is none (did not build, not selected).
    pub baton: Result<PathBuf, String>,
    pub baton_has_seed: bool,
    pub baton_has_migrate: bool,
    /// The Python peer's interpreter, or why there is none.
    pub python: Result<PathBuf, String>,
    pub postgres_url: String,
    pub redis_url: String,
    /// Makes database names unique to this run.
    pub run_id: String,
}

/// Where the database-backed servers keep their data.
pub struct StoreUrls {
    /// Admin URL of the Postgres server (a database per run is created there).
    pub postgres: String,
    /// URL of the Redis server (a key prefix per run is used there).
    pub redis: String,
}

/// A server that answered its readiness route; killed when dropped.
pub struct Running {
    pub proc: ChildGuard,
    pub url: String,
    pub cold_start: Duration,
    pub log: PathBuf,
}

impl Running {
    /// Fails once the server has stopped: `"{name} exited with … {when}; log …:"` and the
    /// log's tail (`when`: "before it was ready", "during status @16", …).
    pub fn ensure_alive(&mut self, name: &str, when: &str) -> anyhow::Result<()> {
        let why = match self.proc.try_wait() {
            Ok(None) => return Ok(()),
            Ok(Some(status)) => format!("exited with {status}"),
            Err(e) => format!("cannot be waited for: {e}"),
        };
        bail!(
            "{name} {why} {when}; log {}:\n{}",
            self.log.display(),
            log_tail(&self.log)
        )
    }

    /// (VmRSS, VmHWM) of the server in KiB.
    pub fn rss_kb(&self) -> Option<(u64, u64)> {
        rss_kb(self.proc.id())
    }

    /// CPU time (user + system, every thread, exited ones included) the server has used so
    /// far, in seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds(self.proc.id())
    }
}

/// A Postgres database created for this run and dropped when this guard goes.
pub struct PgDb {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDb {
    fn create(admin_url: &str, name: &str) -> anyhow::Result<Self> {
        psql(admin_url, &format!("CREATE DATABASE {name}"))?;
        Ok(Self {
            admin_url: admin_url.to_string(),
            name: name.to_string(),
            url: baton_devtools::database_url(admin_url, name, None)?,
        })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Err(e) = psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            eprintln!("bench: could not drop database {}: {e:#}", self.name);
        }
    }
}

/// A key prefix on Redis for this run, whose keys are deleted when this guard goes.
pub struct RedisKeys {
    port: u16,
    prefix: String,
}

impl Drop for RedisKeys {
    fn drop(&mut self) {
        let port = self.port.to_string();
        let pattern = format!("{}:*", self.prefix);
        let keys = match run_captured(
            Command::new("redis-cli").args(["-p", &port, "--scan", "--pattern", &pattern]),
            Duration::from_secs(600),
        ) {
            Ok(out) => out.stdout,
            Err(e) => {
                eprintln!("bench: could not list the keys of {}: {e:#}", self.prefix);
                return;
            }
        };
        for chunk in keys.lines().collect::<Vec<_>>().chunks(1000) {
            let mut cmd = Command::new("redis-cli");
            cmd.args(["-p", &port, "UNLINK"]).args(chunk);
            if let Err(e) = run_captured(&mut cmd, Duration::from_secs(60)) {
                eprintln!("bench: could not delete the keys of {}: {e:#}", self.prefix);
                return;
            }
        }
    }
}

/// What removes a run's storage when dropped.
pub enum DbGuard {
    Postgres(#[allow(dead_code)] PgDb),
    Redis(#[allow(dead_code)] RedisKeys),
}

/// The port of a `redis://127.0.0.1:PORT…` URL (the bench talks to loopback only).
fn redis_port(url: &str) -> anyhow::Result<u16> {
    let rest = url
        .strip_prefix("redis://127.0.0.1")
        .context("--redis-url must be redis://127.0.0.1[:PORT]")?;
    match rest.strip_prefix(':') {
        Some(port) => {
            let digits: String = port.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().context("--redis-url port")
        }
        None => Ok(6379),
    }
}

fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    run_captured(
        Command::new("psql").args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql]),
        Duration::from_secs(60),
    )
    .context("running psql (is the PostgreSQL client installed and the server up?)")?;
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Status code of a plain `GET path` on 127.0.0.1:port, or None if nothing answered.
fn http_get_status(port: u16, path: &str) -> Option<u16> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(1000))).ok()?;
    s.set_nodelay(true).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        match s.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let head = std::str::from_utf8(&buf[..n]).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}

/// (VmRSS, VmHWM) in KiB.
fn rss_kb(pid: u32) -> Option<(u64, u64)> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// `utime + stime` of a process from `/proc/<pid>/stat`, in seconds. The kernel reports them
/// in `USER_HZ` ticks, which Linux fixes at 100 per second for user space.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis,
    // where `state` is field 3, so utime (14) and stime (15) are the 12th and 13th.
    let rest = &s[s.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// The last lines of a server log, for error messages.
pub fn log_tail(path: &Path) -> String {
    let s = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

impl Env {
    /// Builds what `kinds` need (unless `skip_build`) and prepares the folders. The load
    /// generator and the ceiling must build; baton and the Python peer may fail here, and
    /// the servers that need them are then reported as not run.
    pub fn prepare(
        root: &Path,
        target: &Path,
        out_dir: PathBuf,
        kinds: &[Kind],
        skip_build: bool,
        stores: StoreUrls,
        run_id: String,
    ) -> anyhow::Result<Env> {
        let StoreUrls {
            postgres: postgres_url,
            redis: redis_url,
        } = stores;
        let work_dir = out_dir.join("work");
        let log_dir = out_dir.join("logs");
        let _ = fs::remove_dir_all(&work_dir);
        let _ = fs::remove_dir_all(&log_dir);
        fs::create_dir_all(&work_dir)?;
        fs::create_dir_all(&log_dir)?;
        let built = match skip_build {
            true => Ok(()),
            false => build(root, kinds)?,
        };
        let rel = target.join("release");
        let baton = if !kinds.iter().any(|k| k.is_baton()) {
            Err("not selected".to_string())
        } else {
            match built {
                Err(e) => Err(e),
                Ok(()) if rel.join("baton").exists() => Ok(rel.join("baton")),
                Ok(()) => Err(format!("{} not found", rel.join("baton").display())),
            }
        };
        let top_help = baton
            .as_ref()
            .ok()
            .and_then(|b| output_of(&b.display().to_string(), &["--help"]))
            .unwrap_or_default();
        let has_cmd = |name: &str| {
            top_help
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name))
        };
        let python = if kinds.iter().any(|k| k.is_python()) {
            python_venv(root).map_err(|e| format!("Python peer venv unavailable: {e:#}"))
        } else {
            Err("not selected".to_string())
        };
        Ok(Env {
            root: root.to_path_buf(),
            out_dir,
            work_dir,
            log_dir,
            loadgen: rel.join("baton-bench-loadgen"),
            ceiling: rel.join("baton-bench-ceiling"),
            baton_has_seed: has_cmd("seed"),
            baton_has_migrate: has_cmd("migrate"),
            baton,
            python,
            postgres_url,
            redis_url,
            run_id,
        })
    }

    /// Why `kind` cannot be started at all (its binary or interpreter is missing), if so.
    pub fn unavailable(&self, kind: Kind) -> Option<String> {
        if kind.is_baton() {
            self.baton.as_ref().err().cloned()
        } else if kind.is_python() {
            self.python.as_ref().err().cloned()
        } else {
            None
        }
    }

    fn log_file(&self, name: &str) -> anyhow::Result<(fs::File, PathBuf)> {
        let p = self.log_dir.join(format!("{name}.log"));
        let f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .with_context(|| format!("open {}", p.display()))?;
        Ok((f, p))
    }

    /// Starts a server and waits (bounded) until its readiness route answers 200. `seed` is
    /// the number of tasks the ceiling and the Python peer pre-create in memory.
    pub fn start(&self, kind: Kind, db_url: Option<&str>, seed: u64) -> anyhow::Result<Running> {
        self.start_under(kind, db_url, seed, &[])
    }

    /// [`Env::start`], the server's command run by `wrapper` (a program and its arguments,
    /// e.g. valgrind) when that is not empty; the readiness wait is then 5 minutes.
    pub fn start_under(
        &self,
        kind: Kind,
        db_url: Option<&str>,
        seed: u64,
        wrapper: &[String],
    ) -> anyhow::Result<Running> {
        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = match kind {
            Kind::BatonSqlite | Kind::BatonPostgres | Kind::BatonRedis => {
                let bin = self.baton.as_ref().map_err(|e| anyhow!("{e}"))?;
                let mut c = Command::new(bin);
                c.args(["serve", "--listen", &listen, "--database-url"]);
                c.arg(db_url.context("baton needs a database URL")?);
                c.env("RUST_LOG", "warn");
                c
            }
            Kind::Ceiling => {
                let mut c = Command::new(&self.ceiling);
                c.args(["--listen", &listen, "--seed", &seed.to_string()]);
                c
            }
            Kind::PythonArticle | Kind::PythonProduction => {
                let py = self.python.as_ref().map_err(|e| anyhow!("{e}"))?;
                let mut c = Command::new(py);
                c.arg(self.root.join("bench/peers/python/server.py"));
                c.args([
                    "--mode",
                    if kind == Kind::PythonArticle {
                        "article"
                    } else {
                        "production"
                    },
                    "--port",
                    &port.to_string(),
                    "--seed",
                    &seed.to_string(),
                ]);
                c.env("PYTHONUNBUFFERED", "1");
                c
            }
        };
        if let Some(wrapped) = wrapped(wrapper, &cmd) {
            cmd = wrapped;
        }
        let (log, log_path) = self.log_file(kind.id())?;
        let log2 = log.try_clone()?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .env_remove("RUST_BACKTRACE");
        let t0 = Instant::now();
        let proc = ChildGuard::spawn(&mut cmd)?;
        let mut running = Running {
            proc,
            url: format!("http://{listen}/mcp"),
            cold_start: Duration::ZERO,
            log: log_path,
        };
        let limit = Duration::from_secs(if !wrapper.is_empty() {
            300
        } else if seed > 100_000 {
            180
        } else {
            60
        });
        loop {
            running.ensure_alive(kind.id(), "before it was ready")?;
            if http_get_status(port, kind.ready_path()) == Some(200) {
                break;
            }
            if t0.elapsed() > limit {
                bail!(
                    "{} not ready on {listen}{} within {limit:?}; log {}:\n{}",
                    kind.id(),
                    kind.ready_path(),
                    running.log.display(),
                    log_tail(&running.log)
                );
            }
            thread::sleep(Duration::from_millis(2));
        }
        running.cold_start = t0.elapsed();
        Ok(running)
    }

    /// `baton migrate` on a fresh database (a no-op for builds without the subcommand).
    pub fn migrate(&self, db_url: &str) -> anyhow::Result<()> {
        if !self.baton_has_migrate {
            return Ok(());
        }
        let bin = self.baton.as_ref().map_err(|e| anyhow!("{e}"))?;
        run_captured(
            Command::new(bin)
                .args(["migrate", "--database-url", db_url])
                .env_remove("RUST_BACKTRACE"),
            Duration::from_secs(120),
        )?;
        Ok(())
    }

    /// `baton seed`: bulk-writes tasks through baton's own code (handles are signed);
    /// returns the seconds it took.
    pub fn baton_seed(&self, db_url: &str, count: u64, out: &Path) -> anyhow::Result<f64> {
        let bin = self.baton.as_ref().map_err(|e| anyhow!("{e}"))?;
        let t0 = Instant::now();
        run_captured(
            Command::new(bin)
                .args(["seed", "--database-url", db_url, "--count"])
                .arg(count.to_string())
                .arg("--handles-out")
                .arg(out)
                .env_remove("RUST_BACKTRACE"),
            Duration::from_secs(900),
        )?;
        Ok(t0.elapsed().as_secs_f64())
    }

    /// A fresh, migrated database for a baton backend (`None` for the other servers), and
    /// the guard that drops it.
    pub fn migrated_db(
        &self,
        kind: Kind,
        tag: &str,
    ) -> anyhow::Result<(Option<String>, Option<DbGuard>)> {
        if !kind.is_baton() {
            return Ok((None, None));
        }
        let (url, guard) = self.fresh_db(kind, tag)?;
        self.migrate(&url)?;
        Ok((Some(url), guard))
    }

    /// A storage location for one baton run: (URL, guard that removes it).
    pub fn fresh_db(&self, kind: Kind, tag: &str) -> anyhow::Result<(String, Option<DbGuard>)> {
        match kind {
            Kind::BatonSqlite => {
                let p = self.work_dir.join(format!("{tag}.db"));
                for suffix in ["", "-wal", "-shm"] {
                    let _ = fs::remove_file(format!("{}{suffix}", p.display()));
                }
                Ok((format!("sqlite://{}", p.display()), None))
            }
            Kind::BatonPostgres => {
                let name = format!("baton_bench_{}_{}", self.run_id, tag.replace('-', "_"));
                let db = PgDb::create(&self.postgres_url, &name)?;
                Ok((db.url.clone(), Some(DbGuard::Postgres(db))))
            }
            Kind::BatonRedis => {
                let port = redis_port(&self.redis_url)?;
                let prefix = format!("baton-bench-{}-{tag}", self.run_id);
                let keys = RedisKeys {
                    port,
                    prefix: prefix.clone(),
                };
                Ok((
                    format!("redis://127.0.0.1:{port}/0?key_prefix={prefix}"),
                    Some(DbGuard::Redis(keys)),
                ))
            }
            _ => bail!("{} has no database", kind.id()),
        }
    }
}

/// Builds the release binaries a run of `kinds` needs: the load generator and the ceiling
/// (an error if they do not build), then baton when a baton server is selected (the inner
/// `Err` says why it did not build). Two cargo runs, not one: together, cargo would unify
/// the features of the harness's and baton's dependencies, and the measured `baton` would
/// not be the binary a release builds.
pub fn build(root: &Path, kinds: &[Kind]) -> anyhow::Result<Result<(), String>> {
    cargo_build(root, &["baton-bench-ceiling", "baton-bench-loadgen"])?;
    if !kinds.iter().any(|k| k.is_baton()) {
        return Ok(Ok(()));
    }
    Ok(cargo_build(root, &["baton-server"])
        .map_err(|e| format!("baton-server did not build: {e:#}")))
}

fn cargo_build(root: &Path, packages: &[&str]) -> anyhow::Result<()> {
    let mut cmd = cargo_command();
    cmd.current_dir(root).args(["build", "--release"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    eprintln!("bench: cargo build --release -p {}", packages.join(" -p "));
    run_captured(&mut cmd, Duration::from_secs(3600))?;
    Ok(())
}

/// Creates (or reuses) the Python peer's venv in the cache folder; returns its interpreter.
fn python_venv(root: &Path) -> anyhow::Result<PathBuf> {
    let req_path = root.join("bench/peers/python/requirements.txt");
    let req =
        fs::read_to_string(&req_path).with_context(|| format!("read {}", req_path.display()))?;
    let python3 = std::env::var_os("BATON_BENCH_PYTHON").unwrap_or_else(|| "python3".into());
    let bin = baton_devtools::venv_with_python(&python3, "bench-venv", &req)?;
    Ok(bin.join("python"))
}
