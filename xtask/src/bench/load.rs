//! Step 3, the load: run the load generator for every cell of one server, the interleaved
//! rounds (get_task_status @16 on every server in turn), and the scaling points
//! (get_task_status at 1 k vs many stored tasks).

use std::{fs, path::Path, process::Command, thread, time::Duration};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::{
    plan::{Kind, Plan},
    report::{MAX_ERROR_SHARE, Report, error_share},
    servers::{Env, Running},
};
use crate::helpers::run_captured;

impl Env {
    /// Runs the load generator (bounded) and returns its JSON line.
    pub(super) fn loadgen(
        &self,
        url: &str,
        workload: &str,
        extra: &[String],
    ) -> anyhow::Result<Value> {
        let mut cmd = Command::new(&self.loadgen);
        cmd.args(["--url", url, "--workload", workload]);
        cmd.args(extra);
        cmd.env_remove("RUST_BACKTRACE");
        let secs = |flag: &str| {
            extra
                .iter()
                .position(|a| a == flag)
                .and_then(|i| extra.get(i + 1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let limit = Duration::from_secs_f64(secs("--duration") + secs("--warmup") + 60.0);
        let out = run_captured(&mut cmd, limit).context("load generator failed")?;
        let line = out
            .stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .context("load generator printed no JSON line")?;
        Ok(serde_json::from_str(line)?)
    }

    /// Fills a get_task_status pool of `count` handles (written to `out`) through
    /// `start_research_task`; fails when no call or more than [`MAX_ERROR_SHARE`] of them
    /// failed.
    pub(super) fn seed_via_api(&self, url: &str, count: u64, out: &Path) -> anyhow::Result<Value> {
        let s = self.loadgen(
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
        )?;
        eprintln!(
            "bench: seeded {} tasks via start_research_task ({} errors)",
            s["ok"], s["errors"]
        );
        let share = error_share(&s).unwrap_or(1.0);
        if s["ok"].as_u64().unwrap_or(0) == 0 || share > MAX_ERROR_SHARE {
            bail!(
                "seeding failed: {} of {} start_research_task calls failed (more than {:.0} %); first error: {}",
                s["errors"],
                s["requests"],
                MAX_ERROR_SHARE * 100.0,
                s["first_error"].as_str().unwrap_or("none recorded")
            );
        }
        Ok(s)
    }
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

/// One server: start it, seed its status pool, run every workload × concurrency cell.
/// An error means the server did not build, start or seed, or died during a cell; a cell
/// whose load generator fails is recorded with its error and the run goes on.
pub fn bench_server(env: &Env, plan: &Plan, kind: Kind, rep: &mut Report) -> anyhow::Result<()> {
    eprintln!("bench: == {} ==", kind.id());
    let (db_url, _db_guard) = env.migrated_db(kind, kind.id())?;
    let mut srv = env.start(kind, db_url.as_deref(), 0)?;
    let cold_ms = srv.cold_start.as_secs_f64() * 1e3;
    eprintln!(
        "bench: {} ready in {cold_ms:.1} ms at {}",
        kind.id(),
        srv.url
    );
    thread::sleep(Duration::from_millis(300));
    let idle = srv.rss_kb().map(|r| r.0);

    let handles = env.work_dir.join(format!("{}-handles.txt", kind.id()));
    let seeded = if plan.workloads.iter().any(|w| w == "status") {
        Some(env.seed_via_api(&srv.url, plan.pool, &handles)?)
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
            let (res, cpu) = load_once(env, &mut srv, kind, w, &args, &format!("{w} @{c}"))?;
            let rss = srv.rss_kb();
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
                    if let Some(first) = v["first_error"].as_str() {
                        eprintln!("bench:   first error: {first}");
                    }
                    let cpu_us = cpu_per_request_us(cpu, &v);
                    json!({"server": kind.id(), "workload": w, "concurrency": c,
                           "result": v, "rss_kb": rss.map(|r| r.0),
                           "server_cpu_s": cpu, "server_cpu_us_per_request": cpu_us})
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
    let peak = srv.rss_kb().map(|r| r.1);
    rep.servers.push(json!({
        "server": kind.id(),
        "cold_start_ms": cold_ms,
        "idle_rss_kb": idle,
        "peak_rss_kb": peak,
        "seed": seeded,
    }));
    Ok(())
}

/// The interleaved rounds: every selected baton server and the ceiling, started and seeded
/// side by side, then get_task_status @16 on each in turn, `plan.rounds` times, the order
/// rotated every round. The cells measure one server after another, minutes apart, on a
/// machine whose speed drifts by tens of percent within the hour (bench/README.md, "Fifth
/// round"); in a round the servers are measured seconds apart, so each round's baton ÷
/// ceiling ratio compares like with like, and the median of the rounds is the ratio the
/// goals and the regression guard use (see [`super::report::status_ratios`]).
///
/// Skipped (`Ok`) unless the ceiling and a baton server are selected, status is a selected
/// workload and `plan.rounds > 0`; a server that failed its cells is left out. An error means
/// a server did not start or seed, or died; a failed load generator run is recorded with its
/// error and the rounds go on.
pub fn bench_rounds(
    env: &Env,
    plan: &Plan,
    kinds: &[Kind],
    rep: &mut Report,
) -> anyhow::Result<()> {
    let ran = |k: &Kind| {
        !rep.servers
            .iter()
            .any(|r| r["server"] == k.id() && r.get("error").is_some())
    };
    let kinds: Vec<Kind> = kinds
        .iter()
        .copied()
        .filter(|k| (k.is_baton() || *k == Kind::Ceiling) && ran(k))
        .collect();
    if plan.rounds == 0
        || !plan.workloads.iter().any(|w| w == "status")
        || !kinds.contains(&Kind::Ceiling)
        || kinds.len() < 2
    {
        return Ok(());
    }
    eprintln!(
        "bench: == interleaved rounds: get_task_status @16 on {} servers, {} rounds ==",
        kinds.len(),
        plan.rounds
    );
    // Databases first: their guards must outlive the servers using them.
    let mut dbs = Vec::new();
    let mut servers = Vec::new();
    for &k in &kinds {
        let (db_url, guard) = env.migrated_db(k, &format!("{}-rounds", k.id()))?;
        dbs.push(guard);
        let srv = env.start(k, db_url.as_deref(), 0)?;
        let handles = env.work_dir.join(format!("{}-rounds-handles.txt", k.id()));
        env.seed_via_api(&srv.url, plan.pool, &handles)?;
        servers.push((k, srv, handles));
    }
    for round in 0..plan.rounds {
        for i in 0..servers.len() {
            let at = (i + round) % servers.len();
            let (kind, srv, handles) = &mut servers[at];
            let mut args = cell_args(plan, ROUND_CONCURRENCY);
            args.extend([
                "--handles".into(),
                handles.display().to_string(),
                "--label".into(),
                format!("{}-round-{}", kind.id(), round + 1),
            ]);
            let during = format!("round {}", round + 1);
            let (res, cpu) = load_once(env, srv, *kind, "status", &args, &during)?;
            let row = match res {
                Ok(v) => {
                    eprintln!(
                        "bench: round {} {:<17} {:>9.0} req/s  p99 {:>7.3} ms  errors {}",
                        round + 1,
                        kind.id(),
                        v["rps"].as_f64().unwrap_or(0.0),
                        v["latency_ms"]["p99"].as_f64().unwrap_or(f64::NAN),
                        v["errors"]
                    );
                    let cpu_us = cpu_per_request_us(cpu, &v);
                    json!({"round": round + 1, "server": kind.id(), "workload": "status",
                           "concurrency": ROUND_CONCURRENCY, "result": v,
                           "server_cpu_s": cpu, "server_cpu_us_per_request": cpu_us})
                }
                Err(e) => {
                    eprintln!("bench: round {} {} failed: {e:#}", round + 1, kind.id());
                    json!({"round": round + 1, "server": kind.id(), "workload": "status",
                           "concurrency": ROUND_CONCURRENCY, "error": format!("{e:#}")})
                }
            };
            rep.rounds.push(row);
        }
    }
    drop(servers);
    drop(dbs);
    Ok(())
}

/// The concurrency of the interleaved rounds: the goals' get_task_status @16.
pub const ROUND_CONCURRENCY: usize = 16;

/// One load generator run of `workload` against `srv`: its result (an `Err` is recorded by
/// the caller, and the run goes on) and the server's CPU seconds over it. Fails when the
/// server died during the run (`during` names the run in that error).
fn load_once(
    env: &Env,
    srv: &mut Running,
    kind: Kind,
    workload: &str,
    args: &[String],
    during: &str,
) -> anyhow::Result<(anyhow::Result<Value>, Option<f64>)> {
    let cpu_before = srv.cpu_seconds();
    let res = env.loadgen(&srv.url, workload, args);
    let cpu = cpu_before.zip(srv.cpu_seconds()).map(|(a, b)| b - a);
    srv.ensure_alive(kind.id(), &format!("during {during}"))?;
    Ok((res, cpu))
}

/// The server's CPU time per request it answered during a load generator run, in µs: every
/// request the run sent (warm-up and failures included) is work the server did. A figure
/// that survives a busy machine better than throughput does, since waiting for a core costs
/// no CPU time.
fn cpu_per_request_us(cpu_s: Option<f64>, result: &Value) -> Option<f64> {
    let sent = result["requests"].as_u64()? + result["warmup_requests"].as_u64().unwrap_or(0);
    let cpu_s = cpu_s?;
    (sent > 0).then(|| cpu_s * 1e6 / sent as f64)
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
    let idle = srv.rss_kb().map(|r| r.0);
    let mut args = cell_args(plan, 16);
    args.extend([
        "--handles".into(),
        handles.display().to_string(),
        "--label".into(),
        format!("{}-{tasks}", kind.id()),
    ]);
    let v = env.loadgen(&srv.url, "status", &args)?;
    let rss = srv.rss_kb();
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

/// The scaling cells of one server: get_task_status @16 with 1 k and `plan.scale_count`
/// stored tasks.
pub fn bench_scaling(env: &Env, plan: &Plan, kind: Kind, rep: &mut Report) -> anyhow::Result<()> {
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
        let (Some(url), _guard) = env.migrated_db(kind, &format!("{}-scale", kind.id()))? else {
            bail!("{} keeps no database to scale", kind.id());
        };
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
