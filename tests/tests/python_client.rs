//! The official MCP Python SDK client (`mcp` from PyPI) against the real `baton`, over
//! Streamable HTTP (2026-07-28, discovered) and over stdio (`baton serve --stdio` as its
//! child process). The script is `tests/clients/python/baton_client.py`.

use baton_e2e::support::{
    clients::run_python_client,
    server::{Server, baton_bin, sqlite_url},
};

#[test]
fn python_sdk_over_streamable_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(dir.path());
    let server = Server::start(&["--database-url", &db]);
    run_python_client(&["http", &server.url()], &[]);
    drop(server);
}

#[test]
fn python_sdk_over_stdio() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(dir.path());
    let bin = baton_bin();
    run_python_client(&["stdio", &bin.to_string_lossy(), &db], &[]);
}
