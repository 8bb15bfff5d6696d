//! The order commands of seed 002 §11. Each validates the body (naming the field), names the
//! member, publishes one message on the points queue and answers its outcome in the seed's
//! shape. Keys: `orderNo` for the order; `{orderNo}/update/{version}/{digest}`,
//! `{orderNo}/refund/{digest of dateRefund, lines, refundTotal}`,
//! `{orderNo}/deleteRefund/{digest of the refund's key}`, `{orderNo}/cancel`, `{orderNo}/delete`
//! for its steps: the same request again is the same key, answered with the first outcome.

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Extension, Json,
};
use chrono::Utc;
use platform::status::InboxStatus;
use schemas::{
    orders::{
        parse_deal, parse_member_ref, parse_order_no, parse_refund_lines, parse_refund_total, parse_time, MemberRef,
        OrderPayload, OrderStepPayload, Step, MISSING,
    },
    FieldError, MessageKind,
};
use serde_json::{json, Map, Value};

use super::{coupon, digest, refused, store, submit, Submitted, WaitQuery};
use crate::{
    auth::Tenant,
    error::{ApiJson, ApiQuery},
    routes::members::{commands::body, MemberError},
    AppState,
};

type Body = Result<ApiJson<Map<String, Value>>, crate::error::ApiError>;
type Query = Result<ApiQuery<WaitQuery>, crate::error::ApiError>;

/// A field error in the seed's shape: `400005` for a missing field, else `400001`.
fn field(e: FieldError) -> MemberError {
    if e.message == MISSING {
        MemberError::Missing(e.field)
    } else {
        MemberError::from(e)
    }
}

/// 202 while the outcome is not known: the same request again answers it.
fn queued(order_no: &str, key: &str) -> Response {
    (StatusCode::ACCEPTED, Json(json!({ "orderNo": order_no, "key": key, "state": "accepted" }))).into_response()
}

/// `POST /loyalty/v1/deal`: an order, paid. Its points are earned by the workers through the
/// tenant's `order_pay` rule (amount = `amountPaid`); the same `orderNo` again earns nothing
/// more and answers the order. An unknown identity creates the member with it.
#[utoipa::path(post, path = "/loyalty/v1/deal", tag = "orders", params(WaitQuery),
    request_body = super::docs::DealRequest,
    responses((status = 200, body = super::docs::DealAnswer), (status = 202, body = super::docs::Queued)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    q: Query,
    b: Body,
) -> Result<Response, MemberError> {
    let ApiQuery(q) = q?;
    let wait = q.wait()?;
    let b = body(b).await?;
    let order_no = parse_order_no(&b).map_err(field)?;
    let member_ref = parse_member_ref(&b).map_err(field)?;
    let deal = parse_deal(&b).map_err(field)?;
    let member = store::resolve(&state, &tenant.crm_id, &member_ref).await?;
    let at = deal.date_order;
    // The coupon is redeemed against the order as posted (its context: README "Orders").
    let coupon = deal.coupon_code.is_some().then(|| deal.clone());
    let member_no = member.member_no.clone();
    let payload = OrderPayload { member_no: member.member_no, membership_id: Some(member.id), deal: Box::new(deal) };
    match submit(&state, &tenant, MessageKind::PointsOrder, &order_no, at, payload, wait).await? {
        Submitted::Queued => Ok(queued(&order_no, &order_no)),
        Submitted::Done(row) if row.status == InboxStatus::Rejected => Err(refused(&row)),
        Submitted::Done(_) => {
            // The coupon after the order (a repeated order repeats the redeem, which its key
            // makes a duplicate): the order stands whatever becomes of the coupon.
            if let Some(deal) = coupon {
                coupon::redeem(&state, &tenant, &order_no, &member_no, &deal, wait).await?;
            }
            let mut db = state.db.acquire().await?;
            let o = store::existing(&mut db, &tenant.crm_id, &order_no).await?;
            let mut v = store::view(&mut db, &tenant.crm_id, &o, false).await?;
            if let MemberRef::Identities(list) = member_ref {
                v["identities"] = json!(list);
            }
            Ok(Json(v).into_response())
        }
    }
}

