//! `cargo xtask release VERSION [--dry-run]`: everything a release needs, in order.
//!
//! 1. the tree is clean (git), and CHANGELOG.md has a `## [VERSION]` entry (a dry run accepts
//!    `## [Unreleased]` instead, and says so);
//! 2. the workspace version (and the version of baton's library crates in
//!    `[workspace.dependencies]`) becomes VERSION;
//! 3. `cargo xtask lint` and `cargo xtask test` (a dry run skips them unless `--checks`: they
//!    are what CI runs anyway, and take most of CI's time);
//! 4. the release binary (`cargo build --release`, the build `cargo xtask bench` makes too),
//!    a copy stripped with binutils' `strip`, packed as
//!    `target/dist/baton-VERSION-<target>.tar.gz` with `baton-VERSION-<target>.tar.gz.sha256`
//!    beside it, and the checksum verified (a dry run packs the work tree's binary, which
//!    carries the tree's version: rebuilding the copy would recompile every baton crate);
//! 5. `cargo package` of every library crate, in dependency order (cargo verifies each
//!    package builds from its own files, with the others overlaid as a local registry).
//!
//! A dry run does all this in a copy of the work tree (`target/release-dry-run/`), so the
//! tree is left as it was; only `target/dist/` and cargo's caches change. A real run bumps
//! the version in place and prints what is left to do by hand (commit, tag, `cargo publish`
//! in the order shown).

use std::{path::Path, process::Command};

use anyhow::{Context as _, bail, ensure};
use clap::Args;

use crate::helpers::{cargo_command, output_of, run_shown, target_dir, workspace_root};

/// baton's library crates, in dependency order: each comes after those it depends on.
pub const LIBRARY_CRATES: &[&str] = &[
    "baton-protocol",
    "baton-handle",
    "baton-store",
    "baton-store-sqlite",
    "baton-store-postgres",
    "baton-catalog",
];

/// `cargo xtask release` options.
#[derive(Args)]
pub struct ReleaseArgs {
    /// The version to release (semantic versioning: `1.2.3`, `1.2.3-rc.1`).
    version: String,
    /// Do everything in a copy of the tree; change nothing but `target/`.
    #[arg(long)]
    dry_run: bool,
    /// Run lint and tests in a dry run too.
    #[arg(long)]
    checks: bool,
    /// Release from a tree with uncommitted changes (dry runs only).
    #[arg(long)]
    allow_dirty: bool,
}

/// Checks `version` is `MAJOR.MINOR.PATCH` with an optional `-PRERELEASE` and `+BUILD`.
pub fn check_version(version: &str) -> anyhow::Result<()> {
    let (core, _build) = version.split_once('+').unwrap_or((version, ""));
    let (core, pre) = match core.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (core, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    let number_ok = |n: &&str| {
        !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && (n.len() == 1 || !n.starts_with('0'))
    };
    ensure!(
        numbers.len() == 3 && numbers.iter().all(number_ok),
        "version `{version}` is not MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]"
    );
    let ident_ok =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if let Some(pre) = pre {
        ensure!(
            pre.split('.').all(ident_ok),
            "version `{version}`: the pre-release part `{pre}` is not dot-separated [0-9A-Za-z-] identifiers"
        );
    }
    Ok(())
}

/// Which CHANGELOG.md heading covers `version`: `## [VERSION]` (or `## VERSION`), else, when
/// `accept_unreleased`, `## [Unreleased]`.
pub fn changelog_entry(
    changelog: &str,
    version: &str,
    accept_unreleased: bool,
) -> anyhow::Result<String> {
    let heading = |line: &str| -> Option<String> {
        let rest = line.strip_prefix("## ")?;
        let name = rest
            .split([' ', '\t'])
            .next()?
            .trim_start_matches('[')
            .trim_end_matches(']');
        Some(name.to_owned())
    };
    let headings: Vec<String> = changelog.lines().filter_map(heading).collect();
    if headings.iter().any(|h| h == version) {
        return Ok(version.to_owned());
    }
    if accept_unreleased
        && headings
            .iter()
            .any(|h| h.eq_ignore_ascii_case("unreleased"))
    {
        return Ok("Unreleased".to_owned());
    }
    bail!(
        "CHANGELOG.md has no entry for {version}: add a `## [{version}] - YYYY-MM-DD` section{}",
        if accept_unreleased {
            " (or keep an `## [Unreleased]` one for dry runs)"
        } else {
            ""
        }
    )
}

/// `Cargo.toml` with the workspace version, and the version of each library crate in
/// `[workspace.dependencies]`, set to `version`. Returns the new text and the old version.
pub fn bump_manifest(manifest: &str, version: &str) -> anyhow::Result<(String, String)> {
    let mut section = String::new();
    let mut old = None;
    let mut out = String::with_capacity(manifest.len() + 64);
    let mut bumped_deps = 0;
    for line in manifest.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed.to_owned();
        }
        if section == "[workspace.package]" && trimmed.starts_with("version") {
            let value = trimmed
                .split_once('=')
                .map(|(_, v)| v.trim().trim_matches('"').to_owned())
                .context("[workspace.package] version has no value")?;
            old = Some(value);
            out.push_str(&format!("version = \"{version}\"\n"));
            continue;
        }
        if section == "[workspace.dependencies]"
            && LIBRARY_CRATES
                .iter()
                .any(|c| trimmed.starts_with(&format!("{c} =")))
        {
            let old_version = old
                .as_deref()
                .context("[workspace.package] must come before [workspace.dependencies]")?;
            let from = format!("version = \"{old_version}\"");
            ensure!(
                line.contains(&from),
                "Cargo.toml: `{trimmed}` must carry {from} (the workspace version)"
            );
            out.push_str(&line.replace(&from, &format!("version = \"{version}\"")));
            bumped_deps += 1;
            continue;
        }
        out.push_str(line);
    }
    let old = old.context("Cargo.toml has no [workspace.package] version")?;
    ensure!(
        bumped_deps == LIBRARY_CRATES.len(),
        "Cargo.toml: {bumped_deps} of the {} library crates found in [workspace.dependencies]",
        LIBRARY_CRATES.len()
    );
    Ok((out, old))
}

