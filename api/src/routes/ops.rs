//! Liveness, readiness, metrics.

use std::{
    collections::HashMap,
    sync::{LazyLock, RwLock},
    time::Duration,
};

use axum::{
    extract::State,
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use deadpool_redis::redis;
use metrics::{Counter, Histogram};
use platform::metric_names::{HTTP_REQUESTS_TOTAL, HTTP_REQUEST_SECONDS};
use serde_json::json;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics_text))
}

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// PostgreSQL and RabbitMQ answer: 200, else 503 with what failed. Redis only costs speed
/// (every read falls back to PostgreSQL), so Redis down keeps 200 and the body names it under
/// `degraded`: an orchestrator keeps routing traffic, an operator still sees it. So does a shard
/// of `DATABASE_SHARDS` that does not answer (`shards`, and `shard NAME` under `degraded`): its
/// tenants fail, the others are served.
pub async fn readyz(State(state): State<AppState>) -> Response {
    // Each check within CHECK_TIMEOUT: "ok", or what failed.
    async fn check(answer: impl std::future::Future<Output = Result<(), String>>) -> String {
        match tokio::time::timeout(CHECK_TIMEOUT, answer).await {
            Ok(Ok(())) => "ok".to_string(),
            Ok(Err(e)) => e,
            Err(_) => "timed out".to_string(),
        }
    }
    async fn postgres(db: &sqlx::PgPool) -> String {
        check(async { sqlx::query_scalar!("select 1 as one").fetch_one(db).await.map(drop).map_err(|e| e.to_string()) })
            .await
    }
    let rabbitmq = async { state.publisher.ensure_connected().await.map_err(|e| e.to_string()) };
    let redis = async {
        let mut conn = state.redis.get().await.map_err(|e| e.to_string())?;
        redis::cmd("PING").query_async::<String>(&mut conn).await.map(drop).map_err(|e| e.to_string())
    };
    let shards = futures_util::future::join_all(
        state.shards.iter().map(|s| async { (s.settings.shard.clone(), postgres(&s.db).await) }),
    );
    let (p, a, r, shards) = tokio::join!(postgres(&state.db), check(rabbitmq), check(redis), shards);
    let ready = p == "ok" && a == "ok";
    let mut degraded: Vec<String> = if r == "ok" { vec![] } else { vec!["redis".into()] };
    degraded.extend(shards.iter().filter(|(_, s)| s != "ok").map(|(name, _)| format!("shard {name}")));
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut body = json!({ "ready": ready, "degraded": degraded, "postgres": p, "rabbitmq": a, "redis": r });
    if !shards.is_empty() {
        body["shards"] = shards.into_iter().map(|(n, s)| (n, s.into())).collect::<serde_json::Map<_, _>>().into();
    }
    (status, axum::Json(body)).into_response()
}

/// Prometheus text format.
pub async fn metrics_text() -> String {
    platform::telemetry::metrics().render()
}

/// Counts a request and its latency by route (the matched template, or `unmatched`), method and
/// status (`crate::edge` calls it for every answer).
pub fn record(route: &str, method: &Method, status: u16, latency: Duration) {
    let (requests, seconds) = route_metrics(route, method, status);
    requests.increment(1);
    seconds.record(latency.as_secs_f64());
}

/// One route's request counter and latency histogram, by method (and status, for the counter).
type RouteHandles = Vec<(Method, u16, Counter, Histogram)>;

/// The handles [`record`] records into, registered once per route, method and status.
/// `metrics::counter!` with labels builds the labels (a `String` each), hashes the key and looks
/// it up in the recorder's registry on every call: ~2.7 % of an accepted request's instructions
/// (callgrind, issue 14). The series are the same; a request now finds its handles in a small map.
static ROUTE_METRICS: LazyLock<RwLock<HashMap<String, RouteHandles>>> = LazyLock::new(Default::default);

fn route_metrics(route: &str, method: &Method, status: u16) -> (Counter, Histogram) {
    let found = |handles: &RouteHandles| {
        handles.iter().find(|(m, s, ..)| m == method && *s == status).map(|(.., c, h)| (c.clone(), h.clone()))
    };
    if let Some(handles) = ROUTE_METRICS.read().unwrap_or_else(|e| e.into_inner()).get(route).and_then(found) {
        return handles;
    }
    // Registered with the process's recorder, installed first: a handle made before it would
    // record nowhere, for good.
    platform::telemetry::metrics();
    let (route_label, method_label) = (route.to_string(), method.to_string());
    let counter = metrics::counter!(HTTP_REQUESTS_TOTAL, "route" => route_label.clone(), "method" => method_label.clone(),
        "status" => status.to_string());
    let histogram = metrics::histogram!(HTTP_REQUEST_SECONDS, "route" => route_label, "method" => method_label);
    let mut cache = ROUTE_METRICS.write().unwrap_or_else(|e| e.into_inner());
    let handles = cache.entry(route.to_string()).or_default();
    if let Some(existing) = found(handles) {
        return existing;
    }
    handles.push((method.clone(), status, counter.clone(), histogram.clone()));
    (counter, histogram)
}
