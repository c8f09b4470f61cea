//! `--conformance-fixtures`: the official conformance suite's fixture tools, registered
//! as extra tools (listed and searchable like baton's own); `baton_conformance::WithFixtures`
//! answers them, and serves the fixtures' prompts, resources and listen streams.

use std::sync::Arc;

use baton_conformance::Fixtures;

use crate::{ExtraTool, tools::ToolFn};

/// The fixture tools as extra tools. Their handlers serve calls that reach them through the
/// tool table (e.g. `call_tool` in search mode); calls by name go to `WithFixtures`, which
/// has the request's context.
pub(crate) fn fixture_tools(fixtures: &Arc<Fixtures>) -> anyhow::Result<Vec<ExtraTool>> {
    Fixtures::tool_definitions()
        .iter()
        .map(|definition| {
            let name = definition.name.to_string();
            let fixtures = Arc::clone(fixtures);
            let handler: ToolFn = Arc::new(move |_principal, _arguments| {
                let result = fixtures.call_without_context(&name);
                Box::pin(async move { result })
            });
            ExtraTool::from_rmcp(definition, handler)
        })
        .collect()
}
