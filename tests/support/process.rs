//! Child processes: one runner for commands that finish, one guard for those that keep
//! running (killed when dropped, so a failing test leaves nothing behind).

use std::{
    ffi::OsStr,
    process::{Child, Command, ExitStatus},
    time::{Duration, Instant},
};

/// What a finished command printed, and how it ended.
#[derive(Debug)]
pub struct Captured {
    /// How it exited.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Captured {
    /// The exit code, or -1 when a signal ended it.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }
}

/// `program arg arg…`, for messages.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` to its end and captures its output, whatever its exit status; fails only when
/// it cannot be started.
pub fn capture(cmd: &mut Command) -> Result<Captured, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(cmd)))?;
    Ok(Captured {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Runs `cmd`, which must succeed; returns its standard output. The error names the command,
/// its exit status and everything it printed.
pub fn run(cmd: &mut Command) -> Result<String, String> {
    let out = capture(cmd)?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "`{}` failed ({}):\n{}{}",
            describe(cmd),
            out.status,
            out.stdout,
            out.stderr
        ))
    }
}

/// Sends SIGTERM to process `pid`.
pub fn send_sigterm(pid: u32) -> Result<(), String> {
    run(Command::new("kill").args(["-TERM", &pid.to_string()])).map(drop)
}

/// A running child process, killed (SIGKILL) and reaped when dropped unless it already
/// exited.
pub struct ChildGuard {
    child: Child,
    exited: Option<ExitStatus>,
}

impl ChildGuard {
    /// Starts `cmd`.
    pub fn spawn(cmd: &mut Command) -> Result<ChildGuard, String> {
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start `{}`: {e}", describe(cmd)))?;
        Ok(ChildGuard {
            child,
            exited: None,
        })
    }

    /// The process, e.g. to take its pipes.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status, if it has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        self.exited
    }

    /// Sends SIGTERM (without waiting).
    pub fn sigterm(&self) {
        if let Err(e) = send_sigterm(self.child.id()) {
            eprintln!("warning: {e}");
        }
    }

    /// Waits up to `within` for it to exit; returns its status, or `None` if it is still
    /// running.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits up to `within` for it to exit.
    pub fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.exit_status() {
            return Some(status);
        }
        self.sigterm();
        self.wait_exit(within)
    }

    /// SIGKILLs it (if still running) and reaps it.
    pub fn kill(&mut self) {
        if self.exit_status().is_none() {
            let _ = self.child.kill();
            self.exited = self.child.wait().ok();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_reports_the_command_and_its_output() {
        assert_eq!(
            run(Command::new("sh").args(["-c", "echo hi"])),
            Ok("hi\n".into())
        );
        let e = run(Command::new("sh").args(["-c", "echo oops >&2; exit 3"])).unwrap_err();
        assert!(e.starts_with("`sh -c echo oops >&2; exit 3` failed"), "{e}");
        assert!(e.contains("oops"), "{e}");
        let e = run(&mut Command::new("/nonexistent/program")).unwrap_err();
        assert!(e.starts_with("cannot start `/nonexistent/program`"), "{e}");
    }

    #[test]
    fn a_guard_kills_its_child() {
        let mut guard = ChildGuard::spawn(Command::new("sleep").arg("600")).unwrap();
        assert_eq!(guard.exit_status(), None);
        let status = guard
            .terminate(Duration::from_secs(30))
            .expect("sleep ends on SIGTERM");
        assert!(!status.success());
    }
}
