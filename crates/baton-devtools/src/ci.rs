//! The CI rule and the skip convention.
//!
//! Under CI a missing prerequisite (a service, a client that cannot be installed) is a
//! failure; elsewhere the test that needs it may skip, and says so with one line starting
//! with [`SKIP_MARKER`] on its standard error. `cargo xtask test` counts those lines (nextest
//! stores every test's output in its JUnit report) and fails under CI when any test skipped.

use std::ffi::OsString;

/// The start of the line a skipping test prints to its standard error.
pub const SKIP_MARKER: &str = "BATON-SKIP:";

/// Is CI set? One rule everywhere: the variable `CI` is set and is not empty, `0` or
/// `false` (in any case, surrounding spaces ignored). `CI=true`, `CI=1` and `CI=yes` all
/// count.
pub fn ci_is_set() -> bool {
    ci_is_set_in(|name| std::env::var_os(name))
}

/// [`ci_is_set`] reading variables through `lookup` instead of the process environment.
///
/// ```
/// use baton_devtools::ci_is_set_in;
///
/// let ci = |value: Option<&str>| ci_is_set_in(|_| value.map(Into::into));
/// assert!(ci(Some("true")) && ci(Some("1")) && ci(Some("yes")));
/// assert!(!ci(None) && !ci(Some("")) && !ci(Some("0")) && !ci(Some(" FALSE ")));
/// ```
pub fn ci_is_set_in(lookup: impl Fn(&str) -> Option<OsString>) -> bool {
    match lookup("CI") {
        None => false,
        Some(value) => {
            let value = value.to_string_lossy();
            let value = value.trim();
            !(value.is_empty() || value == "0" || value.eq_ignore_ascii_case("false"))
        }
    }
}

/// Reports that the calling test cannot run because `reason`; the test then returns.
///
/// Under CI ([`ci_is_set`]) this panics, so the test fails. Elsewhere it prints
/// `BATON-SKIP: <reason>` (on one line) to standard error, which `cargo xtask test` counts
/// and lists as a skip.
///
/// ```
/// # fn postgres_url() -> Result<String, String> { Err("Postgres is down".into()) }
/// # if baton_devtools::ci_is_set() { return; }
/// let url = match postgres_url() {
///     Ok(url) => url,
///     Err(why) => return baton_devtools::skip_or_fail(&why),
/// };
/// # let _ = url;
/// ```
#[track_caller]
pub fn skip_or_fail(reason: &str) {
    let one_line = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    if ci_is_set() {
        panic!("{one_line} (CI is set, so a missing prerequisite is a failure, not a skip)");
    }
    eprintln!("{SKIP_MARKER} {one_line}");
}
