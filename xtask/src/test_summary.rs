//! What `cargo xtask test` says after nextest: how many tests ran, passed, failed and
//! skipped, read from nextest's JUnit report (configured in `.config/nextest.toml`).
//!
//! A test that cannot run (a missing service, a client that cannot be installed) passes but
//! prints a line starting with [`SKIP_MARKER`] to its standard error
//! ([`baton_devtools::skip_or_fail`]); nextest stores every test's output in the report
//! (`store-success-output`), so such tests are counted as *skipped*, not passed. Tests marked
//! `#[ignore]` (the throughput benchmark) are not run by default and are not skips: they are
//! listed apart, from `cargo nextest list --message-format json`.

use std::fmt::Write as _;

use anyhow::{Context as _, bail};
use baton_devtools::SKIP_MARKER;

/// The outcome of one nextest run, from its JUnit report.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Tests that ran and passed (skips excluded).
    pub passed: usize,
    /// Tests that failed: `binary::test`.
    pub failed: Vec<String>,
    /// Tests that passed without doing their work: (`binary::test`, the reason they gave).
    pub skipped: Vec<(String, String)>,
    /// `#[ignore]`d tests, not run: `binary::test`.
    pub ignored: Vec<String>,
}

/// The `#[ignore]`d tests in `cargo nextest list --message-format json` output: those that
/// the filters select but that do not run because they are ignored.
pub fn ignored_tests(list_json: &str) -> anyhow::Result<Vec<String>> {
    let list: serde_json::Value =
        serde_json::from_str(list_json).context("`cargo nextest list` printed no JSON")?;
    let suites = list["rust-suites"]
        .as_object()
        .context("`cargo nextest list` JSON has no rust-suites")?;
    let mut out = Vec::new();
    for (binary, suite) in suites {
        let Some(cases) = suite["testcases"].as_object() else {
            continue;
        };
        for (name, case) in cases {
            if case["ignored"] == true && case["filter-match"]["reason"] == "ignored" {
                out.push(format!("{binary}::{name}"));
            }
        }
    }
    out.sort();
    Ok(out)
}

impl Summary {
    /// Reads a nextest JUnit report.
    pub fn from_junit(xml: &str) -> anyhow::Result<Summary> {
        let doc = roxmltree::Document::parse(xml).context("the JUnit report is not valid XML")?;
        let mut summary = Summary::default();
        for case in doc.descendants().filter(|n| n.has_tag_name("testcase")) {
            let name = match (case.attribute("classname"), case.attribute("name")) {
                (Some(suite), Some(test)) => format!("{suite}::{test}"),
                (None, Some(test)) => test.to_owned(),
                _ => "(unnamed test)".to_owned(),
            };
            let child = |tag: &str| case.children().any(|c| c.has_tag_name(tag));
            if child("failure") || child("error") {
                summary.failed.push(name);
            } else if child("skipped") {
                // Not written by nextest today (it leaves ignored tests out), but never a pass.
                summary.ignored.push(name);
            } else if let Some(reason) = skip_reason(case) {
                summary.skipped.push((name, reason));
            } else {
                summary.passed += 1;
            }
        }
        Ok(summary)
    }

    /// How many tests ran (passed, failed or skipped at run time).
    pub fn ran(&self) -> usize {
        self.passed + self.failed.len() + self.skipped.len()
    }

    /// The lines `cargo xtask test` prints.
    pub fn render(&self) -> String {
        let mut s = format!(
            "{} tests ran: {} passed, {} failed, {} skipped; {} ignored (#[ignore], not run by default)",
            self.ran(),
            self.passed,
            self.failed.len(),
            self.skipped.len(),
            self.ignored.len()
        );
        for (name, reason) in &self.skipped {
            let _ = write!(s, "\n  SKIPPED  {name}: {reason}");
        }
        for name in &self.failed {
            let _ = write!(s, "\n  FAILED   {name}");
        }
        for name in &self.ignored {
            let _ = write!(s, "\n  IGNORED  {name}");
        }
        s
    }

