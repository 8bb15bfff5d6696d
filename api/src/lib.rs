//! The HTTP ingress and query API. `app(state)` is the whole router, so tests drive it with
//! `oneshot` exactly as the binary serves it.

pub mod asyncapi;
pub mod audit;
pub mod auth;
pub mod edge;
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

use axum::{extract::DefaultBodyLimit, middleware, Router};
use edge::{BodyLimits, EdgeLayer};
use tower::ServiceBuilder;

/// The router with every route and middleware; with several shards, the dispatch of each
/// tenant's requests to its shard's router in front (`shards`).
pub fn app(state: AppState) -> Router {
    let default = shard_app(state.clone());
    shards::dispatching(&state, default, shard_app)
}

/// The router of one shard's state.
fn shard_app(state: AppState) -> Router {
    // The key check, then the tenant's rate limit.
    let tenant_routes =
        routes::tenant_routes().route_layer(middleware::from_fn_with_state(state.clone(), auth::require_tenant));
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
        // One layer for the whole stack (`Router::layer` wraps every route in it); `edge.rs` says
        // why it is one service and not five layers.
        .layer(
            ServiceBuilder::new()
                .layer(EdgeLayer {
                    limits: BodyLimits {
                        body: state.settings.max_body_bytes as u64,
                        import: state.settings.import_max_bytes,
                    },
                })
                .layer(DefaultBodyLimit::max(state.settings.max_body_bytes)),
        )
        .with_state(state)
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
