//! DM Hub's coupon commands (seed 002 §13.4 draw, §13.7 redeem), through the cards engine: a
//! draw is a `cards.receive` claim of one code, a redemption a `cards.redeem`, each published
//! with confirm and answered with its outcome (the ingress's wait on the inbox).
//!
//! **Keys.** The seed gives neither a key. The client may send one (`externalId` in the body, or
//! an `Idempotency-Key` header; the body's wins); the engine's key is derived from it:
//! - draw: `received_id` = `draw-` + the first 32 hex digits of sha256(membershipId, couponId,
//!   key), so the same key draws once per member and coupon, and two members (or coupons) never
//!   share a claim by reusing a key;
//! - redeem: `redeem_id` = `redeem-` + the first 32 hex digits of sha256(card_id, couponCode, key).
//!
//! Without a key each request is a new one (a fresh UUID v7 stands in): a retried draw draws
//! again, up to `drawLimit`; a retried redemption finds the code redeemed (`already_redeemed`).
//! Hashing, rather than joining the parts, keeps the engine's key within its 64 characters
//! whatever the client's key.
//!
//! **Answers.** Applied: 200 with the member coupon. Refused: HTTP 409, the seed's
//! `{"error": {"code": "409000", "message": <the reason>}}` with `refusal` (the refusal's word,
//! `schemas::response::Refusal`). Not known within the wait (`wait_ms`, default 5000, at most
//! 10000): 202 `{"result": "accepted", "externalId"}`; the same request again with that
//! `externalId` answers the outcome.

use std::time::Duration;

