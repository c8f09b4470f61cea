//! Logging: tracing-subscriber to stderr, filtered by `RUST_LOG` (default `info`); and, with
//! the `otel` feature and `--otlp-endpoint`, OpenTelemetry traces exported by OTLP
//! (`observability::traces` says where spans are taken).
//!
//! Logs never carry a full handle, a signing key or a token: handles are not logged at all
//! (tools log outcomes, not arguments), and `Debug` of key types is redacted.

use std::{
    io::IsTerminal,
    sync::atomic::{AtomicBool, Ordering},
};

use tracing::Subscriber;
use tracing_subscriber::{EnvFilter, Layer, fmt, prelude::*, registry::LookupSpan};

use crate::config::LogFormat;

/// Whether the OpenTelemetry layer is installed: only then do the HTTP app and the store
/// wrapper take spans (so a server without `--otlp-endpoint` creates none).
static TRACES: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (the `otel` feature and `--otlp-endpoint`, and [`init`] ran).
pub fn traces_enabled() -> bool {
    TRACES.load(Ordering::Relaxed)
}

/// Flushes and stops the trace exporter when dropped (a no-op without one). Keep it alive
/// until the server has stopped.
#[must_use = "dropping the guard stops the trace exporter"]
pub struct Guard {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some(provider) = self.provider.take() {
            // Exports the spans still queued (bounded by the exporter's timeout).
            if let Err(e) = provider.shutdown() {
                eprintln!("warning: the trace exporter did not shut down cleanly: {e}");
            }
        }
    }
}

fn env_filter() -> EnvFilter {
    EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,rmcp=warn,tower_http=warn"))
}

fn fmt_layer<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    match format {
        LogFormat::Text => fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .boxed(),
    }
}

/// Installs the global subscriber. Call once, first thing (outside any async runtime: the
/// exporter makes its HTTP client on a thread of its own). `otlp_endpoint` is
/// `--otlp-endpoint`: with it (and the `otel` feature) spans are exported there; without
/// it, logging is all there is and no span layer is installed.
pub fn init(format: LogFormat, otlp_endpoint: Option<&str>) -> anyhow::Result<Guard> {
    let Some(endpoint) = otlp_endpoint else {
        tracing_subscriber::registry()
            .with(env_filter())
            .with(fmt_layer(format))
            .init();
        return Ok(Guard {
            #[cfg(feature = "otel")]
            provider: None,
        });
    };
    #[cfg(feature = "otel")]
    {
        let (layer, provider) = crate::observability::traces::layer(endpoint)?;
        // The spans are for the exporter: kept out of the log lines' span lists.
        let no_spans = format!("{}=off", crate::observability::traces::TARGET)
            .parse()
            .map_err(|e| anyhow::anyhow!("a log filter directive: {e}"))?;
        // Each layer filters for itself: RUST_LOG chooses the logs, and the span layer takes
        // baton's own spans whatever RUST_LOG says.
        tracing_subscriber::registry()
            .with(layer)
            .with(fmt_layer(format).with_filter(env_filter().add_directive(no_spans)))
            .init();
        TRACES.store(true, Ordering::Relaxed);
        tracing::info!(
            endpoint = %crate::store::redact(&crate::observability::traces::traces_url(endpoint)),
            "exporting traces by OTLP"
        );
        Ok(Guard {
            provider: Some(provider),
        })
    }
    #[cfg(not(feature = "otel"))]
    {
        anyhow::bail!("{}", without_otel(&crate::store::redact(endpoint)))
    }
}

/// The error for `--otlp-endpoint` on a build without the `otel` feature.
pub fn without_otel(endpoint: &str) -> String {
    format!(
        "--otlp-endpoint {endpoint}: this baton was built without the `otel` feature; \
         build it with `cargo build --release -p baton-server --features otel`"
    )
}
