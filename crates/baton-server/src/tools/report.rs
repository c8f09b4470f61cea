//! `compile_research_report`: merges the findings of several of the caller's research tasks
//! into one report (sources, distinct findings with their counts and sources). It is what an
//! orchestrator that ran several research sub-agents calls at the end, and baton's long tool:
//! it runs as an MCP task for clients that declare the extension, one source per step, with
//! a status message and a checkpoint after each, so work taken over by another instance
//! resumes after the last source read.
//!
//! Bounded: at most [`MAX_SOURCES`] sources, [`MAX_READ_FINDINGS`] findings and
//! [`MAX_READ_BYTES`] bytes of finding text read in all; past a bound the report says
//! `truncated`.

use std::{collections::HashMap, sync::Arc};

use baton_protocol::{
    CompileResearchReport, ReportFinding, ReportSource, ResearchReport, ShareRight, ToolError, tool,
};
use chrono::Utc;
use rmcp::model::ToolAnnotations;
use serde::{Deserialize, Serialize};

use super::{
    ToolTable,
    research::{Listing, Research, read_error, register},
};
use crate::{principal::Principal, tool_tasks::context};

/// The most sources one report merges.
pub const MAX_SOURCES: usize = 20;
/// The most findings one report reads, across its sources.
pub const MAX_READ_FINDINGS: u32 = 50_000;
/// The most bytes of finding text one report reads, across its sources.
pub const MAX_READ_BYTES: usize = 4 << 20;
const DEFAULT_MAX_FINDINGS: u32 = 1_000;
const MAX_MAX_FINDINGS: u32 = 5_000;
/// Findings read per store call.
const PAGE: u32 = 500;

/// What the report holds so far: also its checkpoint.
#[derive(Default, Serialize, Deserialize)]
struct Draft {
    sources: Vec<ReportSource>,
    /// Distinct findings in the order first read.
    findings: Vec<ReportFinding>,
    total: u32,
    bytes: usize,
    truncated: bool,
    /// Each finding's normal form to its place in `findings`: derived, so not saved.
    #[serde(skip)]
    index: HashMap<String, usize>,
}

