//! `--config baton.toml` end to end: precedence flag > environment > file > default, shown
//! by `baton config check` (which redacts secrets); bad files are refused naming the key;
//! and `baton serve` runs with what the file says.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::{path::Path, process::Command, time::Duration};

use baton_devtools::{Captured, run_to_end};
use baton_e2e::support::{
    http::{self, free_port},
    server::{COMMAND_WITHIN, Server, baton_bin},
};

/// Runs `baton ARGS…` with exactly the `BATON_*` variables of `env`.
fn baton(args: &[&str], env: &[(&str, &str)]) -> Captured {
    let mut cmd = Command::new(baton_bin());
    cmd.args(args).env("RUST_LOG", "warn");
    for (name, _) in std::env::vars() {
        if name.starts_with("BATON_") {
            cmd.env_remove(name);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_to_end(&mut cmd, COMMAND_WITHIN).unwrap_or_else(|e| panic!("{e}"))
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The line of `key` in `baton config check`'s output.
fn line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no `{key}` in:\n{out}"))
}

#[test]
fn precedence_is_flag_then_environment_then_file_then_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "baton.toml",
        r#"
request-timeout = "20s"        # also set by the environment and a flag
idle-ttl = "2h"                # also set by the environment
max-findings-per-call = 50     # the file alone
any-host = true
allowed-origins = ["https://a.example", "https://b.example"]
database-url = "postgres://app:s3cret@db.example/baton"
handle-keys = ["1:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"]
log-format = "json"
"#,
    );
    let out = baton(
        &[
            "config",
            "check",
            "--config",
            &file,
            "--request-timeout",
            "9s",
        ],
        &[("BATON_REQUEST_TIMEOUT", "7s"), ("BATON_IDLE_TTL", "3h")],
    );
    assert!(out.status.success(), "{}", out.stderr);
    let text = &out.stdout;
    assert!(
        text.starts_with("# baton configuration: valid (file "),
        "{text}"
    );
    assert_eq!(
        line(text, "request-timeout"),
        r#"request-timeout = "9s"  # flag"#
    );
    assert_eq!(
        line(text, "idle-ttl"),
        r#"idle-ttl = "3h"  # env BATON_IDLE_TTL"#
    );
    assert_eq!(
        line(text, "max-findings-per-call"),
        "max-findings-per-call = 50  # file"
    );
    assert_eq!(line(text, "any-host"), "any-host = true  # file");
    assert_eq!(
        line(text, "allowed-origins"),
        r#"allowed-origins = ["https://a.example", "https://b.example"]  # file"#
    );
    assert_eq!(line(text, "log-format"), r#"log-format = "json"  # file"#);
    assert_eq!(
        line(text, "max-findings-per-task"),
        "max-findings-per-task = 10000  # default"
    );
    // Secrets: the handle key entirely, the database password.
    assert_eq!(
        line(text, "database-url"),
        r#"database-url = "postgres://app:***@db.example/baton"  # file"#
    );
    assert_eq!(
        line(text, "handle-keys"),
        r#"handle-keys = "<redacted>"  # file"#
    );
    assert!(
        !text.contains("s3cret") && !text.contains("c2VjcmV0"),
        "{text}"
    );

    // The output is itself a configuration file that gives the same configuration.
    let again = write(
        dir.path(),
        "effective.toml",
        &text.replace(
            "<redacted>",
            "1:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA",
        ),
    );
    let second = baton(&["config", "check", "--config", &again], &[]);
    assert!(second.status.success(), "{}", second.stderr);
    assert_eq!(
        line(&second.stdout, "request-timeout"),
        r#"request-timeout = "9s"  # file"#
    );
    assert_eq!(
        line(&second.stdout, "idle-ttl"),
        r#"idle-ttl = "3h"  # file"#
    );

    // BATON_CONFIG names the file too.
    let by_env = baton(&["config", "check"], &[("BATON_CONFIG", &file)]);
    assert!(by_env.status.success(), "{}", by_env.stderr);
    assert_eq!(
        line(&by_env.stdout, "request-timeout"),
        r#"request-timeout = "20s"  # file"#
    );
}

#[test]
fn bad_files_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (text, expected) in [
        ("lisen = \"127.0.0.1:1\"\n", "unknown key `lisen`"),
        ("listen = \"nope\"\n", "invalid value 'nope' for '--listen"),
        (
            "any-host = \"yes\"\n",
            "key `any-host`: expected true or false",
        ),
        (
            "request-timeout = \"0s\"\n",
            "--request-timeout 0s is too short",
        ),
        ("listen = [\n", "is not valid TOML"),
    ] {
        let file = write(dir.path(), "bad.toml", text);
        let out = baton(&["config", "check", "--config", &file], &[]);
        assert!(
            !out.status.success(),
            "{text} was accepted:\n{}",
            out.stdout
        );
        assert!(out.stderr.contains(expected), "{text}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{text}: {}", out.stdout);
        // `baton serve` refuses it alike, before doing anything.
        let serve = baton(&["serve", "--config", &file], &[]);
        assert!(!serve.status.success(), "{text}");
        assert!(serve.stderr.contains(expected), "{text}: {}", serve.stderr);
    }
    let missing = baton(
        &["config", "check", "--config", "/nonexistent/baton.toml"],
        &[],
    );
    assert!(!missing.status.success());
    assert!(
        missing
            .stderr
            .contains("cannot read the configuration file /nonexistent/baton.toml")
    );
}

#[tokio::test]
async fn serve_runs_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = format!("127.0.0.1:{}", free_port());
    let db = format!("sqlite://{}", dir.path().join("baton.db").display());
    let file = write(
        dir.path(),
        "baton.toml",
        &format!("database-url = \"{db}\"\nmetrics-listen = \"{metrics}\"\n"),
    );
    let server = Server::start(&["--config", &file]);
    // `metrics-listen` from the file: /metrics is there, and not on --listen.
    let client = http::client(Duration::from_secs(10));
    let there = client
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(there.status().as_u16(), 200);
    let main = client
        .get(server.http_url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(main.status().as_u16(), 404);
    assert!(
        dir.path().join("baton.db").exists(),
        "database-url from the file"
    );
}