use axum::{
    extract::{rejection::PathRejection, Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Extension, Json,
};
use chrono::Utc;
use platform::{inbox::InboxRow, status::InboxStatus};
use schemas::{
    cards::ReceivePayload,
    coupons::{CouponRedeemRequest, DrawRequest, DRAW_CHANNEL},
    response::Refusal,
    MessageKind,
};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{queries::path_key, store, view::Accepted};
use crate::{
    auth::Tenant,
    error::{ApiError, ApiJson, ApiQuery},
    ingress::{seal, wait_for_outcome},
    routes::members::{error::MemberId, queries::member_no, MemberError},
    AppState, MAX_WAIT,
};

/// How long a draw or redemption waits for its outcome unless `wait_ms` says otherwise.
const DEFAULT_WAIT: Duration = Duration::from_millis(5000);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CouponWait {
    /// Wait up to this many milliseconds (default 5000, at most 10000) for the outcome.
    pub wait_ms: Option<u64>,
}

impl CouponWait {
    fn duration(&self) -> Result<Duration, MemberError> {
        let wait = self.wait_ms.map_or(DEFAULT_WAIT, Duration::from_millis);
        if wait > MAX_WAIT {
            return Err(MemberError::invalid("wait_ms", format!("must be at most {}", MAX_WAIT.as_millis())));
        }
        Ok(wait)
    }
}

/// The client's key: `externalId`, else the `Idempotency-Key` header, else a fresh one. (The body
/// wins over the header rather than a disagreement being refused: a client sends one or the
/// other, and a proxy adding a header must not break a client that sends the body's.)
fn client_key(headers: &HeaderMap, external_id: Option<&str>) -> Result<String, MemberError> {
    if let Some(k) = external_id {
        return Ok(k.to_string());
    }
    match headers.get("idempotency-key") {
        None => Ok(uuid::Uuid::now_v7().simple().to_string()),
        Some(v) => {
            let v = v.to_str().map_err(|_| MemberError::invalid("Idempotency-Key", "must be text"))?;
            schemas::checks::check_key("Idempotency-Key", v)?;
            Ok(v.to_string())
        }
    }
}

/// `prefix` + the first 32 hex digits of sha256 over `parts` (separated by U+001F).
fn derived_key(prefix: &str, parts: &[&str]) -> String {
    let digest = hex::encode(Sha256::digest(parts.join("\u{1f}").as_bytes()));
    format!("{prefix}{}", &digest[..32])
}

/// The engine's claim key of a draw.
pub fn draw_key(membership_id: i64, coupon_id: &str, key: &str) -> String {
    derived_key("draw-", &[&membership_id.to_string(), coupon_id, key])
}

/// The engine's redemption key of a DM Hub redemption.
pub fn redeem_key(card_id: &str, coupon_code: &str, key: &str) -> String {
    derived_key("redeem-", &[card_id, coupon_code, key])
}

/// Publishes a card message with confirm and waits for its outcome.
async fn publish_and_wait<P: serde::Serialize + Send>(
    state: &AppState,
    crm_id: &str,
    kind: MessageKind,
    key: &str,
    payload: P,
    wait: Duration,
) -> Result<Option<InboxRow>, MemberError> {
    let sealed = seal(kind, crm_id.to_string(), key.to_string(), Utc::now(), payload)?;
    sealed.publish(state, kind.as_str()).await.map_err(|e| {
        MemberError::Unavailable(format!("the request was not queued ({e}); retry with the same externalId"))
    })?;
    if wait.is_zero() {
        return Ok(None);
    }
    Ok(wait_for_outcome(state, crm_id, kind.key_kind(), key, wait).await?)
}

/// A stored refusal in the seed's error shape (HTTP 409, `409000`), with the refusal's word.
fn refused(row: &InboxRow) -> Response {
    let refusal = Refusal::from_stored(row.refusal.as_deref());
    let message = row.reason.clone().unwrap_or_else(|| refusal.meaning().to_string());
    let body = json!({ "error": { "code": "409000", "message": message, "refusal": refusal.as_str() } });
    (StatusCode::CONFLICT, Json(body)).into_response()
}

fn accepted(key: String) -> Response {
    (StatusCode::ACCEPTED, Json(Accepted { result: "accepted".into(), external_id: key })).into_response()
}

/// `POST /loyalty/v1/membership/{id}/coupon/draw` `{couponId}`: claims one code of the coupon
/// for the member through the cards engine (exactly once per key; `drawLimit` is the card's
/// `get_limit`, stock and validity as for any claim).
#[utoipa::path(post, path = "/loyalty/v1/membership/{id}/coupon/draw", tag = "coupons", request_body = DrawRequest,
    params(("id" = i64, Path), CouponWait, ("Idempotency-Key" = Option<String>, Header, description = "the draw's key (or `externalId`)")),
    responses((status = 200, body = super::view::MembershipCoupon, description = "drawn"),
        (status = 202, body = Accepted, description = "queued, outcome not known within the wait: send again with `externalId`"),
        (status = 409, body = crate::routes::members::docs::CompatError, description = "refused: drawLimit reached, sold out, removed, expired (`error.refusal`)")))]
pub async fn draw(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    MemberId(id): MemberId,
    headers: HeaderMap,
    q: Result<ApiQuery<CouponWait>, ApiError>,
    b: Result<ApiJson<DrawRequest>, ApiError>,
) -> Result<Response, MemberError> {
    let ApiQuery(q) = q?;
    let wait = q.duration()?;
    let ApiJson(body) = b?;
    body.validate()?;
    let key = client_key(&headers, body.external_id.as_deref())?;
    let crm = &tenant.crm_id;
    let no = member_no(&state, crm, id).await?;
    let mut db = state.db.acquire().await?;
    if store::coupon_by_card(&mut db, crm, &body.coupon_id).await?.is_none() {
        return Err(MemberError::NotFound(format!("coupon {} not found", body.coupon_id)));
    }
    drop(db);
    let received_id = draw_key(id, &body.coupon_id, &key);
    let payload = ReceivePayload {
        member_no: no,
        out_str: DRAW_CHANNEL.into(),
        card_info: [(body.coupon_id.clone(), 1)].into_iter().collect(),
    };
    payload.validate()?;
    let Some(row) = publish_and_wait(&state, crm, MessageKind::CardsReceive, &received_id, payload, wait).await? else {
        return Ok(accepted(key));
    };
    if row.status == InboxStatus::Rejected {
        return Ok(refused(&row));
    }
    let mut db = state.db.acquire().await?;
    let code_id = store::drawn(&mut db, crm, &received_id).await?.into_iter().next();
    match code_id {
        Some(code_id) => match super::queries::held_view(&mut db, &tenant, code_id).await? {
            Some(view) => Ok(Json(view).into_response()),
            None => Err(MemberError::NotFound(format!("the code drawn with {key} is gone"))),
        },
        None => Err(MemberError::NotFound(format!("the draw {key} issued no code"))),
    }
}

