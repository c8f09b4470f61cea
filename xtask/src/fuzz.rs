//! `cargo xtask fuzz`: runs the coverage-guided fuzz targets of `fuzz/` with
//! `cargo +nightly fuzz` (libFuzzer), each for a bounded time, and prints executions per
//! second per target.
//!
//! The targets' bodies live in `crates/baton-fuzz`; its tests replay every committed seed
//! of `fuzz/corpus/<target>/` on stable, in the normal test suite. This chore is the
//! nightly, coverage-guided part. `cargo xtask test` runs it for [`CI_SECONDS`] per target
//! with `--dev` (`fuzz/Cargo.toml`'s dev profile, opt-level 1: a lighter build for a short
//! run), so CI fuzzes every target on every run. New inputs the fuzzer finds go to
//! `target/fuzz-corpus/<target>/`, never into the committed seeds; a crash leaves its input
//! in `fuzz/artifacts/<target>/` and fails the chore. Needs the nightly toolchain and
//! `cargo install cargo-fuzz --locked` (`.ci/run` installs it).

use std::{
    fs,
    path::Path,
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{Context, bail};

use crate::helpers::{BackgroundBuild, describe, run_shown, target_dir, workspace_root};

/// The targets, as in `fuzz/Cargo.toml` and `baton_fuzz::TARGETS`.
const TARGETS: [&str; 4] = [
    "handle_verify",
    "cursor_decode",
    "http_jsonrpc",
    "search_tools",
];

/// Seconds each target runs when `cargo xtask test` fuzzes.
pub const CI_SECONDS: u64 = 20;

/// `cargo xtask fuzz` options.
#[derive(Debug, clap::Args)]
pub struct FuzzArgs {
    /// Seconds each target runs (libFuzzer's `-max_total_time`).
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Build with `fuzz/Cargo.toml`'s dev profile (opt-level 1, line tables only): a lighter
    /// build and slower targets, the right trade for a short run.
    #[arg(long)]
    pub dev: bool,
    /// Run only this target (repeatable); default all of them.
    #[arg(long = "target", value_parser = clap::builder::PossibleValuesParser::new(TARGETS))]
    pub targets: Vec<String>,
}

/// What libFuzzer's final statistics say about one run.
#[derive(Debug, PartialEq)]
struct Stats {
    executions: u64,
    execs_per_sec: u64,
}

/// Reads `-print_final_stats=1` output: `stat::number_of_executed_units: N` and
/// `stat::average_exec_per_sec: N`.
fn parse_stats(log: &str) -> Option<Stats> {
    let stat = |name: &str| -> Option<u64> {
        log.lines()
            .rev()
            .find_map(|line| line.trim().strip_prefix(name)?.trim().parse().ok())
    };
    Some(Stats {
        executions: stat("stat::number_of_executed_units:")?,
        execs_per_sec: stat("stat::average_exec_per_sec:")?,
    })
}

/// Removes what the stable cargo running this chore put in the environment, so that a
/// `cargo +nightly` started by `cmd` picks its own toolchain.
fn without_stable_cargo_env(cmd: &mut Command) -> &mut Command {
    for var in ["RUSTUP_TOOLCHAIN", "CARGO", "RUSTC", "RUSTDOC", "RUSTFLAGS"] {
        cmd.env_remove(var);
    }
    cmd
}

/// `cargo +nightly …` through rustup's proxy.
fn nightly_cargo() -> Command {
    let mut cmd = Command::new("cargo");
    without_stable_cargo_env(cmd.arg("+nightly"));
    cmd
}

/// Why `cargo +nightly fuzz` cannot run here, if it cannot: the nightly toolchain or
/// cargo-fuzz is missing.
pub fn unavailable() -> Option<String> {
    let probe = nightly_cargo()
        .args(["fuzz", "--version"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match probe {
        Ok(status) if status.success() => None,
        Ok(_) => Some(
            "`cargo +nightly fuzz --version` failed: install the nightly toolchain \
             (`rustup toolchain install nightly`) and `cargo install cargo-fuzz --locked`"
                .to_owned(),
        ),
        Err(e) => Some(format!("cannot run cargo: {e}")),
    }
}

/// The arguments of `cargo +nightly fuzz build` for a build with or without optimisations.
fn build_args(dev: bool) -> Vec<&'static str> {
    let mut args = vec!["fuzz", "build", "--sanitizer", "none"];
    if dev {
        args.push("--dev");
    }
    args
}

/// The fuzz targets' build, started early at the lowest CPU priority (see
/// [`BackgroundBuild`]) so that [`run`]'s own build is then a no-op.
pub fn prebuild(dev: bool) -> anyhow::Result<BackgroundBuild> {
    let root = workspace_root()?;
    let mut cmd = nightly_cargo();
    cmd.args(build_args(dev)).current_dir(&root);
    BackgroundBuild::start(
        "the fuzz targets",
        &cmd,
        target_dir(&root).join("fuzz-logs").join("build.log"),
    )
}

/// Runs the chore.
pub fn run(args: FuzzArgs) -> anyhow::Result<()> {
    if args.seconds == 0 {
        bail!("--seconds must be at least 1");
    }
    let root = workspace_root()?;
    let targets: Vec<&str> = if args.targets.is_empty() {
        TARGETS.to_vec()
    } else {
        TARGETS
            .into_iter()
            .filter(|t| args.targets.iter().any(|a| a == t))
            .collect()
    };
    // No sanitizer: baton forbids unsafe code, so what the fuzzer looks for is panics,
    // wrong answers and hangs, and uninstrumented code runs several times faster.
    let profile: &[&str] = if args.dev { &["--dev"] } else { &[] };
    run_shown(nightly_cargo().args(build_args(args.dev)))
        .context("building the fuzz targets (needs `rustup toolchain install nightly` and `cargo install cargo-fuzz --locked`)")?;
    let work = target_dir(&root);
    let mut results = Vec::new();
    let mut crashed = Vec::new();
    for target in targets {
        let corpus = work.join("fuzz-corpus").join(target);
        fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
        let log_path = work.join("fuzz-logs").join(format!("{target}.log"));
        if let Some(dir) = log_path.parent() {
            fs::create_dir_all(dir)?;
        }
        let log = fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let seeds = Path::new("fuzz/corpus").join(target);
        let mut cmd = nightly_cargo();
        cmd.current_dir(&root)
            .args(["fuzz", "run", "--sanitizer", "none"])
            .args(profile)
            .arg(target)
            .arg(&corpus)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={}", args.seconds))
            .args(["-print_final_stats=1", "-timeout=60", "-rss_limit_mb=4096"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let shown = describe(&cmd);
        eprintln!("\n==> {shown} (log: {})", log_path.display());
        let started = Instant::now();
        let status = cmd
            .status()
            .with_context(|| format!("cannot start `{shown}`"))?;
        let text = fs::read_to_string(&log_path).unwrap_or_default();
        let stats = parse_stats(&text);
        eprintln!(
            "<== {:.1}s {target}: {}",
            started.elapsed().as_secs_f64(),
            match &stats {
                Some(s) => format!("{} exec/s, {} executions", s.execs_per_sec, s.executions),
                None => "no final stats".to_owned(),
            }
        );
        if !status.success() {
            // The panic, libFuzzer's summary and where the input was written.
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            eprintln!("{tail}");
            crashed.push(format!("{target} ({status}; log {})", log_path.display()));
        }
        results.push((target, stats));
    }
    println!(
        "\nfuzz results ({} s per target, no sanitizer, {} build):",
        args.seconds,
        if args.dev {
            "dev (opt-level 1)"
        } else {
            "release"
        }
    );
    println!("{:<16} {:>10} {:>14}", "target", "exec/s", "executions");
    for (target, stats) in &results {
        match stats {
            Some(s) => println!("{target:<16} {:>10} {:>14}", s.execs_per_sec, s.executions),
            None => println!("{target:<16} {:>10} {:>14}", "-", "-"),
        }
    }
    if !crashed.is_empty() {
        bail!(
            "fuzzing found a failure in: {} (reproduce with `cargo +nightly fuzz run -s none TARGET fuzz/artifacts/TARGET/FILE`; add the input to fuzz/corpus/TARGET/ as a regression seed once fixed)",
            crashed.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_stats_are_read() {
        let log = "#1024\tpulse  cov: 10 ft: 12 corp: 3/40b exec/s: 512 rss: 60Mb\n\
                   Done 20480 runs in 31 second(s)\n\
                   stat::number_of_executed_units: 20480\n\
                   stat::average_exec_per_sec:     660\n\
                   stat::new_units_added:          7\n";
        assert_eq!(
            parse_stats(log),
            Some(Stats {
                executions: 20480,
                execs_per_sec: 660
            })
        );
        assert_eq!(parse_stats("==1== ERROR: libFuzzer: deadly signal\n"), None);
    }
}
