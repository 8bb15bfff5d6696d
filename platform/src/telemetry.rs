//! Logging (`tracing`, JSON by default), the optional OTLP export of spans (feature `otlp`),
//! and the Prometheus metrics recorder.

use std::sync::{Mutex, OnceLock};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{fmt, prelude::*, EnvFilter};

pub mod json_line;
pub mod log_writer;
#[cfg(feature = "otlp")]
pub mod otlp;

use json_line::{JsonLine, SpanFields};

/// Installs the global subscriber once; later calls (tests) are no-ops. Built with the `otlp`
/// feature and given an OTLP endpoint in the environment, it also exports spans (see
/// [`otlp`]); call [`shutdown`] before the process exits so the last spans are sent.
pub fn init_logging(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    #[cfg(feature = "otlp")]
    let registry = tracing_subscriber::registry().with(otlp::from_env()).with(filter);
    #[cfg(not(feature = "otlp"))]
    let registry = tracing_subscriber::registry().with(filter);
    // Lines are written to stdout by a thread of their own, many per write(2) under load
    // ([`log_writer`]): a request's task formats its line and appends it to a buffer, never
    // blocking a runtime thread on a write to a full pipe. Never lossy.
    let (writer, guard) = log_writer::spawn(std::io::stdout());
    let result = if json {
        registry.with(fmt::layer().fmt_fields(SpanFields).event_format(JsonLine).with_writer(writer)).try_init()
    } else {
        registry.with(fmt::layer().with_writer(writer)).try_init()
    };
    // Already installed (a second test in the same process): keep the first.
    if result.is_ok() {
        *LOG_WRITER.lock().unwrap_or_else(|e| e.into_inner()) = Some(guard);
    }
}

/// The log writer thread's guard: dropping it writes the queued lines and stops the thread.
static LOG_WRITER: Mutex<Option<log_writer::Guard>> = Mutex::new(None);

/// Makes `span` a child of the W3C `traceparent` it was caused by (the HTTP request's, or the
/// one a message carried), so exported spans of the api and the workers join the client's
/// trace. Without the `otlp` feature, or with no exporter installed, it does nothing: the
/// trace id is then only a field of the log lines.
#[inline]
pub fn adopt_parent(span: &tracing::Span, traceparent: Option<&str>) {
    #[cfg(feature = "otlp")]
    if let Some(traceparent) = traceparent {
        otlp::adopt_parent(span, traceparent);
    }
    #[cfg(not(feature = "otlp"))]
    let _ = (span, traceparent);
}

/// Writes the queued log lines and sends the spans not yet exported (those a no-op without the
/// `otlp` feature or an exporter). Call it before the process exits.
pub fn shutdown() {
    #[cfg(feature = "otlp")]
    otlp::shutdown();
    drop(LOG_WRITER.lock().unwrap_or_else(|e| e.into_inner()).take());
}

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide metrics handle; installs the recorder on first use.
pub fn metrics() -> &'static PrometheusHandle {
    METRICS.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
            .expect("static buckets are valid")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; the handle still renders ours.
        drop(metrics::set_global_recorder(recorder));
        handle
    })
}