/// `POST /loyalty/v1/membershipCoupon/{couponCode}/redeem` `{membershipId}`: redeems the member's
/// code through the cards engine (exactly once per code). The optional order context
/// (`storeCode`, `amount`, `items`, `orderNo`, `withOtherOffer`) makes it check the card's
/// redemption conditions.
#[utoipa::path(post, path = "/loyalty/v1/membershipCoupon/{couponCode}/redeem", tag = "coupons", request_body = CouponRedeemRequest,
    params(("couponCode" = String, Path), CouponWait, ("Idempotency-Key" = Option<String>, Header, description = "the redemption's key (or `externalId`)")),
    responses((status = 200, body = super::view::MembershipCoupon, description = "redeemed (`status` used)"),
        (status = 202, body = Accepted, description = "queued, outcome not known within the wait: send again with `externalId`"),
        (status = 409, body = crate::routes::members::docs::CompatError, description = "refused: already redeemed, not the member's, not valid now, a condition not met (`error.refusal`)")))]
pub async fn redeem(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    q: Result<ApiQuery<CouponWait>, ApiError>,
    b: Result<ApiJson<CouponRedeemRequest>, ApiError>,
) -> Result<Response, MemberError> {
    let code = path_key("couponCode", p)?;
    let ApiQuery(q) = q?;
    let wait = q.duration()?;
    let ApiJson(body) = b?;
    body.validate()?;
    let key = client_key(&headers, body.external_id.as_deref())?;
    let crm = &tenant.crm_id;
    let no = member_no(&state, crm, body.membership_id).await?;
    let mut db = state.db.acquire().await?;
    let (code_id, card_id) = store::code_by_text(&mut db, crm, &code, Some(&no))
        .await?
        .ok_or_else(|| MemberError::NotFound(format!("no member holds coupon code {code}")))?;
    drop(db);
    let redeem_id = redeem_key(&card_id, &code, &key);
    let payload = body.into_payload(no, card_id, code)?;
    let Some(row) = publish_and_wait(&state, crm, MessageKind::CardsRedeem, &redeem_id, payload, wait).await? else {
        return Ok(accepted(key));
    };
    if row.status == InboxStatus::Rejected {
        return Ok(refused(&row));
    }
    let mut db = state.db.acquire().await?;
    match super::queries::held_view(&mut db, &tenant, code_id).await? {
        Some(view) => Ok(Json(view).into_response()),
        None => Err(MemberError::NotFound(format!("coupon code {} is gone", code_id))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_scoped_and_bounded() {
        let a = draw_key(1, "card", "k");
        assert_eq!(a, draw_key(1, "card", "k"));
        assert_ne!(a, draw_key(2, "card", "k"));
        assert_ne!(a, draw_key(1, "card2", "k"));
        assert!(a.starts_with("draw-") && a.len() == 37);
        let long = "x".repeat(64);
        assert!(redeem_key(&long, &long, &long).len() <= 64);
    }

    #[test]
    fn the_key_comes_from_the_body_or_the_header() {
        let mut h = HeaderMap::new();
        assert_eq!(client_key(&h, Some("e1")).unwrap(), "e1");
        h.insert("idempotency-key", "h1".parse().unwrap());
        assert_eq!(client_key(&h, None).unwrap(), "h1");
        assert_eq!(client_key(&h, Some("e1")).unwrap(), "e1", "the body's wins");
        h.insert("idempotency-key", "a b".parse().unwrap());
        assert!(matches!(client_key(&h, None), Err(MemberError::Invalid { field, .. }) if field == "Idempotency-Key"));
        assert_ne!(client_key(&HeaderMap::new(), None).unwrap(), client_key(&HeaderMap::new(), None).unwrap());
    }
}
