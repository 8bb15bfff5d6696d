//! The trace context of the request being served: its W3C `traceparent` (one is made when the
//! request has none or an invalid one) and its request id (`x-request-id`, made when the client
//! sent none). [`crate::edge`] makes both and scopes the context to the request's task
//! ([`scope`]); [`crate::ingress::Sealed::publish`] copies it ([`current`]) into every message
//! the request publishes (AMQP headers `traceparent`, `x-request-id`), whence the workers carry
//! it into their span and the analytics events.

use std::future::Future;

use axum::http::{HeaderName, HeaderValue};
use platform::broker::headers;
use schemas::trace::TraceContext;
use tokio::task::futures::TaskLocalFuture;
use uuid::Uuid;

tokio::task_local! {
    static CURRENT: TraceContext;
}

// The HTTP headers of the trace context, named as the message headers that carry it on.
pub const TRACEPARENT: HeaderName = HeaderName::from_static(headers::TRACEPARENT);
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static(headers::REQUEST_ID);

/// The trace context of the request this task serves (none outside a request, e.g. in tests
/// that publish directly).
pub fn current() -> Option<TraceContext> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Serves `future` (a request) with `context` as its [`current`] trace context.
pub fn scope<F: Future>(context: TraceContext, future: F) -> TaskLocalFuture<TraceContext, F> {
    CURRENT.scope(context, future)
}

/// The request id of a request that came without one: a UUID v4, written straight into the
/// header value (tower-http's `MakeRequestUuid` formats it into a `String` and parses it back:
/// ~1.5 % of an accepted request's instructions, issue 14).
pub fn new_request_id() -> HeaderValue {
    let mut buffer = Uuid::encode_buffer();
    let id = Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
    HeaderValue::from_str(id).expect("a hyphenated UUID is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_request_id_is_a_hyphenated_uuid_v4_and_new_each_time() {
        let ids: Vec<String> = (0..2).map(|_| new_request_id().to_str().expect("ascii").to_string()).collect();
        for id in &ids {
            let uuid = Uuid::parse_str(id).expect("a uuid");
            assert_eq!((uuid.get_version_num(), uuid.hyphenated().to_string()), (4, id.clone()));
        }
        assert_ne!(ids[0], ids[1]);
    }
}
