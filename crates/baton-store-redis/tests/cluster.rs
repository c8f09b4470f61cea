//! The conformance kit on a three-node Redis Cluster the test starts on loopback ports
//! (`redis-server --cluster-enabled yes` ×3, `redis-cli --cluster create`); the nodes are
//! killed when the test ends. Every script's keys share one hash slot, so the kit runs
//! unchanged.
#![allow(clippy::unwrap_used)]

mod common;

use baton_devtools::RedisCluster;
use baton_store::testkit;
use common::{Redis, unique_prefix};

/// A three-node cluster in `dir`, or `None` (after the skip notice, or failing under CI)
/// when it cannot be started.
async fn start_cluster(dir: &tempfile::TempDir) -> Option<RedisCluster> {
    let started = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || RedisCluster::start(&dir)
    })
    .await
    .unwrap();
    match started {
        Ok(cluster) => Some(cluster),
        Err(e) => {
            baton_devtools::skip_or_fail(&format!(
                "cannot start a three-node redis cluster (is redis-server installed?): {e}"
            ));
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_on_a_three_node_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let Some(cluster) = start_cluster(&dir).await else {
        return;
    };
    let backend = Redis::new(cluster.url(), unique_prefix("cluster"));
    testkit::run_all(&backend).await;
    drop(cluster);
}

/// Grants live in their task owner's slot, their indexes in the grant's and the delegate's:
/// resolution, revocation and listing cross slots between scripts, never within one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn share_conformance_on_a_three_node_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let Some(cluster) = start_cluster(&dir).await else {
        return;
    };
    let backend = Redis::new(cluster.url(), unique_prefix("cluster-shares"));
    testkit::run_shares(&backend).await;
    drop(cluster);
}
