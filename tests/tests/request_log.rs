//! The api logs one line per response at INFO, with the method, the matched route (the
//! template, not the path), the status, the latency and the request id; and one request's id and
//! trace id reach the worker's log line for its message and the analytics event it produced.
//!
//! A test binary of its own, not a module of `e2e`: it installs a global subscriber. A
//! thread-local one (`set_default`) among e2e's parallel tests misses events: when a single
//! dispatcher is registered, tracing-core caches a callsite's interest from the default of
//! whichever thread hits it first, and another test's thread has none.

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use lapin::{options::BasicPublishOptions, types::AMQPValue};
use loyalty_tests::{login_rule, send, wait_for, TestEnv};
use platform::broker::headers;
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

/// The binary's global subscriber, installed by whichever test comes first: the binaries' JSON
/// format (platform::telemetry), at `RUST_LOG=info,workers=debug` (the workers' line per applied
/// message is at DEBUG).
fn captured() -> Captured {
    static SINK: OnceLock<Captured> = OnceLock::new();
    SINK.get_or_init(|| {
        let sink = Captured::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(platform::telemetry::json_line::SpanFields)
            .event_format(platform::telemetry::json_line::JsonLine)
            .with_env_filter(tracing_subscriber::EnvFilter::new("info,workers=debug"))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this binary");
        sink
    })
    .clone()
}

impl Captured {
    /// The JSON lines logged so far.
    fn lines(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()).expect("utf-8");
        text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).collect()
    }
}

#[tokio::test]
async fn one_info_line_per_response_names_method_route_status_latency_and_request_id() {
    // Before the environment, which installs its own ERROR-only subscriber when none is set.
    let sink = captured();
    let env = TestEnv::new().await;

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

/// An earn request's `x-request-id` and W3C trace id appear in the api's response line, in the
/// worker's line for the message, and on the analytics event it produced; a request without a
/// `traceparent` gets one made (answered in the response's `traceparent` header) that travels the
/// same way; a direct publisher's own `traceparent` header reaches the event too.
#[tokio::test]
async fn a_request_id_and_trace_travel_from_the_api_through_the_broker_to_the_worker_and_the_event() {
    // Before the environment, which installs its own ERROR-only subscriber when none is set.
    let sink = captured();
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    env.rule("10080", &key, login_rule()).await;
    let worker = env.default_worker();

    let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut sent = Vec::new();
    for (event_no, traceparent) in [("trace-e1", Some(given)), ("trace-e2", None)] {
        let request_id = format!("req-{event_no}");
        let mut req = Request::builder()
            .method("POST")
            .uri("/api/crm/mgr/points/10080/events")
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .header("x-request-id", &request_id);
        if let Some(t) = traceparent {
            req = req.header("traceparent", t);
        }
        let body = json!({"event_no": event_no, "member_no": "m1", "action_scene": "user_login"});
        let response = tower::ServiceExt::oneshot(env.router(), req.body(Body::from(body.to_string())).unwrap())
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let answered = response.headers()["traceparent"].to_str().unwrap().to_string();
        assert!(schemas::trace::valid_traceparent(&answered), "{answered}");
        if let Some(t) = traceparent {
            assert_eq!(answered, t, "a valid traceparent is kept");
        }
        sent.push((event_no, request_id, answered[3..35].to_string(), answered));
    }

    for (event_no, request_id, trace_id, traceparent) in &sent {
        // The api's response line.
        let api_line = sink
            .lines()
            .into_iter()
            .find(|l| l["message"] == json!("response") && l["span"]["request_id"] == json!(request_id))
            .unwrap_or_else(|| panic!("no api line for {request_id}"));
        assert_eq!(api_line["span"]["trace_id"], json!(trace_id), "{api_line}");
        // The worker's line for the message, in the message's span.
        let worker_line = wait_for(&format!("the worker's line for {request_id}"), Duration::from_secs(20), || {
            let found = sink.lines().into_iter().find(|l| {
                l["message"] == json!("applied")
                    && l["span"]["name"] == json!("message")
                    && l["span"]["key"] == json!(event_no)
            });
            async move { found }
        })
        .await;
        assert_eq!(worker_line["span"]["request_id"], json!(request_id), "{worker_line}");
        assert_eq!(worker_line["span"]["trace_id"], json!(trace_id), "{worker_line}");
        // The analytics event, as the outbox holds it.
        let event = outbox_event(&env, event_no).await;
        assert_eq!(event["trace"], json!({"traceparent": traceparent, "request_id": request_id}), "{event}");
    }

    // A direct publisher (not the api) with its own traceparent and no request id.
    let direct = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let envelope = schemas::Envelope::new(
        schemas::MessageKind::PointsEarn,
        "10080".into(),
        "trace-direct".into(),
        chrono::Utc::now(),
        json!({"member_no": "m1", "action_scene": "user_login"}),
    );
    let (_conn, channel) = env.channel().await;
    let props = headers::with_headers(
        &headers::persistent_json(&envelope.message_id.to_string(), "points.earn"),
        vec![(headers::TRACEPARENT, AMQPValue::LongString(direct.into()))],
        &[],
    );
    let confirm = channel
        .basic_publish(
            env.topology.events_exchange().into(),
            "points.earn.user_login".into(),
            BasicPublishOptions { mandatory: true, ..Default::default() },
            &serde_json::to_vec(&envelope).unwrap(),
            props,
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    assert!(confirm.is_ack());
    let event = outbox_event(&env, "trace-direct").await;
    assert_eq!(event["trace"], json!({"traceparent": direct}), "{event}");

    worker.stop(Duration::from_secs(5)).await;
    env.cleanup().await;
}

/// The analytics event of the earn `event_no`, once the worker has written it.
async fn outbox_event(env: &TestEnv, event_no: &str) -> Value {
    wait_for(&format!("the analytics event of {event_no}"), Duration::from_secs(20), || async {
        let rows: Vec<(Value,)> =
            sqlx::query_as("select convert_from(events, 'UTF8')::jsonb from outbox").fetch_all(&env.db).await.ok()?;
        rows.into_iter()
            .flat_map(|(events,)| events.as_array().cloned().unwrap_or_default())
            .find(|e| e["event_no"] == json!(event_no))
    })
    .await
}
