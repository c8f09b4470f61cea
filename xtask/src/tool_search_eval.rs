//! `cargo xtask tool-search-eval`: measures baton-catalog's search mode against a full
//! `tools/list` on every evaluation set — context tokens (o200k_base), recall on labelled
//! queries, and latency — and exits non-zero when a goal is missed.
//!
//! The sets: the real-catalog set (published tool lists of public MCP servers, see
//! `bench/catalog/real/README.md`) in its tuning and test parts, and the generated 500-tool
//! catalog with its queries and held-out queries (a scale test).

use std::collections::HashMap;
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
    /// Evaluate only the named sets (repeatable): real-tuning, real-test, generated,
    /// generated-holdout. Default: every set.
    #[arg(long = "set", value_name = "NAME")]
    pub sets: Vec<String>,
    /// A custom set instead of the built-in ones: a JSON array of MCP Tool objects (or
    /// `{"tools": [...]}`); needs --queries. It is judged on latency and token savings only.
    #[arg(long, requires = "queries")]
    pub catalog: Option<PathBuf>,
    /// Labelled queries of the custom set, one JSON object per line:
    /// `{"query": "...", "expected": ["tool", ...]}`.
    #[arg(long, requires = "catalog")]
    pub queries: Option<PathBuf>,
    /// Print the figures without judging them: exit 0 even when a goal is missed.
    #[arg(long)]
    pub report_only: bool,
    /// Print every top-3 miss of each evaluated set.
    #[arg(long)]
    pub show_misses: bool,
    /// Write each set's top-20 ranking per query (name and score) to `DIR/<set>.jsonl`, to
    /// study the ranker.
    #[arg(long, value_name = "DIR")]
    pub dump_rankings: Option<PathBuf>,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
    /// Timed repetitions of each query set (after warm-up).
    #[arg(long, default_value_t = 100)]
    pub reps: usize,
}

/// Floors a set's recall must reach; `None` means reported, not judged.
#[derive(Debug, Clone, Copy)]
struct RecallGoals {
    top1: Option<f64>,
    top3: Option<f64>,
}

/// One evaluation set: a catalog and labelled queries.
struct EvalSet {
    name: String,
    catalog: PathBuf,
    queries: PathBuf,
    goals: RecallGoals,
}

/// Token savings of search mode over a full `tools/list`, judged on every set.
const SAVINGS_GOAL_PERCENT: f64 = 95.0;
/// p99 of one lexical search, judged on every set (over queries, of each query's median time,
/// so that a loaded machine's preemptions do not decide it).
const P99_GOAL_US: f64 = 1000.0;

