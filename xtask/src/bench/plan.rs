//! Step 1, the plan: which servers, workloads, concurrency levels and durations a run covers.

use std::path::PathBuf;

use anyhow::bail;

/// Options of `cargo xtask bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// CI mode: ~2 s per cell, concurrency 1 and 16, no 1 M scaling; a few minutes in all.
    #[arg(long)]
    pub quick: bool,
    /// Servers to run, comma-separated: baton-sqlite, baton-postgres, baton-redis, ceiling,
    /// python-article, python-production; shorthands: all, baton (every backend), python
    /// (both modes), sqlite, postgres, redis.
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
    /// Admin URL of a Postgres server; the bench creates and drops its own database on it
    /// (default: the tests' Postgres, `$BATON_TEST_POSTGRES_URL` or the machine's).
    #[arg(long, env = "BATON_TEST_POSTGRES_URL", default_value = baton_devtools::DEFAULT_TEST_POSTGRES_URL)]
    pub postgres_url: String,
    /// URL of a Redis server; the bench keeps its keys under a prefix of its own and deletes
    /// them afterwards (default: the tests' Redis, `$BATON_TEST_REDIS_URL` or the machine's).
    #[arg(long, env = "BATON_TEST_REDIS_URL", default_value = baton_devtools::DEFAULT_TEST_REDIS_URL)]
    pub redis_url: String,
    /// Stored tasks for the large scaling point.
    #[arg(long, default_value_t = 1_000_000)]
    pub scale_count: u64,
    /// Skip the 1 k vs 1 M scaling cells even without --quick.
    #[arg(long)]
    pub no_scaling: bool,
    /// Interleaved rounds of get_task_status @16 over baton and the ceiling, run side by
    /// side after the cells; the goals' and the guard's status ratios are the median of the
    /// rounds' ratios (default 5; quick: 3; 0: no rounds, the ratios come from the cells).
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Handles in the get_task_status pool.
    #[arg(long, default_value_t = 1000)]
    pub pool: u64,
    /// Use the release binaries already built.
    #[arg(long)]
    pub skip_build: bool,
    /// Output folder (default: <cargo target dir>/bench).
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Write this run's baton ÷ ceiling ratios to `bench/baseline.json`, the figures the
    /// regression guard compares later runs with.
    #[arg(long)]
    pub write_baseline: bool,
    /// Instead of timing, count the instructions each server runs per get_task_status @16
    /// under callgrind (needs valgrind): a figure that does not move with the machine's speed
    /// or load, for comparing builds. baton and the ceiling only; `--duration` is the counted
    /// window (default 4 s, ≈ 1,500 requests under valgrind).
    #[arg(long, conflicts_with = "write_baseline")]
    pub instructions: bool,
    /// Only build the release binaries the run would use (for `--servers`), then stop:
    /// `cargo xtask test` starts this early, in the background, so the bench finds them
    /// built.
    #[arg(long, conflicts_with_all = ["skip_build", "instructions", "write_baseline"])]
    pub build_only: bool,
}

/// A server the bench can measure.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
pub enum Kind {
    BatonSqlite,
    BatonPostgres,
    BatonRedis,
    Ceiling,
    PythonArticle,
    PythonProduction,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::BatonSqlite,
        Kind::BatonPostgres,
        Kind::BatonRedis,
        Kind::Ceiling,
        Kind::PythonArticle,
        Kind::PythonProduction,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Kind::BatonSqlite => "baton-sqlite",
            Kind::BatonPostgres => "baton-postgres",
            Kind::BatonRedis => "baton-redis",
            Kind::Ceiling => "ceiling",
            Kind::PythonArticle => "python-article",
            Kind::PythonProduction => "python-production",
        }
    }

    pub fn is_baton(self) -> bool {
        matches!(
            self,
            Kind::BatonSqlite | Kind::BatonPostgres | Kind::BatonRedis
        )
    }

    pub fn is_python(self) -> bool {
        matches!(self, Kind::PythonArticle | Kind::PythonProduction)
    }

    pub fn ready_path(self) -> &'static str {
        if self.is_baton() {
            "/readyz"
        } else {
            "/healthz"
        }
    }
}

pub fn parse_servers(list: &[String]) -> anyhow::Result<Vec<Kind>> {
    let mut out = Vec::new();
    for raw in list {
        let t = raw.trim().to_ascii_lowercase();
        let add: &[Kind] = match t.as_str() {
            "" => &[],
            "all" => &Kind::ALL,
            "baton" => &[Kind::BatonSqlite, Kind::BatonPostgres, Kind::BatonRedis],
            "baton-sqlite" | "sqlite" => &[Kind::BatonSqlite],
            "baton-postgres" | "postgres" | "pg" => &[Kind::BatonPostgres],
            "baton-redis" | "redis" => &[Kind::BatonRedis],
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

/// The load generator's measured workloads (`seed` only fills the status pool).
pub const WORKLOADS: [&str; 4] = ["status", "lifecycle", "tools-list", "discover"];

/// What one run measures, from the options (quick mode changes the defaults).
pub struct Plan {
    pub quick: bool,
    pub duration: f64,
    pub warmup: f64,
    pub concurrency: Vec<usize>,
    pub workloads: Vec<String>,
    pub pool: u64,
    pub rounds: usize,
    pub scaling: bool,
    pub scale_count: u64,
}

impl Plan {
    pub fn new(a: &BenchArgs) -> anyhow::Result<Self> {
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
        let rounds = a.rounds.unwrap_or(if a.quick { 3 } else { 5 });
        if rounds > 20 {
            bail!("--rounds must be 0..=20");
        }
        Ok(Self {
            quick: a.quick,
            duration,
            warmup,
            concurrency,
            workloads,
            pool: a.pool,
            rounds,
            scaling: !a.quick && !a.no_scaling,
            scale_count: a.scale_count.max(2000),
        })
    }
}
