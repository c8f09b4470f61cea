//! The dependency checks of `cargo xtask lint`: the declared MSRV, and cargo-deny.
//!
//! **MSRV.** `rust-version` in `[workspace.package]` is a promise. Two checks keep it:
//! 1. no package in Cargo.lock (with every feature) declares a higher `rust-version`
//!    (`cargo metadata`): a dependency that needs a newer compiler fails the lint by name;
//! 2. the shipped code (the `baton` binary and the library crates, every feature) compiles
//!    with that exact toolchain (`cargo +1.88 check`), when rustup has it: `.ci/run` installs
//!    it, so under CI it is required; elsewhere its absence is reported, not hidden.
//!
//! Check 1 trusts what dependencies declare (a crate may declare none, or too low a one);
//! check 2 does not, but covers only what it compiles (not the tests, benches or xtask).
//!
//! **The fuzz lock.** `fuzz/` is a workspace of its own (cargo-fuzz builds it apart), with its
//! own Cargo.lock. A lock that no longer matches the crates it builds is rewritten by the fuzz
//! build, which leaves the tree dirty, and the release dry run refuses a dirty tree: the lint
//! catches it first (`cargo metadata --locked` on `fuzz/Cargo.toml`).
//!
//! **cargo-deny** (`deny.toml`): licenses, bans and sources always (they need only
//! Cargo.lock); advisories when the RustSec database can be fetched (a git clone from
//! GitHub), else the lint says that they were not checked and why.

use std::{process::Command, time::Duration};

use anyhow::{Context as _, bail};

use crate::{
    helpers::{cargo_command, ci_is_set, run_captured, run_shown, workspace_root},
    release::LIBRARY_CRATES,
};

/// A `MAJOR.MINOR[.PATCH]` rust-version as a comparable triple.
pub fn parse_rust_version(v: &str) -> anyhow::Result<(u64, u64, u64)> {
    let mut parts = v.trim().split('.');
    let mut next = |required: bool| -> anyhow::Result<u64> {
        match parts.next() {
            Some(n) => n
                .parse()
                .with_context(|| format!("rust-version `{v}` is not MAJOR.MINOR[.PATCH]")),
            None if required => bail!("rust-version `{v}` is not MAJOR.MINOR[.PATCH]"),
            None => Ok(0),
        }
    };
    let version = (next(true)?, next(true)?, next(false)?);
    anyhow::ensure!(
        parts.next().is_none(),
        "rust-version `{v}` is not MAJOR.MINOR[.PATCH]"
    );
    Ok(version)
}

/// The packages of `metadata` (`cargo metadata` JSON) that declare a rust-version above the
/// workspace's, as `name version (rust-version)`, and the workspace's rust-version.
pub fn above_msrv(metadata: &serde_json::Value) -> anyhow::Result<(String, Vec<String>)> {
    let packages = metadata["packages"]
        .as_array()
        .context("cargo metadata: no packages")?;
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .context("cargo metadata: no workspace_members")?
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    let ours: Vec<&str> = packages
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(&id)))
        .filter_map(|p| p["rust_version"].as_str())
        .collect();
    let msrv = ours
        .first()
        .context("no workspace member declares a rust-version")?
        .to_string();
    if let Some(other) = ours.iter().find(|v| **v != msrv) {
        bail!("workspace members declare different rust-versions ({msrv} and {other})");
    }
    let limit = parse_rust_version(&msrv)?;
    let mut above = Vec::new();
    for p in packages {
        let Some(v) = p["rust_version"].as_str() else {
            continue;
        };
        if parse_rust_version(v)? > limit {
            above.push(format!(
                "{} {} (rust-version {v})",
                p["name"].as_str().unwrap_or("?"),
                p["version"].as_str().unwrap_or("?")
            ));
        }
    }
    Ok((msrv, above))
}

