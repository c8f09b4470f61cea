//! `cargo xtask bench`: baton on SQLite and Postgres against the protocol ceiling (a minimal
//! rmcp server, `bench/ceiling`) and the Python peer (`bench/peers/python`, the article's server
//! on the official SDK), under load from a separate process (`bench/loadgen`).
//!
//! For each server: build (release), start on a free 127.0.0.1 port, time spawn → first 200 on
//! its readiness route (cold start), read idle RSS, seed a pool of task handles through
//! `start_research_task`, then run every workload × concurrency cell (warm-up, then a bounded
//! measured window) and read RSS after each cell and the peak (VmHWM) at the end. Without
//! `--quick`, also the scaling cells: `get_task_status` at 1 k vs 1 M stored tasks per backend.
//! Writes `<target>/bench/bench.md` and `bench.json` and prints the table and the goal ratios.
//! Every figure is measured in this run; ratios are computed from them.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    fs,
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context as _, anyhow, bail};
use serde_json::{Value, json};

/// Options of `cargo xtask bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// CI mode: ~2 s per cell, concurrency 1 and 16, no 1 M scaling; a few minutes in all.
    #[arg(long)]
    pub quick: bool,
    /// Servers to run, comma-separated: baton-sqlite, baton-postgres, ceiling, python-article,
    /// python-production; shorthands: all, baton (both backends), python (both modes),
    /// sqlite, postgres.
    #[arg(long, value_delimiter = ',', default_value = "all")]
    pub servers: Vec<String>,
    /// Workloads, comma-separated: status, lifecycle, tools-list, discover.
    #[arg(long, value_delimiter = ',')]
    pub workloads: Option<Vec<String>>,
    /// Concurrency levels (default 1,16,64; quick: 1,16).
    #[arg(long, value_delimiter = ',')]
    pub concurrency: Option<Vec<usize>>,
    /// Measured seconds per cell (default 10; quick: 2).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Warm-up seconds per cell (default 2; quick: 0.5).
    #[arg(long)]
    pub warmup: Option<f64>,
    /// Admin URL of a Postgres server; the bench creates and drops its own database on it.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub postgres_url: String,
    /// Stored tasks for the large scaling point.
    #[arg(long, default_value_t = 1_000_000)]
    pub scale_count: u64,
    /// Skip the 1 k vs 1 M scaling cells even without --quick.
    #[arg(long)]
    pub no_scaling: bool,
    /// Handles in the get_task_status pool.
    #[arg(long, default_value_t = 1000)]
    pub pool: u64,
    /// Use the release binaries already built.
    #[arg(long)]
    pub skip_build: bool,
    /// Output folder (default: <cargo target dir>/bench).
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
enum Kind {
    BatonSqlite,
    BatonPostgres,
    Ceiling,
    PythonArticle,
    PythonProduction,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::BatonSqlite,
        Kind::BatonPostgres,
        Kind::Ceiling,
        Kind::PythonArticle,
        Kind::PythonProduction,
    ];

    fn id(self) -> &'static str {
        match self {
            Kind::BatonSqlite => "baton-sqlite",
            Kind::BatonPostgres => "baton-postgres",
            Kind::Ceiling => "ceiling",
            Kind::PythonArticle => "python-article",
            Kind::PythonProduction => "python-production",
        }
    }

    fn is_baton(self) -> bool {
        matches!(self, Kind::BatonSqlite | Kind::BatonPostgres)
    }

    fn is_python(self) -> bool {
        matches!(self, Kind::PythonArticle | Kind::PythonProduction)
    }

    fn ready_path(self) -> &'static str {
        if self.is_baton() {
            "/readyz"
        } else {
            "/healthz"
        }
    }
}

fn parse_servers(list: &[String]) -> anyhow::Result<Vec<Kind>> {
    let mut out = Vec::new();
    for raw in list {
        let t = raw.trim().to_ascii_lowercase();
        let add: &[Kind] = match t.as_str() {
            "" => &[],
            "all" => &Kind::ALL,
            "baton" => &[Kind::BatonSqlite, Kind::BatonPostgres],
            "baton-sqlite" | "sqlite" => &[Kind::BatonSqlite],
            "baton-postgres" | "postgres" | "pg" => &[Kind::BatonPostgres],
            "ceiling" => &[Kind::Ceiling],
            "python" => &[Kind::PythonArticle, Kind::PythonProduction],
            "python-article" | "article" => &[Kind::PythonArticle],
            "python-production" | "python-prod" | "production" => &[Kind::PythonProduction],
            other => bail!("unknown server {other:?} (see --help)"),
        };
        out.extend_from_slice(add);
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        bail!("--servers selected nothing");
    }
    Ok(out)
}

const WORKLOADS: [&str; 4] = ["status", "lifecycle", "tools-list", "discover"];

struct Plan {
    quick: bool,
    duration: f64,
    warmup: f64,
    concurrency: Vec<usize>,
    workloads: Vec<String>,
    pool: u64,
    scaling: bool,
    scale_count: u64,
}

