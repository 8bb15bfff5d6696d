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
use tower_http::request_id::{MakeRequestId, RequestId};
use uuid::Uuid;

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

/// The request id of a request that came without one: a UUID v4, like tower-http's
/// `MakeRequestUuid`, but written straight into the header value (that one formats the UUID
/// into a `String` and parses it back: ~1.5 % of an accepted request's instructions, issue 14).
#[derive(Clone, Copy, Default)]
pub struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let mut buffer = Uuid::encode_buffer();
        let id = Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
        HeaderValue::from_str(id).ok().map(RequestId::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_request_id_is_a_hyphenated_uuid_v4_and_new_each_time() {
        let request = axum::http::Request::new(());
        let mut make = NewRequestId;
        let ids: Vec<String> = (0..2)
            .map(|_| make.make_request_id(&request).expect("an id").header_value().to_str().expect("ascii").to_string())
            .collect();
        for id in &ids {
            let uuid = Uuid::parse_str(id).expect("a uuid");
            assert_eq!((uuid.get_version_num(), uuid.hyphenated().to_string()), (4, id.clone()));
        }
        assert_ne!(ids[0], ids[1]);
    }
}
