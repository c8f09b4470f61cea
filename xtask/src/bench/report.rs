//! Step 4, the report: the table and JSON of what ran, the goal ratios, and the gate (which
//! failures make `cargo xtask bench` exit non-zero).

use std::{collections::BTreeMap, fmt::Write as _, fs, path::Path};

use serde_json::{Value, json};

use super::load::ROUND_CONCURRENCY;
use super::plan::{Kind, Plan};
use super::{chart, guard};
use crate::helpers::{output_of, unix_now};

/// The largest share of failed requests a cell (or the seeding of a server) may have
/// before the run fails: 1 % of its measured requests.
pub const MAX_ERROR_SHARE: f64 = 0.01;

/// Everything one run measured, and what went wrong.
#[derive(Default)]
pub struct Report {
    /// One row per server: its cold start and memory, or `"error"` when it did not run.
    pub servers: Vec<Value>,
    /// One row per server × workload × concurrency: the load generator's result, or
    /// `"error"` when the load generator failed.
    pub cells: Vec<Value>,
    /// One row per interleaved round × server (get_task_status @16, see
    /// [`super::load::bench_rounds`]): the load generator's result, or `"error"`.
    pub rounds: Vec<Value>,
    /// One row per server whose scaling points ran.
    pub scaling: Vec<Value>,
    /// Steps that did not run although they should have, other than servers and cells
    /// (the scaling points).
    pub failed_steps: Vec<String>,
    /// Remarks printed under the tables.
    pub notes: Vec<String>,
}

/// `errors / requests` of a load generator result; `None` when it made no request.
pub fn error_share(result: &Value) -> Option<f64> {
    let requests = result["requests"].as_u64()?;
    let errors = result["errors"].as_u64()?;
    (requests > 0).then(|| errors as f64 / requests as f64)
}

/// Why this run must fail, one line each: a selected server that did not run, a failed
/// step, a cell that did not run, made no successful request, or whose errors exceed
/// [`MAX_ERROR_SHARE`]. Empty when the run may pass.
pub fn gate_failures(rep: &Report, kinds: &[Kind]) -> Vec<String> {
    let mut out = Vec::new();
    for k in kinds {
        match server_row(rep, k.id()) {
            None => out.push(format!("{}: did not run", k.id())),
            Some(row) => {
                if let Some(e) = row["error"].as_str() {
                    out.push(format!("{}: did not run: {}", k.id(), one_line(e)));
                }
            }
        }
    }
    out.extend(rep.failed_steps.iter().cloned());
    for c in &rep.cells {
        let what = format!(
            "{} {} @{}",
            c["server"].as_str().unwrap_or("?"),
            c["workload"].as_str().unwrap_or("?"),
            c["concurrency"]
        );
        match c["error"].as_str() {
            Some(e) => out.push(format!("{what}: did not run: {}", one_line(e))),
            None => out.extend(judge(&what, &c["result"])),
        }
    }
    for r in &rep.rounds {
        let what = format!(
            "round {} {} status @{}",
            r["round"],
            r["server"].as_str().unwrap_or("?"),
            r["concurrency"]
        );
        match r["error"].as_str() {
            Some(e) => out.push(format!("{what}: did not run: {}", one_line(e))),
            None => out.extend(judge(&what, &r["result"])),
        }
    }
    for r in &rep.scaling {
        for point in ["small", "large"] {
            let what = format!(
                "scaling {} with {} tasks",
                r["server"].as_str().unwrap_or("?"),
                r[point]["tasks"]
            );
            out.extend(judge(&what, &r[point]["result"]));
        }
    }
    out
}

/// Why one load generator result fails the gate, if it does.
fn judge(what: &str, result: &Value) -> Option<String> {
    let ok = result["ok"].as_u64().unwrap_or(0);
    let requests = result["requests"].as_u64().unwrap_or(0);
    let share = error_share(result).unwrap_or(1.0);
    let first_error = result["first_error"].as_str().unwrap_or("none recorded");
    if ok == 0 || requests == 0 {
        Some(format!(
            "{what}: no successful request ({} of {requests} failed); first error: {first_error}",
            result["errors"]
        ))
    } else if share > MAX_ERROR_SHARE {
        Some(format!(
            "{what}: {} of {requests} requests failed ({:.2} %, more than {:.0} %); first error: {first_error}",
            result["errors"],
            share * 100.0,
            MAX_ERROR_SHARE * 100.0,
        ))
    } else {
        None
    }
}

/// An error on one line (for a list item or a table cell), at most 600 characters.
pub fn one_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(600) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

