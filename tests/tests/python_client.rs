//! The official MCP Python SDK client (`mcp` from PyPI) against the real `baton`, over
//! Streamable HTTP (2026-07-28, discovered) and over stdio (`baton serve --stdio` as its
//! child process). The script is `tests/clients/python/baton_client.py`.

use std::process::Command;

use baton_e2e::{
    Server, baton_bin,
    support_clients::{clients_dir, python_sdk, unavailable},
};

fn run_script(args: &[&str]) {
    let Some(python) =
        python_sdk().map_or_else(|e| unavailable("the MCP Python SDK (PyPI `mcp`)", &e), Some)
    else {
        return;
    };
    let script = clients_dir().join("python/baton_client.py");
    let out = Command::new(&python)
        .arg(&script)
        .args(args)
        .output()
        .expect("run the Python client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "PASS"),
        "Python SDK client failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

#[test]
fn python_sdk_over_streamable_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("baton.db").display());
    let server = Server::start(&["--database-url", &db]);
    run_script(&["http", &server.url()]);
    drop(server);
}

#[test]
fn python_sdk_over_stdio() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("baton.db").display());
    let bin = baton_bin();
    run_script(&["stdio", &bin.to_string_lossy(), &db]);
}
