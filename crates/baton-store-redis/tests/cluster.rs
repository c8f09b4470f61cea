//! The conformance kit on a three-node Redis Cluster the test starts on loopback ports
//! (`redis-server --cluster-enabled yes` ×3, `redis-cli --cluster create`); the nodes are
//! killed when the test ends. Every script's keys share one hash slot, so the kit runs
//! unchanged.
#![allow(clippy::unwrap_used)]

mod common;

use baton_devtools::RedisCluster;
use baton_store::testkit;
use common::{Redis, unique_prefix};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_on_a_three_node_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = match tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || RedisCluster::start(&dir)
    })
    .await
    .unwrap()
    {
        Ok(cluster) => cluster,
        Err(e) => {
            return baton_devtools::skip_or_fail(&format!(
                "cannot start a three-node redis cluster (is redis-server installed?): {e}"
            ));
        }
    };
    let backend = Redis::new(cluster.url(), unique_prefix("cluster"));
    testkit::run_all(&backend).await;
    drop(cluster);
}
