//! The official MCP Python SDK client (`mcp` from PyPI) against the real `baton`, over
//! Streamable HTTP (2026-07-28, discovered) and over stdio (`baton serve --stdio` as its
//! child process). The script is `tests/clients/python/baton_client.py`.

use std::{process::Command, time::Duration};

use baton_e2e::support::{
    installs::{clients_dir, or_skip, python_sdk},
    server::{Server, baton_bin, sqlite_url},
};

/// How long the Python client's whole run may take.
const CLIENT_WITHIN: Duration = Duration::from_secs(300);

fn run_script(args: &[&str]) {
    let Some(python) = or_skip("the MCP Python SDK (PyPI `mcp`)", python_sdk()) else {
        return;
    };
    let script = clients_dir().join("python/baton_client.py");
    let out =
        baton_devtools::run_to_end(Command::new(&python).arg(&script).args(args), CLIENT_WITHIN)
            .unwrap_or_else(|e| panic!("the Python client: {e}"));
    println!("{}", out.stdout);
    assert!(
        out.status.success() && out.stdout.lines().any(|l| l == "PASS"),
        "Python SDK client failed ({}):\n{}\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
}

#[test]
fn python_sdk_over_streamable_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(dir.path());
    let server = Server::start(&["--database-url", &db]);
    run_script(&["http", &server.url()]);
    drop(server);
}

#[test]
fn python_sdk_over_stdio() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(dir.path());
    let bin = baton_bin();
    run_script(&["stdio", &bin.to_string_lossy(), &db]);
}
