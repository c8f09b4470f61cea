//! Waiting on conditions instead of racing the clock: every wait polls a condition with a
//! generous deadline, so a loaded machine makes a test slower, never wrong.

use std::{
    future::Future,
    time::{Duration, Instant},
};

/// How often conditions are polled.
pub const POLL: Duration = Duration::from_millis(50);

/// Polls `check` every [`POLL`] until it holds or `within` passes; returns how long it took,
/// or `None` on timeout.
pub async fn until<F, Fut>(within: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return Some(start.elapsed());
        }
        if start.elapsed() >= within {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`until`] for a blocking check, on the calling thread.
pub fn until_blocking(within: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if check() {
            return Some(start.elapsed());
        }
        if start.elapsed() >= within {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

/// Polls `probe` every [`POLL`] until it returns `Some`, or `within` passes.
pub async fn until_some<T, F, Fut>(within: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(found) = probe().await {
            return Some(found);
        }
        if start.elapsed() >= within {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}
