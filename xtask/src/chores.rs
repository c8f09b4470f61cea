//! The everyday chores: test, lint, migrate.

use std::{
    net::{SocketAddr, TcpStream},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

/// `cargo xtask test` options.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Only the Rust tests (unit, store conformance, end-to-end, doctests): skip the
    /// official conformance suite and the quick bench and eval harnesses.
    #[arg(long)]
    pub fast: bool,
}

/// `cargo xtask migrate` options.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// The database (`sqlite://PATH` or `postgres://…`).
    #[arg(long, env = "BATON_DATABASE_URL")]
    pub database_url: String,
    /// Only list pending migrations; fail when there are some.
    #[arg(long)]
    pub check: bool,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Runs `cargo ARGS` from the workspace root, failing on a non-zero exit.
pub fn cargo(args: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(cargo).args(args))
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("workspace root")?;
    let shown = format!("{cmd:?}");
    eprintln!("\n==> {shown}");
    let started = Instant::now();
    let status = cmd
        .current_dir(root)
        .status()
        .with_context(|| format!("cannot run {shown}"))?;
    eprintln!("<== {:.1}s {shown}", started.elapsed().as_secs_f64());
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

/// Postgres must answer for the Postgres conformance kit and the fleet tests. Under CI a
/// missing server is a failure, never a silent skip.
fn check_postgres() -> anyhow::Result<()> {
    let url = std::env::var("BATON_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let addr: SocketAddr = "127.0.0.1:5432".parse()?;
    match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(_) => Ok(()),
        Err(e) if in_ci() => bail!(
            "Postgres is not reachable at {addr} ({e}); CI requires it for {url}. Start it with: \
             pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        ),
        Err(e) => {
            eprintln!("warning: Postgres is not reachable at {addr} ({e}); its tests will skip");
            Ok(())
        }
    }
}

/// `cargo xtask test`.
pub fn test(args: TestArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    check_postgres()?;
    // The end-to-end tests start the real binary.
    cargo(&[
        "build",
        "-p",
        "baton-server",
        "--bin",
        "baton",
        "--examples",
    ])?;
    cargo(&[
        "nextest",
        "run",
        "--workspace",
        "--all-features",
        "--no-fail-fast",
    ])?;
    cargo(&["test", "--doc", "--workspace", "--all-features"])?;
    if !args.fast {
        let xtask = |sub: &[&str]| {
            let mut all = vec!["run", "--quiet", "--package", "xtask", "--"];
            all.extend_from_slice(sub);
            cargo(&all)
        };
        xtask(&["conformance"])?;
        xtask(&["tool-search-eval", "--reps", "20"])?;
        xtask(&["bench", "--quick"])?;
    }
    eprintln!(
        "\nall tests passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `cargo xtask lint`.
pub fn lint() -> anyhow::Result<()> {
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ])
}

/// `cargo xtask migrate`: the same code path as `baton migrate`.
pub fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let mut cmd = vec![
        "run",
        "--quiet",
        "-p",
        "baton-server",
        "--bin",
        "baton",
        "--",
        "migrate",
        "--database-url",
    ];
    cmd.push(&args.database_url);
    if args.check {
        cmd.push("--check");
    }
    cargo(&cmd)
}
