//! The trace context of the request being served: its W3C `traceparent` (one is made when the
//! request has none or an invalid one) and its request id (`x-request-id`, set by the request-id
//! layer when the client sent none). The middleware [`trace_context`] scopes it to the request's
//! task, records the trace id on the request's span, and answers it in a `traceparent` header;
//! [`crate::ingress::Sealed::publish`] copies it into every message the request publishes
//! (AMQP headers `traceparent`, `x-request-id`), whence the workers carry it into their span and
//! the analytics events.

use axum::{
    extract::Request,
    http::{HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};
use schemas::trace::TraceContext;

tokio::task_local! {
    static CURRENT: TraceContext;
}

pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// The trace context of the request this task serves (none outside a request, e.g. in tests
/// that publish directly).
pub fn current() -> Option<TraceContext> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Middleware: the request's trace context, for the rest of the request.
pub async fn trace_context(req: Request, next: Next) -> Response {
    let trace = {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        TraceContext::from_header(header("traceparent"), header("x-request-id").map(str::to_string))
    };
    let span = tracing::Span::current();
    span.record("trace_id", trace.trace_id());
    platform::telemetry::adopt_parent(&span, Some(&trace.traceparent));
    let value = HeaderValue::from_str(&trace.traceparent).ok();
    let mut response = CURRENT.scope(trace, next.run(req)).await;
    if let Some(value) = value {
        response.headers_mut().insert(TRACEPARENT, value);
    }
    response
}
