//! The broker contract (`/asyncapi.json`): an AsyncAPI 3.0.0 document of the commands the
//! workers consume on `{namespace}.events`, the analytics they emit on `{namespace}.analytics`,
//! and where a bad message is parked. The JSON Schemas are utoipa's, derived from the Rust types
//! the api publishes and the workers decode; channel addresses, header names and routing keys
//! come from the code that uses them, so the document cannot drift from the wire.

use std::borrow::Cow;

use axum::{routing::get, Json, Router};
use platform::broker::{headers, Domain, Topology};
use schemas::{
    analytics::{self, AnalyticsEvent},
    cards::{
        GeneratePayload, PresentPayload, PresentReceive, ReceivePayload, ReceiveReverse, RedeemPayload, RedeemReverse,
    },
    orders::{AdjustPayload, OrderPayload, OrderStepPayload},
    points::{AcceptPayload, ConsumePayload, EarnPayload, MovePayload, ReversePayload, UnfreezePayload},
    Envelope, MessageKind, SCHEMA_VERSION,
};
use serde_json::{json, Map, Value};
use utoipa::{OpenApi, PartialSchema, ToSchema};

use crate::AppState;

/// The types whose schemas the document carries (utoipa adds the types they refer to). The
/// generic envelope is added by [`document`] under its own name.
#[derive(OpenApi)]
#[openapi(components(schemas(
    MessageKind,
    EarnPayload,
    ConsumePayload,
    ReversePayload,
    MovePayload,
    AcceptPayload,
    UnfreezePayload,
    GeneratePayload,
    ReceivePayload,
    RedeemPayload,
    RedeemReverse,
    PresentPayload,
    PresentReceive,
    ReceiveReverse,
    AdjustPayload,
    OrderPayload,
    OrderStepPayload,
    AnalyticsEvent,
)))]
struct Schemas;

/// AMQP bindings of the document, version 0.3.0 of the AsyncAPI AMQP bindings.
const AMQP_BINDING: &str = "0.3.0";

/// The payload type of a command kind (what the api puts under `payload`).
fn payload_schema(kind: MessageKind) -> Cow<'static, str> {
    match kind {
        MessageKind::PointsEarn => EarnPayload::name(),
        MessageKind::PointsConsume => ConsumePayload::name(),
        MessageKind::PointsReverse => ReversePayload::name(),
        MessageKind::PointsTransfer | MessageKind::PointsFreeze => MovePayload::name(),
        MessageKind::PointsAccept => AcceptPayload::name(),
        MessageKind::PointsUnfreeze => UnfreezePayload::name(),
        MessageKind::CardsGenerate => GeneratePayload::name(),
        MessageKind::CardsReceive => ReceivePayload::name(),
        MessageKind::CardsRedeem => RedeemPayload::name(),
        MessageKind::CardsRedeemReverse => RedeemReverse::name(),
        MessageKind::CardsPresent => PresentPayload::name(),
        MessageKind::CardsPresentReceive => PresentReceive::name(),
        MessageKind::CardsReceiveReverse => ReceiveReverse::name(),
        MessageKind::PointsAdjust => AdjustPayload::name(),
        MessageKind::PointsOrder => OrderPayload::name(),
        MessageKind::PointsOrderStep => OrderStepPayload::name(),
    }
}

/// The routing key the api publishes a kind with (see each `Command::routing_key`): earn and
/// consume add the scene, so a consumer may bind to one scene. The queues bind `points.#` and
/// `cards.#`, so any key under the kind's domain reaches the workers; the body's `kind` decides.
fn routing_key(kind: MessageKind) -> String {
    match kind {
        MessageKind::PointsEarn | MessageKind::PointsConsume => format!("{}.{{action_scene}}", kind.as_str()),
        _ => kind.as_str().to_string(),
    }
}