pub fn cell<'a>(rep: &'a Report, server: &str, workload: &str, conc: usize) -> Option<&'a Value> {
    rep.cells
        .iter()
        .find(|c| c["server"] == server && c["workload"] == workload && c["concurrency"] == conc)
}

/// Throughput of a cell: lifecycles/s for the lifecycle mix, requests/s otherwise.
pub fn throughput(c: &Value) -> Option<f64> {
    let r = &c["result"];
    if c["workload"] == "lifecycle" {
        r["lifecycle_rps"].as_f64()
    } else {
        r["rps"].as_f64()
    }
}

/// baton ÷ ceiling on get_task_status @16 for `server`, by throughput and by CPU efficiency
/// (the ceiling's server CPU per request ÷ baton's): the median of the interleaved rounds'
/// ratios when rounds ran for both, else the ratios of the two cells. `None` where neither
/// was measured.
pub fn status_ratios(rep: &Report, server: &str) -> StatusRatios {
    let mut rounds: Vec<u64> = rep
        .rounds
        .iter()
        .filter_map(|r| r["round"].as_u64())
        .collect();
    rounds.sort_unstable();
    rounds.dedup();
    let (mut thr, mut eff) = (Vec::new(), Vec::new());
    for n in rounds {
        if let (Some(b), Some(c)) = (
            ran_status_row(&rep.rounds, Some(n), server),
            ran_status_row(&rep.rounds, Some(n), "ceiling"),
        ) {
            let (t, e) = against_ceiling(b, c);
            thr.extend(t);
            eff.extend(e);
        }
    }
    if !thr.is_empty() {
        return StatusRatios {
            throughput: median(&mut thr),
            cpu_efficiency: median(&mut eff),
            rounds: thr.len(),
        };
    }
    match (
        ran_status_row(&rep.cells, None, server),
        ran_status_row(&rep.cells, None, "ceiling"),
    ) {
        (Some(b), Some(c)) => {
            let (throughput, cpu_efficiency) = against_ceiling(b, c);
            StatusRatios {
                throughput,
                cpu_efficiency,
                rounds: 0,
            }
        }
        _ => StatusRatios::default(),
    }
}

/// The row of `who`'s get_task_status @16 in `rows` that ran (of round `round`; `None`
/// for the cells, which have no round).
fn ran_status_row<'a>(rows: &'a [Value], round: Option<u64>, who: &str) -> Option<&'a Value> {
    rows.iter().find(|r| {
        r["server"] == who
            && r["workload"] == "status"
            && r["concurrency"] == ROUND_CONCURRENCY
            && r["round"].as_u64() == round
            && r.get("error").is_none()
    })
}

/// One baton row against the ceiling's row of the same load: (baton's throughput ÷ the
/// ceiling's, the ceiling's server CPU µs per request ÷ baton's), each `None` when a figure
/// is missing or zero.
fn against_ceiling(baton: &Value, ceiling: &Value) -> (Option<f64>, Option<f64>) {
    let cpu = |v: &Value| v["server_cpu_us_per_request"].as_f64();
    let thr = match (throughput(baton), throughput(ceiling)) {
        (Some(x), Some(y)) if y > 0.0 => Some(x / y),
        _ => None,
    };
    let eff = match (cpu(baton), cpu(ceiling)) {
        (Some(x), Some(y)) if x > 0.0 => Some(y / x),
        _ => None,
    };
    (thr, eff)
}

/// What [`status_ratios`] found.
#[derive(Debug, Default, PartialEq)]
pub struct StatusRatios {
    /// baton's requests/s ÷ the ceiling's.
    pub throughput: Option<f64>,
    /// The ceiling's server CPU µs per request ÷ baton's.
    pub cpu_efficiency: Option<f64>,
    /// How many interleaved rounds the figures are the median of (0: from the cells).
    pub rounds: usize,
}