/// The order a step names, checked against the body's `membershipId` when it has one.
async fn order_of(state: &AppState, tenant: &Tenant, b: &Map<String, Value>) -> Result<store::OrderRow, MemberError> {
    let order_no = parse_order_no(b).map_err(field)?;
    let o = store::existing(&mut *state.db.acquire().await?, &tenant.crm_id, &order_no).await?;
    match b.get("membershipId") {
        None | Some(Value::Null) => {}
        Some(v) => match parse_member_ref(b).map_err(field)? {
            MemberRef::Id(id) if Some(id) == o.membership_id => {}
            MemberRef::Id(_) => {
                return Err(MemberError::invalid("membershipId", format!("order {order_no} is another member's")))
            }
            MemberRef::Identities(_) => return Err(MemberError::invalid("membershipId", format!("{v} is not an id"))),
        },
    }
    Ok(o)
}

/// Publishes a step and answers the order after it (or what `answer` makes of it).
async fn step(
    state: &AppState,
    tenant: &Tenant,
    o: &store::OrderRow,
    key: String,
    step: Step,
    wait: std::time::Duration,
) -> Result<Result<(store::OrderRow, i64), Response>, MemberError> {
    let payload = OrderStepPayload { order_no: o.order_no.clone(), step };
    payload.validate().map_err(field)?;
    match submit(state, tenant, MessageKind::PointsOrderStep, &key, Utc::now(), payload, wait).await? {
        Submitted::Queued => Ok(Err(queued(&o.order_no, &key))),
        Submitted::Done(row) if row.status == InboxStatus::Rejected => Err(refused(&row)),
        Submitted::Done(row) => {
            let after = store::existing(&mut *state.db.acquire().await?, &tenant.crm_id, &o.order_no).await?;
            Ok(Ok((after, row.points)))
        }
    }
}

/// `POST /loyalty/v1/dealService/update`: the order as it is now (the create's fields). A
/// changed `amountPaid` moves the points by the difference its rules give.
#[utoipa::path(post, path = "/loyalty/v1/dealService/update", tag = "orders", params(WaitQuery),
    request_body = super::docs::DealRequest,
    responses((status = 200, body = super::docs::DealAnswer), (status = 202, body = super::docs::Queued)))]
pub async fn update(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    q: Query,
    b: Body,
) -> Result<Response, MemberError> {
    let ApiQuery(q) = q?;
    let wait = q.wait()?;
    let b = body(b).await?;
    let o = order_of(&state, &tenant, &b).await?;
    let deal = parse_deal(&b).map_err(field)?;
    let canonical = serde_json::to_string(&deal).unwrap_or_default();
    let key = format!("{}/update/{}/{}", o.order_no, o.version, digest(&[&canonical]));
    match step(&state, &tenant, &o, key, Step::Update { deal: Box::new(deal) }, wait).await? {
        Err(queued) => Ok(queued),
        Ok((after, _)) => {
            Ok(Json(store::view(&mut *state.db.acquire().await?, &tenant.crm_id, &after, false).await?).into_response())
        }
    }
}

/// `POST /loyalty/v1/dealService/cancel`: everything the order still holds is taken back; its
/// state becomes 已取消.
#[utoipa::path(post, path = "/loyalty/v1/dealService/cancel", tag = "orders", params(WaitQuery),
    request_body = super::docs::OrderRef,
    responses((status = 200, body = super::docs::DealAnswer), (status = 202, body = super::docs::Queued)))]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    q: Query,
    b: Body,
) -> Result<Response, MemberError> {
    close(state, tenant, q, b, Step::Cancel, "cancel").await
}

/// `POST /loyalty/v1/dealService/delete`: the order is deleted (kept, state 已删除) and what it
/// still holds is taken back.
#[utoipa::path(post, path = "/loyalty/v1/dealService/delete", tag = "orders", params(WaitQuery),
    request_body = super::docs::OrderRef,
    responses((status = 200, body = super::docs::DealAnswer), (status = 202, body = super::docs::Queued)))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    q: Query,
    b: Body,
) -> Result<Response, MemberError> {
    close(state, tenant, q, b, Step::Delete, "delete").await
}

async fn close(
    state: AppState,
    tenant: Tenant,
    q: Query,
    b: Body,
    s: Step,
    word: &str,
) -> Result<Response, MemberError> {
    let ApiQuery(q) = q?;
    let wait = q.wait()?;
    let b = body(b).await?;
    let o = order_of(&state, &tenant, &b).await?;
    let key = format!("{}/{word}", o.order_no);
    match step(&state, &tenant, &o, key, s, wait).await? {
        Err(queued) => Ok(queued),
        Ok((after, _)) => {
            coupon::reverse(&state, &tenant, &o.order_no, wait).await?;
            Ok(Json(store::view(&mut *state.db.acquire().await?, &tenant.crm_id, &after, false).await?).into_response())
        }
    }
}

