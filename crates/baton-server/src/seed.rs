//! Bulk seeding of synthetic tasks, for benchmarks and load tests.

use baton_handle::Codec;
use baton_store::{BulkImport, Lifetimes, ResearchStatus, ResearchTask, ResearchTaskId, rules};
use chrono::{Duration, Utc};

/// Tasks written per `import_research_tasks` call (bounds memory for large seeds).
const BATCH: u64 = 50_000;

/// Creates `count` running tasks owned by `owner`, with handles signed by `codec`, and
/// returns the handles of `sample` of them, spread evenly over the whole set (so lookups
/// touch the whole table, not one corner of it).
pub async fn seed(
    store: &dyn BulkImport,
    codec: &Codec,
    owner: &str,
    count: u64,
    sample: u64,
    lifetimes: Lifetimes,
) -> anyhow::Result<Vec<String>> {
    let now = Utc::now();
    let mut handles = Vec::new();
    let stride = (count / sample.max(1)).max(1);
    let mut done = 0;
    while done < count {
        let n = BATCH.min(count - done);
        let mut tasks = Vec::with_capacity(n as usize);
        for i in done..done + n {
            // Spread creation times so listings and indexes look like real traffic.
            let created = now - Duration::milliseconds((count - i) as i64);
            let hard = rules::hard_expiry(created, &lifetimes);
            let minted = codec.mint(owner, u64::try_from(hard.timestamp()).unwrap_or(0));
            if i % stride == 0 && (handles.len() as u64) < sample {
                handles.push(minted.handle);
            }
            tasks.push(ResearchTask {
                id: ResearchTaskId::from_bytes(*minted.id.as_bytes()),
                owner: owner.to_owned(),
                topic: format!("seeded topic {i}"),
                depth: 2,
                status: ResearchStatus::Running,
                findings_count: 0,
                created_at: created,
                updated_at: created,
                expires_at: rules::expiry_after_write(created, hard, &lifetimes),
                hard_expires_at: hard,
            });
        }
        store.import_research_tasks(&tasks).await?;
        done += n;
    }
    Ok(handles)
}