/// Whether rustup has `toolchain` installed.
fn has_toolchain(toolchain: &str) -> bool {
    Command::new("rustup")
        .args(["run", toolchain, "rustc", "--version"])
        .env("RUSTUP_AUTO_INSTALL", "0")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The output of `cargo metadata --format-version 1 --locked EXTRA…` in the workspace root.
/// Not `--offline`: it reads the metadata of every platform's and feature's packages, and a
/// fresh machine has downloaded only what its builds needed.
fn cargo_metadata_locked(extra: &[&str]) -> anyhow::Result<String> {
    let mut cmd = cargo_command();
    cmd.current_dir(workspace_root()?)
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(extra);
    Ok(run_captured(&mut cmd, Duration::from_secs(300))?.stdout)
}

/// `cargo metadata` of the workspace as locked, every feature on.
fn locked_metadata() -> anyhow::Result<serde_json::Value> {
    let out = cargo_metadata_locked(&["--all-features"])?;
    serde_json::from_str(&out).context("cargo metadata printed no JSON")
}

/// Fails when `fuzz/Cargo.lock` does not match what `fuzz/Cargo.toml` resolves to today.
pub fn fuzz_lock() -> anyhow::Result<()> {
    cargo_metadata_locked(&["--manifest-path", "fuzz/Cargo.toml"]).map_err(|e| {
        anyhow::anyhow!(
            "fuzz/Cargo.lock is out of date (a dependency of the fuzzed crates changed): update it \
             with `cargo metadata --manifest-path fuzz/Cargo.toml --format-version 1 >/dev/null` \
             and commit it\n{e}"
        )
    })?;
    eprintln!("fuzz: fuzz/Cargo.lock is current");
    Ok(())
}

/// The MSRV checks (see the module's documentation).
pub fn msrv() -> anyhow::Result<()> {
    let (msrv, above) = above_msrv(&locked_metadata()?)?;
    if !above.is_empty() {
        bail!(
            "the workspace declares rust-version {msrv}, but these locked dependencies need a newer Rust:\n  {}\n\
             raise rust-version in Cargo.toml, or pin older versions (`cargo update -p NAME --precise VERSION`)",
            above.join("\n  ")
        );
    }
    eprintln!("msrv: no locked dependency declares a rust-version above {msrv}");

    if !has_toolchain(&msrv) {
        let why = format!(
            "msrv: the Rust {msrv} toolchain is not installed, so the code was not compiled with it \
             (`rustup toolchain install {msrv} --profile minimal`; .ci/run installs it)"
        );
        if ci_is_set() {
            bail!("{why}");
        }
        eprintln!("warning: {why}");
        return Ok(());
    }
    // `cargo +VERSION` is rustup's proxy: `cargo` from PATH, not `$CARGO` (this toolchain's).
    let mut check = Command::new("cargo");
    check
        .current_dir(workspace_root()?)
        .args([
            &format!("+{msrv}"),
            "check",
            "--locked",
            "--all-features",
            "-p",
            "baton-server",
        ])
        .env_remove("RUSTC")
        .env_remove("CARGO");
    for krate in LIBRARY_CRATES {
        check.args(["-p", krate]);
    }
    run_shown(&mut check)
}

/// The cargo-deny checks (see the module's documentation).
pub fn deny() -> anyhow::Result<()> {
    let installed = cargo_command()
        .args(["deny", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        bail!(
            "cargo-deny is not installed: `cargo install --locked cargo-deny` (.ci/run installs it)"
        );
    }
    // Licenses, bans and sources: from Cargo.lock and the fetched crates alone.
    run_shown(cargo_command().args(["deny", "--offline", "check", "licenses", "bans", "sources"]))?;
    // Advisories: only with the RustSec database, which is a git clone from GitHub.
    let mut fetch = cargo_command();
    fetch
        .current_dir(workspace_root()?)
        .args(["deny", "fetch", "db"]);
    match run_captured(&mut fetch, Duration::from_secs(120)) {
        Ok(_) => run_shown(cargo_command().args(["deny", "--offline", "check", "advisories"])),
        Err(e) => {
            let reason = e.to_string();
            let reason = reason
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            eprintln!(
                "cargo deny: advisories NOT checked: the RustSec advisory database \
                 (https://github.com/rustsec/advisory-db) cannot be fetched from this machine \
                 ({}). Licenses, bans and sources were checked.",
                reason.trim()
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rust_versions_compare_as_numbers() {
        assert_eq!(parse_rust_version("1.88").unwrap(), (1, 88, 0));
        assert_eq!(parse_rust_version("1.88.1").unwrap(), (1, 88, 1));
        assert!(parse_rust_version("1.100").unwrap() > parse_rust_version("1.99.9").unwrap());
        for bad in ["1", "1.x", "1.88.0.1", ""] {
            assert!(parse_rust_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dependencies_above_the_workspace_msrv_are_named() {
        let metadata = json!({
            "workspace_members": ["a 0.1.0"],
            "packages": [
                {"id": "a 0.1.0", "name": "a", "version": "0.1.0", "rust_version": "1.88"},
                {"id": "b", "name": "b", "version": "1.0.0", "rust_version": "1.88.0"},
                {"id": "c", "name": "c", "version": "2.0.0", "rust_version": "1.89"},
                {"id": "d", "name": "d", "version": "3.0.0", "rust_version": null},
            ]
        });
        let (msrv, above) = above_msrv(&metadata).unwrap();
        assert_eq!(msrv, "1.88");
        assert_eq!(above, ["c 2.0.0 (rust-version 1.89)"]);
    }

    /// The real lock file keeps the promise (what `cargo xtask lint` enforces).
    #[test]
    fn the_locked_dependencies_fit_the_declared_msrv() {
        let (_, above) = above_msrv(&locked_metadata().unwrap()).unwrap();
        assert!(above.is_empty(), "{above:?}");
    }
}
