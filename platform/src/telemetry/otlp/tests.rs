//! The export against a collector we do not run, stood in for by an HTTP server that keeps what
//! it is sent (OTLP/HTTP is a POST of a protobuf `ExportTraceServiceRequest`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::{body::Bytes, routing::post, Router};
use tracing_subscriber::prelude::*;

use super::{adopt_parent, layer, traces_url};

#[test]
fn a_bare_endpoint_gets_the_traces_path_and_a_full_one_is_kept() {
    assert_eq!(traces_url("http://collector:4318"), "http://collector:4318/v1/traces");
    assert_eq!(traces_url(" http://collector:4318/ "), "http://collector:4318/v1/traces");
    assert_eq!(traces_url("https://otlp.example/api/v1/traces"), "https://otlp.example/api/v1/traces");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_as_children_of_the_traceparent_they_adopt() {
    let received: Arc<Mutex<Vec<(String, Bytes)>>> = Arc::default();
    let app = Router::new().route(
        "/v1/traces",
        post({
            let received = received.clone();
            move |headers: axum::http::HeaderMap, body: Bytes| async move {
                let kind = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                received.lock().unwrap().push((kind, body));
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    let (layer, provider) = layer(&format!("http://{addr}"), "loyalty-test").unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("message", kind = "points.earn");
        adopt_parent(&span, &format!("00-{trace_id}-{parent_id}-01"));
        let _entered = span.enter();
    });
    // The batch leaves on the SDK's thread; flushing waits for it (blocking, so off the runtime).
    tokio::task::spawn_blocking(move || provider.force_flush().unwrap()).await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    let (kind, body) = loop {
        if let Some(first) = received.lock().unwrap().first().cloned() {
            break first;
        }
        assert!(Instant::now() < deadline, "no export reached the collector in 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(kind, "application/x-protobuf");
    let contains = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    // Protobuf carries the ids as raw bytes: the span's trace id is the adopted one, and its
    // parent span id the traceparent's parent.
    assert!(contains(&hex(trace_id)), "the exported span is not in trace {trace_id}");
    assert!(contains(&hex(parent_id)), "the exported span's parent is not {parent_id}");
    assert!(contains(b"loyalty-test"), "the service name is missing");
    assert!(contains(b"points.earn"), "the span's field is missing");
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}