impl Plan {
    fn new(a: &BenchArgs) -> anyhow::Result<Self> {
        let workloads = match &a.workloads {
            Some(w) => {
                for x in w {
                    if !WORKLOADS.contains(&x.as_str()) {
                        bail!("unknown workload {x:?}; known: {WORKLOADS:?}");
                    }
                }
                w.clone()
            }
            None => WORKLOADS.iter().map(|s| s.to_string()).collect(),
        };
        let concurrency = a.concurrency.clone().unwrap_or_else(|| {
            if a.quick {
                vec![1, 16]
            } else {
                vec![1, 16, 64]
            }
        });
        if concurrency.iter().any(|&c| c == 0 || c > 1024) {
            bail!("--concurrency values must be 1..=1024");
        }
        let duration = a.duration.unwrap_or(if a.quick { 2.0 } else { 10.0 });
        let warmup = a.warmup.unwrap_or(if a.quick { 0.5 } else { 2.0 });
        if !(1e-3..=600.0).contains(&duration) || !(0.0..=120.0).contains(&warmup) {
            bail!("--duration must be in (0, 600] s and --warmup in [0, 120] s");
        }
        if a.pool == 0 || a.pool > 100_000 {
            bail!("--pool must be 1..=100000");
        }
        Ok(Self {
            quick: a.quick,
            duration,
            warmup,
            concurrency,
            workloads,
            pool: a.pool,
            scaling: !a.quick && !a.no_scaling,
            scale_count: a.scale_count.max(2000),
        })
    }
}

struct Env {
    root: PathBuf,
    out_dir: PathBuf,
    work_dir: PathBuf,
    log_dir: PathBuf,
    loadgen: PathBuf,
    ceiling: PathBuf,
    baton: Result<PathBuf, String>,
    baton_has_seed: bool,
    baton_has_migrate: bool,
    python: Result<PathBuf, String>,
    postgres_url: String,
    run_id: String,
}

/// A child process killed (and reaped) when dropped, so every exit path cleans up.
struct Proc {
    child: Child,
    pid: u32,
}

impl Proc {
    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(st)) => Some(format!("exited with {st}")),
            Ok(None) => None,
            Err(e) => Some(format!("wait failed: {e}")),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Running {
    proc: Proc,
    url: String,
    cold_start: Duration,
    log: PathBuf,
}

