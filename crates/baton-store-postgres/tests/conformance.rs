//! The backend-neutral conformance kit (`baton_store::testkit`), run against Postgres.
//!
//! One database per run, dropped at the end. The kit drops each check's store before it
//! opens the next, so `open_fresh` empties the tables (much cheaper than a database per
//! check) and connects a new pool.
#![allow(clippy::unwrap_used)]

mod common;

use async_trait::async_trait;
use baton_store::Lifetimes;
use baton_store::testkit::{self, Backend};
use baton_store_postgres::PostgresStore;
use common::TestDb;

struct Postgres {
    db: TestDb,
}

impl Postgres {
    async fn new() -> Option<Postgres> {
        let db = TestDb::create().await?;
        baton_store_postgres::migrate(&db.url)
            .await
            .expect("migrating the test database");
        Some(Postgres { db })
    }
}

#[async_trait]
impl Backend for Postgres {
    type Store = PostgresStore;

    async fn open_fresh(&self, lifetimes: Lifetimes) -> PostgresStore {
        let store = self.db.store(lifetimes).await;
        sqlx::query(
            "TRUNCATE research_tasks, research_findings, research_idempotency_keys, research_append_keys, research_usage, research_grants, signing_keys, api_keys, tool_tasks",
        )
        .execute(store.pool())
        .await
        .expect("emptying the test database");
        store
    }

    async fn reopen(&self, store: PostgresStore) -> PostgresStore {
        let lifetimes = store.lifetimes();
        store.close().await;
        drop(store);
        self.db.store(lifetimes).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tool_task_conformance() {
    let Some(backend) = Postgres::new().await else {
        return;
    };
    testkit::run_tool_tasks(&backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance() {
    let Some(backend) = Postgres::new().await else {
        return;
    };
    testkit::run_all(&backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn share_conformance() {
    let Some(backend) = Postgres::new().await else {
        return;
    };
    testkit::run_shares(&backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_counts_conformance() {
    let Some(backend) = Postgres::new().await else {
        return;
    };
    testkit::run_task_counts(&backend).await;
}
