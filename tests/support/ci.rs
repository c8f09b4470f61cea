//! The one CI rule and the one way to skip a test.
//!
//! Under CI a missing prerequisite is a failure. Elsewhere (say, a laptop without nginx) the
//! test is skipped, and says so on stderr with a line that starts with `BATON-SKIP: `, which
//! `cargo xtask test` counts, so a skip never passes unnoticed.

/// The prefix of every skip line on stderr: `BATON-SKIP: <test>: <reason>`.
pub const SKIP_PREFIX: &str = "BATON-SKIP: ";

/// Whether we run under CI: `CI` is set and is not empty, `0` or `false` (in any case).
pub fn in_ci() -> bool {
    ci_value_means_ci(std::env::var("CI").ok().as_deref())
}

fn ci_value_means_ci(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        let v = v.trim();
        !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
    })
}

/// The name of the running test: libtest (and nextest, which runs one test per process)
/// names the test's thread after it. Helpers called on other threads get `"unknown test"`.
pub fn current_test() -> String {
    std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("unknown test")
        .to_owned()
}

/// A prerequisite of the current test is missing: under CI this panics (the test fails);
/// elsewhere it prints `BATON-SKIP: <test>: <reason>` and returns `None`, so a test can write
/// `let Some(x) = found.or_else(|e| skip(&e)) else { return };`.
///
/// `reason` may span lines: the first line goes on the skip line, the rest below it.
pub fn skip<T>(reason: &str) -> Option<T> {
    let test = current_test();
    let (first, rest) = reason
        .trim()
        .split_once('\n')
        .unwrap_or((reason.trim(), ""));
    if in_ci() {
        panic!(
            "{test}: a required prerequisite is missing, and CI is set, so this is a failure: \
             {first}\n{rest}"
        );
    }
    eprintln!("{SKIP_PREFIX}{test}: {first}");
    if !rest.trim().is_empty() {
        eprintln!("{rest}");
    }
    eprintln!("(this test FAILS when CI is set)");
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_is_set_and_not_empty_0_or_false() {
        for yes in ["true", "1", "yes", "TRUE", "github"] {
            assert!(ci_value_means_ci(Some(yes)), "{yes}");
        }
        for no in ["", " ", "0", "false", "False"] {
            assert!(!ci_value_means_ci(Some(no)), "{no:?}");
        }
        assert!(!ci_value_means_ci(None));
    }

    #[test]
    fn the_test_name_is_the_thread_name() {
        assert_eq!(
            current_test(),
            "support::ci::tests::the_test_name_is_the_thread_name"
        );
    }
}