/// A Postgres database created for this run and dropped when this guard goes.
struct PgDb {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDb {
    fn create(admin_url: &str, name: &str) -> anyhow::Result<Self> {
        psql(admin_url, &format!("CREATE DATABASE {name}"))?;
        Ok(Self {
            admin_url: admin_url.to_string(),
            name: name.to_string(),
            url: replace_db_name(admin_url, name)?,
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

fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    let out = run_bounded(
        Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
            .stdin(Stdio::null()),
        Duration::from_secs(60),
    )
    .context("running psql (is the PostgreSQL client installed?)")?;
    if !out.0 {
        bail!("psql {sql:?} failed: {}", out.2.trim());
    }
    Ok(())
}

fn replace_db_name(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").context("postgres URL has no scheme")? + 3;
    let path_start = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut s = format!("{}/{name}", &base[..path_start]);
    if let Some(q) = query {
        s.push('?');
        s.push_str(q);
    }
    Ok(s)
}

/// Runs a command to completion within `limit`; returns (success, stdout, stderr).
fn run_bounded(cmd: &mut Command, limit: Duration) -> anyhow::Result<(bool, String, String)> {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawn {cmd:?}"))?;
    let pid = child.id();
    let mut p = Proc { child, pid };
    // Drain both pipes on threads so a chatty child never blocks on a full pipe.
    let mut so = p.child.stdout.take().context("no stdout pipe")?;
    let mut se = p.child.stderr.take().context("no stderr pipe")?;
    let to = thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let te = thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = p.child.try_wait()? {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = p.child.kill();
            bail!("{cmd:?} (pid {}) exceeded its time bound {limit:?}", p.pid);
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stdout = to.join().unwrap_or_default();
    let stderr = te.join().unwrap_or_default();
    Ok((status.success(), stdout, stderr))
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

fn log_tail(path: &Path) -> String {
    let s = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

fn cmd_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Env {
    fn log_file(&self, name: &str) -> anyhow::Result<(fs::File, PathBuf)> {
        let p = self.log_dir.join(format!("{name}.log"));
        let f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .with_context(|| format!("open {}", p.display()))?;
        Ok((f, p))
    }

    /// Starts a server and waits (bounded) until its readiness route answers 200.
    fn start(&self, kind: Kind, db_url: Option<&str>, seed: u64) -> anyhow::Result<Running> {
        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = match kind {
            Kind::BatonSqlite | Kind::BatonPostgres => {
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
        let (log, log_path) = self.log_file(kind.id())?;
        let log2 = log.try_clone()?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .env_remove("RUST_BACKTRACE");
        let t0 = Instant::now();
        let child = cmd.spawn().with_context(|| format!("spawn {cmd:?}"))?;
        let pid = child.id();
        let mut proc = Proc { child, pid };
        let limit = Duration::from_secs(if seed > 100_000 { 180 } else { 60 });
        loop {
            if let Some(why) = proc.exited() {
                bail!(
                    "{} {why} before it was ready; log {}:\n{}",
                    kind.id(),
                    log_path.display(),
                    log_tail(&log_path)
                );
            }
            if http_get_status(port, kind.ready_path()) == Some(200) {
                break;
            }
            if t0.elapsed() > limit {
                bail!(
                    "{} not ready on {listen}{} within {limit:?}; log {}:\n{}",
                    kind.id(),
                    kind.ready_path(),
                    log_path.display(),
                    log_tail(&log_path)
                );
            }
            thread::sleep(Duration::from_millis(2));
        }
        Ok(Running {
            proc,
            url: format!("http://{listen}/mcp"),
            cold_start: t0.elapsed(),
            log: log_path,
        })
    }

    /// Runs the load generator (bounded) and returns its JSON line.
    fn loadgen(&self, url: &str, workload: &str, extra: &[String]) -> anyhow::Result<Value> {
        let mut cmd = Command::new(&self.loadgen);
        cmd.args(["--url", url, "--workload", workload]);
        cmd.args(extra);
        cmd.stdin(Stdio::null()).env_remove("RUST_BACKTRACE");
        let secs = |flag: &str| {
            extra
                .iter()
                .position(|a| a == flag)
                .and_then(|i| extra.get(i + 1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let limit = Duration::from_secs_f64(secs("--duration") + secs("--warmup") + 60.0);
        let (ok, stdout, stderr) = run_bounded(&mut cmd, limit)?;
        if !ok {
            bail!("load generator failed: {}", stderr.trim());
        }
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .context("load generator printed no JSON line")?;
        Ok(serde_json::from_str(line)?)
    }

    fn seed_via_api(&self, url: &str, count: u64, out: &Path) -> anyhow::Result<Value> {
        self.loadgen(
            url,
            "seed",
            &[
                "--count".into(),
                count.to_string(),
                "--handles-out".into(),
                out.display().to_string(),
                "--concurrency".into(),
                "16".into(),
                "--duration".into(),
                "300".into(),
                "--warmup".into(),
                "0".into(),
            ],
        )
    }

    fn migrate(&self, db_url: &str) -> anyhow::Result<()> {
        if !self.baton_has_migrate {
            return Ok(());
        }
        let bin = self.baton.as_ref().map_err(|e| anyhow!("{e}"))?;
        let (ok, out, err) = run_bounded(
            Command::new(bin)
                .args(["migrate", "--database-url", db_url])
                .env_remove("RUST_BACKTRACE"),
            Duration::from_secs(120),
        )?;
        if !ok {
            bail!("baton migrate failed: {}{}", out.trim(), err.trim());
        }
        Ok(())
    }

    /// `baton seed`: bulk-writes tasks through baton's own code (handles are signed).
    fn baton_seed(&self, db_url: &str, count: u64, out: &Path) -> anyhow::Result<f64> {
        let bin = self.baton.as_ref().map_err(|e| anyhow!("{e}"))?;
        let t0 = Instant::now();
        let (ok, so, se) = run_bounded(
            Command::new(bin)
                .args(["seed", "--database-url", db_url, "--count"])
                .arg(count.to_string())
                .arg("--handles-out")
                .arg(out)
                .env_remove("RUST_BACKTRACE"),
            Duration::from_secs(900),
        )?;
        if !ok {
            bail!("baton seed failed: {}{}", so.trim(), se.trim());
        }
        Ok(t0.elapsed().as_secs_f64())
    }

    /// A storage location for one baton run: (URL, guard that removes it).
    fn fresh_db(&self, kind: Kind, tag: &str) -> anyhow::Result<(String, Option<PgDb>)> {
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
                Ok((db.url.clone(), Some(db)))
            }
            _ => bail!("{} has no database", kind.id()),
        }
    }
}

#[derive(Default)]
struct Report {
    servers: Vec<Value>,
    cells: Vec<Value>,
    scaling: Vec<Value>,
    notes: Vec<String>,
}

fn cell_args(plan: &Plan, conc: usize) -> Vec<String> {
    vec![
        "--concurrency".into(),
        conc.to_string(),
        "--duration".into(),
        plan.duration.to_string(),
        "--warmup".into(),
        plan.warmup.to_string(),
    ]
}

fn bench_server(env: &Env, plan: &Plan, kind: Kind, rep: &mut Report) -> anyhow::Result<()> {
    eprintln!("bench: == {} ==", kind.id());
    let (db_url, _db_guard) = if kind.is_baton() {
        let (u, g) = env.fresh_db(kind, kind.id())?;
        env.migrate(&u)?;
        (Some(u), g)
    } else {
        (None, None)
    };
    let mut srv = env.start(kind, db_url.as_deref(), 0)?;
    let cold_ms = srv.cold_start.as_secs_f64() * 1e3;
    eprintln!(
        "bench: {} ready in {cold_ms:.1} ms at {}",
        kind.id(),
        srv.url
    );
    thread::sleep(Duration::from_millis(300));
    let idle = rss_kb(srv.proc.pid).map(|r| r.0);

    let handles = env.work_dir.join(format!("{}-handles.txt", kind.id()));
    let seeded = if plan.workloads.iter().any(|w| w == "status") {
        let s = env.seed_via_api(&srv.url, plan.pool, &handles)?;
        eprintln!(
            "bench: seeded {} tasks via start_research_task ({} errors)",
            s["ok"], s["errors"]
        );
        if s["ok"].as_u64().unwrap_or(0) == 0 {
            bail!("seeding failed: {}", s["first_error"]);
        }
        Some(s)
    } else {
        None
    };

    for w in &plan.workloads {
        for &c in &plan.concurrency {
            let mut args = cell_args(plan, c);
            if w == "status" {
                args.push("--handles".into());
                args.push(handles.display().to_string());
            }
            args.push("--label".into());
            args.push(kind.id().into());
            let res = env.loadgen(&srv.url, w, &args);
            let rss = rss_kb(srv.proc.pid);
            if let Some(why) = srv.proc.exited() {
                bail!(
                    "{} {why} during {w} @{c}; log {}:\n{}",
                    kind.id(),
                    srv.log.display(),
                    log_tail(&srv.log)
                );
            }
            let cell = match res {
                Ok(v) => {
                    eprintln!(
                        "bench: {:<17} {:<10} c={:<3} {:>9.0} req/s  p50 {:>7.3} ms  p99 {:>7.3} ms  errors {}",
                        kind.id(),
                        w,
                        c,
                        v["rps"].as_f64().unwrap_or(0.0),
                        v["latency_ms"]["p50"].as_f64().unwrap_or(f64::NAN),
                        v["latency_ms"]["p99"].as_f64().unwrap_or(f64::NAN),
                        v["errors"]
                    );
                    if v["errors"].as_u64().unwrap_or(0) > 0 {
                        eprintln!("bench:   first error: {}", v["first_error"]);
                    }
                    json!({"server": kind.id(), "workload": w, "concurrency": c,
                           "result": v, "rss_kb": rss.map(|r| r.0)})
                }
                Err(e) => {
                    eprintln!("bench: {} {w} @{c} failed: {e:#}", kind.id());
                    json!({"server": kind.id(), "workload": w, "concurrency": c,
                           "error": format!("{e:#}"), "rss_kb": rss.map(|r| r.0)})
                }
            };
            rep.cells.push(cell);
        }
    }
    let peak = rss_kb(srv.proc.pid).map(|r| r.1);
    rep.servers.push(json!({
        "server": kind.id(),
        "cold_start_ms": cold_ms,
        "idle_rss_kb": idle,
        "peak_rss_kb": peak,
        "seed": seeded,
    }));
    Ok(())
}

/// One scaling point: serve a store holding `tasks` tasks and run get_task_status @16.
fn scaling_point(
    env: &Env,
    plan: &Plan,
    kind: Kind,
    db_url: Option<&str>,
    ceiling_seed: u64,
    handles: &Path,
    tasks: u64,
) -> anyhow::Result<Value> {
    let srv = env.start(kind, db_url, ceiling_seed)?;
    thread::sleep(Duration::from_millis(300));
    let idle = rss_kb(srv.proc.pid).map(|r| r.0);
    let mut args = cell_args(plan, 16);
    args.extend([
        "--handles".into(),
        handles.display().to_string(),
        "--label".into(),
        format!("{}-{tasks}", kind.id()),
    ]);
    let v = env.loadgen(&srv.url, "status", &args)?;
    let rss = rss_kb(srv.proc.pid);
    eprintln!(
        "bench: scaling {:<15} {:>8} tasks: {:>8.0} req/s p50 {:.3} ms p99 {:.3} ms, cold start {:.1} ms, RSS {} KiB",
        kind.id(),
        tasks,
        v["rps"].as_f64().unwrap_or(0.0),
        v["latency_ms"]["p50"].as_f64().unwrap_or(f64::NAN),
        v["latency_ms"]["p99"].as_f64().unwrap_or(f64::NAN),
        srv.cold_start.as_secs_f64() * 1e3,
        rss.map(|r| r.0).unwrap_or(0)
    );
    Ok(json!({
        "tasks": tasks,
        "cold_start_ms": srv.cold_start.as_secs_f64() * 1e3,
        "idle_rss_kb": idle,
        "rss_kb": rss.map(|r| r.0),
        "peak_rss_kb": rss.map(|r| r.1),
        "result": v,
    }))
}

fn bench_scaling(env: &Env, plan: &Plan, kind: Kind, rep: &mut Report) -> anyhow::Result<()> {
    let small = 1000u64;
    let large = plan.scale_count;
    eprintln!(
        "bench: == scaling {}: {small} vs {large} tasks ==",
        kind.id()
    );
    let h_small = env.work_dir.join(format!("{}-scale-small.txt", kind.id()));
    let h_large = env.work_dir.join(format!("{}-scale-large.txt", kind.id()));
    let (a, b, seed_s) = if kind == Kind::Ceiling {
        let sample = |n: u64, path: &Path| -> anyhow::Result<()> {
            let step = (n / 1000).max(1);
            let s: String = (0..n.min(1000))
                .map(|i| format!("task_seed_{}\n", i * step))
                .collect();
            Ok(fs::write(path, s)?)
        };
        sample(small, &h_small)?;
        sample(large, &h_large)?;
        let a = scaling_point(env, plan, kind, None, small, &h_small, small)?;
        let b = scaling_point(env, plan, kind, None, large, &h_large, large)?;
        (a, b, None)
    } else {
        if !env.baton_has_seed {
            bail!(
                "`baton seed` is not available in this baton build: scaling needs it (handles are signed)"
            );
        }
        let (url, _guard) = env.fresh_db(kind, &format!("{}-scale", kind.id()))?;
        env.migrate(&url)?;
        env.baton_seed(&url, small, &h_small)?;
        let a = scaling_point(env, plan, kind, Some(&url), 0, &h_small, small)?;
        let secs = env.baton_seed(&url, large - small, &h_large)?;
        eprintln!(
            "bench: baton seed wrote {} tasks in {secs:.1} s",
            large - small
        );
        let b = scaling_point(env, plan, kind, Some(&url), 0, &h_large, large)?;
        let note = "baton scaling: the large point looks up a sample of handles `baton seed` spread evenly over the newly seeded tasks".to_string();
        if !rep.notes.contains(&note) {
            rep.notes.push(note);
        }
        (a, b, Some(secs))
    };
    let q = |v: &Value, p: &str| v["result"]["latency_ms"][p].as_f64();
    let ratio = |p: &str| match (q(&a, p), q(&b, p)) {
        (Some(x), Some(y)) if x > 0.0 => Some(y / x),
        _ => None,
    };
    rep.scaling.push(json!({
        "server": kind.id(),
        "small": a,
        "large": b,
        "p50_ratio": ratio("p50"),
        "p99_ratio": ratio("p99"),
        "seed_seconds": seed_s,
    }));
    Ok(())
}

// ---------------------------------------------------------------- setup

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root.join(p) })
        .unwrap_or_else(|| root.join("target"))
}

fn cargo_build(root: &Path, packages: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root).args(["build", "--release"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    eprintln!("bench: cargo build --release -p {}", packages.join(" -p "));
    let (ok, _out, err) = run_bounded(&mut cmd, Duration::from_secs(3600))?;
    if !ok {
        let tail: Vec<&str> = err.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("cargo build failed:\n{}", tail.join("\n"));
    }
    Ok(())
}

fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("BATON_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("baton");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache/baton")
}

/// Creates (or reuses) the Python peer's venv; returns its interpreter.
fn python_venv(root: &Path) -> anyhow::Result<PathBuf> {
    let req_path = root.join("bench/peers/python/requirements.txt");
    let req =
        fs::read_to_string(&req_path).with_context(|| format!("read {}", req_path.display()))?;
    let venv = cache_dir().join("bench-venv");
    let py = venv.join("bin/python");
    let stamp = venv.join(".baton-requirements");
    if py.exists() && fs::read_to_string(&stamp).ok().as_deref() == Some(req.as_str()) {
        return Ok(py);
    }
    eprintln!("bench: creating the Python peer venv in {}", venv.display());
    let python3 = std::env::var("BATON_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let (ok, _, err) = run_bounded(
        Command::new(&python3).arg("-m").arg("venv").arg(&venv),
        Duration::from_secs(300),
    )?;
    if !ok {
        bail!("python3 -m venv failed: {}", err.trim());
    }
    let (ok, _, err) = run_bounded(
        Command::new(&py)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&req_path),
        Duration::from_secs(900),
    )?;
    if !ok {
        bail!(
            "pip install -r {} failed: {}",
            req_path.display(),
            err.trim()
        );
    }
    fs::write(&stamp, &req)?;
    Ok(py)
}

// ---------------------------------------------------------------- report

fn cell<'a>(rep: &'a Report, server: &str, workload: &str, conc: usize) -> Option<&'a Value> {
    rep.cells
        .iter()
        .find(|c| c["server"] == server && c["workload"] == workload && c["concurrency"] == conc)
}

/// Throughput of a cell: lifecycles/s for the lifecycle mix, requests/s otherwise.
fn throughput(c: &Value) -> Option<f64> {
    let r = &c["result"];
    if c["workload"] == "lifecycle" {
        r["lifecycle_rps"].as_f64()
    } else {
        r["rps"].as_f64()
    }
}

fn server_row<'a>(rep: &'a Report, server: &str) -> Option<&'a Value> {
    rep.servers.iter().find(|s| s["server"] == server)
}

fn scaling_row<'a>(rep: &'a Report, server: &str) -> Option<&'a Value> {
    rep.scaling.iter().find(|s| s["server"] == server)
}

