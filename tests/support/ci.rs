//! Skipping a test whose prerequisite is missing, by the one rule of
//! [`baton_devtools::skip_or_fail`]: under CI ([`baton_devtools::ci_is_set`]) the test fails;
//! elsewhere (say, a laptop without nginx) it prints a `BATON-SKIP:` line, which
//! `cargo xtask test` counts, so a skip never passes unnoticed.

/// The name of the running test: libtest (and nextest, which runs one test per process)
/// names the test's thread after it. Helpers called on other threads get `"unknown test"`.
pub fn current_test() -> String {
    std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("unknown test")
        .to_owned()
}

/// A prerequisite of the current test is missing: [`baton_devtools::skip_or_fail`] with the
/// test's name in front of `reason` (under CI this panics), then `None`, so a test can write
/// `let Some(x) = found.or_else(|e| skip(&e)) else { return };`.
#[track_caller]
pub fn skip<T>(reason: &str) -> Option<T> {
    baton_devtools::skip_or_fail(&format!("{}: {reason}", current_test()));
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_name_is_the_thread_name() {
        assert_eq!(
            current_test(),
            "support::ci::tests::the_test_name_is_the_thread_name"
        );
    }
}