/// The host target triple (`rustc -vV`).
fn host_target() -> anyhow::Result<String> {
    let info = output_of("rustc", &["-vV"]).context("cannot run `rustc -vV`")?;
    info.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("`rustc -vV` names no host")
}

/// Copies the files git knows of (tracked, and untracked but not ignored) from `root` to
/// `to`, keeping symbolic links as links.
fn copy_tree(root: &Path, to: &Path) -> anyhow::Result<usize> {
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .output()
        .context("cannot run git ls-files")?;
    ensure!(listed.status.success(), "git ls-files failed");
    if to.exists() {
        std::fs::remove_dir_all(to).with_context(|| format!("cannot empty {}", to.display()))?;
    }
    let mut copied = 0;
    for name in listed.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).context("a file name is not UTF-8")?;
        let from = root.join(name);
        let dest = to.join(name);
        let Ok(meta) = std::fs::symlink_metadata(&from) else {
            continue; // deleted in the work tree
        };
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &dest)?;
        } else {
            std::fs::copy(&from, &dest)
                .with_context(|| format!("cannot copy {}", from.display()))?;
        }
        copied += 1;
    }
    Ok(copied)
}

/// Runs `sha256sum` on `file` (in its folder) and returns its line.
fn sha256_line(file: &Path) -> anyhow::Result<String> {
    let dir = file.parent().context("no folder")?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .context("no name")?;
    let out = Command::new("sha256sum")
        .arg(name)
        .current_dir(dir)
        .output()
        .context("cannot run sha256sum")?;
    ensure!(out.status.success(), "sha256sum {name} failed");
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `cargo xtask release`.
pub fn run(args: ReleaseArgs) -> anyhow::Result<()> {
    let root = workspace_root()?;
    let version = args.version.as_str();
    check_version(version)?;
    ensure!(
        !args.allow_dirty || args.dry_run,
        "--allow-dirty is for dry runs only: a release is made from a committed tree"
    );

    // 1. A clean tree and a CHANGELOG entry.
    let status = output_of(
        "git",
        &["-C", root.to_str().unwrap_or("."), "status", "--porcelain"],
    )
    .context("cannot run `git status`: a release is made from a git work tree")?;
    if !status.is_empty() {
        ensure!(
            args.allow_dirty,
            "the work tree has uncommitted changes; commit or stash them first:\n{status}"
        );
        eprintln!("warning: releasing a dirty tree (--allow-dirty):\n{status}");
    }
    let changelog =
        std::fs::read_to_string(root.join("CHANGELOG.md")).context("cannot read CHANGELOG.md")?;
    let entry = changelog_entry(&changelog, version, args.dry_run)?;
    if entry != version {
        eprintln!("dry run: CHANGELOG.md has no [{version}] entry yet; using [{entry}]");
    }

    // 2. The version, in place or in a copy.
    let target = target_dir(&root);
    let tree = if args.dry_run {
        let copy = target.join("release-dry-run");
        let n = copy_tree(&root, &copy)?;
        eprintln!("dry run: copied {n} files to {}", copy.display());
        copy
    } else {
        root.clone()
    };
    let manifest_path = tree.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path)?;
    let (bumped, old) = bump_manifest(&manifest, version)?;
    std::fs::write(&manifest_path, bumped)?;
    eprintln!("version {old} -> {version} in {}", manifest_path.display());
    // Cargo.lock follows (the workspace's own packages only).
    run_shown(
        cargo_command()
            .args(["update", "--workspace", "--offline"])
            .current_dir(&tree)
            .env("CARGO_TARGET_DIR", &target),
    )?;

    // 3. Lint and tests.
    if args.dry_run && !args.checks {
        eprintln!("dry run: lint and tests skipped (CI runs them; pass --checks to run them here)");
    } else {
        for chore in ["lint", "test"] {
            run_shown(
                cargo_command()
                    .args(["xtask", chore])
                    .current_dir(&tree)
                    .env("CARGO_TARGET_DIR", &target),
            )?;
        }
    }

    // 4. The release binary (the build `cargo xtask bench` makes too, so after a bench this
    //    is a no-op), a stripped copy of it packed, and the checksum verified. Stripping a
    //    copy instead of building with `strip = "symbols"` keeps one release profile: that
    //    setting would rebuild every crate. A real release builds the bumped tree; a dry run
    //    builds the work tree (the copy's paths would rebuild every baton crate), so its
    //    binary carries the tree's version, not VERSION.
    let triple = host_target()?;
    let built_from = if args.dry_run { &root } else { &tree };
    run_shown(
        cargo_command()
            .args([
                "build",
                "--release",
                "--locked",
                "-p",
                "baton-server",
                "--bin",
                "baton",
            ])
            .current_dir(built_from)
            .env("CARGO_TARGET_DIR", &target),
    )?;
    let name = format!("baton-{version}-{triple}");
    let dist = target.join("dist");
    let stage = dist.join(&name);
    if stage.exists() {
        std::fs::remove_dir_all(&stage)?;
    }
    std::fs::create_dir_all(&stage)?;
    let binary = stage.join("baton");
    run_shown(
        Command::new("strip")
            .arg("--strip-all")
            .arg("-o")
            .arg(&binary)
            .arg(target.join("release").join("baton")),
    )
    .context("cannot strip the release binary (binutils' `strip`)")?;
    let binary_version = if args.dry_run { old.as_str() } else { version };
    let shown = Command::new(&binary)
        .arg("--version")
        .output()
        .context("the stripped binary does not run")?;
    let shown = String::from_utf8_lossy(&shown.stdout).trim().to_owned();
    ensure!(
        shown == format!("baton {binary_version}"),
        "the stripped binary says `{shown}`, expected `baton {binary_version}`"
    );
    if args.dry_run {
        eprintln!(
            "dry run: the packed binary is the work tree's ({shown}), not rebuilt at {version}"
        );
    }
    for file in ["README.md", "CHANGELOG.md"] {
        std::fs::copy(tree.join(file), stage.join(file))?;
    }
    let tarball = dist.join(format!("{name}.tar.gz"));
    run_shown(
        Command::new("tar")
            .args(["--owner=0", "--group=0", "--numeric-owner", "-czf"])
            .arg(&tarball)
            .arg(&name)
            .current_dir(&dist),
    )?;
    std::fs::remove_dir_all(&stage)?;
    let line = sha256_line(&tarball)?;
    let sums = dist.join(format!("{name}.tar.gz.sha256"));
    std::fs::write(&sums, format!("{line}\n"))?;
    run_shown(
        Command::new("sha256sum")
            .args(["--check", "--strict"])
            .arg(sums.file_name().context("no name")?)
            .current_dir(&dist),
    )?;
    let size = std::fs::metadata(&tarball)?.len();
    eprintln!("{} ({:.1} MiB)", tarball.display(), size as f64 / 1048576.0);

    // 5. Every library crate packaged, in dependency order.
    let mut package = cargo_command();
    package
        .args(["package", "--allow-dirty", "--locked"])
        .current_dir(&tree)
        .env("CARGO_TARGET_DIR", &target);
    for krate in LIBRARY_CRATES {
        package.args(["-p", krate]);
    }
    run_shown(&mut package)?;
    for krate in LIBRARY_CRATES {
        let file = target
            .join("package")
            .join(format!("{krate}-{version}.crate"));
        ensure!(file.exists(), "{} was not written", file.display());
    }

    println!(
        "release {version} ({}):",
        if args.dry_run { "dry run" } else { "ready" }
    );
    println!("  binary:   {}", tarball.display());
    println!("  sha256:   {line}");
    println!("  packages: {}", LIBRARY_CRATES.join(", "));
    if !args.dry_run {
        println!("next, by hand:");
        println!("  git commit -am 'baton {version}' && git tag v{version}");
        for krate in LIBRARY_CRATES {
            println!("  cargo publish -p {krate}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        for ok in [
            "0.0.0-test",
            "1.2.3",
            "10.0.1-rc.1",
            "1.0.0+build.5",
            "0.1.0-alpha-2",
        ] {
            check_version(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "1.2",
            "1.2.3.4",
            "01.2.3",
            "v1.2.3",
            "1.2.3-",
            "1.2.3-a..b",
            "",
        ] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn changelog_entries() {
        let text = "# Changelog\n\n## [Unreleased]\n\n- x\n\n## [0.2.0] - 2026-11-30\n\n## 0.1.0\n";
        assert_eq!(changelog_entry(text, "0.2.0", false).unwrap(), "0.2.0");
        assert_eq!(changelog_entry(text, "0.1.0", false).unwrap(), "0.1.0");
        assert_eq!(changelog_entry(text, "0.3.0", true).unwrap(), "Unreleased");
        let err = changelog_entry(text, "0.3.0", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no entry for 0.3.0"), "{err}");
        assert!(changelog_entry("## [0.2.0]\n", "0.2", false).is_err());
    }

    #[test]
    fn the_bump_changes_the_workspace_and_library_versions_only() {
        let manifest = "[workspace.package]\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace.dependencies]\n\
            baton-protocol = { path = \"crates/baton-protocol\", version = \"0.1.0\" }\n\
            baton-handle = { path = \"crates/baton-handle\", version = \"0.1.0\" }\n\
            baton-store = { path = \"crates/baton-store\", version = \"0.1.0\" }\n\
            baton-store-sqlite = { path = \"crates/baton-store-sqlite\", version = \"0.1.0\" }\n\
            baton-store-postgres = { path = \"crates/baton-store-postgres\", version = \"0.1.0\" }\n\
            baton-catalog = { path = \"crates/baton-catalog\", version = \"0.1.0\" }\n\
            baton-devtools = { path = \"crates/baton-devtools\" }\n\
            rmcp = { version = \"0.1.0\" }\n";
        let (bumped, old) = bump_manifest(manifest, "0.2.0-rc.1").unwrap();
        assert_eq!(old, "0.1.0");
        assert_eq!(bumped.matches("\"0.2.0-rc.1\"").count(), 7, "{bumped}");
        assert!(
            bumped.contains("rmcp = { version = \"0.1.0\" }"),
            "{bumped}"
        );
        assert!(bumped.contains("edition = \"2024\""));
        // A library crate without the workspace version is an error naming it.
        let stale = manifest.replace(
            "baton-catalog = { path = \"crates/baton-catalog\", version = \"0.1.0\" }",
            "baton-catalog = { path = \"crates/baton-catalog\" }",
        );
        let err = bump_manifest(&stale, "0.2.0").unwrap_err().to_string();
        assert!(err.contains("baton-catalog"), "{err}");
    }

    #[test]
    fn the_real_manifest_bumps() {
        let root = workspace_root().unwrap();
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let (bumped, old) = bump_manifest(&manifest, "9.9.9").unwrap();
        assert_ne!(old, "9.9.9");
        assert_eq!(
            bumped.matches("\"9.9.9\"").count(),
            1 + LIBRARY_CRATES.len()
        );
    }
}
