//! Child processes: a guard that kills on drop, and commands run to completion within a
//! time bound, with errors that say what ran, where, and how it ended.

use std::{
    io::Read,
    ops::{Deref, DerefMut},
    process::{Child, Command, ExitStatus, Stdio},
    thread,
    time::{Duration, Instant},
};

use crate::{Error, ErrorKind};

/// How many lines of each output stream an [`ErrorKind::Exit`] keeps.
const TAIL_LINES: usize = 20;

/// A child process that is killed and reaped when the guard is dropped, so every exit path
/// (an error, a panic in a test) cleans up.
///
/// It dereferences to the [`Child`], so `guard.stdout.take()` or `guard.try_wait()` work
/// as on the child itself.
///
/// ```
/// use std::process::Command;
/// use baton_devtools::ChildGuard;
///
/// let mut sleeper = ChildGuard::spawn(Command::new("sleep").arg("60"))?;
/// assert!(sleeper.try_wait()?.is_none(), "still running");
/// let pid = sleeper.id();
/// drop(sleeper); // killed and reaped here
/// assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
}

impl ChildGuard {
    /// Starts `cmd`; the error names the command and the folder it was to run in.
    pub fn spawn(cmd: &mut Command) -> Result<ChildGuard, Error> {
        cmd.spawn().map(ChildGuard::new).map_err(|e| {
            Error::new(ErrorKind::Spawn {
                command: describe(cmd),
                reason: e.to_string(),
            })
        })
    }

    /// Guards a child started elsewhere.
    pub fn new(child: Child) -> ChildGuard {
        ChildGuard { child }
    }

    /// Asks the process to stop with SIGTERM (through the `kill` command: this workspace
    /// forbids `unsafe`), as a service manager would; the guard still kills it when dropped.
    pub fn terminate(&self) -> Result<(), Error> {
        let pid = self.child.id().to_string();
        let mut kill = Command::new("kill");
        kill.args(["-TERM", &pid]);
        run_captured(&mut kill, Duration::from_secs(10)).map(drop)
    }

    /// Waits up to `limit` for the process to exit; its status, or `None` when it is still
    /// running then (or its status cannot be read).
    ///
    /// ```
    /// use std::{process::Command, time::Duration};
    /// use baton_devtools::ChildGuard;
    ///
    /// let mut quick = ChildGuard::spawn(Command::new("sh").args(["-c", "exit 4"]))?;
    /// assert_eq!(quick.wait_within(Duration::from_secs(30)).and_then(|s| s.code()), Some(4));
    /// let mut slow = ChildGuard::spawn(Command::new("sleep").arg("60"))?;
    /// assert_eq!(slow.wait_within(Duration::from_millis(100)), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Asks the process to stop ([`terminate`](Self::terminate), unless it already exited)
    /// and waits up to `limit` for it ([`wait_within`](Self::wait_within)); its status, or
    /// `None` when it still runs (the guard kills it when dropped).
    ///
    /// ```
    /// use std::{process::Command, time::Duration};
    /// use baton_devtools::ChildGuard;
    ///
    /// let mut sleeper = ChildGuard::spawn(Command::new("sleep").arg("60"))?;
    /// let status = sleeper.stop(Duration::from_secs(30)).expect("sleep ends on SIGTERM");
    /// assert!(!status.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stop(&mut self, limit: Duration) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        // A failure to signal means it exited meanwhile: the wait below tells.
        let _ = self.terminate();
        self.wait_within(limit)
    }
}

impl Deref for ChildGuard {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.child
    }
}

impl DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl ChildGuard {
    /// Kills the process and every process below it (its children, theirs, …: the compilers
    /// of a build tool), then reaps it. The tree is read from `/proc` (Linux; elsewhere only
    /// the process itself is killed): first the tree, then the process, so that it starts no
    /// more, then the rest. A process started between the reading and the killing runs on.
    ///
    /// ```
    /// use std::io::{BufRead, BufReader};
    /// use std::process::{Command, Stdio};
    /// use baton_devtools::ChildGuard;
    ///
    /// let mut shell = ChildGuard::spawn(
    ///     Command::new("sh")
    ///         .args(["-c", "sleep 60 & echo started; wait"])
    ///         .stdout(Stdio::piped()),
    /// )?;
    /// let mut started = String::new();
    /// BufReader::new(shell.stdout.take().expect("piped")).read_line(&mut started)?;
    /// shell.kill_tree(); // the shell and its `sleep`
    /// assert!(shell.try_wait()?.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kill_tree(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let below = descendants(self.child.id());
        let _ = self.child.kill();
        if !below.is_empty() {
            let mut kill = Command::new("kill");
            kill.arg("-KILL").args(below.iter().map(u32::to_string));
            // Fails for those that exited meanwhile; the others are killed all the same.
            let _ = run_to_end(&mut kill, Duration::from_secs(10));
        }
        let _ = self.child.wait();
    }
}

