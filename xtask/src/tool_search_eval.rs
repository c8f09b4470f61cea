//! `cargo xtask tool-search-eval`: measures baton-catalog's search mode against a full
//! `tools/list` — context tokens (o200k_base), recall on labelled queries, and latency.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use baton_catalog::{
    Catalog, DEFAULT_SEARCH_LIMIT, SEARCH_TOOLS_NAME, call_tool_definition, search_result_json,
    search_tools_definition, tools_json,
};
use serde_json::{Value, json};

/// Arguments of the `tool-search-eval` subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// Tool catalog: a JSON array of MCP Tool objects (or `{"tools": [...]}`).
    #[arg(long, default_value = "bench/catalog/tools-500.json")]
    pub catalog: PathBuf,
    /// Labelled queries, one JSON object per line: `{"query": "...", "expected": ["tool", ...]}`.
    #[arg(long, default_value = "bench/catalog/queries.jsonl")]
    pub queries: PathBuf,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
    /// Timed repetitions of the whole query set (after warm-up).
    #[arg(long, default_value_t = 100)]
    pub reps: usize,
}

struct Query {
    query: String,
    expected: Vec<String>,
}

/// Relative paths are tried from the working directory, then from the workspace root.
fn resolve(path: &Path) -> PathBuf {
    if path.is_relative() && !path.exists() {
        let from_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
        if from_root.exists() {
            return from_root;
        }
    }
    path.to_path_buf()
}

fn load_queries(path: &Path) -> anyhow::Result<Vec<Query>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open queries file `{}`", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading `{}`", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line)
            .with_context(|| format!("`{}` line {}: invalid JSON", path.display(), i + 1))?;
        let query = v
            .get("query")
            .and_then(Value::as_str)
            .with_context(|| format!("`{}` line {}: missing \"query\"", path.display(), i + 1))?
            .to_owned();
        let expected: Vec<String> = v
            .get("expected")
            .and_then(Value::as_array)
            .with_context(|| format!("`{}` line {}: missing \"expected\"", path.display(), i + 1))?
            .iter()
            .filter_map(|e| e.as_str().map(str::to_owned))
            .collect();
        if expected.is_empty() {
            bail!("`{}` line {}: \"expected\" is empty", path.display(), i + 1);
        }
        out.push(Query { query, expected });
    }
    if out.is_empty() {
        bail!("`{}` has no queries", path.display());
    }
    Ok(out)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// The `tools/call` request params and result of one `search_tools` round, as the model sees them.
fn search_round_json(query: &str, result: &Value) -> anyhow::Result<String> {
    let call = json!({
        "name": SEARCH_TOOLS_NAME,
        "arguments": {"query": query, "limit": DEFAULT_SEARCH_LIMIT}
    });
    let result = json!({
        "content": [{"type": "text", "text": serde_json::to_string(result)?}]
    });
    Ok(format!(
        "{}{}",
        serde_json::to_string(&call)?,
        serde_json::to_string(&result)?
    ))
}

