//! Reading an order (ours; the seed has no read): `GET /loyalty/v1/deal/{orderNo}` answers the
//! order with every header field as sent, its lines with their share of the points and their
//! refund, its state, its points, and every step (pay, update, refund, delete_refund, cancel,
//! delete) with its change to the member's points.

use axum::{
    extract::{Path, State},
    Extension, Json,
};
use schemas::checks::check_key;
use serde_json::Value;

use super::store;
use crate::{auth::Tenant, routes::members::MemberError, AppState};

/// `GET /loyalty/v1/deal/{orderNo}`: the order with its steps; 404 when unknown.
#[utoipa::path(get, path = "/loyalty/v1/deal/{orderNo}", tag = "orders", params(("orderNo" = String, Path)),
    responses((status = 200, body = super::docs::DealAnswer)))]
pub async fn one(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(order_no): Path<String>,
) -> Result<Json<Value>, MemberError> {
    check_key("orderNo", &order_no)?;
    let mut db = state.db.acquire().await?;
    let o = store::existing(&mut db, &tenant.crm_id, &order_no).await?;
    Ok(Json(store::view(&mut db, &tenant.crm_id, &o, true).await?))
}
