//! The points commands of seed 000: earn events, spending (and its preview), reversal,
//! transfers, freezes. Each validates and hands its message to the ingress.

use axum::{
    extract::{Path, State},
    response::Response,
    Extension,
};
use chrono::Utc;
use schemas::{
    points::{
        AcceptRequest, ConsumeRequest, EarnEventRequest, FreezeRequest, ReverseRequest, TransferRequest,
        UnfreezeRequest,
    },
    MessageKind,
};
use serde::Serialize;

use crate::{
    auth::Tenant,
    error::{ApiError, ApiJson, ApiQuery},
    ingress::{publish_and_answer, EventStatus, Outgoing, WaitQuery},
    routes::ok,
    AppState,
};

/// Posts a produce event (order paid, login, sign-in, …). 202 once the broker has it; with
/// `wait_ms`, 200 and the outcome if it is known in time. 503: not stored, retry with the same
/// event_no.
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/events", request_body = EarnEventRequest, tag = "events",
    params(("crm_id" = String, Path), WaitQuery),
    responses((status = 202, body = EventStatus, description = "queued"), (status = 200, body = EventStatus, description = "outcome (wait_ms)"),
              (status = 422, description = "a field is invalid"), (status = 503, description = "broker unavailable: retry with the same event_no")))]
pub async fn post_event(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<WaitQuery>,
    ApiJson(body): ApiJson<EarnEventRequest>,
) -> Result<Response, ApiError> {
    let (event_no, occurred_at, payload) = body.validate()?;
    let routing_key = format!("points.earn.{}", payload.action_scene);
    let message = Outgoing { kind: MessageKind::PointsEarn, routing_key, key: event_no, occurred_at };
    publish_and_answer(&state, &tenant, crm_id, message, payload, q.wait_ms).await
}

/// Spends points through the queue: `points`, or what the spend rule lets pay for `amount`.
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/consume", request_body = ConsumeRequest, tag = "events",
    params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
pub async fn consume(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<WaitQuery>,
    ApiJson(body): ApiJson<ConsumeRequest>,
) -> Result<Response, ApiError> {
    let (event_no, occurred_at, payload) = body.validate()?;
    let event_no = event_no.ok_or_else(|| ApiError::invalid("event_no", "is required"))?;
    let routing_key = format!("points.consume.{}", payload.action_scene);
    let message = Outgoing { kind: MessageKind::PointsConsume, routing_key, key: event_no, occurred_at };
    publish_and_answer(&state, &tenant, crm_id, message, payload, q.wait_ms).await
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// Points the spend would take.
    pub points: i64,
    /// The money they offset (absent when the request named points).
    pub money: Option<f64>,
    pub available: i64,
    pub frozen: i64,
}

/// What a spend would take, without changing anything: the points usable on an amount and the
/// money they offset, under the spend rule and the member's available points now.
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/consume/preview", request_body = ConsumeRequest, tag = "events",
    params(("crm_id" = String, Path)), responses((status = 200, body = Preview), (status = 422, description = "not possible: the reason")))]
pub async fn preview(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    ApiJson(body): ApiJson<ConsumeRequest>,
) -> Result<axum::Json<schemas::ApiResponse<Preview>>, ApiError> {
    let (_, _, payload) = body.validate()?;
    let now = Utc::now();
    let (available, frozen): (i64, i64) = sqlx::query_as(
        "select coalesce(sum(remaining) filter (where unfreeze_time is null or unfreeze_time <= $3), 0)::bigint,
                coalesce(sum(remaining) filter (where unfreeze_time > $3), 0)::bigint
         from points_lot where crm_id = $1 and member_no = $2 and remaining > 0 and expired_at is null and expire_time > $3",
    )
    .bind(&crm_id)
    .bind(&payload.member_no)
    .bind(now)
    .fetch_one(&state.db)
    .await?;
    let tenants = state.rules.get(&state.db, std::slice::from_ref(&crm_id)).await?;
    let tenant = tenants.get(&crm_id).ok_or_else(|| ApiError::NotFound(format!("no tenant {crm_id}")))?;
    let quote =
        schemas::points::quote_spend(tenant.consume_rule_for(&payload.action_scene), &payload, available, frozen)
            .map_err(|reason| ApiError::invalid("points", reason))?;
    Ok(ok("OK", Preview { points: quote.0, money: quote.1.map(|m| m.0 as f64 / 100.0), available, frozen }))
}

/// Reverses (冲正) an earlier earn or spend, fully or by `points`.
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/reverse", request_body = ReverseRequest, tag = "events",
    params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
pub async fn reverse(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<WaitQuery>,
    ApiJson(body): ApiJson<ReverseRequest>,
) -> Result<Response, ApiError> {
    let (event_no, occurred_at, payload) = body.validate()?;
    let message =
        Outgoing { kind: MessageKind::PointsReverse, routing_key: "points.reverse".into(), key: event_no, occurred_at };
    publish_and_answer(&state, &tenant, crm_id, message, payload, q.wait_ms).await
}

/// Gives points to another member (转赠): they wait in escrow until accepted with the same
/// `transfer_no`, or go back after the tenant's time-out (default 24 h).
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/transfer", request_body = TransferRequest, tag = "events",
    params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
pub async fn transfer(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<WaitQuery>,
    ApiJson(body): ApiJson<TransferRequest>,
) -> Result<Response, ApiError> {
    let (transfer_no, occurred_at, payload) = body.validate()?;
    let message = Outgoing {
        kind: MessageKind::PointsTransfer,
        routing_key: "points.transfer".into(),
        key: transfer_no,
        occurred_at,
    };
    publish_and_answer(&state, &tenant, crm_id, message, payload, q.wait_ms).await
}

/// Accepts a transfer (领取转赠), at most once, by another member than the giver.
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/accept", request_body = AcceptRequest, tag = "events",
    params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
pub async fn accept(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<WaitQuery>,
    ApiJson(body): ApiJson<AcceptRequest>,
) -> Result<Response, ApiError> {
    let (transfer_no, occurred_at, payload) = body.validate()?;
    let message = Outgoing {
        kind: MessageKind::PointsAccept,
        routing_key: "points.accept".into(),
        key: transfer_no,
        occurred_at,
    };
    publish_and_answer(&state, &tenant, crm_id, message, payload, q.wait_ms).await
}

/// Freezes some of a member's available points until an unfreeze names this event.
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/freeze", request_body = FreezeRequest, tag = "events",
    params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
pub async fn freeze(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<WaitQuery>,
    ApiJson(body): ApiJson<FreezeRequest>,
) -> Result<Response, ApiError> {
    let (event_no, occurred_at, payload) = body.validate()?;
    let message =
        Outgoing { kind: MessageKind::PointsFreeze, routing_key: "points.freeze".into(), key: event_no, occurred_at };
    publish_and_answer(&state, &tenant, crm_id, message, payload, q.wait_ms).await
}

/// Releases now what `origin_event_no` froze (an operator's freeze, or an earn's freeze_term).
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/unfreeze", request_body = UnfreezeRequest, tag = "events",
    params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
pub async fn unfreeze(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<WaitQuery>,
    ApiJson(body): ApiJson<UnfreezeRequest>,
) -> Result<Response, ApiError> {
    let (event_no, occurred_at, payload) = body.validate()?;
    let message = Outgoing {
        kind: MessageKind::PointsUnfreeze,
        routing_key: "points.unfreeze".into(),
        key: event_no,
        occurred_at,
    };
    publish_and_answer(&state, &tenant, crm_id, message, payload, q.wait_ms).await
}