struct Goal {
    name: String,
    value: Option<f64>,
    unit: &'static str,
    at_least: bool,
    limit: f64,
}

fn goals(rep: &Report) -> Vec<Goal> {
    let thr = |s: &str, w: &str| cell(rep, s, w, 16).and_then(throughput);
    let p99 = |s: &str| {
        cell(rep, s, "status", 16).and_then(|c| c["result"]["latency_ms"]["p99"].as_f64())
    };
    let div = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let mb = |kb: Option<u64>| kb.map(|k| k as f64 / 1024.0);
    let mut g = vec![
        Goal {
            name: "get_task_status @16: baton-sqlite / ceiling throughput".into(),
            value: div(thr("baton-sqlite", "status"), thr("ceiling", "status")),
            unit: "×",
            at_least: true,
            limit: 0.70,
        },
        Goal {
            name: "get_task_status @16: baton-sqlite / python-production throughput".into(),
            value: div(
                thr("baton-sqlite", "status"),
                thr("python-production", "status"),
            ),
            unit: "×",
            at_least: true,
            limit: 11.0,
        },
        Goal {
            name: "get_task_status @16: baton-postgres / ceiling throughput".into(),
            value: div(thr("baton-postgres", "status"), thr("ceiling", "status")),
            unit: "×",
            at_least: true,
            limit: 0.50,
        },
        Goal {
            name: "lifecycle @16: baton-sqlite / python-production lifecycles/s".into(),
            value: div(
                thr("baton-sqlite", "lifecycle"),
                thr("python-production", "lifecycle"),
            ),
            unit: "×",
            at_least: true,
            limit: 10.0,
        },
        Goal {
            name: "get_task_status @16 p99, baton-sqlite".into(),
            value: p99("baton-sqlite"),
            unit: "ms",
            at_least: false,
            limit: 5.0,
        },
        Goal {
            name: "get_task_status @16 p99, baton-postgres".into(),
            value: p99("baton-postgres"),
            unit: "ms",
            at_least: false,
            limit: 10.0,
        },
    ];
    for s in ["baton-sqlite", "baton-postgres"] {
        let row = server_row(rep, s);
        g.push(Goal {
            name: format!("idle RSS, {s}"),
            value: mb(row.and_then(|r| r["idle_rss_kb"].as_u64())),
            unit: "MiB",
            at_least: false,
            limit: 20.0,
        });
        g.push(Goal {
            name: format!("cold start to ready, {s}"),
            value: row.and_then(|r| r["cold_start_ms"].as_f64()),
            unit: "ms",
            at_least: false,
            limit: 100.0,
        });
        let sc = scaling_row(rep, s);
        g.push(Goal {
            name: format!("RSS after get_task_status @16 with 1 M tasks, {s}"),
            value: mb(sc.and_then(|r| r["large"]["rss_kb"].as_u64())),
            unit: "MiB",
            at_least: false,
            limit: 60.0,
        });
        g.push(Goal {
            name: format!("get_task_status p50 latency, 1 M / 1 k tasks, {s}"),
            value: sc.and_then(|r| r["p50_ratio"].as_f64()),
            unit: "×",
            at_least: false,
            limit: 1.2,
        });
    }
    g
}

