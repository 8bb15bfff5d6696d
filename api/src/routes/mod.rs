//! The routes by domain, each module owning its `router()`; this module merges them and holds
//! the shared response helper. Commands publish through [`crate::ingress`].

pub mod admin;
pub mod cards;
pub mod ops;
pub mod outcomes;
pub mod points;

use axum::Router;

use crate::AppState;

/// The tenant API of seed 000 and 003 (every path carries `{crm_id}`; all need the tenant's key).
pub fn tenant_routes() -> Router<AppState> {
    Router::new()
        .merge(points::router())
        .merge(cards::router())
        .route("/api/crm/audit/{crm_id}", axum::routing::get(crate::audit::list))
}

/// `{"code":0,"msg":…,"data":…}` with status 200.
pub fn ok<T: serde::Serialize>(msg: &str, data: T) -> axum::Json<schemas::ApiResponse<T>> {
    axum::Json(schemas::ApiResponse::ok(msg, data))
}
