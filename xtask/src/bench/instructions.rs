//! `cargo xtask bench --instructions`: instructions per get_task_status @16, counted by
//! callgrind in the server process.
//!
//! CPU time per request moves with the machine: on a shared or virtual 2-core machine the
//! same binary can take a third more or less from one hour to the next, which hides a change
//! of a few percent. The instructions a request runs do not move (repeated counts of one
//! binary agree within 0.3 %), so builds are compared by them. They leave out the kernel's
//! work and the time spent waiting on memory, so they complement the timed run, not replace
//! it.
//!
//! For each server: start it under `valgrind --tool=callgrind`, seed 200 tasks through
//! `start_research_task`, run get_task_status @16 for 2 s to warm up, zero the counters
//! (`callgrind_control -z`), run get_task_status @16 for the counted window, dump the counters
//! (`callgrind_control -d`), and divide the instructions by the requests answered.

use std::{fs, path::Path, thread, time::Duration};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::{
    plan::Kind,
    report::{MAX_ERROR_SHARE, error_share},
    servers::Env,
};
use crate::helpers::output_of;

/// Tasks in the get_task_status pool (seeding is slow under valgrind).
const POOL: u64 = 200;

/// Counts every selected baton backend and the ceiling, prints the table, writes
/// `instructions.json` in the output folder.
pub fn run(env: &Env, kinds: &[Kind], seconds: f64) -> anyhow::Result<()> {
    for tool in ["valgrind", "callgrind_control"] {
        if output_of(tool, &["--version"]).is_none() {
            bail!("--instructions needs valgrind (`{tool}` not found; apt-get install valgrind)");
        }
    }
    if !(1.0..=120.0).contains(&seconds) {
        bail!("--duration must be in [1, 120] s with --instructions");
    }
    let mut rows = Vec::new();
    for &kind in kinds {
        if !(kind.is_baton() || kind == Kind::Ceiling) {
            eprintln!(
                "bench: {} skipped: --instructions counts baton and the ceiling",
                kind.id()
            );
            continue;
        }
        if let Some(why) = env.unavailable(kind) {
            bail!("{}: {why}", kind.id());
        }
        let (requests, instructions) =
            count(env, kind, seconds).with_context(|| format!("counting {}", kind.id()))?;
        let per_request = instructions as f64 / requests as f64;
        eprintln!(
            "bench: {:<15} {:>10.0} instructions per get_task_status ({requests} requests counted)",
            kind.id(),
            per_request
        );
        rows.push(json!({"server": kind.id(), "requests": requests,
                         "instructions": instructions, "per_request": per_request}));
    }
    let ceiling = rows
        .iter()
        .find(|r| r["server"] == Kind::Ceiling.id())
        .and_then(|r| r["per_request"].as_f64());
    let mut table = String::from(
        "| server | instructions per get_task_status @16 | × the ceiling's |\n|---|---:|---:|\n",
    );
    for r in &mut rows {
        let per_request = r["per_request"].as_f64().unwrap_or(f64::NAN);
        let ratio = ceiling.map(|c| per_request / c);
        if let Some(ratio) = ratio {
            r["per_request_over_ceiling"] = json!(ratio);
        }
        table.push_str(&format!(
            "| {} | {:.0} | {} |\n",
            r["server"].as_str().unwrap_or("?"),
            per_request,
            ratio.map_or("–".to_owned(), |x| format!("{x:.3}"))
        ));
    }
    println!("{table}");
    let out = env.out_dir.join("instructions.json");
    fs::write(
        &out,
        serde_json::to_string_pretty(&json!({"counted_seconds": seconds, "servers": rows}))?,
    )
    .with_context(|| format!("write {}", out.display()))?;
    eprintln!("bench: wrote {}", out.display());
    Ok(())
}

/// (requests answered, instructions the server ran) in the counted window.
fn count(env: &Env, kind: Kind, seconds: f64) -> anyhow::Result<(u64, u64)> {
    let dir = env.work_dir.join(format!("callgrind-{}", kind.id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let out_file = dir.join("callgrind.out");
    let wrapper = [
        "valgrind".to_owned(),
        "--tool=callgrind".to_owned(),
        format!("--callgrind-out-file={}", out_file.display()),
    ];
    let (db_url, _db_guard) = env.migrated_db(kind, &format!("{}-instructions", kind.id()))?;
    let srv = env.start_under(kind, db_url.as_deref(), 0, &wrapper)?;
    let handles = dir.join("handles.txt");
    env.seed_via_api(&srv.url, POOL, &handles)?;
    let status = |secs: f64| -> anyhow::Result<Value> {
        let args: Vec<String> = [
            "--concurrency",
            "16",
            "--duration",
            &secs.to_string(),
            "--warmup",
            "0",
            "--handles",
            &handles.display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        env.loadgen(&srv.url, "status", &args)
    };
    status(2.0)?;
    let pid = srv.proc.id().to_string();
    output_of("callgrind_control", &["-z", &pid]).context("callgrind_control -z failed")?;
    let counted = status(seconds)?;
    output_of("callgrind_control", &["-d", &pid]).context("callgrind_control -d failed")?;
    let requests = counted["requests"].as_u64().unwrap_or(0);
    if requests == 0 || error_share(&counted).unwrap_or(1.0) > MAX_ERROR_SHARE {
        bail!("the counted window failed: {counted}");
    }
    // The dump is written by the server's own process; give it a moment.
    let mut instructions = None;
    for _ in 0..100 {
        instructions = dumped_instructions(&dir)?;
        if instructions.is_some() {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    drop(srv);
    let instructions = instructions.context("callgrind wrote no dump")?;
    Ok((requests, instructions))
}

/// The instructions of the newest dump in `dir` (`callgrind.out.N`, one per
/// `callgrind_control -d`; the file without a suffix is written at exit).
fn dumped_instructions(dir: &Path) -> anyhow::Result<Option<u64>> {
    let mut newest: Option<(u32, std::path::PathBuf)> = None;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let part = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("callgrind.out."))
            .and_then(|n| n.parse::<u32>().ok());
        if let Some(part) = part
            && newest.as_ref().is_none_or(|(p, _)| part > *p)
        {
            newest = Some((part, path));
        }
    }
    let Some((_, path)) = newest else {
        return Ok(None);
    };
    let text = fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    Ok(totals(&text))
}

/// The `totals:` (or `summary:`) line of a callgrind dump with one event, `Ir`.
fn totals(dump: &str) -> Option<u64> {
    dump.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_read_from_a_dump() {
        let dump = "# callgrind format\nversion: 1\nevents: Ir\nsummary: 201021999\n\nfn=(1) x\n0 5\ntotals: 201021999\n";
        assert_eq!(totals(dump), Some(201_021_999));
        assert_eq!(totals("events: Ir\n"), None);
    }
}
