//! The headers this system reads and writes on messages, and helpers to read AMQP values.

use lapin::{
    types::{AMQPValue, FieldTable},
    BasicProperties,
};
use schemas::trace::{valid_traceparent, TraceContext};

/// How many times the workers have already tried this message (0 on first publication).
pub const ATTEMPT: &str = "x-attempt";
/// Why a message was parked.
pub const PARK_REASON: &str = "x-park-reason";
/// poison | transient | delivery_limit
pub const PARK_CLASS: &str = "x-park-class";
pub const PARKED_AT: &str = "x-parked-at";
pub const REPLAYED: &str = "x-replayed";
/// The number of events in an analytics message (its body is a JSON array of them).
pub const EVENT_COUNT: &str = "x-event-count";
/// Analytics messages: when the transaction that wrote the outbox row committed (its
/// `created_at`, Unix milliseconds), for the analytics consumer's freshness histogram.
pub const APPLIED_AT: &str = "x-applied-at";
/// W3C trace context of the request that caused the message (a direct publisher may send its
/// own); the worker's span for the message and the analytics events it produces carry it.
pub const TRACEPARENT: &str = "traceparent";
/// The api's request id (`x-request-id`) of the request that published the message.
pub const REQUEST_ID: &str = "x-request-id";
/// A longer request id from a direct publisher is cut to this many characters.
pub const MAX_REQUEST_ID: usize = 128;

/// Persistent JSON with our message id: what every publish of this system uses (lapin's
/// default properties are not persistent).
pub fn persistent_json(message_id: &str, kind: &str) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_message_id(message_id.into())
        .with_type(kind.into())
}

/// The properties with the trace context's headers added.
pub fn with_trace(props: BasicProperties, trace: &TraceContext) -> BasicProperties {
    let mut set = vec![(TRACEPARENT, AMQPValue::LongString(trace.traceparent.as_str().into()))];
    if let Some(id) = &trace.request_id {
        set.push((REQUEST_ID, AMQPValue::LongString(id.as_str().into())));
    }
    add_headers(props, set, &[])
}

/// The trace context a message carries: its `traceparent` header when valid (an invalid one
/// is ignored, not a reason to park the message), with the request id if any.
pub fn trace(props: &BasicProperties) -> Option<TraceContext> {
    let traceparent = string(props, TRACEPARENT).filter(|t| valid_traceparent(t))?;
    Some(TraceContext {
        traceparent: traceparent.to_ascii_lowercase(),
        request_id: string(props, REQUEST_ID).map(|id| id.chars().take(MAX_REQUEST_ID).collect()),
    })
}

pub fn get<'a>(props: &'a BasicProperties, key: &str) -> Option<&'a AMQPValue> {
    props.headers().as_ref()?.inner().get(key)
}

pub fn as_string(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

pub fn as_int(value: &AMQPValue) -> Option<i64> {
    match *value {
        AMQPValue::ShortShortInt(v) => Some(v.into()),
        AMQPValue::ShortShortUInt(v) => Some(v.into()),
        AMQPValue::ShortInt(v) => Some(v.into()),
        AMQPValue::ShortUInt(v) => Some(v.into()),
        AMQPValue::LongInt(v) => Some(v.into()),
        AMQPValue::LongUInt(v) => Some(v.into()),
        AMQPValue::LongLongInt(v) => Some(v),
        _ => None,
    }
}

pub fn string(props: &BasicProperties, key: &str) -> Option<String> {
    get(props, key).and_then(as_string)
}

pub fn int(props: &BasicProperties, key: &str) -> Option<i64> {
    get(props, key).and_then(as_int)
}

/// The attempt counter (our header), or the broker's count of earlier deliveries.
pub fn attempt(props: &BasicProperties) -> i64 {
    int(props, ATTEMPT).unwrap_or(0)
}

/// The first `x-death` entry the broker added when it dead-lettered the message itself.
pub fn first_death(props: &BasicProperties) -> Option<&FieldTable> {
    match get(props, "x-death")? {
        AMQPValue::FieldArray(a) => match a.as_slice().first()? {
            AMQPValue::FieldTable(t) => Some(t),
            _ => None,
        },
        _ => None,
    }
}

/// A copy of the properties with some headers set and others removed.
pub fn with_headers(props: &BasicProperties, set: Vec<(&str, AMQPValue)>, remove: &[&str]) -> BasicProperties {
    add_headers(props.clone(), set, remove)
}

/// [`with_headers`] on properties the caller gives up (the ingress's, on every request): they are
/// not copied, and their table, if any, once (the copies were ~1 % of an accepted request, issue 14).
pub fn add_headers(props: BasicProperties, set: Vec<(&str, AMQPValue)>, remove: &[&str]) -> BasicProperties {
    let mut inner = props.headers().as_ref().map(|table| table.inner().clone()).unwrap_or_default();
    for key in remove {
        inner.remove(*key);
    }
    for (k, v) in set {
        inner.insert(k.into(), v);
    }
    props.with_headers(FieldTable::from(inner))
}
