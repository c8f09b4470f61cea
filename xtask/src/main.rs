//! baton's chores (`cargo xtask <command>`): every task a developer or CI runs.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod chores;
mod conformance;
mod deploy;
mod fuzz;
mod helpers;
mod release;
mod supply;
mod test_summary;
mod tool_search_eval;

#[derive(Parser)]
#[command(name = "xtask", about = "baton's chores")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every test: unit, store conformance (SQLite and Postgres), end-to-end, real
    /// clients, doctests, then the conformance suite and the quick harnesses (what CI runs).
    /// Prints how many tests ran, passed, failed, skipped and were ignored; under CI a
    /// skipped test is a failure.
    Test(chores::TestArgs),
    /// cargo fmt --check, cargo clippy --all-targets -D warnings, and cargo doc --no-deps of
    /// the library crates with -D warnings, the deploy/ dashboards and alert rules (JSON,
    /// promtool check and test, only exported metrics named), the declared MSRV (no locked
    /// dependency needs a newer Rust; the shipped crates compile with it), and cargo-deny
    /// (licenses, bans, sources; advisories when the RustSec database can be fetched).
    Lint,
    /// Format the workspace.
    Fmt,
    /// Apply (or with --check, list) migrations against a database URL.
    Migrate(chores::MigrateArgs),
    /// Benchmark baton (SQLite, Postgres) against the rmcp protocol ceiling and the Python peer.
    Bench(bench::BenchArgs),
    /// Measure tool search: context tokens, recall, latency.
    ToolSearchEval(tool_search_eval::EvalArgs),
    /// Release VERSION: clean tree and CHANGELOG check, version bump, lint and tests, the
    /// stripped binary as target/dist/baton-VERSION-<target>.tar.gz with its SHA-256, and
    /// `cargo package` of every library crate. `--dry-run` works on a copy.
    Release(release::ReleaseArgs),
    /// Run the official MCP conformance suite (2026-07-28 and 2025-11-25) against baton.
    Conformance(conformance::ConformanceArgs),
    /// Run each fuzz target of fuzz/ for `--seconds` (default 30) with `cargo +nightly fuzz`
    /// and print executions per second; fails on a crash (not run by CI: the committed
    /// corpora are replayed on stable by the normal test suite).
    Fuzz(fuzz::FuzzArgs),
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The whole cause chain, without a backtrace: these errors say what to fix.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Test(args) => chores::test(args),
        Command::Lint => chores::lint(),
        Command::Fmt => helpers::cargo(&["fmt", "--all"]),
        Command::Migrate(args) => chores::migrate(args),
        Command::Bench(args) => bench::run(args),
        Command::ToolSearchEval(args) => tool_search_eval::run(args),
        Command::Conformance(args) => conformance::run(args),
        Command::Fuzz(args) => fuzz::run(args),
        Command::Release(args) => release::run(args),
    }
}
