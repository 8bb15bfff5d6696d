//! Seed 002 §5: `POST /loyalty/v1/membership/{id}/point/incr` and `/decr` with `{point,
//! pattern}`; the answer's `point` is the member's points after the change.
//!
//! The seed has no idempotency key. An optional one is taken (`externalId` in the body, or an
//! `Idempotency-Key` header; the body wins): it is the ledger row's event_no, and the same key
//! is never applied twice. Without one every request is a new change, so a client that retries
//! a request whose answer it lost may apply it twice.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Extension, Json,
};
use chrono::Utc;
use schemas::{
    checks::check_ledger_key,
    orders::{AdjustPayload, Direction, MISSING},
    MessageKind,
};
use serde_json::{json, Map, Value};

use super::{refused, store, submit, Submitted, WaitQuery};
use crate::{
    auth::Tenant,
    error::{ApiJson, ApiQuery},
    routes::members::{commands::body, error::MemberId, MemberError},
    AppState,
};

/// `POST /loyalty/v1/membership/{id}/point/incr`: points up (pattern 0-5: 0 其他, 1 初始积分,
/// 2 交易送积分, 3 参与互动得积分, 4 积分奖励, 5 积分调整), an earn of scene `dmhub_pattern_N`.
#[utoipa::path(post, path = "/loyalty/v1/membership/{id}/point/incr", tag = "members",
    params(("id" = i64, Path), WaitQuery, ("Idempotency-Key" = Option<String>, Header, description = "the change's key, if the body has no externalId")),
    request_body = super::docs::IncrRequest,
    responses((status = 200, body = super::docs::PointAnswer), (status = 202, body = super::docs::PointAnswer)))]
pub async fn incr(
    state: State<AppState>,
    tenant: Extension<Tenant>,
    id: MemberId,
    q: Result<ApiQuery<WaitQuery>, crate::error::ApiError>,
    headers: HeaderMap,
    b: Result<ApiJson<Map<String, Value>>, crate::error::ApiError>,
) -> Result<Response, MemberError> {
    adjust(state, tenant, id, q, headers, b, Direction::Incr).await
}

/// `POST /loyalty/v1/membership/{id}/point/decr`: points down (pattern 0-6: 0 其他, 1 积分兑换,
/// 2 交易退积分, 3 参与互动消耗积分, 4 惩罚扣积分, 5 积分调整, 6 积分失效 — an expiry), soonest
/// expiring first; not enough points is a 409 with the numbers.
#[utoipa::path(post, path = "/loyalty/v1/membership/{id}/point/decr", tag = "members",
    params(("id" = i64, Path), WaitQuery, ("Idempotency-Key" = Option<String>, Header, description = "the change's key, if the body has no externalId")),
    request_body = super::docs::DecrRequest,
    responses((status = 200, body = super::docs::PointAnswer), (status = 202, body = super::docs::PointAnswer)))]
pub async fn decr(
    state: State<AppState>,
    tenant: Extension<Tenant>,
    id: MemberId,
    q: Result<ApiQuery<WaitQuery>, crate::error::ApiError>,
    headers: HeaderMap,
    b: Result<ApiJson<Map<String, Value>>, crate::error::ApiError>,
) -> Result<Response, MemberError> {
    adjust(state, tenant, id, q, headers, b, Direction::Decr).await
}

/// A whole number read from JSON (`8` or `8.0`), naming the field otherwise.
fn whole(body: &Map<String, Value>, field: &str) -> Result<i64, MemberError> {
    match body.get(field) {
        None | Some(Value::Null) => Err(MemberError::Missing(field.into())),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9e15).map(|f| f as i64))
            .ok_or_else(|| MemberError::invalid(field, "must be a whole number")),
    }
}

async fn adjust(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    MemberId(id): MemberId,
    q: Result<ApiQuery<WaitQuery>, crate::error::ApiError>,
    headers: HeaderMap,
    b: Result<ApiJson<Map<String, Value>>, crate::error::ApiError>,
    direction: Direction,
) -> Result<Response, MemberError> {
    let ApiQuery(q) = q?;
    let wait = q.wait()?;
    let b = body(b).await?;
    let points = whole(&b, "point")?;
    let pattern = whole(&b, "pattern")?;
    let key = match b.get("externalId") {
        None | Some(Value::Null) => match headers.get("idempotency-key") {
            Some(h) => {
                let k = h.to_str().map_err(|_| MemberError::invalid("Idempotency-Key", "must be text"))?.to_string();
                check_ledger_key("Idempotency-Key", &k)?;
                k
            }
            None => format!("dmhub-{}", uuid::Uuid::now_v7()),
        },
        Some(Value::String(k)) => {
            check_ledger_key("externalId", k)?;
            k.clone()
        }
        Some(_) => return Err(MemberError::invalid("externalId", "must be a text")),
    };
    let crm = &tenant.crm_id;
    let member = store::member_by_id(&mut *state.db.acquire().await?, crm, id).await?;
    let payload = AdjustPayload { member_no: member.member_no.clone(), direction, points, pattern };
    payload.validate().map_err(|e| {
        if e.message == MISSING {
            MemberError::Missing(e.field)
        } else {
            MemberError::from(e)
        }
    })?;
    match submit(&state, &tenant, MessageKind::PointsAdjust, &key, Utc::now(), payload, wait).await? {
        Submitted::Queued => {
            Ok((StatusCode::ACCEPTED, Json(json!({ "point": null, "externalId": key, "status": "accepted" })))
                .into_response())
        }
        Submitted::Done(row) if row.status == platform::status::InboxStatus::Rejected => Err(refused(&row)),
        Submitted::Done(row) => {
            let now = store::available_points(&mut *state.db.acquire().await?, crm, &member.member_no).await?;
            Ok(Json(json!({ "point": now, "externalId": key, "changed": row.points })).into_response())
        }
    }
}
