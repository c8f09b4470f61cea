//! Server faults as callers see them: an opaque reference that ties the error a caller got
//! to the server's log line, and nothing of the fault itself.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;

/// A short reference that ties an error shown to a caller to the server's log line.
pub fn reference() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:x}-{n:x}", nanos & 0xffff_ffff_ffff)
}

#[cfg(test)]
mod tests {
    #[test]
    fn references_are_distinct() {
        let a = super::reference();
        let b = super::reference();
        assert_ne!(a, b);
        assert!(a.len() <= 32 && a.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
    }
}