/// The fields of `/proc/PID/stat` after the process name (state, parent, …); `None` when
/// the process is gone or there is no `/proc`.
fn stat_fields(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (name) state ppid …", where the name may hold spaces and parentheses.
    Some(stat.rsplit_once(')')?.1.to_owned())
}

/// Whether process `pid` has ended: gone from `/proc`, or a zombie its parent has not reaped
/// yet. For tests that check a kill took effect (Linux: without `/proc` every process looks
/// ended).
///
/// ```
/// use std::process::Command;
/// use baton_devtools::{ChildGuard, has_ended};
///
/// let sleeper = ChildGuard::spawn(Command::new("sleep").arg("60"))?;
/// let pid = sleeper.id();
/// assert!(!has_ended(pid));
/// drop(sleeper); // killed and reaped
/// assert!(has_ended(pid));
/// # Ok::<(), baton_devtools::Error>(())
/// ```
pub fn has_ended(pid: u32) -> bool {
    stat_fields(pid).is_none_or(|fields| fields.split_whitespace().next() == Some("Z"))
}

/// Every process below `pid` in the process tree, read from `/proc` (none where there is no
/// `/proc`).
fn descendants(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parent_of: Vec<(u32, u32)> = entries
        .filter_map(|entry| {
            let child: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let ppid = stat_fields(child)?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((child, ppid))
        })
        .collect();
    let mut tree = vec![pid];
    let mut next = 0;
    while let Some(&parent) = tree.get(next) {
        tree.extend(
            parent_of
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(child, _)| *child),
        );
        next += 1;
    }
    tree.split_off(1)
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // Either may fail because the process already exited: nothing left to clean up.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a command run by [`run_captured`] or [`run_to_end`] ended, and what it printed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Captured {
    /// How it exited (always a success from [`run_captured`]).
    pub status: ExitStatus,
    /// Its standard output (lossily decoded as UTF-8).
    pub stdout: String,
    /// Its standard error (lossily decoded as UTF-8).
    pub stderr: String,
}

/// Runs `cmd` to completion within `limit`, capturing its output (standard input is
/// closed). A failure to start, an unsuccessful exit and an overrun (the process is then
/// killed) are errors naming the command, its folder, its status and the end of its output.
///
/// ```
/// use std::{process::Command, time::Duration};
/// use baton_devtools::{ErrorKind, run_captured};
///
/// let out = run_captured(Command::new("echo").arg("hi"), Duration::from_secs(10))?;
/// assert_eq!(out.stdout, "hi\n");
///
/// let err = run_captured(
///     Command::new("sh").args(["-c", "echo oops >&2; exit 3"]).current_dir("/"),
///     Duration::from_secs(10),
/// )
/// .unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::Exit { .. }));
/// assert_eq!(
///     err.to_string(),
///     "`sh -c 'echo oops >&2; exit 3' (in /)` failed (exit status: 3); its output ends with:\noops"
/// );
///
/// let err = run_captured(Command::new("sleep").arg("30"), Duration::from_millis(100)).unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::TimedOut { .. }));
/// # Ok::<(), baton_devtools::Error>(())
/// ```
pub fn run_captured(cmd: &mut Command, limit: Duration) -> Result<Captured, Error> {
    let out = run_to_end(cmd, limit)?;
    if out.status.success() {
        Ok(out)
    } else {
        let output = [tail(&out.stdout), tail(&out.stderr)]
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        Err(Error::new(ErrorKind::Exit {
            command: describe(cmd),
            status: out.status.to_string(),
            output,
        }))
    }
}

