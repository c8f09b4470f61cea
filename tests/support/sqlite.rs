//! Reaching into a server's SQLite file from outside, with python3's `sqlite3` module (a
//! second, independent SQLite client): read what is stored, or hold the write lock so that
//! the server's next write waits (up to its busy timeout, `--db-statement-timeout`) and the
//! request stays in flight for as long as a test needs.

use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{ChildStdin, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use baton_devtools::{ChildGuard, run_captured};

/// How long python3 may take to start and take the lock.
const LOCK_WITHIN: Duration = Duration::from_secs(30);

/// How long python3 may take to run one query (its busy timeout is 30 s).
const QUERY_WITHIN: Duration = Duration::from_secs(60);

/// Runs one SQL statement on the file at `db` (committed, if it changes anything) and returns
/// its rows, one per line, columns separated by tabs.
pub fn query(db: &Path, sql: &str) -> Result<String, String> {
    const SCRIPT: &str = "import sqlite3, sys\n\
        c = sqlite3.connect(sys.argv[1], timeout=30)\n\
        for row in c.execute(sys.argv[2]):\n    print('\\t'.join(str(v) for v in row))\n\
        c.commit()\n";
    run_captured(
        Command::new("python3")
            .args(["-c", SCRIPT])
            .arg(db)
            .arg(sql),
        QUERY_WITHIN,
    )
    .map(|out| out.stdout.trim_end().to_owned())
    .map_err(|e| e.to_string())
}

/// `SELECT count(*) FROM <table>` on the file at `db`.
pub fn count(db: &Path, table: &str) -> u64 {
    let out = query(db, &format!("SELECT count(*) FROM {table}"))
        .unwrap_or_else(|e| panic!("cannot count {table}: {e}"));
    out.parse()
        .unwrap_or_else(|e| panic!("count of {table}: {e}: {out:?}"))
}

/// SQLite's write lock on a database file, held by a python3 process in an open
/// `BEGIN IMMEDIATE` transaction until [`WriteLock::release`] (or drop, which kills it).
pub struct WriteLock {
    process: ChildGuard,
    stdin: Option<ChildStdin>,
}

impl WriteLock {
    /// Takes the write lock on the file at `db`; returns once it is held.
    pub fn hold(db: &Path) -> WriteLock {
        const SCRIPT: &str = "import sqlite3, sys\n\
            c = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)\n\
            c.execute('BEGIN IMMEDIATE')\n\
            print('locked', flush=True)\n\
            sys.stdin.readline()\n\
            c.execute('ROLLBACK')\n\
            c.close()\n";
        let mut process = ChildGuard::spawn(
            Command::new("python3")
                .args(["-c", SCRIPT])
                .arg(db)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
        )
        .unwrap_or_else(|e| panic!("python3 (to hold the SQLite write lock): {e}"));
        let stdin = process.stdin.take();
        let stdout = process.stdout.take().expect("python3 stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        match rx.recv_timeout(LOCK_WITHIN) {
            Ok(line) if line.trim() == "locked" => WriteLock { process, stdin },
            other => panic!(
                "python3 did not take the write lock on {} within {LOCK_WITHIN:?}: {other:?}",
                db.display()
            ),
        }
    }

    /// Rolls the transaction back (releasing the lock) and waits for python3 to exit.
    pub fn release(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            stdin
                .write_all(b"release\n")
                .expect("tell python3 to release the lock");
        }
        let status = self.process.wait_within(LOCK_WITHIN);
        assert!(
            status.is_some_and(|s| s.success()),
            "python3 did not release the SQLite write lock cleanly: {status:?}"
        );
    }
}
