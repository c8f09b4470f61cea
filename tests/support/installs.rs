//! The real third-party clients and services the end-to-end tests drive: the official Python
//! SDK (PyPI `mcp`), the MCP Inspector CLI (npm) and the oidc-provider authorization server
//! (npm). Installing them is [`baton_devtools`]' job (pinned, into the cache folder, never
//! into the repository); this module names what to install and skips the current test
//! through [`ci::skip`] when an install fails (a failure under CI).

use std::{
    fmt::Display,
    fs,
    path::{Path, PathBuf},
};

use super::ci;

/// The folder of this crate's client scripts (`tests/clients`).
pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// The installed thing, or (when `installed` failed) a skip of the current test: see
/// [`ci::skip`]. Use as `let Some(x) = or_skip("the MCP Inspector", npm_package(…)) else { return };`.
pub fn or_skip<T, E: Display>(what: &str, installed: Result<T, E>) -> Option<T> {
    installed.map_or_else(
        |e| {
            ci::skip(&format!(
                "{what} could not be installed (no registry access?): {e}"
            ))
        },
        Some,
    )
}

/// The Python interpreter of a venv with the official MCP Python SDK, pinned by
/// `tests/clients/python/requirements.txt`.
pub fn python_sdk() -> Result<PathBuf, String> {
    let reqs = fs::read_to_string(clients_dir().join("python/requirements.txt"))
        .map_err(|e| e.to_string())?;
    let bin = baton_devtools::venv("python-client-venv", &reqs).map_err(|e| e.to_string())?;
    Ok(bin.join("python"))
}