/// Runs `cmd` to completion within `limit`, capturing its output (standard input is
/// closed), however it exits: for a caller that checks the exit status and the output of
/// a command meant to fail. Only a failure to start and an overrun (the process is then
/// killed) are errors.
///
/// ```
/// use std::{process::Command, time::Duration};
/// use baton_devtools::run_to_end;
///
/// let out = run_to_end(Command::new("sh").args(["-c", "echo no >&2; exit 2"]), Duration::from_secs(10))?;
/// assert_eq!((out.status.code(), out.stderr.as_str()), (Some(2), "no\n"));
/// # Ok::<(), baton_devtools::Error>(())
/// ```
pub fn run_to_end(cmd: &mut Command, limit: Duration) -> Result<Captured, Error> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = ChildGuard::spawn(cmd)?;
    // Drain both pipes on threads so a chatty child never blocks on a full pipe.
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                return Err(Error::new(ErrorKind::TimedOut {
                    command: describe(cmd),
                    limit,
                }));
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                return Err(Error::new(ErrorKind::Spawn {
                    command: describe(cmd),
                    reason: format!("cannot wait for it: {e}"),
                }));
            }
        }
    };
    let joined =
        |t: Option<thread::JoinHandle<String>>| t.and_then(|t| t.join().ok()).unwrap_or_default();
    Ok(Captured {
        status,
        stdout: joined(stdout),
        stderr: joined(stderr),
    })
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

/// A command as a person would type it, with the folder it runs in: `npm install x (in
/// /cache/x)`. Arguments with spaces or quotes are single-quoted; any password in a URL
/// argument is replaced by `***`, so the text is safe to log. Environment variables are
/// not shown (they may hold secrets).
///
/// ```
/// use std::process::Command;
/// use baton_devtools::describe;
///
/// let mut psql = Command::new("psql");
/// psql.args(["-d", "postgres://ada:s3cret@db:5432/test", "-c", "SELECT 1"]).current_dir("/tmp");
/// assert_eq!(describe(&psql), "psql -d postgres://ada:***@db:5432/test -c 'SELECT 1' (in /tmp)");
/// ```
pub fn describe(cmd: &Command) -> String {
    let mut words = vec![quote(&cmd.get_program().to_string_lossy())];
    words.extend(
        cmd.get_args()
            .map(|a| quote(&redact_password(&a.to_string_lossy()))),
    );
    let mut text = words.join(" ");
    if let Some(dir) = cmd.get_current_dir() {
        text.push_str(&format!(" (in {})", dir.display()));
    }
    text
}

fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%*".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `text` with the password of every `scheme://user:password@host` in it replaced by `***`.
///
/// ```
/// use baton_devtools::redact_password;
///
/// assert_eq!(
///     redact_password("--url=postgres://u:pw@h/db and redis://:tok@r:6379"),
///     "--url=postgres://u:***@h/db and redis://:***@r:6379"
/// );
/// assert_eq!(redact_password("postgres://u@h/db"), "postgres://u@h/db");
/// ```
pub fn redact_password(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority.rfind('@') {
            Some(at) if authority[..at].contains(':') => {
                let user_end = authority[..at].find(':').unwrap_or(at);
                out.push_str(&authority[..user_end]);
                out.push_str(":***");
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "{what} within 10 s");
            thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn kill_tree_kills_the_children_of_children_too() -> Result<(), Error> {
        let mut shell =
            ChildGuard::spawn(Command::new("sh").args(["-c", "sleep 300 & sleep 300 & wait"]))?;
        let mut sleeps = Vec::new();
        poll("the shell starts two sleeps", || {
            sleeps = descendants(shell.id());
            sleeps.len() == 2
        });
        assert!(!sleeps.contains(&shell.id()), "{sleeps:?}");
        shell.kill_tree();
        assert!(matches!(shell.try_wait(), Ok(Some(_))));
        poll("the sleeps end", || {
            sleeps.iter().all(|&pid| has_ended(pid))
        });
        Ok(())
    }

    #[test]
    fn a_process_without_children_has_no_descendants() -> Result<(), Error> {
        let sleeper = ChildGuard::spawn(Command::new("sleep").arg("60"))?;
        assert_eq!(descendants(sleeper.id()), Vec::<u32>::new());
        Ok(())
    }
}