    /// Fails when a test failed, when none ran, or (under CI) when any skipped; the error
    /// names every reason that applies.
    pub fn judge(&self, ci: bool) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        if !self.failed.is_empty() {
            problems.push(format!(
                "{} test(s) failed: {}",
                self.failed.len(),
                self.failed.join(", ")
            ));
        }
        if self.ran() == 0 {
            problems.push("no test ran".to_owned());
        }
        if ci && !self.skipped.is_empty() {
            let names: Vec<&str> = self.skipped.iter().map(|(n, _)| n.as_str()).collect();
            problems.push(format!(
                "{} test(s) skipped, and CI is set, so a skip is a failure: {}",
                self.skipped.len(),
                names.join(", ")
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            bail!("{}", problems.join("; "))
        }
    }
}

/// The reason on the first [`SKIP_MARKER`] line of a test's stored output, if any.
fn skip_reason(case: roxmltree::Node<'_, '_>) -> Option<String> {
    case.children()
        .filter(|c| c.has_tag_name("system-err") || c.has_tag_name("system-out"))
        .filter_map(|c| c.text())
        .flat_map(str::lines)
        .find_map(|line| line.trim_start().strip_prefix(SKIP_MARKER))
        .map(|reason| reason.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="5" failures="1" errors="0">
  <testsuite name="baton-e2e::fleet" tests="5" disabled="0" errors="0" failures="1">
    <testcase name="two_instances_share_tasks" classname="baton-e2e::fleet" time="1.2">
      <system-out>running 1 test</system-out>
      <system-err>
BATON-SKIP: nginx not found (looked at $BATON_NGINX, /usr/sbin/nginx and PATH)
</system-err>
    </testcase>
    <testcase name="ok_test" classname="baton-e2e::fleet" time="0.1">
      <system-err>a log line mentioning BATON-SKIP: in the middle is not a skip</system-err>
    </testcase>
    <testcase name="quiet_test" classname="baton-e2e::fleet" time="0.1"/>
    <testcase name="broken" classname="baton-e2e::fleet" time="0.1">
      <failure type="test failure">assertion failed</failure>
      <system-err>BATON-SKIP: printed before failing</system-err>
    </testcase>
    <testcase name="throughput" classname="baton-e2e::bench" time="0">
      <skipped/>
    </testcase>
  </testsuite>
</testsuites>"#;

    #[test]
    fn counts_skips_failures_and_ignored_tests_apart() {
        let s = Summary::from_junit(REPORT).unwrap();
        assert_eq!(s.passed, 2);
        assert_eq!(s.failed, ["baton-e2e::fleet::broken"]);
        assert_eq!(
            s.skipped,
            [(
                "baton-e2e::fleet::two_instances_share_tasks".to_owned(),
                "nginx not found (looked at $BATON_NGINX, /usr/sbin/nginx and PATH)".to_owned()
            )]
        );
        assert_eq!(s.ignored, ["baton-e2e::bench::throughput"]);
        assert_eq!(s.ran(), 4);
        assert!(s.render().starts_with(
            "4 tests ran: 2 passed, 1 failed, 1 skipped; 1 ignored (#[ignore], not run by default)"
        ));
    }

    #[test]
    fn a_skip_fails_only_under_ci_and_a_failure_always() {
        let mut s = Summary::from_junit(REPORT).unwrap();
        assert_eq!(
            s.judge(false).unwrap_err().to_string(),
            "1 test(s) failed: baton-e2e::fleet::broken"
        );
        let both = s.judge(true).unwrap_err().to_string();
        assert!(
            both.contains("broken") && both.contains("1 test(s) skipped"),
            "{both}"
        );
        s.failed.clear();
        assert!(s.judge(false).is_ok());
        let under_ci = s.judge(true).unwrap_err().to_string();
        assert!(
            under_ci.contains("1 test(s) skipped") && under_ci.contains("two_instances"),
            "{under_ci}"
        );
    }

    #[test]
    fn ignored_tests_come_from_the_list_not_from_filtered_ones() {
        let list = r#"{"rust-suites": {
            "baton-store-sqlite::throughput": {"testcases": {
                "throughput": {"ignored": true, "filter-match": {"status": "mismatch", "reason": "ignored"}},
                "other": {"ignored": true, "filter-match": {"status": "mismatch", "reason": "string"}},
                "runs": {"ignored": false, "filter-match": {"status": "matches"}}
            }}}}"#;
        assert_eq!(
            ignored_tests(list).unwrap(),
            ["baton-store-sqlite::throughput::throughput"]
        );
    }

    #[test]
    fn an_empty_run_fails() {
        let s = Summary::from_junit("<testsuites/>").unwrap();
        assert!(
            s.judge(false)
                .unwrap_err()
                .to_string()
                .contains("no test ran")
        );
    }
}
