//! W3C trace context (<https://www.w3.org/TR/trace-context/>) and the request id, carried from
//! the HTTP request through the broker (AMQP headers `traceparent` and `x-request-id`) into the
//! worker's span for the message and into the analytics events it produces.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a change came from: the W3C `traceparent` of the request (or of a direct publisher's
/// message) and the api's request id, when there was one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TraceContext {
    /// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
    #[schema(pattern = "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")]
    pub traceparent: String,
    /// The api's `x-request-id` of the request that published the message; absent for a
    /// direct publisher that sent none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl TraceContext {
    /// A new trace (the request came without a `traceparent`), sampled: the trace id is a
    /// UUID v7 (time, then 74 random bits: its right half is random, as the spec asks), the
    /// parent id the random half of another.
    pub fn new_root(request_id: Option<String>) -> TraceContext {
        // Written straight into one string: through `to_string` and `format!` (the formatting
        // machinery, three strings) this was ~2 % of an accepted request's instructions (issue 14).
        let mut buffer = Uuid::encode_buffer();
        let mut traceparent = String::with_capacity(55);
        traceparent.push_str("00-");
        traceparent.push_str(Uuid::now_v7().simple().encode_lower(&mut buffer));
        traceparent.push('-');
        traceparent.push_str(&Uuid::now_v7().simple().encode_lower(&mut buffer)[16..]);
        traceparent.push_str("-01");
        TraceContext { traceparent, request_id }
    }

    /// The request's `traceparent` when it is valid, otherwise a new trace (as the W3C spec
    /// says: an invalid header is ignored and a new trace started).
    pub fn from_header(traceparent: Option<&str>, request_id: Option<String>) -> TraceContext {
        match traceparent.map(str::trim).filter(|t| valid_traceparent(t)) {
            Some(t) => TraceContext { traceparent: t.to_ascii_lowercase(), request_id },
            None => TraceContext::new_root(request_id),
        }
    }

    /// The 32 hex digits of the trace id.
    pub fn trace_id(&self) -> &str {
        self.traceparent.get(3..35).unwrap_or_default()
    }
}

/// Whether `value` is a version-00 `traceparent` with non-zero ids.
pub fn valid_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    matches!(parts.as_slice(), [version, trace, parent, flags]
        if *version == "00" && hex(trace, 32) && hex(parent, 16) && hex(flags, 2) && nonzero(trace) && nonzero(parent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_traceparent_is_kept_and_an_invalid_one_replaced() {
        let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let kept = TraceContext::from_header(Some(given), Some("r1".into()));
        assert_eq!(kept.traceparent, given);
        assert_eq!(kept.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(kept.request_id.as_deref(), Some("r1"));
        for bad in ["", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "01-4bf9-00f0-01"] {
            let made = TraceContext::from_header(Some(bad), None);
            assert_ne!(made.traceparent, bad);
            assert!(valid_traceparent(&made.traceparent), "{}", made.traceparent);
        }
        let root = TraceContext::new_root(None);
        assert!(valid_traceparent(&root.traceparent), "{}", root.traceparent);
        assert_eq!(root.trace_id().len(), 32);
    }
}