fn f(v: Option<f64>, prec: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.prec$}"),
        _ => "–".into(),
    }
}

fn render_md(rep: &Report, meta: &Value, plan: &Plan) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# baton benchmark\n");
    let _ = writeln!(
        s,
        "{} · commit {} · {} cores · {} mode · {} s measured + {} s warm-up per cell · loopback, load generator in a separate process on the same cores\n",
        meta["date"].as_str().unwrap_or("?"),
        meta["commit"].as_str().unwrap_or("?"),
        meta["cores"],
        if plan.quick { "quick" } else { "full" },
        plan.duration,
        plan.warmup
    );
    let _ = writeln!(s, "## Servers\n");
    let _ = writeln!(
        s,
        "| server | cold start to ready (ms) | idle RSS (MiB) | peak RSS (MiB) | status |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---|");
    for k in Kind::ALL {
        if let Some(r) = server_row(rep, k.id()) {
            let mb = |key: &str| r[key].as_u64().map(|x| x as f64 / 1024.0);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                k.id(),
                f(r["cold_start_ms"].as_f64(), 1),
                f(mb("idle_rss_kb"), 1),
                f(mb("peak_rss_kb"), 1),
                r["error"].as_str().map_or("ok".to_string(), |e| {
                    format!("not run: {}", e.lines().next().unwrap_or(""))
                })
            );
        }
    }
    let _ = writeln!(s, "\n## Cells\n");
    let _ = writeln!(
        s,
        "Throughput is requests/s, except `lifecycle` where it is completed lifecycles/s (baton and the ceiling: start → add_findings → status → complete, 4 requests; the Python peer has no add_findings, 3 requests). Ratios compare throughput at the same workload and concurrency. RSS is read after the cell.\n"
    );
    let _ = writeln!(
        s,
        "| server | workload | conc | throughput | req/s | p50 ms | p95 ms | p99 ms | errors | RSS MiB | × ceiling | × python-prod |"
    );
    let _ = writeln!(
        s,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for w in &plan.workloads {
        for &c in &plan.concurrency {
            let base_ceiling = cell(rep, "ceiling", w, c).and_then(throughput);
            let base_py = cell(rep, "python-production", w, c).and_then(throughput);
            for k in Kind::ALL {
                let Some(x) = cell(rep, k.id(), w, c) else {
                    continue;
                };
                let r = &x["result"];
                let lat = |p: &str| r["latency_ms"][p].as_f64();
                let t = throughput(x);
                let ratio = |b: Option<f64>| match (t, b) {
                    (Some(a), Some(b)) if b > 0.0 => Some(a / b),
                    _ => None,
                };
                let errors = if x.get("error").is_some() {
                    "run failed".to_string()
                } else {
                    r["errors"].to_string()
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    k.id(),
                    w,
                    c,
                    f(t, 0),
                    f(r["rps"].as_f64(), 0),
                    f(lat("p50"), 3),
                    f(lat("p95"), 3),
                    f(lat("p99"), 3),
                    errors,
                    f(x["rss_kb"].as_u64().map(|k| k as f64 / 1024.0), 1),
                    f(ratio(base_ceiling), 2),
                    f(ratio(base_py), 1),
                );
            }
        }
    }
    if !rep.scaling.is_empty() {
        let _ = writeln!(
            s,
            "\n## Scaling: get_task_status @16, 1 k vs many stored tasks\n"
        );
        let _ = writeln!(
            s,
            "| server | tasks | req/s | p50 ms | p99 ms | cold start ms | RSS MiB | p50 ratio | p99 ratio |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in &rep.scaling {
            for (key, last) in [("small", false), ("large", true)] {
                let p = &r[key];
                let lat = |q: &str| p["result"]["latency_ms"][q].as_f64();
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    r["server"].as_str().unwrap_or("?"),
                    p["tasks"],
                    f(p["result"]["rps"].as_f64(), 0),
                    f(lat("p50"), 3),
                    f(lat("p99"), 3),
                    f(p["cold_start_ms"].as_f64(), 1),
                    f(p["rss_kb"].as_u64().map(|k| k as f64 / 1024.0), 1),
                    if last {
                        f(r["p50_ratio"].as_f64(), 2)
                    } else {
                        String::new()
                    },
                    if last {
                        f(r["p99_ratio"].as_f64(), 2)
                    } else {
                        String::new()
                    },
                );
            }
        }
    }
    let _ = writeln!(s, "\n## Goals (computed from this run)\n");
    let _ = writeln!(s, "| goal | measured | target | verdict |");
    let _ = writeln!(s, "|---|---:|---:|---|");
    for g in goals(rep) {
        let verdict = match g.value {
            None => "not measured",
            Some(v) if (g.at_least && v >= g.limit) || (!g.at_least && v <= g.limit) => "met",
            Some(_) => "missed",
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} {} {} | {} |",
            g.name,
            g.value
                .map_or("–".into(), |v| format!("{} {}", f(Some(v), 2), g.unit)),
            if g.at_least { "≥" } else { "≤" },
            g.limit,
            g.unit,
            verdict
        );
    }
    let thr16 = |srv: &str, w: &str| cell(rep, srv, w, 16).and_then(throughput);
    let mut context = Vec::new();
    for (w, label) in [("status", "get_task_status"), ("lifecycle", "lifecycle")] {
        for py in ["python-production", "python-article"] {
            if let (Some(a), Some(b)) = (thr16("ceiling", w), thr16(py, w))
                && b > 0.0
            {
                context.push(format!("ceiling / {py}, {label} @16: {:.1}×", a / b));
            }
        }
    }
    if !context.is_empty() {
        let _ = writeln!(
            s,
            "\nContext (the protocol ceiling bounds what baton can reach): {}.",
            context.join("; ")
        );
    }
    if !rep.notes.is_empty() {
        let _ = writeln!(s, "\n## Notes\n");
        for n in &rep.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s
}

