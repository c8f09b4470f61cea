//! Checks of `deploy/`: the Grafana dashboards are valid JSON, the Prometheus rules pass
//! `promtool check rules` and their unit tests (`promtool test rules`), and every `baton_*`
//! metric they name is one the server exports (`observability/mod.rs`), so a renamed metric
//! cannot leave a dead panel or a silent alert behind.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail, ensure};

use crate::helpers::{ci_is_set, run_shown, workspace_root};

/// The metric names the server declares: every `"baton_…"` string in its metrics module.
fn exported_metrics(root: &Path) -> anyhow::Result<BTreeSet<String>> {
    let path = root.join("crates/baton-server/src/observability/mod.rs");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let names: BTreeSet<String> = text
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            s.starts_with("baton_") && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        })
        .map(str::to_owned)
        .collect();
    ensure!(
        !names.is_empty(),
        "no baton_ metric names found in {}",
        path.display()
    );
    Ok(names)
}

/// Every `baton_…` metric name in `text`, with the histogram suffixes taken off.
fn named_metrics(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("baton_") {
        let start = i + at;
        let boundary =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start;
        while end < bytes.len()
            && (bytes[end].is_ascii_lowercase()
                || bytes[end] == b'_'
                || bytes[end].is_ascii_digit())
        {
            end += 1;
        }
        if boundary {
            let name = &text[start..end];
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            names.insert(base.to_owned());
        }
        i = end.max(start + 1);
    }
    names
}

fn files(dir: &Path, ext: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == ext) {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// `cargo xtask lint`'s check of `deploy/`.
pub fn check() -> anyhow::Result<()> {
    let root = workspace_root()?;
    let exported = exported_metrics(&root)?;
    let dashboards = files(&root.join("deploy/grafana"), "json")?;
    let rules_dir = root.join("deploy/prometheus");
    let rules: Vec<PathBuf> = files(&rules_dir, "yml")?
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".test.yml"))
        .collect();
    ensure!(
        !dashboards.is_empty() && !rules.is_empty(),
        "deploy/ has no dashboard or no rules"
    );
    let mut problems = Vec::new();
    for path in dashboards.iter().chain(&rules) {
        let text = std::fs::read_to_string(path)?;
        if path.extension().is_some_and(|e| e == "json") {
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(dashboard) => {
                    let panels = dashboard["panels"].as_array().map_or(0, Vec::len);
                    if panels == 0 {
                        problems.push(format!("{}: no panels", path.display()));
                    }
                }
                Err(e) => problems.push(format!("{}: not JSON: {e}", path.display())),
            }
        }
        for name in named_metrics(&text) {
            if !exported.contains(&name) {
                problems.push(format!(
                    "{}: `{name}` is not a metric baton exports",
                    path.display()
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!("deploy/ check failed:\n  {}", problems.join("\n  "));
    }
    eprintln!(
        "deploy/: {} dashboard(s) and {} rule file(s) name only exported metrics",
        dashboards.len(),
        rules.len()
    );
    let promtool_found = Command::new("promtool").arg("--version").output().is_ok();
    if !promtool_found {
        if ci_is_set() {
            bail!(
                "promtool is required under CI (Debian package `prometheus`; .ci/run installs it)"
            );
        }
        eprintln!(
            "warning: promtool not found: Prometheus rules not checked (apt-get install prometheus)"
        );
        return Ok(());
    }
    for path in &rules {
        run_shown(
            Command::new("promtool")
                .arg("check")
                .arg("rules")
                .arg(path)
                .current_dir(&rules_dir),
        )?;
    }
    for test in files(&rules_dir, "yml")?
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".test.yml"))
    {
        run_shown(
            Command::new("promtool")
                .arg("test")
                .arg("rules")
                .arg(&test)
                .current_dir(&rules_dir),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_are_found_without_suffixes() {
        let names = named_metrics(
            "histogram_quantile(0.99, rate(baton_mcp_request_duration_seconds_bucket[5m])) \
             + baton_tool_errors_total{kind=\"x\"} / not_baton_thing",
        );
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "baton_mcp_request_duration_seconds",
                "baton_tool_errors_total"
            ]
        );
    }

    #[test]
    fn the_deploy_files_name_only_exported_metrics() {
        let root = workspace_root().unwrap();
        let exported = exported_metrics(&root).unwrap();
        assert!(
            exported.contains("baton_mcp_requests_total"),
            "{exported:?}"
        );
        for file in [
            "deploy/grafana/baton-dashboard.json",
            "deploy/prometheus/baton-alerts.yml",
        ] {
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            let named = named_metrics(&text);
            assert!(!named.is_empty(), "{file}");
            let unknown: Vec<_> = named.difference(&exported).collect();
            assert!(unknown.is_empty(), "{file}: {unknown:?}");
        }
    }
}
