//! Another team's tool on a baton server: define it with `baton-catalog` (so it is listed,
//! searchable in `--tool-exposure search` mode, and validated by `call_tool`), give it a
//! handler, and serve it with baton's own tools, store and transports.
//!
//! ```sh
//! cargo run -p baton-server --example custom_tool -- --listen 127.0.0.1:8080 --tool-exposure search
//! ```

use std::sync::Arc;

use baton_catalog::{ToolDefinition, ToolSpec};
use baton_server::{ExtraTool, config::ServeArgs, tools::ToolFn};
use clap::Parser;
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::json;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

fn word_count() -> anyhow::Result<ExtraTool> {
    let definition = ToolDefinition::new(
        "count_words",
        "Count the words in a text (whitespace-separated).",
    )
    .with_title("Count words")
    .with_input_schema(json!({
        "type": "object",
        "properties": {"text": {"type": "string", "description": "The text to count."}},
        "required": ["text"],
        "additionalProperties": false
    }))
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let spec = ToolSpec::new(definition)
        .with_tags(["text", "statistics"])
        .with_group("writing");
    let handler: ToolFn = Arc::new(|_principal, arguments| {
        Box::pin(async move {
            let Some(text) = arguments.get("text").and_then(|t| t.as_str()) else {
                return Ok(CallToolResult::error(vec![ContentBlock::text(
                    "invalid argument `text`: must be a string",
                )]));
            };
            Ok(CallToolResult::structured(
                json!({"words": text.split_whitespace().count()}),
            ))
        })
    });
    Ok(ExtraTool::new(spec, handler))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Keep the guard until the server stops: it flushes the spans of `--otlp-endpoint`.
    let _traces = baton_server::telemetry::init(
        baton_server::config::LogFormat::Text,
        cli.serve.otlp_endpoint.as_deref(),
    )?;
    baton_server::serve_with(cli.serve, vec![word_count()?]).await
}
