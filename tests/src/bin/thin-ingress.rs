//! The thinnest possible ingress, the baseline of `bench --ingress`: an axum route that parses
//! the JSON body, publishes the body persistent and mandatory through the default exchange
//! straight into a quorum queue on one of 4 shared confirm channels, awaits the broker's
//! confirm and answers 202. None of the engine's code: only axum, lapin, serde_json and tokio,
//! so the baseline carries none of the costs the engine's figure is compared against.
//!
//! `thin-ingress <listen addr> <amqp url> <queue> [--shaped <exchange>]`; `GET /healthz` answers
//! 200 once it accepts.
//!
//! `--shaped` publishes what the engine publishes instead of the request body as it came: an
//! envelope around it (message id, kind, schema version, tenant, times, key), the engine's
//! properties (`message_id`, `type`, the `traceparent` and `x-request-id` headers), under the
//! engine's routing key (`points.earn.<action_scene>`), through a topic exchange bound with
//! `points.#` to a queue with a work queue's arguments (SYSTEM.md's topology). The bench loads
//! this too, to tell what the broker charges for the engine's message apart from what the
//! engine's own code costs.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use axum::{
    body::Bytes,
    extract::State,
    http::StatusCode,
    routing::{get, post},
    Router,
};
use lapin::{
    options::{
        BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
    },
    types::{AMQPValue, FieldTable},
    BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind,
};

const CHANNELS: usize = 4;

struct Thin {
    channels: Vec<Channel>,
    next: AtomicUsize,
    queue: String,
    /// `--shaped`: the topic exchange to publish the engine's message shape through.
    shaped: Option<String>,
}

/// The engine's envelope around a request body, and its properties: the same fields and about
/// the same sizes as `schemas::Envelope` and `platform::broker::headers` make (a counter stands
/// in for the UUIDs).
fn shaped(n: usize, body: &[u8]) -> (Vec<u8>, BasicProperties) {
    let id = format!("0191c9a4-7b2e-7c3d-9e1f-{n:012x}");
    let mut envelope = Vec::with_capacity(body.len() + 200);
    envelope.extend_from_slice(
        format!(
            r#"{{"message_id":"{id}","kind":"points.earn","schema_version":1,"crm_id":"10080","occurred_at":"2026-11-27T23:40:14.123456Z","idempotency_key":"bench-{n:012}","payload":"#
        )
        .as_bytes(),
    );
    envelope.extend_from_slice(body);
    envelope.push(b'}');
    let mut headers = FieldTable::default();
    let traceparent = format!("00-0af7651916cd43dd8448eb21{n:06x}-b7ad6b7169203331-01");
    headers.insert("traceparent".into(), AMQPValue::LongString(traceparent.into()));
    headers.insert("x-request-id".into(), AMQPValue::LongString(format!("5b8f3c7e-1e0c-4b3a-9a62-{n:012x}").into()));
    let props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_message_id(id.into())
        .with_type("points.earn".into())
        .with_headers(headers);
    (envelope, props)
}

async fn accept(State(thin): State<Arc<Thin>>, body: Bytes) -> StatusCode {
    let Ok(parsed) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let n = thin.next.fetch_add(1, Ordering::Relaxed);
    let channel = &thin.channels[n % CHANNELS];
    let options = BasicPublishOptions { mandatory: true, ..Default::default() };
    let published = match &thin.shaped {
        None => {
            let props = BasicProperties::default().with_delivery_mode(2).with_content_type("application/json".into());
            channel.basic_publish("".into(), thin.queue.as_str().into(), options, &body, props).await
        }
        Some(exchange) => {
            let (envelope, props) = shaped(n, &body);
            // The engine's routing key for an earn event, `points.earn.<scene>`: each word more
            // is more of the topic exchange's matching.
            let key = match parsed.get("action_scene").and_then(serde_json::Value::as_str) {
                Some(scene) => format!("points.earn.{scene}"),
                None => "points.earn".to_string(),
            };
            channel.basic_publish(exchange.as_str().into(), key.as_str().into(), options, &envelope, props).await
        }
    };
    let confirmed = match published {
        Ok(confirm) => confirm.await,
        Err(e) => Err(e),
    };
    match confirmed {
        Ok(c) if c.is_ack() => StatusCode::ACCEPTED,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (addr, amqp, queue, shaped) = match &args[..] {
        [_, addr, amqp, queue] => (addr, amqp, queue, None),
        [_, addr, amqp, queue, flag, exchange] if flag == "--shaped" => (addr, amqp, queue, Some(exchange.clone())),
        _ => {
            eprintln!("usage: thin-ingress <listen addr> <amqp url> <queue> [--shaped <exchange>]");
            std::process::exit(2);
        }
    };
    let conn = Connection::connect(amqp, ConnectionProperties::default()).await.expect("broker");
    let mut channels = Vec::with_capacity(CHANNELS);
    for _ in 0..CHANNELS {
        let channel = conn.create_channel().await.expect("channel");
        channel.confirm_select(ConfirmSelectOptions::default()).await.expect("confirms");
        channels.push(channel);
    }
    let mut queue_args = FieldTable::default();
    queue_args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    if shaped.is_some() {
        // A work queue's arguments (SYSTEM.md: parked messages dead-letter to the domain's DLQ,
        // a delivery limit for messages that crash workers), as the engine's `points` queue
        // has them; written out here rather than taken from the engine's topology code.
        let dlq = format!("{queue}.dlq");
        for (key, value) in [
            ("x-dead-letter-exchange", ""),
            ("x-dead-letter-routing-key", dlq.as_str()),
            ("x-dead-letter-strategy", "at-least-once"),
            ("x-overflow", "reject-publish"),
        ] {
            queue_args.insert(key.into(), AMQPValue::LongString(value.into()));
        }
        queue_args.insert("x-delivery-limit".into(), AMQPValue::LongLongInt(20));
    }
    channels[0]
        .queue_declare(queue.as_str().into(), QueueDeclareOptions { durable: true, ..Default::default() }, queue_args)
        .await
        .expect("queue");
    if let Some(exchange) = &shaped {
        let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
        channels[0]
            .exchange_declare(exchange.as_str().into(), ExchangeKind::Topic, durable, FieldTable::default())
            .await
            .expect("exchange");
        channels[0]
            .queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                "points.#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind");
    }
    let thin = Arc::new(Thin { channels, next: AtomicUsize::new(0), queue: queue.clone(), shaped });
    let listener = tokio::net::TcpListener::bind(addr.as_str()).await.expect("listen");
    let app = Router::new().route("/events", post(accept)).route("/healthz", get(|| async { "ok" })).with_state(thin);
    axum::serve(listener, app).await.expect("serve");
}
