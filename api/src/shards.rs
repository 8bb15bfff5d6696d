//! Tenants on several databases (issue 16, `DATABASE_SHARDS`): each shard is served by a router
//! of its own, whose state holds the shard's pool, queues and rule cache, so the handlers read
//! and publish as they do with one database. The `default` state's router hands each request of
//! a tenant on another shard to that shard's router, before anything else runs:
//!
//! - a request with a tenant's API key (`Authorization: Bearer`, `?access_token=`) goes to the
//!   key's tenant's shard (the key cache: no lookup per request);
//! - `/dashboard/{crm_id}/…` (a session cookie, no key) goes to that tenant's shard;
//! - everything else stays: the admin routes (the directory's tenants, keys and limits, and the
//!   queues of the shard they name), health, metrics, the documents, and requests without a
//!   valid key (the default router answers them, 401 included).

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{Request, State},
    middleware::{self, Next},
    response::Response,
    Router,
};
use tower::{Layer, ServiceExt};

use crate::{auth, AppState};

#[derive(Clone)]
struct Dispatch {
    state: AppState,
    routers: Arc<HashMap<String, Router>>,
}

/// `default` (the router of `state`) with the dispatch to the shards' routers in front, if the
/// api has more than one shard.
pub fn dispatching(state: &AppState, default: Router, shard_router: impl Fn(AppState) -> Router) -> Router {
    if state.shards.is_empty() {
        return default;
    }
    let routers = state.shards.iter().map(|s| (s.settings.shard.clone(), shard_router(s.clone()))).collect();
    let dispatch = Dispatch { state: state.clone(), routers: Arc::new(routers) };
    // Around the default router as a whole, as its fallback: the dispatch runs before any
    // routing, so the shard's router matches the request afresh (a `Router::layer` would run
    // after the default router had matched it, and its match would be carried into the other).
    let dispatching = middleware::from_fn_with_state(dispatch, dispatch_request).layer(default);
    Router::new().fallback_service(dispatching)
}

async fn dispatch_request(State(d): State<Dispatch>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path.starts_with("/api/admin") {
        return next.run(req).await;
    }
    let shard = if let Some(key) = auth::access_token(&req) {
        // An unknown key, or the directory unreachable: the default router answers as it does.
        auth::tenant_of_key(&d.state, &key).await.ok().flatten().map(|t| t.shard)
    } else if let Some(crm_id) = path.strip_prefix("/dashboard/").and_then(|rest| rest.split('/').next()) {
        tenant_shard(&d.state, crm_id).await
    } else {
        None
    };
    match shard.and_then(|s| d.routers.get(&s)) {
        Some(router) => router.clone().oneshot(req).await.unwrap_or_else(|never| match never {}),
        None => next.run(req).await,
    }
}

/// The shard of a tenant, from the directory.
async fn tenant_shard(state: &AppState, crm_id: &str) -> Option<String> {
    sqlx::query_scalar!("select shard from tenant where crm_id = $1", crm_id)
        .fetch_optional(&state.directory)
        .await
        .ok()
        .flatten()
}