// ---------------------------------------------------------------- entry point

/// Runs the benchmark.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let plan = Plan::new(&args)?;
    let kinds = parse_servers(&args.servers)?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has no parent folder")?
        .to_path_buf();
    let target = target_dir(&root);
    let out_dir = args.out_dir.clone().unwrap_or_else(|| target.join("bench"));
    let run_id = format!("{}_{}", unix_now(), std::process::id());
    let work_dir = out_dir.join("work");
    let log_dir = out_dir.join("logs");
    let _ = fs::remove_dir_all(&work_dir);
    let _ = fs::remove_dir_all(&log_dir);
    fs::create_dir_all(&work_dir)?;
    fs::create_dir_all(&log_dir)?;
    let mut rep = Report::default();

    if !args.skip_build {
        cargo_build(&root, &["baton-bench-ceiling", "baton-bench-loadgen"])?;
    }
    let rel = target.join("release");
    let want_baton = kinds.iter().any(|k| k.is_baton());
    let baton = if !want_baton {
        Err("not selected".to_string())
    } else {
        let built = if args.skip_build {
            Ok(())
        } else {
            cargo_build(&root, &["baton-server"])
        };
        match built {
            Err(e) => Err(format!("baton-server did not build: {e:#}")),
            Ok(()) if rel.join("baton").exists() => Ok(rel.join("baton")),
            Ok(()) => Err(format!("{} not found", rel.join("baton").display())),
        }
    };
    let help = |a: &[&str]| {
        baton
            .as_ref()
            .ok()
            .and_then(|b| cmd_output(&b.display().to_string(), a))
            .unwrap_or_default()
    };
    let top_help = help(&["--help"]);
    let has_cmd = |name: &str| {
        top_help
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name))
    };
    let baton_has_seed = has_cmd("seed");
    let baton_has_migrate = has_cmd("migrate");
    if baton.is_ok() && !baton_has_seed {
        rep.notes.push(
            "`baton seed` is not in this baton build: baton's get_task_status pool was seeded through start_research_task, and the 1 M-task scaling cells could not run for baton."
                .into(),
        );
    }
    let python = if kinds.iter().any(|k| k.is_python()) {
        python_venv(&root).map_err(|e| format!("Python peer venv unavailable: {e:#}"))
    } else {
        Err("not selected".to_string())
    };
    let env = Env {
        root: root.clone(),
        out_dir: out_dir.clone(),
        work_dir,
        log_dir,
        loadgen: rel.join("baton-bench-loadgen"),
        ceiling: rel.join("baton-bench-ceiling"),
        baton,
        baton_has_seed,
        baton_has_migrate,
        python,
        postgres_url: args.postgres_url.clone(),
        run_id,
    };

    for &k in &kinds {
        let pre = if k.is_baton() {
            env.baton.as_ref().err().cloned()
        } else if k.is_python() {
            env.python.as_ref().err().cloned()
        } else {
            None
        };
        let res = match pre {
            Some(e) => Err(anyhow!(e)),
            None => bench_server(&env, &plan, k, &mut rep),
        };
        if let Err(e) = res {
            eprintln!("bench: {} not benchmarked: {e:#}", k.id());
            rep.servers.retain(|s| s["server"] != k.id());
            rep.servers
                .push(json!({"server": k.id(), "error": format!("{e:#}")}));
        }
    }
    if plan.scaling {
        for &k in &kinds {
            if !(k.is_baton() || k == Kind::Ceiling) {
                continue;
            }
            if server_row(&rep, k.id()).is_some_and(|r| r.get("error").is_some()) {
                continue;
            }
            if let Err(e) = bench_scaling(&env, &plan, k, &mut rep) {
                eprintln!("bench: scaling {} not run: {e:#}", k.id());
                rep.notes
                    .push(format!("scaling for {} not run: {e:#}", k.id()));
            }
        }
    }

    let date = cmd_output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .unwrap_or_else(|| unix_now().to_string());
    let commit = cmd_output(
        "git",
        &[
            "-C",
            &root.display().to_string(),
            "rev-parse",
            "--short",
            "HEAD",
        ],
    )
    .unwrap_or_else(|| "?".into());
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let meta = json!({
        "date": date, "commit": commit, "cores": cores, "quick": plan.quick,
        "duration_s": plan.duration, "warmup_s": plan.warmup,
        "concurrency": plan.concurrency, "workloads": plan.workloads, "pool": plan.pool,
        "servers": kinds.iter().map(|k| k.id()).collect::<Vec<_>>(),
    });
    let goals_json: Vec<Value> = goals(&rep)
        .into_iter()
        .map(|g| {
            json!({"goal": g.name, "value": g.value, "unit": g.unit,
                   "at_least": g.at_least, "limit": g.limit,
                   "met": g.value.map(|v| if g.at_least { v >= g.limit } else { v <= g.limit })})
        })
        .collect();
    let mut by_server: BTreeMap<String, Value> = BTreeMap::new();
    for s in &rep.servers {
        by_server.insert(s["server"].as_str().unwrap_or("?").to_string(), s.clone());
    }
    let doc = json!({
        "meta": meta, "servers": by_server, "cells": rep.cells,
        "scaling": rep.scaling, "goals": goals_json, "notes": rep.notes,
    });
    let md = render_md(&rep, &meta, &plan);
    fs::write(env.out_dir.join("bench.md"), &md)?;
    fs::write(
        env.out_dir.join("bench.json"),
        serde_json::to_string_pretty(&doc)?,
    )?;
    println!("{md}");
    eprintln!(
        "bench: wrote {} and {}",
        env.out_dir.join("bench.md").display(),
        env.out_dir.join("bench.json").display()
    );
    Ok(())
}