/// The median (the mean of the middle two for an even count); `None` when empty.
fn median(xs: &mut [f64]) -> Option<f64> {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(xs[n / 2]),
        _ => Some((xs[n / 2 - 1] + xs[n / 2]) / 2.0),
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
    let vs_ceiling = |s: &str| {
        let r = status_ratios(rep, s);
        let how = match r.rounds {
            0 => String::new(),
            n => format!(" (median of {n} interleaved rounds)"),
        };
        (
            format!("get_task_status @16: {s} / ceiling throughput{how}"),
            r.throughput,
        )
    };
    let (sqlite_name, sqlite_ratio) = vs_ceiling("baton-sqlite");
    let (postgres_name, postgres_ratio) = vs_ceiling("baton-postgres");
    let (redis_name, redis_ratio) = vs_ceiling("baton-redis");
    let mut g = vec![
        Goal {
            name: sqlite_name,
            value: sqlite_ratio,
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
            name: postgres_name,
            value: postgres_ratio,
            unit: "×",
            at_least: true,
            limit: 0.50,
        },
        Goal {
            name: redis_name,
            value: redis_ratio,
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
    for s in ["baton-sqlite", "baton-postgres", "baton-redis"] {
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

fn render_md(
    rep: &Report,
    meta: &Value,
    plan: &Plan,
    failures: &[String],
    guard_md: &str,
) -> String {
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
                    format!("not run: {}", one_line(e).replace('|', "\\|"))
                })
            );
        }
    }
    let _ = writeln!(s, "\n## Cells\n");
    let _ = writeln!(
        s,
        "Throughput is successful requests/s, except `lifecycle` where it is completed lifecycles/s (baton and the ceiling: start → add_findings → status → complete, 4 requests; the Python peer has no add_findings, 3 requests). Latencies are those of successful requests; failed ones (HTTP ≠ 200, a JSON-RPC error, `isError: true`, a transport error or time-out) are only counted, in `errors` with their share of the cell's requests. Ratios compare throughput at the same workload and concurrency. RSS is read after the cell. Server CPU µs/req is the server process's CPU time (user + system, all threads) during the load generator's run divided by the requests it sent (warm-up included): unlike throughput, it does not fall when the machine is busy.\n"
    );
    let _ = writeln!(
        s,
        "| server | workload | conc | throughput | req/s | p50 ms | p95 ms | p99 ms | errors | RSS MiB | server CPU µs/req | × ceiling | × python-prod |"
    );
    let _ = writeln!(
        s,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
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
                    match error_share(r) {
                        Some(share) if share > 0.0 => {
                            format!("{} ({:.2} %)", r["errors"], share * 100.0)
                        }
                        _ => r["errors"].to_string(),
                    }
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
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
                    f(x["server_cpu_us_per_request"].as_f64(), 1),
                    f(ratio(base_ceiling), 2),
                    f(ratio(base_py), 1),
                );
            }
        }
    }
    render_rounds(&mut s, rep);
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
    s.push_str(guard_md);
    let _ = writeln!(s, "\n## Gate\n");
    let _ = writeln!(
        s,
        "The run fails when a selected server does not build, start or seed, when a cell or scaling point does not run or has no successful request, or when more than {:.0} % of a cell's requests fail.\n",
        MAX_ERROR_SHARE * 100.0
    );
    if failures.is_empty() {
        let _ = writeln!(s, "Passed.");
    } else {
        let _ = writeln!(s, "**Failed** ({}):\n", failures.len());
        for f in failures {
            let _ = writeln!(s, "- {f}");
        }
    }
    if !rep.notes.is_empty() {
        let _ = writeln!(s, "\n## Notes\n");
        for n in &rep.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s
}

/// The interleaved rounds: req/s and server CPU per request of each server in each round,
/// each baton server's ratios to the ceiling in that round, and their medians.
fn render_rounds(s: &mut String, rep: &Report) {
    if rep.rounds.is_empty() {
        return;
    }
    let mut servers: Vec<&str> = Vec::new();
    let mut rounds: Vec<u64> = Vec::new();
    for r in &rep.rounds {
        if let Some(id) = r["server"].as_str()
            && !servers.contains(&id)
        {
            servers.push(id);
        }
        if let Some(n) = r["round"].as_u64()
            && !rounds.contains(&n)
        {
            rounds.push(n);
        }
    }
    servers.sort_by_key(|id| Kind::ALL.iter().position(|k| k.id() == *id));
    let _ = writeln!(s, "\n## Interleaved rounds: get_task_status @16\n");
    let _ = writeln!(
        s,
        "The servers above ran one after another, minutes apart, and this machine's speed drifts within minutes; here they ran side by side, seeded alike, and took turns (the order rotating each round), seconds apart. Each round gives baton ÷ ceiling in throughput and in CPU efficiency (the ceiling's server CPU µs per request ÷ baton's); the goals and the regression guard use the median of the rounds.\n"
    );
    let _ = writeln!(
        s,
        "| round | server | req/s | p99 ms | server CPU µs/req | × ceiling | CPU efficiency |"
    );
    let _ = writeln!(s, "|---:|---|---:|---:|---:|---:|---:|");
    let find = |n: u64, id: &str| {
        rep.rounds
            .iter()
            .find(|r| r["round"].as_u64() == Some(n) && r["server"] == id)
    };
    for &n in &rounds {
        let base = find(n, "ceiling");
        for id in &servers {
            let Some(r) = find(n, id) else { continue };
            if let Some(e) = r["error"].as_str() {
                let _ = writeln!(
                    s,
                    "| {n} | {id} | did not run: {} | | | | |",
                    one_line(e).replace('|', "\\|")
                );
                continue;
            }
            let (thr, eff) = match base {
                Some(c) if *id != "ceiling" => against_ceiling(r, c),
                _ => (None, None),
            };
            let _ = writeln!(
                s,
                "| {n} | {id} | {} | {} | {} | {} | {} |",
                f(throughput(r), 0),
                f(r["result"]["latency_ms"]["p99"].as_f64(), 3),
                f(r["server_cpu_us_per_request"].as_f64(), 1),
                f(thr, 2),
                f(eff, 2),
            );
        }
    }
    for id in servers.iter().filter(|id| **id != "ceiling") {
        let m = status_ratios(rep, id);
        let _ = writeln!(
            s,
            "\n{id}: median of {} rounds: **{}×** the ceiling's throughput, CPU efficiency {}.",
            m.rounds,
            f(m.throughput, 2),
            f(m.cpu_efficiency, 2)
        );
    }
}

