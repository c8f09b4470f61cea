//! The backend-neutral conformance kit (`baton_store::testkit`), run against the machine's
//! Redis, every check under a key prefix of its own; the run's keys are deleted at the end,
//! also when a check failed.
#![allow(clippy::unwrap_used)]

mod common;

use std::panic::AssertUnwindSafe;

use baton_store::testkit;
use common::{Redis, delete_prefix, machine_redis, unique_prefix};
use futures::FutureExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance() {
    let Some(url) = machine_redis().await else {
        return;
    };
    let backend = Redis::new(url.clone(), unique_prefix("kit"));
    let outcome = AssertUnwindSafe(testkit::run_all(&backend))
        .catch_unwind()
        .await;
    delete_prefix(&url, &backend.run_prefix).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