fn builtin_sets() -> Vec<EvalSet> {
    let real = "bench/catalog/real/tools.json";
    let generated = "bench/catalog/tools-500.json";
    let set = |name: &str, catalog: &str, queries: &str, goals| EvalSet {
        name: name.to_owned(),
        catalog: catalog.into(),
        queries: queries.into(),
        goals,
    };
    vec![
        // Tuning part: what ranking changes were chosen on; reported, not judged.
        set(
            "real-tuning",
            real,
            "bench/catalog/real/queries-tuning.jsonl",
            RecallGoals {
                top1: None,
                top3: None,
            },
        ),
        // Test part: never looked at while tuning; the acceptance figures.
        set(
            "real-test",
            real,
            "bench/catalog/real/queries-test.jsonl",
            RecallGoals {
                top1: Some(0.75),
                top3: Some(0.9),
            },
        ),
        set(
            "generated",
            generated,
            "bench/catalog/queries.jsonl",
            RecallGoals {
                top1: None,
                top3: Some(0.9),
            },
        ),
        set(
            "generated-holdout",
            generated,
            "bench/catalog/queries-holdout.jsonl",
            RecallGoals {
                top1: None,
                top3: Some(0.9),
            },
        ),
    ]
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
        let at = || format!("`{}` line {}", path.display(), i + 1);
        let v: Value =
            serde_json::from_str(&line).with_context(|| format!("{}: invalid JSON", at()))?;
        let query = v
            .get("query")
            .and_then(Value::as_str)
            .with_context(|| format!("{}: missing \"query\"", at()))?
            .to_owned();
        let expected: Vec<String> = v
            .get("expected")
            .and_then(Value::as_array)
            .with_context(|| format!("{}: missing \"expected\"", at()))?
            .iter()
            .filter_map(|e| e.as_str().map(str::to_owned))
            .collect();
        if expected.is_empty() {
            bail!("{}: \"expected\" is empty", at());
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

/// A loaded catalog and its load + index build time.
struct LoadedCatalog {
    catalog: Catalog,
    build_ms: f64,
}

/// The figures of one set.
struct SetReport {
    name: String,
    tools: usize,
    pinned: usize,
    queries: usize,
    full_tokens: usize,
    search_tokens: usize,
    round_median: usize,
    round_mean: f64,
    savings: f64,
    savings_round: f64,
    top1: usize,
    top3: usize,
    p50: f64,
    p99: f64,
    max: f64,
    samples: usize,
    /// p99 over queries of each query's median time: the judged latency.
    p99_of_medians: f64,
    build_ms: f64,
    misses: Vec<String>,
    /// Queries whose search returned an error (counted as misses).
    errors: Vec<String>,
    goals: RecallGoals,
}

impl SetReport {
    fn recall1(&self) -> f64 {
        self.top1 as f64 / self.queries as f64
    }
    fn recall3(&self) -> f64 {
        self.top3 as f64 / self.queries as f64
    }

    /// Each judged goal: (description, met).
    fn checks(&self) -> Vec<(String, bool)> {
        let mut out = vec![
            (
                "every query answered without error".to_owned(),
                self.errors.is_empty(),
            ),
            (
                format!("token savings ≥ {SAVINGS_GOAL_PERCENT}%"),
                self.savings >= SAVINGS_GOAL_PERCENT,
            ),
            (
                format!("search p99 (over queries, of each one's median) ≤ {P99_GOAL_US} µs"),
                self.p99_of_medians <= P99_GOAL_US,
            ),
        ];
        if let Some(g) = self.goals.top1 {
            out.push((format!("top-1 ≥ {g}"), self.recall1() >= g));
        }
        if let Some(g) = self.goals.top3 {
            out.push((format!("top-3 ≥ {g}"), self.recall3() >= g));
        }
        out
    }

    fn to_json(&self) -> Value {
        json!({
            "set": self.name,
            "tools": self.tools,
            "pinned": self.pinned,
            "queries": self.queries,
            "tokenizer": "o200k_base",
            "tokens": {
                "full_tools_list": self.full_tokens,
                "search_mode_tools_list": self.search_tokens,
                "search_round_median": self.round_median,
                "search_round_mean": self.round_mean,
            },
            "savings_percent": self.savings,
            "savings_with_one_round_percent": self.savings_round,
            "recall": {"top1": self.recall1(), "top3": self.recall3()},
            "latency_us": {"p50": self.p50, "p99": self.p99, "max": self.max, "samples": self.samples, "p99_of_query_medians": self.p99_of_medians},
            "index_build_ms": self.build_ms,
            "goals": self.checks().into_iter().map(|(g, ok)| json!({"goal": g, "met": ok})).collect::<Vec<_>>(),
            "top3_misses": self.misses,
            "search_errors": self.errors,
        })
    }
}

fn evaluate(set: &EvalSet, loaded: &LoadedCatalog, reps: usize) -> anyhow::Result<SetReport> {
    let catalog = &loaded.catalog;
    let queries = load_queries(&resolve(&set.queries))?;
    for q in &queries {
        for e in &q.expected {
            if catalog.get(e).is_none() {
                bail!(
                    "set {}: query {:?} expects unknown tool `{e}`",
                    set.name,
                    q.query
                );
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

    // (c) a search round per query; recall.
    let mut round_tokens = Vec::with_capacity(queries.len());
    let (mut top1, mut top3) = (0usize, 0usize);
    let mut misses = Vec::new();
    let mut errors = Vec::new();
    let mut answered = Vec::with_capacity(queries.len());
    for q in &queries {
        // A search error on a labelled (non-empty) query is a miss and fails the set's
        // "no search errors" goal; the other queries are still measured.
        let hits = match catalog.search(&q.query, DEFAULT_SEARCH_LIMIT) {
            Ok(hits) => hits,
            Err(e) => {
                errors.push(format!("  {:?}: {e}", q.query));
                continue;
            }
        };
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
        answered.push(q);
    }
    if round_tokens.is_empty() {
        bail!(
            "set {}: every search failed: {}",
            set.name,
            errors.join("; ")
        );
    }
    round_tokens.sort_unstable();
    let round_median = round_tokens[round_tokens.len() / 2];
    let round_mean = round_tokens.iter().sum::<usize>() as f64 / round_tokens.len() as f64;

    // Latency: warm up, then time every search individually.
    for _ in 0..3 {
        for q in &answered {
            std::hint::black_box(catalog.search(&q.query, DEFAULT_SEARCH_LIMIT)?);
        }
    }
    let mut per_query = vec![Vec::with_capacity(reps); answered.len()];
    for _ in 0..reps {
        for (q, times) in answered.iter().zip(&mut per_query) {
            let t = Instant::now();
            let hits = catalog.search(&q.query, DEFAULT_SEARCH_LIMIT)?;
            let dt = t.elapsed();
            std::hint::black_box(hits);
            times.push(dt.as_secs_f64() * 1e6);
        }
    }
    let mut samples: Vec<f64> = per_query.iter().flatten().copied().collect();
    samples.sort_by(f64::total_cmp);
    // The judged figure: each query's median over the repetitions (what the query costs,
    // without the moments another process held the core), then the p99 over queries.
    let mut medians: Vec<f64> = per_query
        .iter_mut()
        .map(|times| {
            times.sort_by(f64::total_cmp);
            percentile(times, 50.0)
        })
        .collect();
    medians.sort_by(f64::total_cmp);

    Ok(SetReport {
        name: set.name.clone(),
        tools: catalog.len(),
        pinned: catalog.pinned().count(),
        queries: queries.len(),
        full_tokens,
        search_tokens,
        round_median,
        round_mean,
        savings: 100.0 * (1.0 - search_tokens as f64 / full_tokens as f64),
        savings_round: 100.0 * (1.0 - (search_tokens + round_median) as f64 / full_tokens as f64),
        top1,
        top3,
        p50: percentile(&samples, 50.0),
        p99: percentile(&samples, 99.0),
        max: samples.last().copied().unwrap_or(0.0),
        samples: samples.len(),
        p99_of_medians: percentile(&medians, 99.0),
        build_ms: loaded.build_ms,
        misses,
        errors,
        goals: set.goals,
    })
}

fn dump_rankings(set: &EvalSet, catalog: &Catalog, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    let mut out = String::new();
    for q in load_queries(&resolve(&set.queries))? {
        let hits = catalog.search(&q.query, 20).unwrap_or_default();
        let ranked: Vec<Value> = hits.iter().map(|h| json!([h.name(), h.score])).collect();
        out.push_str(&serde_json::to_string(
            &json!({"query": q.query, "expected": q.expected, "hits": ranked}),
        )?);
        out.push('\n');
    }
    let path = dir.join(format!("{}.jsonl", set.name));
    std::fs::write(&path, out).with_context(|| format!("writing `{}`", path.display()))
}

fn print_reports(reports: &[SetReport], show_misses: bool) {
    println!("## Tool search eval (limit {DEFAULT_SEARCH_LIMIT}, tokens in o200k_base)\n");
    println!(
        "| set | tools | queries | top-1 | top-3 | p50 / p99 / max of all samples (µs) | p99 of query medians (µs) | `tools/list` tokens: full → search mode | savings (with one round) | index build |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in reports {
        println!(
            "| {} | {} | {} | {:.3} ({}/{}) | {:.3} ({}/{}) | {:.1} / {:.1} / {:.1} | {:.1} | {} → {} | {:.2}% ({:.2}%) | {:.1} ms |",
            r.name,
            r.tools,
            r.queries,
            r.recall1(),
            r.top1,
            r.queries,
            r.recall3(),
            r.top3,
            r.queries,
            r.p50,
            r.p99,
            r.max,
            r.p99_of_medians,
            r.full_tokens,
            r.search_tokens,
            r.savings,
            r.savings_round,
            r.build_ms
        );
    }
    println!("\n### Goals\n");
    for r in reports {
        for (goal, ok) in r.checks() {
            println!("- {}: {goal}: {}", r.name, if ok { "pass" } else { "FAIL" });
        }
    }
    for r in reports.iter().filter(|r| !r.errors.is_empty()) {
        println!("\n### {}: search errors ({})\n", r.name, r.errors.len());
        for e in &r.errors {
            println!("{e}");
        }
    }
    if show_misses {
        for r in reports.iter().filter(|r| !r.misses.is_empty()) {
            println!("\n### {}: top-3 misses ({})\n", r.name, r.misses.len());
            for m in &r.misses {
                println!("{m}");
            }
        }
    }
}

/// Runs the evaluation, prints a markdown report, and fails when a goal is missed
/// (unless `--report-only`).
pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let sets = match (&args.catalog, &args.queries) {
        (Some(catalog), Some(queries)) => vec![EvalSet {
            name: "custom".to_owned(),
            catalog: catalog.clone(),
            queries: queries.clone(),
            goals: RecallGoals {
                top1: None,
                top3: None,
            },
        }],
        _ => {
            let all = builtin_sets();
            for wanted in &args.sets {
                if !all.iter().any(|s| &s.name == wanted) {
                    let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
                    bail!("unknown set `{wanted}`: the sets are {}", names.join(", "));
                }
            }
            all.into_iter()
                .filter(|s| args.sets.is_empty() || args.sets.contains(&s.name))
                .collect()
        }
    };

    let mut catalogs: HashMap<PathBuf, LoadedCatalog> = HashMap::new();
    let mut reports = Vec::with_capacity(sets.len());
    for set in &sets {
        let path = resolve(&set.catalog);
        if !catalogs.contains_key(&path) {
            let start = Instant::now();
            let catalog = Catalog::load_json_path(&path)?;
            let build_ms = start.elapsed().as_secs_f64() * 1e3;
            catalogs.insert(path.clone(), LoadedCatalog { catalog, build_ms });
        }
        let loaded = &catalogs[&path];
        if let Some(dir) = &args.dump_rankings {
            dump_rankings(set, &loaded.catalog, dir)?;
        }
        reports.push(evaluate(set, loaded, args.reps.max(1))?);
    }
    print_reports(&reports, args.show_misses);

    if let Some(path) = &args.json_out {
        let report = json!({"sets": reports.iter().map(SetReport::to_json).collect::<Vec<_>>()});
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing `{}`", path.display()))?;
    }

    let failed: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.checks()
                .into_iter()
                .filter(|(_, ok)| !ok)
                .map(move |(goal, _)| format!("{}: {goal}", r.name))
        })
        .collect();
    if failed.is_empty() {
        println!("\nevery goal met");
    } else if args.report_only {
        println!(
            "\n{} goal(s) missed (--report-only: not judged): {}",
            failed.len(),
            failed.join("; ")
        );
    } else {
        bail!("{} goal(s) missed: {}", failed.len(), failed.join("; "));
    }
    Ok(())
}