/// Findings equal up to case and runs of whitespace are one.
fn normal(text: &str) -> String {
    text.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Draft {
    /// The draft a checkpoint saved (an empty one when there is none), with its index.
    fn restored(saved: Option<serde_json::Value>) -> Draft {
        let mut draft: Draft = saved
            .and_then(|saved| serde_json::from_value(saved).ok())
            .unwrap_or_default();
        draft.index = draft
            .findings
            .iter()
            .enumerate()
            .map(|(i, f)| (normal(&f.text), i))
            .collect();
        draft
    }

    fn add(&mut self, text: &str, source: u32) {
        let next = self.findings.len();
        let i = *self.index.entry(normal(text)).or_insert(next);
        if i == next {
            self.findings.push(ReportFinding {
                text: text.to_owned(),
                count: 0,
                sources: Vec::new(),
            });
        }
        let finding = &mut self.findings[i];
        finding.count += 1;
        if finding.sources.last() != Some(&source) {
            finding.sources.push(source);
        }
        self.total += 1;
        self.bytes += text.len();
    }

    fn into_report(mut self, max_findings: u32) -> ResearchReport {
        let distinct = u32::try_from(self.findings.len()).unwrap_or(u32::MAX);
        // Stable: ties keep the order first read.
        self.findings.sort_by_key(|f| std::cmp::Reverse(f.count));
        let cut = self.findings.len() > max_findings as usize;
        self.findings.truncate(max_findings as usize);
        ResearchReport {
            sources: self.sources,
            findings: self.findings,
            total_findings: self.total,
            distinct_findings: distinct,
            truncated: self.truncated || cut,
        }
    }
}

fn validate(args: &CompileResearchReport) -> Result<u32, ToolError> {
    if args.handles.is_empty() || args.handles.len() > MAX_SOURCES {
        return Err(ToolError::invalid(
            "handles",
            format!("must name 1 to {MAX_SOURCES} research tasks"),
        ));
    }
    for (i, handle) in args.handles.iter().enumerate() {
        if args.handles[..i].contains(handle) {
            return Err(ToolError::invalid(
                format!("handles[{i}]"),
                "names a task already listed: give each task once",
            ));
        }
    }
    match args.max_findings {
        None => Ok(DEFAULT_MAX_FINDINGS),
        Some(n) if (1..=MAX_MAX_FINDINGS).contains(&n) => Ok(n),
        Some(_) => Err(ToolError::invalid(
            "max_findings",
            format!("must be 1 to {MAX_MAX_FINDINGS}"),
        )),
    }
}

/// A context call failed: the task was cancelled or taken over, or the store failed. The
/// worker has already stopped the work in the first case; the message is for the second.
fn context_failed(e: rmcp::ErrorData) -> ToolError {
    tracing::debug!(error = %e.message, "compile_research_report stopped");
    ToolError::Unavailable
}

/// An unknown handle among the sources, with its place named (the reason stays uniform).
fn at_source(i: usize, e: ToolError) -> ToolError {
    match e {
        ToolError::UnknownHandle => ToolError::invalid(
            format!("handles[{i}]"),
            "is not a live research task of yours or shared with you",
        ),
        other => other,
    }
}

impl Research {
    /// Registers `compile_research_report` (runs as a task when the client allows it).
    pub fn register_report(self: &Arc<Self>, table: &mut ToolTable) -> anyhow::Result<()> {
        register::<CompileResearchReport, ResearchReport, _, _>(
            table,
            self,
            Listing {
                name: tool::COMPILE_RESEARCH_REPORT,
                scope: baton_auth::Scope::ResearchRead,
                title: "Compile research report",
            },
            format!(
                "Merge the findings of several research tasks (1-{MAX_SOURCES} handles, yours or shared with you) into one report: \
                 each source with its topic, status and counts, then the distinct findings (equal up to case and spacing count once), \
                 most repeated first, each with its count and sources. Use it to combine the work of several research sub-agents. \
                 Runs as a task (MCP Tasks extension) when your client supports it; reports progress per source."
            ),
            ToolAnnotations::new()
                .read_only(true)
                .destructive(false)
                .idempotent(true)
                .open_world(false),
            |r, who, a| async move { r.compile_report(who, a).await },
        )?;
        table.set_task_support(
            tool::COMPILE_RESEARCH_REPORT,
            crate::tool_tasks::TaskSupport::Optional,
        )
    }

    /// `compile_research_report`.
    pub async fn compile_report(
        &self,
        who: Principal,
        args: CompileResearchReport,
    ) -> Result<ResearchReport, ToolError> {
        let max_findings = validate(&args)?;
        let mut draft = Draft::restored(context::saved_checkpoint().await);
        let count = args.handles.len();
        for (i, handle) in args.handles.iter().enumerate().skip(draft.sources.len()) {
            let now = Utc::now();
            let target = self
                .target_for(
                    tool::COMPILE_RESEARCH_REPORT,
                    ShareRight::Read,
                    handle,
                    &who,
                    now,
                )
                .await
                .map_err(|e| at_source(i, e))?;
            let source = u32::try_from(i).unwrap_or(u32::MAX);
            let mut after = 0;
            let mut read = 0u32;
            let task = loop {
                let page = self
                    .store
                    .list_findings(&target.owner, &target.id, after, PAGE, Utc::now())
                    .await
                    .map_err(read_error("read the findings"))
                    .map_err(|e| at_source(i, e))?;
                for finding in &page.findings {
                    if draft.truncated
                        || draft.total >= MAX_READ_FINDINGS
                        || draft.bytes + finding.text.len() > MAX_READ_BYTES
                    {
                        draft.truncated = true;
                        break;
                    }
                    draft.add(&finding.text, source);
                    read += 1;
                }
                after = page.findings.last().map_or(after, |f| f.index);
                if !page.has_more || draft.truncated {
                    break page.task;
                }
            };
            draft.sources.push(ReportSource {
                handle: handle.clone(),
                topic: task.topic,
                status: task.status,
                findings_count: task.findings_count,
                findings_read: read,
            });
            let state = serde_json::to_value(&draft).map_err(|e| {
                let reference = crate::fault::reference();
                tracing::error!(error = %e, reference, "the report's checkpoint did not serialize");
                ToolError::Internal { reference }
            })?;
            context::checkpoint(format!("read {} of {count} research tasks", i + 1), state)
                .await
                .map_err(context_failed)?;
        }
        context::report("merging the findings")
            .await
            .map_err(context_failed)?;
        Ok(draft.into_report(max_findings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(texts: &[(&str, u32)]) -> ResearchReport {
        let mut draft = Draft::default();
        for (text, source) in texts {
            draft.add(text, *source);
        }
        draft.into_report(10)
    }

    #[test]
    fn findings_merge_up_to_case_and_spacing_and_sort_by_count() {
        let report = draft(&[
            ("Rust is fast", 0),
            ("Tokio schedules tasks", 0),
            ("rust  is FAST", 1),
            ("Tokio schedules tasks", 1),
            ("rust is fast", 1),
            ("only once", 2),
        ]);
        let found: Vec<(&str, u32, Vec<u32>)> = report
            .findings
            .iter()
            .map(|f| (f.text.as_str(), f.count, f.sources.clone()))
            .collect();
        assert_eq!(
            found,
            [
                ("Rust is fast", 3, vec![0, 1]),
                ("Tokio schedules tasks", 2, vec![0, 1]),
                ("only once", 1, vec![2]),
            ]
        );
        assert_eq!((report.total_findings, report.distinct_findings), (6, 3));
        assert!(!report.truncated);
    }

    #[test]
    fn a_restored_checkpoint_goes_on_merging_into_the_findings_it_saved() {
        let mut before = Draft::default();
        before.add("Rust is fast", 0);
        before.add("Cargo builds", 0);
        let saved = serde_json::to_value(&before).unwrap();
        let mut after = Draft::restored(Some(saved));
        after.add("rust IS fast", 1);
        let report = after.into_report(10);
        assert_eq!((report.total_findings, report.distinct_findings), (3, 2));
        assert_eq!(report.findings[0].text, "Rust is fast");
        assert_eq!(report.findings[0].sources, [0, 1]);
        assert_eq!(Draft::restored(None).findings.len(), 0);
    }

    #[test]
    fn the_list_is_cut_at_max_findings_and_says_so() {
        let mut d = Draft::default();
        for n in 0..5 {
            d.add(&format!("finding {n}"), 0);
        }
        let report = d.into_report(2);
        assert_eq!(report.findings.len(), 2);
        assert_eq!(report.distinct_findings, 5);
        assert!(report.truncated);
    }

    #[test]
    fn arguments_are_checked_with_the_field_named() {
        let args = |handles: &[&str], max: Option<u32>| CompileResearchReport {
            handles: handles.iter().map(|h| (*h).to_owned()).collect(),
            max_findings: max,
        };
        let field = |r: Result<u32, ToolError>| r.unwrap_err().to_string();
        assert!(field(validate(&args(&[], None))).contains("handles"));
        assert!(field(validate(&args(&["a", "b", "a"], None))).contains("handles[2]"));
        assert!(field(validate(&args(&["a"], Some(0)))).contains("max_findings"));
        assert!(field(validate(&args(&["a"], Some(5_001)))).contains("max_findings"));
        assert_eq!(validate(&args(&["a"], None)).ok(), Some(1_000));
        let many: Vec<String> = (0..=MAX_SOURCES).map(|n| n.to_string()).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(field(validate(&args(&many, None))).contains("handles"));
    }
}
