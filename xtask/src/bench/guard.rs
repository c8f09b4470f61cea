//! The regression guard: each run's baton ÷ ceiling ratios against the figures committed in
//! `bench/baseline.json`. A ratio more than [`MAX_DROP`] below its committed figure gets a
//! warning (on stderr, in `bench.md` and under `regression` in `bench.json`), never a
//! failure: on a shared 2-core machine a single run is too noisy to gate on, but a drop
//! that size is more than noise and should be looked at.
//!
//! Ratios, not absolute figures, because the ceiling runs in the same run on the same
//! machine: a slower machine or a busier moment moves both. Two kinds per baton backend and
//! workload (`status` and `lifecycle` at concurrency 16): throughput (baton ÷ ceiling) and
//! CPU efficiency (the ceiling's server CPU time per request ÷ baton's), which survives a
//! busy machine better since waiting for a core costs no CPU time. For `status` they are the
//! median of the interleaved rounds when those ran (`report::status_ratios`).

use std::{fmt::Write as _, fs, path::Path};

use anyhow::Context as _;
use serde_json::{Map, Value, json};

use super::report::{Report, cell, status_ratios, throughput};

/// The committed figures, relative to the workspace root.
pub const BASELINE: &str = "bench/baseline.json";

/// A ratio may drop by this share of its committed figure before the guard warns.
pub const MAX_DROP: f64 = 0.25;

const BACKENDS: [&str; 3] = ["baton-sqlite", "baton-postgres", "baton-redis"];
const WORKLOADS: [&str; 2] = ["status", "lifecycle"];
const CONCURRENCY: usize = 16;

/// This run's guarded ratios, by name (`throughput status@16 baton-sqlite ÷ ceiling`, …);
/// only those this run measured.
pub fn ratios(rep: &Report) -> Map<String, Value> {
    let mut out = Map::new();
    for w in WORKLOADS {
        if w == "status" {
            // The interleaved rounds' medians when they ran (the cells' ratios otherwise).
            for b in BACKENDS {
                let r = status_ratios(rep, b);
                if let Some(x) = r.throughput {
                    out.insert(throughput_name(w, b), json!(round3(x)));
                }
                if let Some(x) = r.cpu_efficiency {
                    out.insert(cpu_name(w, b), json!(round3(x)));
                }
            }
            continue;
        }
        let Some(base) = cell(rep, "ceiling", w, CONCURRENCY) else {
            continue;
        };
        for b in BACKENDS {
            let Some(c) = cell(rep, b, w, CONCURRENCY) else {
                continue;
            };
            if let (Some(x), Some(y)) = (throughput(c), throughput(base))
                && y > 0.0
            {
                out.insert(throughput_name(w, b), json!(round3(x / y)));
            }
            let cpu = |v: &Value| v["server_cpu_us_per_request"].as_f64();
            if let (Some(x), Some(y)) = (cpu(c), cpu(base))
                && x > 0.0
            {
                out.insert(cpu_name(w, b), json!(round3(y / x)));
            }
        }
    }
    out
}

fn throughput_name(workload: &str, backend: &str) -> String {
    format!("throughput {workload}@{CONCURRENCY} {backend} ÷ ceiling")
}

