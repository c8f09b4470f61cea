//! What every chore needs: the workspace folders, running cargo and other commands with a
//! clear error, and (re-exported from `baton-devtools`, shared with the end-to-end tests) the
//! CI rule, the child guard and the test Postgres URL. The cache folder and the pinned
//! npm/PyPI installs are used straight from `baton-devtools`.

use std::{
    ffi::OsStr,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context as _, bail};
pub use baton_devtools::{ChildGuard, ci_is_set, describe, test_postgres_url};

/// The workspace root (the folder above `xtask/`).
pub fn workspace_root() -> anyhow::Result<PathBuf> {
    Ok(Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has no parent folder")?
        .to_path_buf())
}

/// Cargo's target folder: `$CARGO_TARGET_DIR` (relative to the root), else `<root>/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root.join(p) })
        .unwrap_or_else(|| root.join("target"))
}

/// The cargo that runs this xtask (`$CARGO`), else `cargo` from `PATH`.
pub fn cargo_command() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs `cargo ARGS` in the workspace root with the terminal's output, failing on a
/// non-zero exit.
pub fn cargo(args: &[&str]) -> anyhow::Result<()> {
    run_shown(cargo_command().args(args))
}

/// Runs `cmd` in the workspace root (unless it has a folder already) with the terminal's
/// output, announcing it and its duration; an unsuccessful exit is an error naming the
/// command, its folder and its status.
pub fn run_shown(cmd: &mut Command) -> anyhow::Result<()> {
    if cmd.get_current_dir().is_none() {
        cmd.current_dir(workspace_root()?);
    }
    let shown = describe(cmd);
    eprintln!("\n==> {shown}");
    let started = Instant::now();
    let status = cmd
        .status()
        .with_context(|| format!("cannot start `{shown}`"))?;
    eprintln!("<== {:.1}s {shown}", started.elapsed().as_secs_f64());
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` to completion within `limit`, capturing its output; see
/// [`baton_devtools::run_captured`].
pub fn run_captured(
    cmd: &mut Command,
    limit: Duration,
) -> anyhow::Result<baton_devtools::Captured> {
    Ok(baton_devtools::run_captured(cmd, limit)?)
}

/// The trimmed standard output of `program args`, or `None` if it did not run or failed
/// (for optional facts such as the git commit).
pub fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `cmd` run through `prefix` (a program and its arguments: `nice -n 19`, a valgrind
/// command line): the same program, arguments, environment and folder, after the prefix.
pub fn wrapped<S: AsRef<OsStr>>(prefix: &[S], cmd: &Command) -> Option<Command> {
    let (program, args) = prefix.split_first()?;
    let mut wrapped = Command::new(program);
    wrapped
        .args(args)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (name, value) in cmd.get_envs() {
        match value {
            Some(value) => wrapped.env(name, value),
            None => wrapped.env_remove(name),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    Some(wrapped)
}

/// A build started early at the lowest CPU priority, so that it uses the cores the steps
/// running meanwhile leave idle (suites waiting on servers and clients, one-core fuzzing);
/// the step that needs its output then finds the build done, or waits for the rest of it.
/// Dropping it before [`BackgroundBuild::finish`] (an error in a step meanwhile) kills the
/// process it started and every process below it: the cargo that `nice` or the xtask it
/// runs started, and cargo's compilers ([`ChildGuard::kill_tree`]).
pub struct BackgroundBuild {
    what: &'static str,
    child: ChildGuard,
    log: PathBuf,
}

impl BackgroundBuild {
    /// Starts `cmd` under `nice -n 19` (in the workspace root when `cmd` has no folder), its
    /// output in `log`. `what` names the build in messages ("the fuzz targets").
    pub fn start(what: &'static str, cmd: &Command, log: PathBuf) -> anyhow::Result<Self> {
        if let Some(dir) = log.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let out = fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut niced = wrapped(&["nice", "-n", "19"], cmd).context("a non-empty prefix")?;
        if cmd.get_current_dir().is_none() {
            niced.current_dir(workspace_root()?);
        }
        niced
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let child = ChildGuard::spawn(&mut niced)?;
        eprintln!(
            "==> building {what} in the background at low priority (log: {})",
            log.display()
        );
        Ok(BackgroundBuild { what, child, log })
    }

    /// Waits for the build; a failed build is an error that shows the end of its log.
    pub fn finish(mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        let status = self
            .child
            .wait()
            .with_context(|| format!("waiting for the build of {}", self.what))?;
        eprintln!(
            "<== background build of {} done ({status}; waited {:.0}s for it)",
            self.what,
            started.elapsed().as_secs_f64()
        );
        if !status.success() {
            let text = fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("{}", lines[lines.len().saturating_sub(40)..].join("\n"));
            bail!(
                "building {} failed (log: {})",
                self.what,
                self.log.display()
            );
        }
        Ok(())
    }
}

impl Drop for BackgroundBuild {
    fn drop(&mut self) {
        // Nothing left after `finish`, which waited for the build.
        self.child.kill_tree();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_keeps_program_args_environment_and_folder() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "exit 0"])
            .env("BATON_WRAPPED", "1")
            .env_remove("BATON_GONE")
            .current_dir("/tmp");
        let w = wrapped(&["nice", "-n", "19"], &cmd).expect("a prefix");
        assert_eq!(w.get_program(), "nice");
        let args: Vec<&OsStr> = w.get_args().collect();
        assert_eq!(args, ["-n", "19", "sh", "-c", "exit 0"]);
        let envs: Vec<_> = w.get_envs().collect();
        assert!(envs.contains(&(OsStr::new("BATON_WRAPPED"), Some(OsStr::new("1")))));
        assert!(envs.contains(&(OsStr::new("BATON_GONE"), None)));
        assert_eq!(w.get_current_dir(), Some(Path::new("/tmp")));
        assert!(wrapped::<&str>(&[], &cmd).is_none());
    }

    /// A unique log path under the target folder (no temp-dir crate in xtask).
    fn log_path(name: &str) -> PathBuf {
        let root = workspace_root().expect("workspace root");
        target_dir(&root)
            .join("xtask-tests")
            .join(format!("{name}-{}.log", std::process::id()))
    }

    #[test]
    fn a_background_build_reports_its_status_and_log() -> anyhow::Result<()> {
        let mut ok = Command::new("sh");
        ok.args(["-c", "echo built"]);
        BackgroundBuild::start("a passing build", &ok, log_path("ok"))?.finish()?;
        assert_eq!(fs::read_to_string(log_path("ok"))?, "built\n");

        let mut failing = Command::new("sh");
        failing.args(["-c", "echo broken >&2; exit 3"]);
        let err = BackgroundBuild::start("a failing build", &failing, log_path("failing"))?
            .finish()
            .expect_err("exit 3 is a failure");
        assert!(
            err.to_string()
                .starts_with("building a failing build failed (log: "),
            "{err}"
        );
        Ok(())
    }

    #[test]
    fn dropping_a_background_build_stops_it_and_what_it_started() -> anyhow::Result<()> {
        // A build tool and its compiler: `sh` (run through `nice`) and its `sleep`.
        let mut slow = Command::new("sh");
        slow.args(["-c", "sleep 60 & echo $!; wait"]);
        let log = log_path("slow");
        let build = BackgroundBuild::start("a slow build", &slow, log.clone())?;
        let pid = build.child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        let compiler: u32 = loop {
            if let Ok(Ok(pid)) = fs::read_to_string(&log).map(|text| text.trim().parse()) {
                break pid;
            }
            anyhow::ensure!(Instant::now() < deadline, "no pid in {}", log.display());
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(!baton_devtools::has_ended(compiler));
        drop(build);
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
        // Killed; its new parent may take a moment to reap it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !baton_devtools::has_ended(compiler) {
            anyhow::ensure!(Instant::now() < deadline, "the build's `sleep` still runs");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}