/// What [`write`] wrote that the caller prints.
pub struct Written {
    /// The Markdown report.
    pub md: String,
    /// The regression guard's warnings (see [`guard`]).
    pub warnings: Vec<String>,
}

/// Writes `bench.md`, `bench.json` and the picture `bench.svg` into `out_dir` (and, with
/// `write_baseline`, this run's ratios into [`guard::BASELINE`]).
pub fn write(
    rep: &Report,
    plan: &Plan,
    kinds: &[Kind],
    root: &Path,
    out_dir: &Path,
    failures: &[String],
    write_baseline: bool,
) -> anyhow::Result<Written> {
    let date =
        output_of("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]).unwrap_or_else(|| unix_now().to_string());
    let commit = output_of(
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
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meta = json!({
        "date": date, "commit": commit, "cores": cores, "quick": plan.quick,
        "duration_s": plan.duration, "warmup_s": plan.warmup,
        "concurrency": plan.concurrency, "workloads": plan.workloads, "pool": plan.pool,
        "rounds": plan.rounds,
        "servers": kinds.iter().map(|k| k.id()).collect::<Vec<_>>(),
    });
    let goals_json: Vec<Value> = goals(rep)
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
    let mut doc = json!({
        "meta": meta, "servers": by_server, "cells": rep.cells,
        "rounds": rep.rounds, "scaling": rep.scaling, "goals": goals_json, "notes": rep.notes,
        "gate": {"max_error_share": MAX_ERROR_SHARE, "passed": failures.is_empty(),
                 "failures": failures},
    });
    let measured = guard::ratios(rep);
    let (checks, problem) = match guard::committed(root) {
        Ok(committed) => (guard::compare(&measured, &committed), None),
        Err(e) => (Vec::new(), Some(format!("{e:#}"))),
    };
    let warnings = guard::warnings(&checks);
    let guard_md = guard::render(&checks, problem.as_deref());
    if write_baseline {
        guard::write_baseline(root, &measured, &meta)?;
    }
    doc["regression"] = json!({
        "baseline": guard::BASELINE, "max_drop": guard::MAX_DROP, "ratios": measured,
        "warnings": warnings, "not_compared": problem,
    });
    let md = render_md(rep, &meta, plan, failures, &guard_md);
    fs::write(out_dir.join("bench.svg"), chart::svg(rep, &meta))?;
    fs::write(out_dir.join("bench.md"), &md)?;
    fs::write(
        out_dir.join("bench.json"),
        serde_json::to_string_pretty(&doc)?,
    )?;
    Ok(Written { md, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell_row(server: &str, ok: u64, errors: u64) -> Value {
        json!({"server": server, "workload": "status", "concurrency": 16,
               "result": {"ok": ok, "errors": errors, "requests": ok + errors,
                          "first_error": if errors > 0 { json!("isError: boom") } else { Value::Null }}})
    }

    #[test]
    fn the_gate_passes_at_most_one_percent_of_errors_and_names_every_failure() {
        let mut rep = Report::default();
        for k in ["baton-sqlite", "ceiling"] {
            rep.servers.push(json!({"server": k, "cold_start_ms": 5.0}));
        }
        rep.servers
            .push(json!({"server": "baton-postgres", "error": "psql failed:\nConnection refused"}));
        rep.cells.push(cell_row("baton-sqlite", 990, 10)); // exactly 1 %: passes
        rep.cells.push(cell_row("ceiling", 979, 21)); // 2.1 %: fails
        rep.cells.push(cell_row("ceiling", 0, 500)); // fails fast: fails
        rep.cells
            .push(json!({"server": "baton-sqlite", "workload": "discover",
                              "concurrency": 1, "error": "load generator failed"}));
        let kinds = [
            Kind::BatonSqlite,
            Kind::BatonPostgres,
            Kind::Ceiling,
            Kind::PythonProduction,
        ];
        assert_eq!(
            gate_failures(&rep, &kinds),
            [
                "baton-postgres: did not run: psql failed: Connection refused",
                "python-production: did not run",
                "ceiling status @16: 21 of 1000 requests failed (2.10 %, more than 1 %); first error: isError: boom",
                "ceiling status @16: no successful request (500 of 500 failed); first error: isError: boom",
                "baton-sqlite discover @1: did not run: load generator failed",
            ]
        );
    }

    fn status_row(server: &str, round: Option<u64>, rps: f64, cpu_us: f64) -> Value {
        let mut row = json!({"server": server, "workload": "status", "concurrency": 16,
                             "result": {"rps": rps, "ok": 100, "errors": 0, "requests": 100},
                             "server_cpu_us_per_request": cpu_us});
        if let Some(n) = round {
            row["round"] = json!(n);
        }
        row
    }

    #[test]
    fn status_ratios_are_the_median_of_the_rounds_and_else_the_cells() {
        let mut rep = Report::default();
        // Cells measured minutes apart: 0.5.
        rep.cells
            .push(status_row("baton-sqlite", None, 10_000.0, 100.0));
        rep.cells.push(status_row("ceiling", None, 20_000.0, 50.0));
        assert_eq!(
            status_ratios(&rep, "baton-sqlite"),
            StatusRatios {
                throughput: Some(0.5),
                cpu_efficiency: Some(0.5),
                rounds: 0
            }
        );
        // Rounds: 0.6, 0.9 (an outlier), 0.7 → median 0.7; CPU 0.5, 0.8, 0.6 → 0.6.
        for (n, baton, ceiling, baton_cpu, ceiling_cpu) in [
            (1, 6_000.0, 10_000.0, 100.0, 50.0),
            (2, 9_000.0, 10_000.0, 100.0, 80.0),
            (3, 7_000.0, 10_000.0, 100.0, 60.0),
        ] {
            rep.rounds
                .push(status_row("baton-sqlite", Some(n), baton, baton_cpu));
            rep.rounds
                .push(status_row("ceiling", Some(n), ceiling, ceiling_cpu));
        }
        // A round the ceiling did not run in is no pair: left out.
        rep.rounds
            .push(status_row("baton-sqlite", Some(4), 1.0, 1.0));
        let r = status_ratios(&rep, "baton-sqlite");
        assert_eq!(r.rounds, 3);
        assert!((r.throughput.unwrap() - 0.7).abs() < 1e-9, "{r:?}");
        assert!((r.cpu_efficiency.unwrap() - 0.6).abs() < 1e-9, "{r:?}");
        // A server with neither: nothing.
        assert_eq!(status_ratios(&rep, "baton-redis"), StatusRatios::default());
        // Goals name where the figure comes from; the Markdown has the rounds' table.
        let g = goals(&rep);
        assert_eq!(
            g[0].name,
            "get_task_status @16: baton-sqlite / ceiling throughput (median of 3 interleaved rounds)"
        );
        let mut md = String::new();
        render_rounds(&mut md, &rep);
        assert!(md.contains("| 2 | baton-sqlite | 9000 |"), "{md}");
        assert!(md.contains("median of 3 rounds: **0.70×**"), "{md}");
    }

    #[test]
    fn a_failed_round_fails_the_gate() {
        let mut rep = Report::default();
        rep.servers.push(json!({"server": "ceiling"}));
        rep.rounds.push(
            json!({"round": 2, "server": "ceiling", "workload": "status",
                               "concurrency": 16, "error": "load generator failed"}),
        );
        assert_eq!(
            gate_failures(&rep, &[Kind::Ceiling]),
            ["round 2 ceiling status @16: did not run: load generator failed"]
        );
    }

    #[test]
    fn a_clean_run_passes_the_gate() {
        let mut rep = Report::default();
        rep.servers.push(json!({"server": "ceiling"}));
        rep.cells.push(cell_row("ceiling", 1000, 0));
        assert!(gate_failures(&rep, &[Kind::Ceiling]).is_empty());
    }
}