fn cpu_name(workload: &str, backend: &str) -> String {
    format!("CPU efficiency {workload}@{CONCURRENCY} ceiling ÷ {backend} (µs/request)")
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// One guarded ratio compared with its committed figure.
pub struct Check {
    /// The ratio's name.
    pub name: String,
    /// The committed figure.
    pub committed: f64,
    /// This run's figure.
    pub measured: f64,
}

impl Check {
    /// Whether it dropped by more than [`MAX_DROP`].
    pub fn dropped(&self) -> bool {
        self.measured < self.committed * (1.0 - MAX_DROP)
    }
}

/// The committed ratios, or why there are none.
pub fn committed(root: &Path) -> anyhow::Result<Map<String, Value>> {
    let path = root.join(BASELINE);
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let doc: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    doc["ratios"]
        .as_object()
        .cloned()
        .with_context(|| format!("{} has no \"ratios\" object", path.display()))
}

/// Compares the ratios this run measured with the committed ones (those measured on one
/// side only are skipped).
pub fn compare(measured: &Map<String, Value>, committed: &Map<String, Value>) -> Vec<Check> {
    measured
        .iter()
        .filter_map(|(name, v)| {
            Some(Check {
                name: name.clone(),
                committed: committed.get(name)?.as_f64()?,
                measured: v.as_f64()?,
            })
        })
        .collect()
}

/// The warning lines for the ratios that dropped by more than [`MAX_DROP`].
pub fn warnings(checks: &[Check]) -> Vec<String> {
    checks
        .iter()
        .filter(|c| c.dropped())
        .map(|c| {
            format!(
                "{}: {:.3} in this run, {:.3} committed ({:+.0} %, more than {:.0} % down)",
                c.name,
                c.measured,
                c.committed,
                (c.measured / c.committed - 1.0) * 100.0,
                MAX_DROP * 100.0
            )
        })
        .collect()
}

/// The Markdown section of the guard.
pub fn render(checks: &[Check], problem: Option<&str>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\n## Regression guard\n");
    let _ = writeln!(
        s,
        "Each baton ÷ ceiling ratio of this run against `{BASELINE}`; a drop of more than {:.0} % is a warning, not a failure.\n",
        MAX_DROP * 100.0
    );
    if let Some(p) = problem {
        let _ = writeln!(s, "Not compared: {p}.");
        return s;
    }
    if checks.is_empty() {
        let _ = writeln!(s, "Nothing to compare (no guarded ratio was measured).");
        return s;
    }
    let _ = writeln!(s, "| ratio | committed | this run | change | verdict |");
    let _ = writeln!(s, "|---|---:|---:|---:|---|");
    for c in checks {
        let _ = writeln!(
            s,
            "| {} | {:.3} | {:.3} | {:+.0} % | {} |",
            c.name,
            c.committed,
            c.measured,
            (c.measured / c.committed - 1.0) * 100.0,
            if c.dropped() {
                "**WARNING: dropped**"
            } else {
                "ok"
            }
        );
    }
    s
}

/// Writes this run's ratios as the committed figures (`--write-baseline`).
pub fn write_baseline(
    root: &Path,
    measured: &Map<String, Value>,
    meta: &Value,
) -> anyhow::Result<()> {
    let doc = json!({
        "about": "baton ÷ ceiling ratios that `cargo xtask bench` warns about when a run falls more than 25 % below them; rewrite with `cargo xtask bench --write-baseline` after a change that moves them on purpose",
        "measured": {"date": meta["date"], "commit": meta["commit"], "quick": meta["quick"]},
        "ratios": measured,
    });
    let path = root.join(BASELINE);
    fs::write(&path, serde_json::to_string_pretty(&doc)? + "\n")
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_cell(server: &str, rps: f64, cpu_us: f64) -> Value {
        json!({"server": server, "workload": "status", "concurrency": 16,
               "result": {"rps": rps}, "server_cpu_us_per_request": cpu_us})
    }

    #[test]
    fn a_drop_of_more_than_a_quarter_warns_and_a_smaller_one_does_not() {
        let mut rep = Report::default();
        rep.cells.push(status_cell("ceiling", 40_000.0, 20.0));
        rep.cells.push(status_cell("baton-sqlite", 20_000.0, 40.0));
        rep.cells
            .push(status_cell("baton-postgres", 10_000.0, 80.0));
        let measured = ratios(&rep);
        assert_eq!(measured[&throughput_name("status", "baton-sqlite")], 0.5);
        assert_eq!(measured[&cpu_name("status", "baton-postgres")], 0.25);
        let mut committed = Map::new();
        // 0.5 against 0.6: −17 %, within the margin.
        committed.insert(throughput_name("status", "baton-sqlite"), json!(0.6));
        // 0.25 against 0.4: −37.5 %, a warning.
        committed.insert(throughput_name("status", "baton-postgres"), json!(0.4));
        // Committed but not measured in this run: skipped.
        committed.insert(throughput_name("lifecycle", "baton-redis"), json!(0.4));
        let checks = compare(&measured, &committed);
        assert_eq!(checks.len(), 2);
        let warned = warnings(&checks);
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(
            warned[0].starts_with("throughput status@16 baton-postgres ÷ ceiling: 0.250 in this run, 0.400 committed (-38 %"),
            "{}",
            warned[0]
        );
        assert!(render(&checks, None).contains("**WARNING: dropped**"));
    }

    #[test]
    fn the_committed_baseline_parses_and_names_ratios_this_code_measures() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let committed = committed(&root).expect("bench/baseline.json");
        let known: Vec<String> = WORKLOADS
            .iter()
            .flat_map(|w| {
                BACKENDS
                    .iter()
                    .flat_map(move |b| [throughput_name(w, b), cpu_name(w, b)])
            })
            .collect();
        assert!(!committed.is_empty());
        for (name, v) in &committed {
            assert!(known.contains(name), "unknown ratio {name:?}");
            assert!(v.as_f64().is_some_and(|x| x > 0.0), "{name}: {v}");
        }
    }
}
