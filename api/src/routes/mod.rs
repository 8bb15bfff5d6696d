//! The routes by domain, each module owning its `router()`; this module merges them and holds
//! the shared response helper. Commands publish through [`crate::ingress`].

pub mod activities;
pub mod admin;
pub mod analytics;
pub mod cards;
pub mod coupons;
pub mod members;
pub mod ops;
pub mod orders;
pub mod outcomes;
pub mod points;

use axum::Router;

use crate::{error::ApiError, AppState};

/// The tenant API of seed 000 and 003 (every path carries `{crm_id}`; all need the tenant's key).
pub fn tenant_routes() -> Router<AppState> {
    Router::new()
        .merge(points::router())
        .merge(cards::router())
        .merge(analytics::router())
        .merge(members::feed_router())
        .route("/api/crm/audit/{crm_id}", axum::routing::get(crate::audit::list))
}

/// Seed 002's compatibility API under `/loyalty/v1` (the tenant is the key's: `?access_token=`
/// or Bearer).
pub fn compat_routes() -> Router<AppState> {
    members::router().merge(coupons::router()).merge(orders::router())
}

/// Seed 001's points activities under `/points-consumption/` (the tenant is the key's:
/// `?access_token=` or Bearer).
pub fn activity_routes() -> Router<AppState> {
    activities::router()
}

/// The seed types every query parameter as String (an empty one is absent): numbers are parsed
/// here, naming the field.
pub(crate) fn number(field: &str, v: Option<&str>) -> Result<Option<i64>, ApiError> {
    v.filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<i64>().map_err(|_| ApiError::invalid(field, format!("`{s}` is not a number"))))
        .transpose()
}

/// `{"code":0,"msg":…,"data":…}` with status 200.
pub fn ok<T: serde::Serialize>(msg: &str, data: T) -> axum::Json<schemas::ApiResponse<T>> {
    axum::Json(schemas::ApiResponse::ok(msg, data))
}
