//! End-to-end tests for baton: start the real `baton` binary, talk to it with real MCP
//! clients, and check what it promises. The tests are in `tests/`; what they share is in
//! [`support`].
//!
//! A test whose prerequisite (Postgres, nginx, a registry for a third-party client) is
//! missing fails when `CI` is set, and otherwise prints `BATON-SKIP: <test>: <reason>` on
//! stderr and returns (see [`support::ci`] and [`baton_devtools::skip_or_fail`]).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

pub mod support;
