//! The store conformance kit on SQLite files, plus SQLite-specific checks.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use baton_store::testkit::{self, Backend};
use baton_store::{Lifetimes, NewResearchTask, ResearchStore, ResearchTaskId};
use baton_store_sqlite::{SqliteOptions, SqliteStore, migrate, pending_migrations};
use chrono::Utc;
use tempfile::TempDir;

struct Sqlite {
    dir: TempDir,
    next: AtomicUsize,
}

impl Sqlite {
    fn new() -> Self {
        Sqlite {
            dir: tempfile::tempdir().unwrap(),
            next: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl Backend for Sqlite {
    type Store = SqliteStore;

    async fn open_fresh(&self, lifetimes: Lifetimes) -> SqliteStore {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.path().join(format!("store-{n}.db"));
        let options = SqliteOptions {
            lifetimes,
            ..SqliteOptions::default()
        };
        SqliteStore::open(path.to_str().unwrap(), options)
            .await
            .unwrap()
    }

    async fn reopen(&self, store: SqliteStore) -> SqliteStore {
        let path = store.filename().to_owned();
        let options = store.options().clone();
        store.close().await;
        drop(store);
        SqliteStore::open(path.to_str().unwrap(), options)
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    testkit::run_all(&Sqlite::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_conformance() {
    testkit::run_shares(&Sqlite::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_task_conformance() {
    testkit::run_tool_tasks(&Sqlite::new()).await;
}

#[tokio::test]
async fn task_counts_conformance() {
    testkit::run_task_counts(&Sqlite::new()).await;
}

fn path_in(dir: &TempDir, name: &str) -> String {
    dir.path().join(name).to_str().unwrap().to_owned()
}

#[tokio::test]
async fn open_creates_the_file_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = path_in(&dir, "new.db");
    assert!(!std::path::Path::new(&path).exists());
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    assert!(std::path::Path::new(&path).exists(), "file not created");
    store.ping().await.unwrap();
    // Tasks and signing keys are in it (and in the WAL beside it): the owner's alone.
    #[cfg(unix)]
    for file in [path.clone(), format!("{path}-wal")] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file} has mode {mode:o}");
    }
    store.close().await;

    // Read the journal mode from a fresh connection: WAL is persistent in the file.
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn urls_and_paths_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = path_in(&dir, "url.db");
    let store = SqliteStore::open(&format!("sqlite://{path}"), SqliteOptions::default())
        .await
        .unwrap();
    assert_eq!(store.filename(), std::path::Path::new(&path));
    store.close().await;
}

#[tokio::test]
async fn migrations_are_idempotent_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = path_in(&dir, "migrate.db");
    let pending = pending_migrations(&path).await.unwrap();
    assert!(
        !pending.is_empty(),
        "a missing file has every migration pending"
    );
    assert_eq!(pending[0].0, 1);
    assert!(
        !std::path::Path::new(&path).exists(),
        "checking must not create the file"
    );

    migrate(&path).await.unwrap();
    assert!(pending_migrations(&path).await.unwrap().is_empty());
    migrate(&path).await.unwrap();

    // Data survives opening again (migrations re-run as no-ops).
    let now = Utc::now();
    let id = ResearchTaskId::from_bytes([1; 16]);
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    store
        .start(
            NewResearchTask {
                id,
                owner: "alice".into(),
                topic: "t".into(),
                depth: 1,
                idempotency_key: None,
                max_live_tasks: u64::MAX,
            },
            now,
        )
        .await
        .unwrap();
    store.close().await;
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    assert_eq!(store.get("alice", &id, now).await.unwrap().topic, "t");
    store.close().await;
    assert!(pending_migrations(&path).await.unwrap().is_empty());
}

#[tokio::test]
async fn unopenable_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be.
    let path = dir.path().to_str().unwrap().to_owned();
    let err = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap_err();
    assert!(!err.to_string().is_empty());
}
