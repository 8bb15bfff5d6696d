//! Liveness, readiness, metrics.

use std::time::{Duration, Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use deadpool_redis::redis;
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

/// Counts requests and their latency by route and status.
pub async fn track_metrics(req: Request, next: Next) -> Response {
    let route =
        req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS_TOTAL, "route" => route.clone(), "method" => method.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_REQUEST_SECONDS, "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}