/// `POST /loyalty/v1/dealService/refund`: lines refunded (`refundLines`, `refundTotal`,
/// `dateRefund`, `reason`); their share of the order's points is taken back. Refused, changing
/// nothing: an unknown line, a line already refunded, more than is left of the amount paid.
#[utoipa::path(post, path = "/loyalty/v1/dealService/refund", tag = "orders", params(WaitQuery),
    request_body = super::docs::RefundRequest,
    responses((status = 200, body = super::docs::RefundAnswer), (status = 202, body = super::docs::Queued)))]
pub async fn refund(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    q: Query,
    b: Body,
) -> Result<Response, MemberError> {
    let ApiQuery(q) = q?;
    let wait = q.wait()?;
    let b = body(b).await?;
    let order_no = parse_order_no(&b).map_err(field)?;
    let lines = parse_refund_lines(&b).map_err(field)?;
    let (total, reason) = parse_refund_total(&b).map_err(field)?;
    let date = parse_time(&b, "dateRefund").map_err(field)?;
    let o = order_of(&state, &tenant, &b).await?;
    let mut sorted = lines.clone();
    sorted.sort();
    let key = format!(
        "{order_no}/refund/{}",
        digest(&[&date.to_rfc3339(), &sorted.join("\u{1e}"), &total.to_decimal_string()])
    );
    let s = Step::Refund { lines: lines.clone(), refund_total: total, date_refund: date, reason: reason.clone() };
    match step(&state, &tenant, &o, key, s, wait).await? {
        Err(queued) => Ok(queued),
        Ok((after, points)) => {
            // A refund of every line reverses the order's coupon.
            let open = sqlx::query_scalar!(
                r#"select count(*) as "n!" from deal_line where crm_id = $1 and order_no = $2 and refund_key is null"#,
                tenant.crm_id,
                order_no
            )
            .fetch_one(&state.db)
            .await?;
            if open == 0 {
                coupon::reverse(&state, &tenant, &order_no, wait).await?;
            }
            Ok(Json(json!({
                "membershipId": after.membership_id, "orderNo": order_no,
                "refundTotal": total.to_decimal_string(), "dateRefund": schemas::members::format_datetime(date),
                "reason": reason, "refundLines": lines.iter().map(|l| json!({"lineId": l})).collect::<Vec<_>>(),
                "point": -points, "orderPoint": after.points_earned - after.points_taken,
            }))
            .into_response())
        }
    }
}

/// `POST /loyalty/v1/dealService/deleteRefund`: undoes the order's latest refund (or the one of
/// `dateRefund`, when given) and gives back what it took.
#[utoipa::path(post, path = "/loyalty/v1/dealService/deleteRefund", tag = "orders", params(WaitQuery),
    request_body = super::docs::DeleteRefundRequest,
    responses((status = 200, body = super::docs::RefundAnswer), (status = 202, body = super::docs::Queued)))]
pub async fn delete_refund(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    q: Query,
    b: Body,
) -> Result<Response, MemberError> {
    let ApiQuery(q) = q?;
    let wait = q.wait()?;
    let b = body(b).await?;
    let o = order_of(&state, &tenant, &b).await?;
    let date = match b.get("dateRefund") {
        None | Some(Value::Null) => None,
        Some(_) => Some(schemas::members::format_datetime(parse_time(&b, "dateRefund").map_err(field)?)),
    };
    // The latest refund, deleted or not: a repeated deleteRefund names the same one, so it is
    // the same key and answers the first outcome.
    let refund = sqlx::query!(
        "select idem_key, detail from deal_step
         where crm_id = $1 and order_no = $2 and step = 'refund' and ($3::text is null or detail->>'dateRefund' = $3)
         order by id desc limit 1",
        tenant.crm_id,
        o.order_no,
        date,
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| MemberError::Conflict(format!("order {} has no refund to delete", o.order_no)))?;
    let key = format!("{}/deleteRefund/{}", o.order_no, digest(&[&refund.idem_key]));
    let s = Step::DeleteRefund { refund_key: refund.idem_key.clone() };
    match step(&state, &tenant, &o, key, s, wait).await? {
        Err(queued) => Ok(queued),
        Ok((after, points)) => {
            let d = refund.detail;
            Ok(Json(json!({
                "membershipId": after.membership_id, "orderNo": o.order_no,
                "refundTotal": d.get("refundTotal"), "dateRefund": d.get("dateRefund"),
                "refundLines": d.get("refundLines"), "point": points,
                "orderPoint": after.points_earned - after.points_taken,
            }))
            .into_response())
        }
    }
}
