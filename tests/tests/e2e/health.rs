//! Health that tells the truth: the api's `/readyz` with a backing service down (Redis costs
//! only speed, PostgreSQL and the broker cost service), and a worker's `/healthz`, which
//! follows its consumers. "Down" is a closed port: nothing listens on port 1.

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use loyalty_tests::{send, wait_for, TestEnv};
use serde_json::{json, Value};
use workers::{Deps, WorkerOptions};

const CLOSED: &str = "127.0.0.1:1";

async fn get(router: axum::Router, path: &str) -> (StatusCode, Value) {
    send(router, Request::builder().method(Method::GET).uri(path).body(Body::empty()).expect("request")).await
}

#[tokio::test]
async fn readyz_is_200_and_names_redis_degraded_while_redis_is_down() {
    let mut env = TestEnv::new().await;
    let (status, resp) = env.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["degraded"], json!([]), "{resp}");
    assert_eq!(resp["redis"], json!("ok"));

    let redis_down = platform::cache::Redis::single(&format!("redis://{CLOSED}"), None).expect("pool");
    env.state = api::AppState::new(env.settings.clone(), env.db.clone(), redis_down);
    let (status, resp) = env.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK, "Redis down costs speed, not readiness: {resp}");
    assert_eq!(resp["ready"], json!(true));
    assert_eq!(resp["degraded"], json!(["redis"]), "{resp}");
    assert_eq!((&resp["postgres"], &resp["rabbitmq"]), (&json!("ok"), &json!("ok")));
    assert_ne!(resp["redis"], json!("ok"), "the body says what Redis answered: {resp}");
    env.cleanup().await;
}

#[tokio::test]
async fn readyz_is_503_while_postgres_is_down() {
    let mut env = TestEnv::new().await;
    let db_down = sqlx::PgPool::connect_lazy(&format!("postgres://postgres:postgres@{CLOSED}/none")).expect("lazy");
    env.state = api::AppState::new(env.settings.clone(), db_down, env.redis.clone());
    let (status, resp) = env.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{resp}");
    assert_eq!(resp["ready"], json!(false));
    assert_ne!(resp["postgres"], json!("ok"), "{resp}");
    assert_eq!((&resp["rabbitmq"], &resp["redis"]), (&json!("ok"), &json!("ok")));
    env.cleanup().await;
}

#[tokio::test]
async fn worker_healthz_is_200_while_its_consumers_consume_and_503_once_they_stop() {
    let env = TestEnv::new().await;
    let worker = env.worker(1, false, Arc::default());
    let router = workers::health::router(worker.consuming.clone());
    // One consumer per queue family (points, cards).
    wait_for("both consumers consuming", Duration::from_secs(10), || {
        let router = router.clone();
        async move {
            let (status, body) = get(router, "/healthz").await;
            (status == StatusCode::OK && body == json!({"consuming": 2})).then_some(())
        }
    })
    .await;
    worker.stop(Duration::from_secs(10)).await;
    let (status, body) = get(router, "/healthz").await;
    assert_eq!((status, body), (StatusCode::SERVICE_UNAVAILABLE, json!({"consuming": 0})));
    env.cleanup().await;
}

#[tokio::test]
async fn worker_healthz_is_503_while_the_broker_is_unreachable() {
    let env = TestEnv::new().await;
    let mut settings = env.settings.clone();
    settings.amqp_url = format!("amqp://guest:guest@{CLOSED}/%2f");
    let deps = Arc::new(Deps::new(settings, env.db.clone(), env.redis.clone(), Arc::default()));
    let options = WorkerOptions { consumers: 1, relay: false, sweep: false, analytics: 0 };
    let worker = workers::start(deps, options, Default::default());
    let router = workers::health::router(worker.consuming.clone());
    // The consumers keep retrying (200 ms, 400 ms, … between attempts); none ever consumes.
    for _ in 0..5 {
        let (status, body) = get(router.clone(), "/healthz").await;
        assert_eq!((status, body), (StatusCode::SERVICE_UNAVAILABLE, json!({"consuming": 0})));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    worker.stop(Duration::from_secs(5)).await;
    env.cleanup().await;
}

/// `AMQP_URL` with several addresses (a cluster's nodes), the first one down: every connection
/// attempt, whichever address it starts from, ends on the live one, and the api's publisher and
/// a worker's consumers carry an event through as with one address.
#[tokio::test]
async fn an_amqp_url_of_several_addresses_connects_to_one_that_answers() {
    let live = platform::Settings::from_env().expect("settings").amqp_url;
    let list = format!("amqp://guest:guest@{CLOSED}/%2f,{live}");
    // Each attempt starts one address further (a counter of the process, which other tests
    // move too): whichever address an attempt starts from, it must end connected.
    for _ in 0..4 {
        let connection = platform::broker::connect(&list, "test-addresses").await.expect("the live address");
        connection.close(200, "done".into()).await.ok();
    }
    let env = TestEnv::new_with(|s| s.amqp_url = list.clone()).await;
    let key = env.tenant("10080").await;
    env.rule("10080", &key, loyalty_tests::login_rule()).await;
    let worker = env.default_worker();
    let (status, body) = env
        .event("10080", &key, json!({"event_no": "a1", "member_no": "m1", "action_scene": "user_login"}), 5_000)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "applied", "{body}");
    worker.stop(Duration::from_secs(5)).await;
    env.cleanup().await;
}

/// The value of the series of `name` whose labels include all of `labels`, 0 when it is absent.
fn series(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn every_response_is_counted_by_route_method_and_status_and_timed_by_route_and_method() {
    let env = TestEnv::new().await;
    let metrics = platform::telemetry::metrics();
    let healthz = ["route=\"/healthz\"", "method=\"GET\"", "status=\"200\""];
    let refused = ["route=\"/api/crm/mgr/points/{crm_id}/events\"", "method=\"POST\"", "status=\"401\""];
    let before = metrics.render();
    let (ok, refused_before) =
        (series(&before, "http_requests_total", &healthz), series(&before, "http_requests_total", &refused));
    let timed = series(&before, "http_request_seconds_count", &healthz[..2]);
    for _ in 0..3 {
        let (status, _) = env.call(Method::GET, "/healthz", None, None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = env.call(Method::POST, "/api/crm/mgr/points/10080/events", None, Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Other tests of this process may count too: at least these requests, each in its series.
    let after = metrics.render();
    assert!(series(&after, "http_requests_total", &healthz) >= ok + 3.0, "{after}");
    assert!(series(&after, "http_requests_total", &refused) >= refused_before + 1.0, "{after}");
    assert!(series(&after, "http_request_seconds_count", &healthz[..2]) >= timed + 3.0, "{after}");
    env.cleanup().await;
}
