//! Whether a worker process does its job, for its `/healthz`: how many of its consumers hold
//! an active `basic_consume` right now. A process whose consumers all lost the broker (or never
//! reached it) answers 503, so an orchestrator restarts it or stops counting it; a plain "ok"
//! would only say the process is alive, which the metrics port already shows.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use axum::{extract::State, http::StatusCode, response::IntoResponse, routing::get, Json, Router};
use platform::metric_names::WORKER_CONSUMERS_CONSUMING;
use serde_json::json;

/// The number of consuming consumers of one worker (one [`crate::WorkerHandle`]).
#[derive(Debug, Default)]
pub struct Consuming {
    count: AtomicUsize,
}

impl Consuming {
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Counts a consumer in until the guard drops (its session ended, by error or shutdown).
    pub fn enter(self: &Arc<Consuming>) -> ConsumingGuard {
        self.count.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!(WORKER_CONSUMERS_CONSUMING).increment(1.0);
        ConsumingGuard(self.clone())
    }
}

/// Held by a consumer for as long as it consumes.
pub struct ConsumingGuard(Arc<Consuming>);

impl Drop for ConsumingGuard {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!(WORKER_CONSUMERS_CONSUMING).decrement(1.0);
    }
}

/// `/healthz` (200 while at least one consumer consumes, else 503) and `/metrics`.
pub fn router(consuming: Arc<Consuming>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(|| async { platform::telemetry::metrics().render() }))
        .with_state(consuming)
}

async fn healthz(State(consuming): State<Arc<Consuming>>) -> impl IntoResponse {
    let count = consuming.count();
    let status = if count > 0 { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "consuming": count })))
}
