//! The thinnest possible ingress, the baseline of `bench --ingress`: an axum route that parses
//! the JSON body, publishes the body persistent and mandatory through the default exchange
//! straight into a quorum queue on one of 4 shared confirm channels, awaits the broker's
//! confirm and answers 202. None of the engine's code: only axum, lapin, serde_json and tokio,
//! so the baseline carries none of the costs the engine's figure is compared against.
//!
//! `thin-ingress <listen addr> <amqp url> <queue>`; `GET /healthz` answers 200 once it accepts.

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
    options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable},
    BasicProperties, Channel, Connection, ConnectionProperties,
};

const CHANNELS: usize = 4;

struct Thin {
    channels: Vec<Channel>,
    next: AtomicUsize,
    queue: String,
}

async fn accept(State(thin): State<Arc<Thin>>, body: Bytes) -> StatusCode {
    if serde_json::from_slice::<serde_json::Value>(&body).is_err() {
        return StatusCode::BAD_REQUEST;
    }
    let channel = &thin.channels[thin.next.fetch_add(1, Ordering::Relaxed) % CHANNELS];
    let props = BasicProperties::default().with_delivery_mode(2).with_content_type("application/json".into());
    let options = BasicPublishOptions { mandatory: true, ..Default::default() };
    let confirmed = match channel.basic_publish("".into(), thin.queue.as_str().into(), options, &body, props).await {
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
    let [_, addr, amqp, queue] = &args[..] else {
        eprintln!("usage: thin-ingress <listen addr> <amqp url> <queue>");
        std::process::exit(2);
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
    channels[0]
        .queue_declare(queue.as_str().into(), QueueDeclareOptions { durable: true, ..Default::default() }, queue_args)
        .await
        .expect("queue");
    let thin = Arc::new(Thin { channels, next: AtomicUsize::new(0), queue: queue.clone() });
    let listener = tokio::net::TcpListener::bind(addr.as_str()).await.expect("listen");
    let app = Router::new().route("/events", post(accept)).route("/healthz", get(|| async { "ok" })).with_state(thin);
    axum::serve(listener, app).await.expect("serve");
}
