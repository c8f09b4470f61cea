//! Everything the end-to-end tests share, one module per job, each helper defined once:
//!
//! - [`server`]: start the real `baton` binary ([`server::Server`]), read its logs, stop it.
//! - [`mcp`]: rmcp clients in each protocol era, and the research-task lifecycle.
//! - [`http`]: raw HTTP requests and probes; [`rpc`]: a raw, stateless JSON-RPC client for
//!   load loops and races.
//! - [`net`]: raw TCP from a chosen loopback address: requests in pieces, closes watched.
//! - [`handle`]: read a handle's public header (its key id).
//! - [`sqlite`]: read a server's SQLite file from outside, or hold its write lock;
//!   [`held`]: a request held in flight behind that lock.
//! - [`postgres`], [`nginx`], [`db_proxy`], [`fleet`]: several instances on one Postgres
//!   database behind nginx; [`redis`]: the same fleet on Redis (a prefix of the machine's,
//!   a cluster, or a `redis-server` of the test's own).
//! - [`installs`]: which third-party clients to install (PyPI, npm), or skip;
//!   [`clients`]: the Python SDK client and the Inspector CLI, run against a server.
//! - [`auth`]: API keys (`baton token …`), the oidc-provider authorization server, forged
//!   tokens, and the check that logs hold no secret.
//! - [`ci`]: skipping a test whose prerequisite is missing; [`wait`]: waiting on conditions
//!   with deadlines.
//!
//! The development-setup facts (the CI rule, the skip marker, the cache folder, the child
//! guard, the command runner, pinned installs, the test Postgres URL, the oidc-provider
//! authorization server) come from [`baton_devtools`], shared with xtask and the crates'
//! own tests.

pub mod auth;
pub mod ci;
pub mod clients;
pub mod db_proxy;
pub mod fleet;
pub mod handle;
pub mod held;
pub mod http;
pub mod installs;
pub mod mcp;
pub mod net;
pub mod nginx;
pub mod postgres;
pub mod redis;
pub mod rpc;
pub mod server;
pub mod sqlite;
pub mod wait;
