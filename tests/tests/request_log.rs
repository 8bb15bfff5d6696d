//! The api logs one line per response at INFO, with the method, the matched route (the
//! template, not the path), the status, the latency and the request id.
//!
//! A test binary of its own, not a module of `e2e`: it installs a global subscriber. A
//! thread-local one (`set_default`) among e2e's parallel tests misses events: when a single
//! dispatcher is registered, tracing-core caches a callsite's interest from the default of
//! whichever thread hits it first, and another test's thread has none.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use loyalty_tests::{send, TestEnv};
use serde_json::{json, Value};

/// A log sink the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn one_info_line_per_response_names_method_route_status_latency_and_request_id() {
    let env = TestEnv::new().await;
    let sink = Captured::default();
    // The binary's JSON format (platform::telemetry), at RUST_LOG=info.
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this binary");

    let cases = [
        ("GET", "/healthz", "/healthz", StatusCode::OK),
        // No key: refused after routing, so the route is the template.
        ("POST", "/api/crm/mgr/points/10080/events", "/api/crm/mgr/points/{crm_id}/events", StatusCode::UNAUTHORIZED),
    ];
    for (i, (method, path, route, expected)) in cases.into_iter().enumerate() {
        let request_id = format!("req-log-{i}");
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("x-request-id", &request_id)
            .body(Body::empty())
            .expect("request");
        let (status, _) = send(env.router(), req).await;
        assert_eq!(status, expected, "{path}");
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).expect("utf-8");
        let lines: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["message"] == json!("response") && l["span"]["request_id"] == json!(request_id))
            .collect();
        assert_eq!(lines.len(), 1, "one response line for {path}:\n{text}");
        let line = &lines[0];
        assert_eq!(line["level"], json!("INFO"), "{line}");
        assert_eq!(line["status"], json!(expected.as_u16()), "{line}");
        assert_eq!(line["span"]["method"], json!(method), "{line}");
        assert_eq!(line["span"]["route"], json!(route), "{line}");
        assert!(line["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{line}");
    }
    env.cleanup().await;
}