/// What the message's `idempotency_key` must be.
fn key_rule(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::PointsEarn
        | MessageKind::PointsConsume
        | MessageKind::PointsFreeze
        | MessageKind::PointsUnfreeze => "the event's `event_no`",
        MessageKind::PointsReverse => "the reversal's own `event_no` (not `origin_event_no`)",
        MessageKind::PointsTransfer => "the `transfer_no`",
        MessageKind::PointsAccept => "`{transfer_no}/{member_no}` of the payload",
        MessageKind::CardsGenerate => "`{card_id}/{generate_id}` of the payload",
        MessageKind::CardsReceive => "the claim's `received_id`",
        MessageKind::CardsRedeem => "the redemption's `redeem_id`",
        MessageKind::CardsRedeemReverse => "the payload's `redeem_id`",
        MessageKind::CardsPresent => "a new `present_id` (the friend receives the present with it)",
        MessageKind::CardsPresentReceive => "`{present_id}/{member_no}` of the payload",
        MessageKind::CardsReceiveReverse => "the payload's `received_id`",
        MessageKind::PointsAdjust => "the `externalId` (the ledger's event_no), or one the api made",
        MessageKind::PointsOrder => "the order's `orderNo`",
        MessageKind::PointsOrderStep => {
            "`{orderNo}/{step}` as the api composes it (refund: `{orderNo}/refund/{digest of dateRefund and lines}`)"
        }
    }
}

