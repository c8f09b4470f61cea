//! Every tool schema baton publishes is strict JSON Schema 2020-12 (standard vocabulary
//! only, valid against the meta-schema, no unknown `format`): the research tools, the
//! conformance fixtures, catalog-only definitions (`--catalog`), and `search_tools` /
//! `call_tool` in search mode. In process, through the same `build_with` that `baton serve`
//! uses; `tests/tests/published_schemas.rs` checks the real binary's `tools/list`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::sync::Arc;

use baton_protocol::strict_schema::check_tool;
use baton_server::{
    ExtraTool, build_with,
    config::{ServeArgs, ToolExposure},
    tools::{ToolFn, discovery::Discovery},
};
use clap::Parser;
use rmcp::model::{CallToolResult, Tool};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

fn serve_args(dir: &tempfile::TempDir, extra: &[&str]) -> ServeArgs {
    let db = format!("sqlite://{}", dir.path().join("baton.db").display());
    let mut argv = vec!["baton", "--database-url", &db];
    argv.extend_from_slice(extra);
    Cli::try_parse_from(argv).unwrap().serve
}

fn catalog_file() -> String {
    format!(
        "{}/../../bench/catalog/tools-500.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The conformance fixture tools, registered the way `--conformance-fixtures` does.
fn fixture_tools() -> Vec<ExtraTool> {
    baton_conformance::Fixtures::tool_definitions()
        .iter()
        .map(|definition| {
            let handler: ToolFn = Arc::new(|_, _| {
                Box::pin(async { Ok(CallToolResult::structured(serde_json::json!({}))) })
            });
            ExtraTool::from_rmcp(definition, handler).unwrap()
        })
        .collect()
}

/// Checks every tool; panics with all problems of all tools.
fn assert_strict<'a>(tools: impl IntoIterator<Item = &'a Tool>) -> Vec<String> {
    let mut names = Vec::new();
    let mut problems = Vec::new();
    for tool in tools {
        names.push(tool.name.to_string());
        if let Err(found) = check_tool(&serde_json::to_value(tool).unwrap()) {
            problems.push(found.to_string());
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} tool definitions are not strict JSON Schema 2020-12:\n{}",
        problems.len(),
        names.len(),
        problems.join("\n")
    );
    names
}

#[tokio::test]
async fn every_listed_tool_schema_is_strict_2020_12() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog_file();
    let args = serve_args(&dir, &["--catalog", &catalog]);
    let (baton, _stores) = build_with(&args, fixture_tools()).await.unwrap();
    let names = assert_strict(baton.tools().definitions());
    let fixtures = baton_conformance::Fixtures::tool_definitions().len();
    assert_eq!(
        names.len(),
        baton_protocol::tool::ALL.len() + fixtures + 500,
        "{names:?}"
    );
    for name in baton_protocol::tool::ALL {
        assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
    }
    assert!(names.iter().any(|n| n == "json_schema_2020_12_tool"));
}

#[tokio::test]
async fn search_mode_meta_tools_are_strict_2020_12() {
    let dir = tempfile::tempdir().unwrap();
    let args = serve_args(&dir, &["--tool-exposure", "search"]);
    assert_eq!(args.tool_exposure, ToolExposure::Search);
    let (baton, _stores) = build_with(&args, fixture_tools()).await.unwrap();
    let discovery = Discovery::new(baton.tools(), &[]).unwrap();
    let listed = discovery.listed().unwrap();
    let names = assert_strict(&listed);
    assert_eq!(names, ["call_tool", "search_tools"]);
}
