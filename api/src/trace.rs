//! The trace context of the request being served: its W3C `traceparent` (one is made when the
//! request has none or an invalid one) and its request id (`x-request-id`, set by the request-id
//! layer when the client sent none). The middleware [`trace_context`] scopes it to the request's
//! task, hands it to the request's span, and answers it in a `traceparent` header;
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

/// Middleware: the request's trace context, for the rest of the request: in the request's
/// extensions (the request span, made inside this layer, names its trace id from there: set at
/// the span's creation, not recorded afterwards, which cost the JSON log formatter a re-format
/// of the span's fields per request) and in the task-local [`current`].
pub async fn trace_context(mut req: Request, next: Next) -> Response {
    let trace = {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        TraceContext::from_header(header("traceparent"), header("x-request-id").map(str::to_string))
    };
    let value = HeaderValue::from_str(&trace.traceparent).ok();
    req.extensions_mut().insert(trace.clone());
    let mut response = CURRENT.scope(trace, next.run(req)).await;
    if let Some(value) = value {
        response.headers_mut().insert(TRACEPARENT, value);
    }
    response
}
