//! The official MCP TypeScript SDK v2 client (npm `@modelcontextprotocol/client`, pinned)
//! against the real `baton` over Streamable HTTP, on the machine's Node (≥ 20), in each of
//! its three version-negotiation modes:
//!
//! - `legacy`, its default: the 2025 `initialize` handshake, so 2025-11-25;
//! - `auto`: probes `server/discover` and finds 2026-07-28;
//! - pinned to 2026-07-28: `server/discover` must offer it.
//!
//! Each mode runs `tests/clients/typescript/baton_client.mjs` against its own server: the
//! negotiated version, tools/list, the whole research-task lifecycle, paging through
//! `list_research_tasks` and `get_task_results` with cursors, the exact error texts, every
//! result validated by the client against the tool's output schema, and nothing at all on
//! stderr (the client's schema validator warns there about non-standard schema vocabulary,
//! such as an unknown `format`).

use std::{path::PathBuf, process::Command, time::Duration};

use baton_devtools::{node_bin_at_least, npm_package, path_with, run_to_end};
use baton_e2e::support::{
    installs::{clients_dir, or_skip},
    server::Server,
};

/// The pinned client package and version.
const PACKAGE: &str = "@modelcontextprotocol/client";
const VERSION: &str = "2.4.0";

/// The machine's Node and the installed client (in `cache/client-<version>`), or a skip.
fn install() -> Option<(PathBuf, PathBuf)> {
    let node_bin = or_skip("Node >= 20", node_bin_at_least(20))?;
    let dir = or_skip(
        &format!("the MCP TypeScript SDK client (npm {PACKAGE}@{VERSION})"),
        npm_package(&node_bin, PACKAGE, VERSION),
    )?;
    Some((node_bin, dir))
}

/// Runs the client script in `mode` against a fresh server; it must negotiate `expected`.
fn run_mode(mode: &str, expected: &str) {
    let Some((node_bin, client_dir)) = install() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::sqlite(dir.path(), &[]);
    let script = clients_dir().join("typescript/baton_client.mjs");
    let out = run_to_end(
        Command::new(node_bin.join("node"))
            .env("PATH", path_with(&node_bin))
            .arg(&script)
            .arg(&client_dir)
            .args([mode, &server.url(), expected]),
        Duration::from_secs(300),
    )
    .expect("run the TypeScript client");
    println!("{}", out.stdout);
    assert!(
        out.status.success() && out.stdout.lines().any(|l| l == "PASS"),
        "TypeScript SDK client ({mode}) failed ({}):\n{}\n{}\nserver log:\n{}",
        out.status,
        out.stdout,
        out.stderr,
        server.logs()
    );
    assert!(
        out.stderr.trim().is_empty(),
        "TypeScript SDK client ({mode}) printed {} line(s) on stderr; it must print none:\n{}",
        out.stderr.lines().count(),
        out.stderr
    );
}

#[test]
fn typescript_sdk_legacy_mode_speaks_2025_11_25() {
    run_mode("legacy", "2025-11-25");
}

#[test]
fn typescript_sdk_auto_mode_discovers_2026_07_28() {
    run_mode("auto", "2026-07-28");
}

#[test]
fn typescript_sdk_pinned_to_2026_07_28() {
    run_mode("pin", "2026-07-28");
}
