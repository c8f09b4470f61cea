//! `cargo xtask bench`: baton on SQLite, Postgres and Redis against the protocol ceiling (a minimal
//! rmcp server, `bench/ceiling`) and the Python peer (`bench/peers/python`, the article's server
//! on the official SDK), under load from a separate process (`bench/loadgen`).
//!
//! For each server: build (release), start on a free 127.0.0.1 port, time spawn → first 200 on
//! its readiness route (cold start), read idle RSS, seed a pool of task handles through
//! `start_research_task`, then run every workload × concurrency cell (warm-up, then a bounded
//! measured window) and read RSS after each cell and the peak (VmHWM) at the end. Then the
//! interleaved rounds: baton and the ceiling side by side, taking turns at get_task_status @16,
//! whose median ratios the goals and the guard use (the machine's speed drifts between cells
//! measured minutes apart). Without `--quick`, also the scaling cells: `get_task_status` at
//! 1 k vs 1 M stored tasks per backend.
//! Writes `<target>/bench/bench.md` and `bench.json` and prints the table and the goal ratios.
//! Every figure is measured in this run; ratios are computed from them.
//!
//! The run fails (after writing the report of what did run) when a selected server does not
//! build, start or seed, when a cell does not run, or when more than
//! [`report::MAX_ERROR_SHARE`] of a cell's requests fail; see [`report::gate_failures`].
//!
//! The steps, one module each: [`plan`], [`servers`], [`load`], [`report`] (with the picture,
//! [`chart`], and the regression guard, [`guard`], which warns when a baton ÷ ceiling ratio
//! falls more than 25 % below the committed figures without failing the run).
//!
//! `--instructions` replaces the timed run with [`instructions`]: each server's instructions
//! per get_task_status under callgrind, a figure that does not move with the machine.

mod chart;
mod guard;
mod instructions;
mod load;
mod plan;
mod report;
mod servers;

use anyhow::{anyhow, bail};
use serde_json::json;

pub use plan::BenchArgs;
use plan::{Kind, Plan, parse_servers};
use report::Report;
use servers::{Env, StoreUrls};

use crate::helpers::{target_dir, unix_now, workspace_root};

/// Runs the benchmark; fails when the gate does (see the module docs).
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let plan = Plan::new(&args)?;
    let kinds = parse_servers(&args.servers)?;
    let root = workspace_root()?;
    if args.build_only {
        return servers::build(&root, &kinds)?.map_err(|e| anyhow!(e));
    }
    let target = target_dir(&root);
    let out_dir = args.out_dir.clone().unwrap_or_else(|| target.join("bench"));
    let run_id = format!("{}_{}", unix_now(), std::process::id());
    let env = Env::prepare(
        &root,
        &target,
        out_dir,
        &kinds,
        args.skip_build,
        StoreUrls {
            postgres: args.postgres_url.clone(),
            redis: args.redis_url.clone(),
        },
        run_id,
    )?;
    if args.instructions {
        return instructions::run(&env, &kinds, args.duration.unwrap_or(4.0));
    }
    let mut rep = Report::default();
    if env.baton.is_ok() && !env.baton_has_seed {
        rep.notes.push(
            "`baton seed` is not in this baton build: baton's get_task_status pool was seeded through start_research_task, and the 1 M-task scaling cells could not run for baton."
                .into(),
        );
    }

    for &k in &kinds {
        let res = match env.unavailable(k) {
            Some(e) => Err(anyhow!(e)),
            None => load::bench_server(&env, &plan, k, &mut rep),
        };
        if let Err(e) = res {
            eprintln!("bench: {} not benchmarked: {e:#}", k.id());
            rep.servers.retain(|s| s["server"] != k.id());
            rep.servers
                .push(json!({"server": k.id(), "error": format!("{e:#}")}));
        }
    }
    if let Err(e) = load::bench_rounds(&env, &plan, &kinds, &mut rep) {
        eprintln!("bench: interleaved rounds not run: {e:#}");
        rep.failed_steps.push(format!("interleaved rounds: {e:#}"));
    }
    if plan.scaling {
        for &k in &kinds {
            if !(k.is_baton() || k == Kind::Ceiling) {
                continue;
            }
            if rep
                .servers
                .iter()
                .any(|r| r["server"] == k.id() && r.get("error").is_some())
            {
                continue;
            }
            if let Err(e) = load::bench_scaling(&env, &plan, k, &mut rep) {
                eprintln!("bench: scaling {} not run: {e:#}", k.id());
                rep.notes
                    .push(format!("scaling for {} not run: {e:#}", k.id()));
                rep.failed_steps.push(format!(
                    "scaling {}: did not run: {}",
                    k.id(),
                    report::one_line(&format!("{e:#}"))
                ));
            }
        }
    }

    let failures = report::gate_failures(&rep, &kinds);
    let written = report::write(
        &rep,
        &plan,
        &kinds,
        &root,
        &env.out_dir,
        &failures,
        args.write_baseline,
    )?;
    println!("{}", written.md);
    eprintln!(
        "bench: wrote {}, {} and {}",
        env.out_dir.join("bench.md").display(),
        env.out_dir.join("bench.json").display(),
        env.out_dir.join("bench.svg").display()
    );
    if args.write_baseline {
        eprintln!("bench: wrote this run's ratios to {}", guard::BASELINE);
    }
    for w in &written.warnings {
        eprintln!("bench: WARNING: regression: {w}");
    }
    if !written.warnings.is_empty() {
        eprintln!(
            "bench: WARNING: {} ratio(s) fell more than {:.0} % below {} (not a failure: check whether a change slowed baton, or rerun)",
            written.warnings.len(),
            guard::MAX_DROP * 100.0,
            guard::BASELINE
        );
    }
    if !failures.is_empty() {
        bail!(
            "the benchmark gate failed ({} problem(s); at most {:.0} % failed requests per cell):\n  - {}",
            failures.len(),
            report::MAX_ERROR_SHARE * 100.0,
            failures.join("\n  - ")
        );
    }
    eprintln!(
        "bench: gate passed: every selected server ran, every cell had at most {:.0} % failed requests",
        report::MAX_ERROR_SHARE * 100.0
    );
    Ok(())
}