fn domain(kind: MessageKind) -> Domain {
    Domain::parse(kind.as_str().split('.').next().unwrap_or_default()).unwrap_or(Domain::Points)
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The headers a command may carry: none are required; the workers set `x-attempt` on retries.
fn command_headers() -> Value {
    json!({
        "type": "object",
        "properties": {
            headers::ATTEMPT: {"type": "integer", "minimum": 0, "description": "Tries already made (the workers set it on retries; absent on a first publication)."},
            headers::TRACEPARENT: {"type": "string", "pattern": "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$", "description": "W3C trace context: the api copies the request's (or one it made); a direct publisher may send its own. The worker's span for the message and the analytics events it produces carry it (`trace`). An invalid value is ignored."},
            headers::REQUEST_ID: {"type": "string", "maxLength": headers::MAX_REQUEST_ID, "description": "The api's `x-request-id` of the request that published the message (longer values are cut)."},
        }
    })
}

/// The AMQP properties the workers rely on (AsyncAPI's AMQP message binding has no field for
/// them, hence the extension).
fn command_properties(kind: MessageKind) -> Value {
    json!({
        "delivery_mode": 2,
        "content_type": "application/json",
        "message_id": "the envelope's message_id",
        "type": kind.as_str(),
    })
}

fn command_message(kind: MessageKind) -> Value {
    let name = kind.as_str();
    json!({
        "name": name,
        "title": format!("{name} command"),
        "summary": format!(
            "Asks the workers to apply `{name}`. `idempotency_key`: {}; the same key applies at most once per tenant (a repeat is counted as a duplicate, nothing changes).",
            key_rule(kind)
        ),
        "contentType": "application/json",
        "headers": command_headers(),
        "payload": {
            "allOf": [
                schema_ref(&Envelope::<String>::name()),
                {
                    "type": "object",
                    "properties": {
                        "kind": {"type": "string", "enum": [name]},
                        "schema_version": {"type": "integer", "enum": [SCHEMA_VERSION]},
                        "payload": schema_ref(&payload_schema(kind)),
                    }
                }
            ]
        },
        "correlationId": {"location": "$message.payload#/message_id"},
        "bindings": {"amqp": {"messageType": name, "bindingVersion": AMQP_BINDING}},
        "x-amqp-properties": command_properties(kind),
    })
}

fn command_operation(kind: MessageKind) -> Value {
    let name = kind.as_str();
    json!({
        "action": "receive",
        "channel": {"$ref": "#/channels/events"},
        "title": format!("Apply {name}"),
        "summary": format!(
            "Publish with routing key `{}`, persistent (delivery_mode 2), mandatory, with publisher confirms; the workers of the `{}` queue apply it.",
            routing_key(kind),
            domain(kind).name()
        ),
        "messages": [{"$ref": format!("#/channels/events/messages/{name}")}],
        "bindings": {"amqp": {
            "cc": [routing_key(kind)],
            "deliveryMode": 2,
            "mandatory": true,
            "ack": true,
            "bindingVersion": AMQP_BINDING,
        }},
    })
}

/// The exchange binding of a channel.
fn exchange(name: &str) -> Value {
    json!({"amqp": {
        "is": "routingKey",
        "exchange": {"name": name, "type": "topic", "durable": true, "autoDelete": false, "vhost": "/"},
        "bindingVersion": AMQP_BINDING,
    }})
}

fn namespace_parameter() -> Value {
    json!({"namespace": {
        "description": "The deployment's LOYALTY_NAMESPACE setting.",
        "default": platform::settings::default::LOYALTY_NAMESPACE,
        "examples": [platform::settings::default::LOYALTY_NAMESPACE],
    }})
}

const PARK_TEXT: &str = "A message the workers cannot apply is never dropped. Poison (undecodable JSON, an \
    unknown `kind` or `schema_version`, a field that fails the same checks as the HTTP request, an \
    unknown tenant) is parked at once; a transient failure (database down) is retried after each \
    RETRY_DELAYS_MS delay, then parked; a message that crashes workers 20 times is dead-lettered by \
    the broker. Parked messages keep their body and properties, gain the headers below, and wait in \
    `{namespace}.{queue}.dlq` (queue `points` or `cards`) until an operator lists them \
    (`GET /api/admin/dlq`) and replays them (`POST /api/admin/dlq/replay`). A business refusal \
    (insufficient points, sold out, …) is not a bad message: it is stored as the key's outcome \
    (look it up under `.../outcomes/{key_kind}/{key}`) and acked.";

fn parked_message() -> Value {
    json!({
        "name": "parked",
        "title": "A parked command",
        "summary": PARK_TEXT,
        "headers": {
            "type": "object",
            "required": [headers::PARK_REASON, headers::PARK_CLASS],
            "properties": {
                headers::PARK_REASON: {"type": "string", "description": "Why, naming the field for an invalid one: `invalid points: must be …`."},
                headers::PARK_CLASS: {"type": "string", "enum": ["poison", "transient"], "description": "Absent when the broker dead-lettered it (then its `x-death` header says why, e.g. delivery_limit)."},
                headers::PARKED_AT: {"type": "string", "format": "date-time"},
                headers::ATTEMPT: {"type": "integer", "minimum": 0},
                headers::REPLAYED: {"type": "integer", "minimum": 1, "description": "Times an operator replayed it."},
            }
        },
        "payload": {"description": "The body as it was published, unchanged (it may not be JSON)."},
        "bindings": {"amqp": {"bindingVersion": AMQP_BINDING}},
    })
}

fn analytics_message() -> Value {
    json!({
        "name": "analytics",
        "title": "Analytics events",
        "summary": "The events of one applied transaction, as a JSON array; at-least-once: deduplicate on each event's `event_id`.",
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "required": [headers::EVENT_COUNT],
            "properties": {headers::EVENT_COUNT: {"type": "integer", "minimum": 1, "description": "How many events the array holds."}},
        },
        "payload": {"type": "array", "minItems": 1, "items": schema_ref(&AnalyticsEvent::name())},
        "bindings": {"amqp": {"bindingVersion": AMQP_BINDING}},
        "x-amqp-properties": {"delivery_mode": 2, "content_type": "application/json", "message_id": "outbox-{row id}", "type": "the routing key"},
    })
}

