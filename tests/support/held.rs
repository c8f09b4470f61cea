//! A request held in flight for as long as a test needs, without racing the clock: the test
//! holds the SQLite write lock from outside ([`WriteLock`]), so the server's next write
//! waits for it (up to `--db-statement-timeout`, which the test sets long).

use std::{path::Path, time::Duration};

use serde_json::json;
use tokio::task::JoinHandle;

use super::{
    http::{self, Reply},
    mcp::handle_of,
    rpc::{Outcome, Rpc},
    server::Server,
    sqlite::WriteLock,
    wait::POLL,
};

/// How long the helpers wait for the held request to take the server's only slot.
const HOLD_WITHIN: Duration = Duration::from_secs(60);

/// The flags [`hold_write`] needs: one request slot, and statement and request timeouts far
/// longer than any hold.
pub const HOLDABLE: [&str; 6] = [
    "--max-concurrent-requests",
    "1",
    "--db-statement-timeout",
    "300s",
    "--request-timeout",
    "300s",
];

/// A SQLite server in `dir` started with [`HOLDABLE`] and `extra` flags.
pub fn holdable_server(dir: &Path, extra: &[&str]) -> Server {
    let mut args = HOLDABLE.to_vec();
    args.extend_from_slice(extra);
    Server::sqlite(dir, &args)
}

/// Starts a research task about `topic` on `server` and returns its handle.
pub async fn start_task(server: &Server, topic: &str) -> String {
    let rpc = Rpc::new(Duration::from_secs(300));
    let started = rpc
        .call(
            &server.url(),
            "start_research_task",
            json!({"topic": topic}),
        )
        .await;
    handle_of(started.ok())
}

/// An `add_findings` call in flight, blocked behind the SQLite write lock.
pub struct HeldWrite {
    /// The lock; [`WriteLock::release`] lets the write through.
    pub lock: WriteLock,
    /// The call; it ends once the lock is released (or the server cuts it).
    pub call: JoinHandle<Outcome>,
    /// A request the server shed while the write held its only slot.
    pub shed: Reply,
}

/// Holds an `add_findings` of one finding, `"held"`, to the task `handle` in flight on
/// `server`, whose SQLite file is `db`.
///
/// `server` must run with `--max-concurrent-requests 1` and long `--db-statement-timeout`
/// and `--request-timeout`: then a probe (`server/discover`, which touches no store) is shed
/// exactly while the write occupies the only slot, which is how this knows the write is in
/// flight. Should a probe take the slot first and the write be shed, the write is sent again.
pub async fn hold_write(server: &Server, db: &Path, handle: &str) -> HeldWrite {
    let lock = WriteLock::hold(db);
    let rpc = Rpc::new(Duration::from_secs(600));
    let probe = http::client(Duration::from_secs(60));
    let url = server.url();
    let send = || {
        let (rpc, url, handle) = (rpc.clone(), url.clone(), handle.to_owned());
        tokio::spawn(async move {
            rpc.call(
                &url,
                "add_findings",
                json!({"handle": handle, "findings": ["held"]}),
            )
            .await
        })
    };
    let mut call = send();
    let deadline = tokio::time::Instant::now() + HOLD_WITHIN;
    for id in 1.. {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the write did not stay in flight within {HOLD_WITHIN:?}; logs:\n{}",
            server.logs()
        );
        if call.is_finished() {
            match call.await.expect("the write task") {
                Outcome::Failed(m) if m.starts_with("status 503") => call = send(),
                other => panic!("the write ended while the lock was held: {other:?}"),
            }
        }
        let reply = http::post(
            &probe,
            &url,
            "server/discover",
            http::discover_body(id),
            &[],
        )
        .await;
        if reply.status == 503 {
            return HeldWrite {
                lock,
                call,
                shed: reply,
            };
        }
        tokio::time::sleep(POLL).await;
    }
    unreachable!("the loop returns or panics")
}
