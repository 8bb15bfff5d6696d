//! The HTTP ingress and query API. `app(state)` is the whole router, so tests drive it with
//! `oneshot` exactly as the binary serves it.

pub mod asyncapi;
pub mod audit;
pub mod auth;
pub mod error;
pub mod ingress;
pub mod openapi;
pub mod rate_limit;
pub mod routes;
pub mod shards;
pub mod state;
pub mod trace;

pub use state::AppState;

use std::time::Duration;

use axum::{
    body::HttpBody,
    extract::{DefaultBodyLimit, MatchedPath, State},
    http::Request,
    middleware::{self, Next},
    response::Response,
    Router,
};
use schemas::trace::TraceContext;
use tower::ServiceBuilder;
use tower_http::{
    request_id::{PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

/// The router with every route and middleware; with several shards, the dispatch of each
/// tenant's requests to its shard's router in front (`shards`).
pub fn app(state: AppState) -> Router {
    let default = shard_app(state.clone());
    shards::dispatching(&state, default, shard_app)
}

/// The router of one shard's state.
fn shard_app(state: AppState) -> Router {
    // The key check runs first (the outer layer), then the tenant's rate limit.
    let tenant_routes = routes::tenant_routes()
        .route_layer(middleware::from_fn_with_state(state.clone(), rate_limit::limit_tenant))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_tenant));
    let admin_routes =
        routes::admin::router().route_layer(middleware::from_fn_with_state(state.clone(), auth::require_admin));
    let compat_routes =
        routes::compat_routes().route_layer(middleware::from_fn_with_state(state.clone(), auth::require_access_token));
    let activity_routes = routes::activity_routes()
        .route_layer(middleware::from_fn_with_state(state.clone(), routes::activities::require_key));
    Router::new()
        .merge(tenant_routes)
        .merge(compat_routes)
        .merge(activity_routes)
        .merge(admin_routes)
        .merge(routes::ops::router())
        .merge(routes::analytics::page::router())
        .merge(openapi::routes())
        .merge(asyncapi::routes())
        // One layer for the whole stack, outermost first. Applied as separate `Router::layer`
        // calls, each wrapped every route in a boxed service of its own, and every `from_fn`
        // clones the service inside it per request: about 60 boxed clones (an allocation each)
        // per request (callgrind, issue 14). Here the stack is boxed once per route.
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(trace::NewRequestId))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(middleware::from_fn(trace::trace_context))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request<_>| {
                            let route = req.extensions().get::<MatchedPath>().map_or(req.uri().path(), |m| m.as_str());
                            let request_id =
                                req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
                            // Set by `trace_context`, the layer around this one.
                            let trace = req.extensions().get::<TraceContext>();
                            let span = tracing::info_span!(
                                "http",
                                method = %req.method(),
                                route,
                                request_id,
                                trace_id = trace.map_or("", |t| t.trace_id()),
                            );
                            platform::telemetry::adopt_parent(&span, trace.map(|t| t.traceparent.as_str()));
                            span
                        })
                        .on_response(log_response)
                        // The response line above already carries a 5xx status; tower-http's default
                        // would log a second line for it.
                        .on_failure(()),
                )
                .layer(middleware::from_fn(routes::ops::track_metrics))
                .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
                .layer(middleware::from_fn_with_state(state.clone(), limit_body)),
        )
        .with_state(state)
}

/// One line per response, at INFO (tower-http's default is DEBUG, invisible at `RUST_LOG=info`),
/// in the request's span, which names the method, the route and the request id; a 5xx is an
/// ERROR line.
fn log_response(response: &Response, latency: Duration, _span: &tracing::Span) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if response.status().is_server_error() {
        tracing::error!(status, latency_ms, "response");
    } else {
        tracing::info!(status, latency_ms, "response");
    }
}

/// Answers 413 before reading a body whose announced size (`Content-Length`) is over the
/// route's limit: `MAX_BODY_BYTES`, or `IMPORT_MAX_BYTES` for the CSV import. A body without a
/// length is cut at the same limit as it is read (the extractors' `DefaultBodyLimit`, the
/// import's counting reader).
async fn limit_body(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: Next,
) -> Result<Response, error::ApiError> {
    let import =
        req.extensions().get::<MatchedPath>().is_some_and(|p| p.as_str() == routes::cards::stock::IMPORT_ROUTE);
    let (limit, name) = if import {
        (state.settings.import_max_bytes, "IMPORT_MAX_BYTES")
    } else {
        (state.settings.max_body_bytes as u64, "MAX_BODY_BYTES")
    };
    let announced = req.body().size_hint().lower();
    if announced > limit {
        return Err(error::ApiError::PayloadTooLarge(format!(
            "the body is {announced} bytes; the limit is {limit} bytes ({name})"
        )));
    }
    Ok(next.run(req).await)
}

/// Serves until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

/// How long `wait_ms` may be at most.
pub const MAX_WAIT: Duration = Duration::from_secs(10);
