//! `--conformance-fixtures`: the official conformance suite's fixture tools, registered
//! as extra tools (listed and searchable like baton's own); `baton_conformance::WithFixtures`
//! answers them, and serves the fixtures' prompts, resources and listen streams.

use std::sync::Arc;

use baton_conformance::Fixtures;

use rmcp::{
    ErrorData,
    model::{CallToolResult, ContentBlock},
};

use crate::{
    ExtraTool,
    tool_tasks::{TaskSupport, context},
    tools::ToolFn,
};

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

/// The fixtures of the suite's `tasks-*` scenarios, as baton tools that run through the
/// durable tool task runtime (not a fixture engine of their own): what the suite checks is
/// baton's Tasks extension.
pub(crate) fn task_fixture_tools() -> anyhow::Result<Vec<ExtraTool>> {
    use crate::tool_tasks::TaskSupport::{Never, Optional, Required};
    use serde_json::json;

    let fixtures: [(&str, &str, serde_json::Value, TaskSupport, ToolFn); 7] = [
        (
            baton_conformance::TASK_AFTER_INPUT_TOOL,
            "Greets the name asked for before the task started (MRTR, then a task).",
            json!({"type": "object", "properties": {"name": {"type": "string", "description": "Who to greet (asked for when missing)."}}, "additionalProperties": false}),
            Required,
            Arc::new(|_, args| {
                let name = text_arg(&args, "name");
                Box::pin(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    Ok(CallToolResult::success(vec![ContentBlock::text(format!(
                        "Hello, {name}!"
                    ))]))
                })
            }),
        ),
        (
            "greet",
            "Greets someone by name (synchronous).",
            json!({"type": "object", "properties": {"name": {"type": "string", "description": "Who to greet."}}, "required": ["name"], "additionalProperties": false}),
            Never,
            Arc::new(|_, args| {
                let name = text_arg(&args, "name");
                Box::pin(async move {
                    Ok(CallToolResult::success(vec![ContentBlock::text(format!(
                        "Hello, {name}!"
                    ))]))
                })
            }),
        ),
        (
            "slow_compute",
            "Computes for `seconds` seconds (a task when the client allows it).",
            json!({"type": "object", "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 600, "description": "How long to compute."}, "label": {"type": "string", "description": "A label echoed in the result."}}, "additionalProperties": false}),
            Optional,
            Arc::new(|_, args| {
                let seconds = args
                    .get("seconds")
                    .and_then(serde_json::Value::as_f64)
                    .unwrap_or(0.0)
                    .clamp(0.0, 600.0);
                let label = text_arg(&args, "label");
                Box::pin(async move {
                    context::report(format!("computing for {seconds} s")).await?;
                    tokio::time::sleep(std::time::Duration::from_secs_f64(seconds)).await;
                    Ok(CallToolResult::success(vec![ContentBlock::text(format!(
                        "{label}: computed for {seconds} s"
                    ))]))
                })
            }),
        ),
        (
            "failing_job",
            "A job that ends with a tool error after a second (runs only as a task).",
            json!({"type": "object", "properties": {}, "additionalProperties": false}),
            Required,
            Arc::new(|_, _| {
                Box::pin(async move {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    Ok(CallToolResult::error(vec![ContentBlock::text(
                        "the job failed",
                    )]))
                })
            }),
        ),
        (
            "protocol_error_job",
            "A job that ends with a JSON-RPC error.",
            json!({"type": "object", "properties": {}, "additionalProperties": false}),
            Optional,
            Arc::new(|_, _| {
                Box::pin(async move {
                    Err(ErrorData::internal_error(
                        "the job hit a protocol error",
                        None,
                    ))
                })
            }),
        ),
        (
            "confirm_delete",
            "Asks for confirmation, then deletes a file (pretend).",
            json!({"type": "object", "properties": {"filename": {"type": "string", "description": "The file to delete."}}, "additionalProperties": false}),
            Optional,
            Arc::new(|_, args| {
                let filename = text_arg(&args, "filename");
                Box::pin(async move {
                    let asked =
                        ask([("confirm", format!("Delete {filename}?"), "confirm", true)]).await?;
                    let verb = if accepted(asked.get("confirm"), "confirm") {
                        "Deleted"
                    } else {
                        "Kept"
                    };
                    Ok(CallToolResult::success(vec![ContentBlock::text(format!(
                        "{verb} {filename}"
                    ))]))
                })
            }),
        ),
        (
            "multi_input",
            "Asks for a name and a confirmation at once.",
            json!({"type": "object", "properties": {}, "additionalProperties": false}),
            Optional,
            Arc::new(|_, _| {
                Box::pin(async move {
                    let asked = ask([
                        ("name", "Your name?".to_owned(), "name", false),
                        ("confirm", "Go on?".to_owned(), "confirm", true),
                    ])
                    .await?;
                    Ok(CallToolResult::success(vec![ContentBlock::text(format!(
                        "got {} answers",
                        asked.len()
                    ))]))
                })
            }),
        ),
    ];
    fixtures
        .into_iter()
        .map(|(name, description, schema, support, handler)| {
            let serde_json::Value::Object(schema) = schema else {
                anyhow::bail!("fixture {name}: schema is not an object");
            };
            let definition = rmcp::model::Tool::new(name, description, Arc::new(schema));
            Ok(ExtraTool::from_rmcp(&definition, handler)?.with_task_support(support))
        })
        .collect()
}

fn text_arg(args: &rmcp::model::JsonObject, name: &str) -> String {
    args.get(name)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Asks for elicitations `(key, message, field, boolean)` through the task context.
async fn ask<const N: usize>(
    requests: [(&str, String, &str, bool); N],
) -> Result<serde_json::Map<String, serde_json::Value>, ErrorData> {
    let mut asked = serde_json::Map::new();
    for (key, message, field, boolean) in requests {
        let request = baton_conformance::elicit(&message, field, boolean)?;
        let value = serde_json::to_value(request)
            .map_err(|e| ErrorData::internal_error(format!("input request: {e}"), None))?;
        asked.insert(key.to_owned(), value);
    }
    context::ask(asked).await
}

/// Whether an elicitation answer accepted with `field` true.
fn accepted(answer: Option<&serde_json::Value>, field: &str) -> bool {
    answer.is_some_and(|a| {
        a.get("action").and_then(serde_json::Value::as_str) == Some("accept")
            && a.pointer(&format!("/content/{field}"))
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false)
    })
}
