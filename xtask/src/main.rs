//! baton's chores (`cargo xtask <command>`).

use clap::{Parser, Subcommand};

mod bench;

#[derive(Parser)]
#[command(name = "xtask", about = "baton's chores")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Benchmark baton (SQLite, Postgres) against the rmcp protocol ceiling and the Python peer.
    Bench(bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Bench(args) => bench::run(args),
    }
}