/// Runs the evaluation and prints a markdown table.
pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let catalog_path = resolve(&args.catalog);
    let queries_path = resolve(&args.queries);
    let build_start = Instant::now();
    let catalog = Catalog::load_json_path(&catalog_path)?;
    let build_ms = build_start.elapsed().as_secs_f64() * 1e3;
    let queries = load_queries(&queries_path)?;
    for q in &queries {
        for e in &q.expected {
            if catalog.get(e).is_none() {
                bail!("query {:?} expects unknown tool `{e}`", q.query);
            }
        }
    }
    let bpe = tiktoken_rs::o200k_base().context("loading the o200k_base tokenizer")?;
    let tokens = |s: &str| bpe.encode_ordinary(s).len();

    // (a) full tools/list; (b) search-mode tools/list.
    let full = serde_json::to_string(&catalog.tools_list_json())?;
    let meta = [search_tools_definition(), call_tool_definition()];
    let search_mode = serde_json::to_string(&tools_json(
        catalog.pinned().map(|e| e.definition()).chain(meta.iter()),
    ))?;
    let full_tokens = tokens(&full);
    let search_tokens = tokens(&search_mode);
    let pinned = catalog.pinned().count();

    // (c) a search round per query; recall.
    let mut round_tokens = Vec::with_capacity(queries.len());
    let (mut top1, mut top3) = (0usize, 0usize);
    let mut misses = Vec::new();
    for q in &queries {
        let hits = catalog
            .search(&q.query, DEFAULT_SEARCH_LIMIT)
            .with_context(|| format!("searching {:?}", q.query))?;
        let names: Vec<&str> = hits.iter().map(|h| h.name()).collect();
        let ok = |n: &&str| q.expected.iter().any(|e| e == n);
        if names.first().is_some_and(ok) {
            top1 += 1;
        }
        if names.iter().take(3).any(ok) {
            top3 += 1;
        } else {
            misses.push(format!(
                "  {:?}: expected {:?}, got {:?}",
                q.query,
                q.expected,
                &names[..names.len().min(3)]
            ));
        }
        round_tokens.push(tokens(&search_round_json(
            &q.query,
            &search_result_json(&hits),
        )?));
    }
    round_tokens.sort_unstable();
    let round_median = round_tokens[round_tokens.len() / 2];
    let round_mean = round_tokens.iter().sum::<usize>() as f64 / round_tokens.len() as f64;
    let n = queries.len() as f64;
    let (recall1, recall3) = (top1 as f64 / n, top3 as f64 / n);

    // Latency: warm up, then time every search individually.
    for _ in 0..3 {
        for q in &queries {
            std::hint::black_box(catalog.search(&q.query, DEFAULT_SEARCH_LIMIT)?);
        }
    }
    let reps = args.reps.max(1);
    let mut samples = Vec::with_capacity(reps * queries.len());
    for _ in 0..reps {
        for q in &queries {
            let t = Instant::now();
            let hits = catalog.search(&q.query, DEFAULT_SEARCH_LIMIT)?;
            let dt = t.elapsed();
            std::hint::black_box(hits);
            samples.push(dt.as_secs_f64() * 1e6);
        }
    }
    samples.sort_by(f64::total_cmp);
    let (p50, p99, max) = (
        percentile(&samples, 50.0),
        percentile(&samples, 99.0),
        samples.last().copied().unwrap_or(0.0),
    );

    let savings = 100.0 * (1.0 - search_tokens as f64 / full_tokens as f64);
    let savings_round = 100.0 * (1.0 - (search_tokens + round_median) as f64 / full_tokens as f64);
    let pass = |ok: bool| if ok { "pass" } else { "FAIL" };

    println!(
        "## Tool search eval: {} tools ({} pinned), {} queries, revision {}…\n",
        catalog.len(),
        pinned,
        queries.len(),
        &catalog.revision()[..12]
    );
    println!("| metric | value | goal |");
    println!("| --- | ---: | --- |");
    println!("| (a) full `tools/list` tokens (o200k_base) | {full_tokens} | |");
    println!(
        "| (b) search-mode `tools/list` tokens ({pinned} pinned + search_tools + call_tool) | {search_tokens} | |"
    );
    println!(
        "| (c) one search round tokens, limit {DEFAULT_SEARCH_LIMIT} (median / mean) | {round_median} / {round_mean:.0} | |"
    );
    println!(
        "| savings, (b) vs (a) | {savings:.2}% | ≥ 95% {} |",
        pass(savings >= 95.0)
    );
    println!("| savings, (b)+(c) vs (a) | {savings_round:.2}% | |");
    println!(
        "| top-1 recall | {recall1:.3} ({top1}/{}) | |",
        queries.len()
    );
    println!(
        "| top-3 recall | {recall3:.3} ({top3}/{}) | ≥ 0.9 {} |",
        queries.len(),
        pass(recall3 >= 0.9)
    );
    println!(
        "| search latency p50 / p99 / max ({} samples) | {p50:.1} µs / {p99:.1} µs / {max:.1} µs | p99 ≤ 1 ms {} |",
        samples.len(),
        pass(p99 <= 1000.0)
    );
    println!("| catalog load + index build | {build_ms:.1} ms | |");
    if !misses.is_empty() {
        println!("\nTop-3 misses:");
        for m in &misses {
            println!("{m}");
        }
    }

    if let Some(path) = &args.json_out {
        let report = json!({
            "catalog": catalog_path.display().to_string(),
            "queries": queries.len(),
            "tools": catalog.len(),
            "pinned": pinned,
            "revision": catalog.revision(),
            "tokenizer": "o200k_base",
            "tokens": {
                "full_tools_list": full_tokens,
                "search_mode_tools_list": search_tokens,
                "search_round_median": round_median,
                "search_round_mean": round_mean,
            },
            "savings_percent": savings,
            "savings_with_one_round_percent": savings_round,
            "recall": {"top1": recall1, "top3": recall3},
            "latency_us": {"p50": p50, "p99": p99, "max": max, "samples": samples.len()},
            "index_build_ms": build_ms,
            "top3_misses": misses,
        });
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing `{}`", path.display()))?;
    }
    Ok(())
}
