//! The OTLP export of spans (feature `otlp`, off by default).
//!
//! Configured by OpenTelemetry's standard variables, so an operator sets what every other
//! OpenTelemetry SDK reads: export is on when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set (OTLP over HTTP/protobuf, e.g.
//! `http://otel-collector:4318`); `OTEL_SERVICE_NAME` names the service (default
//! `loyalty-<binary>`); `OTEL_EXPORTER_OTLP_HEADERS`, `…_TIMEOUT` are read by the exporter.
//! Spans leave in batches from the SDK's own thread, so a slow collector never holds up a
//! request or a message; when the batch queue is full, spans are dropped, not waited for.

use std::sync::OnceLock;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The variables that switch the export on, most specific first.
const ENDPOINT_VARS: [&str; 2] = ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"];

/// The export layer when the environment names an endpoint, else `None` (a layer that does
/// nothing). A failure to build the exporter is logged to stderr and leaves the export off:
/// tracing is not worth refusing to start for.
pub fn from_env<S>() -> Option<Box<dyn Layer<S> + Send + Sync>>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let endpoint = ENDPOINT_VARS.iter().find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))?;
    let service = std::env::var("OTEL_SERVICE_NAME").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| {
        let binary = std::env::current_exe().ok().and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()));
        format!("loyalty-{}", binary.unwrap_or_else(|| "unknown".into()))
    });
    match layer(&endpoint, &service) {
        Ok((layer, provider)) => {
            // The first provider stays (a second init in one process is a test's no-op).
            let _ = PROVIDER.set(provider);
            Some(layer)
        }
        Err(e) => {
            eprintln!("OTLP export off: {e}");
            None
        }
    }
}

/// A layer exporting to `endpoint` (the collector's base URL; `/v1/traces` is added when the
/// URL has no path, as the OTLP spec says for the general endpoint), and its provider, which
/// owns the export thread.
pub fn layer<S>(
    endpoint: &str,
    service: &str,
) -> Result<(Box<dyn Layer<S> + Send + Sync>, SdkTracerProvider), opentelemetry_otlp::ExporterBuildError>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let exporter =
        opentelemetry_otlp::SpanExporter::builder().with_http().with_endpoint(traces_url(endpoint)).build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service.to_string()).build())
        .build();
    let tracer = provider.tracer("loyalty");
    Ok((tracing_opentelemetry::layer().with_tracer(tracer).boxed(), provider))
}

/// The URL spans are posted to: an endpoint with a path is taken as it is (the collector's
/// traces URL); a bare base URL gets OTLP/HTTP's `/v1/traces`.
fn traces_url(endpoint: &str) -> String {
    let endpoint = endpoint.trim().trim_end_matches('/');
    let has_path = endpoint.split_once("://").map_or(endpoint, |(_, rest)| rest).contains('/');
    if has_path {
        endpoint.to_string()
    } else {
        format!("{endpoint}/v1/traces")
    }
}

/// See [`super::adopt_parent`]. An invalid `traceparent` leaves the span a root.
pub fn adopt_parent(span: &tracing::Span, traceparent: &str) {
    let carrier = std::collections::HashMap::from([("traceparent".to_string(), traceparent.to_string())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    // Err only when no OpenTelemetry layer is installed: then there is nothing to join.
    let _ = span.set_parent(parent);
}

/// Exports what is queued and stops the export thread.
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        if let Err(e) = provider.shutdown() {
            eprintln!("OTLP export: shutdown: {e}");
        }
    }
}

#[cfg(test)]
mod tests;