/// The whole document.
pub fn document() -> Value {
    // Addresses as the code names them, with the namespace left as a parameter.
    let topology = Topology::new("{namespace}", Vec::new());
    let mut schemas = Schemas::openapi().components.map(|c| c.schemas).unwrap_or_default();
    // Its payload is open (`Object`), so which `P` describes it does not matter.
    schemas.insert(Envelope::<String>::name().into_owned(), Envelope::<String>::schema());
    let schemas = serde_json::to_value(schemas).expect("schemas serialize");

    let mut messages = Map::new();
    let mut channel_messages = Map::new();
    let mut operations = Map::new();
    for &kind in MessageKind::ALL {
        let name = kind.as_str();
        messages.insert(name.into(), command_message(kind));
        channel_messages.insert(name.into(), json!({"$ref": format!("#/components/messages/{name}")}));
        operations.insert(name.into(), command_operation(kind));
    }
    messages.insert("parked".into(), parked_message());
    messages.insert("analytics".into(), analytics_message());
    operations.insert(
        "analytics".into(),
        json!({
            "action": "send",
            "channel": {"$ref": "#/channels/analytics"},
            "title": "Emit analytics",
            "summary": "The outbox relay publishes each applied transaction's events, persistent, with confirms.",
            "messages": [{"$ref": "#/channels/analytics/messages/analytics"}],
            "bindings": {"amqp": {"cc": analytics::ROUTING_KEYS, "deliveryMode": 2, "bindingVersion": AMQP_BINDING}},
        }),
    );
    let mut channels = Map::new();
    channels.insert(
        "events".into(),
        json!({
            "address": topology.events_exchange(),
            "title": "Commands",
            "description": format!(
                "The topic exchange upstream systems and the api publish commands to. Bound to the work queues `{}` (routing keys `points.#`) and `{}` (`cards.#`); a message no queue takes is returned to a mandatory publisher.",
                topology.work_queue(Domain::Points),
                topology.work_queue(Domain::Cards)
            ),
            "parameters": namespace_parameter(),
            "messages": channel_messages,
            "bindings": exchange(topology.events_exchange()),
        }),
    );
    channels.insert(
        "analytics".into(),
        json!({
            "address": topology.analytics_exchange(),
            "title": "Analytics",
            "description": format!("The topic exchange of analytics events, bound to the queue `{}` (`#`).", topology.analytics_queue()),
            "parameters": namespace_parameter(),
            "messages": {"analytics": {"$ref": "#/components/messages/analytics"}},
            "bindings": exchange(&topology.analytics_exchange()),
        }),
    );
    for &d in Domain::ALL {
        let queue = topology.dead_letter_queue(d);
        let mut ops = Map::new();
        ops.insert("action".into(), json!("send"));
        ops.insert("channel".into(), json!({"$ref": format!("#/channels/{}.dlq", d.name())}));
        ops.insert("title".into(), json!(format!("Park a bad {} message", d.name())));
        ops.insert("messages".into(), json!([{"$ref": format!("#/channels/{}.dlq/messages/parked", d.name())}]));
        operations.insert(format!("park.{}", d.name()), Value::Object(ops));
        channels.insert(
            format!("{}.dlq", d.name()),
            json!({
                "address": queue,
                "title": format!("Parked {} messages", d.name()),
                "description": PARK_TEXT,
                "parameters": namespace_parameter(),
                "messages": {"parked": {"$ref": "#/components/messages/parked"}},
                "bindings": {"amqp": {
                    "is": "queue",
                    "queue": {"name": queue, "durable": true, "exclusive": false, "autoDelete": false, "vhost": "/"},
                    "bindingVersion": AMQP_BINDING,
                }},
            }),
        );
    }

    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Loyalty engine broker contract",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "What upstream systems publish to RabbitMQ directly (the same commands the HTTP api publishes), what the workers emit for analytics, and where a bad message goes. Every message is a persistent JSON envelope (`Envelope`) whose `payload` is its kind's. A command published straight to the broker is validated exactly as the HTTP request is, and applied at most once per `idempotency_key`.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    })
}

/// `GET /asyncapi.json`, built once, beside `/openapi.json` (no auth).
pub fn routes() -> Router<AppState> {
    let doc = std::sync::Arc::new(document());
    Router::new().route("/asyncapi.json", get(move || async move { Json(doc.as_ref().clone()) }))
}

#[cfg(test)]
mod tests;
