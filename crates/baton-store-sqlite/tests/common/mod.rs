//! Synthetic tasks shared by the throughput test and the criterion benchmark
//! (`benches/store.rs` includes this file by path).

use baton_store::{NewResearchTask, ResearchTaskId};

/// A well-spread task id for the number `n`.
pub fn id(n: u64) -> ResearchTaskId {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    b[8..].copy_from_slice(&n.to_be_bytes());
    ResearchTaskId::from_bytes(b)
}

/// Task number `n`, owned by one of 100 owners, without a quota.
pub fn new_task(n: u64) -> NewResearchTask {
    NewResearchTask {
        id: id(n),
        owner: format!("owner-{}", n % 100),
        topic: format!("benchmark topic number {n}"),
        depth: 2,
        idempotency_key: None,
        max_live_tasks: u64::MAX,
    }
}
