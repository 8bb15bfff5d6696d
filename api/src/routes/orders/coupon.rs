//! An order's `couponCode`: redeemed through the cards engine's own redeem message (the one
//! `member/redeem` publishes), `redeem_channel` = the order's `salesChannel`, `redeem_id` =
//! `deal/{orderNo}`, so the code is redeemed exactly once however often the order is posted; a
//! cancel, a delete or a refund of every line reverses it with the redeem-reversal message
//! (keyed by the same `redeem_id`, so once). The outcome is the cards inbox's, read back onto
//! the order (`couponRedemption`): nothing is stored twice.
//!
//! A code no card holds is not sent (the order still stands, its `couponRedemption` says
//! `not_found`); a refused redemption (not the member's, expired, already used, …) does not
//! undo the order either: the order happened, the coupon did not apply.

use std::time::Duration;

use chrono::Utc;
use platform::status::InboxStatus;
use schemas::{
    cards::{OrderItem, RedeemPayload, RedeemReverse},
    money::Cents,
    orders::Deal,
    MessageKind,
};
use serde_json::{json, Value};
use sqlx::PgConnection;

use super::{submit, Submitted};
use crate::{auth::Tenant, routes::members::MemberError, AppState};

/// The redemption key of an order's coupon.
pub fn redeem_id(order_no: &str) -> String {
    format!("deal/{order_no}")
}

/// The order as the card's redemption conditions see it (README "Redemption conditions"):
/// the store, the amount before discounts (the minimum spend of a 满100减10 coupon is met
/// before its own discount: `amountTotal`, else `amountPaid + amountDiscount`), the lines
/// (`skuId`, else `lineId`; a line's amount is its `priceSubTotal`, else price × qty; a
/// fractional `qty`, goods sold by weight, counts as that many items rounded up), and the
/// order number, which is how other coupons on the same order are known.
fn context(payload: &mut RedeemPayload, order_no: &str, deal: &Deal) {
    payload.store_code = Some(deal.store.clone()).filter(|s| !s.is_empty());
    payload.amount = Some(deal.amount_total.unwrap_or(Cents(deal.amount_paid.0 + deal.amount_discount.0)));
    payload.items = Some(
        deal.deal_lines
            .iter()
            .map(|l| OrderItem {
                sku: l.sku_id.clone().unwrap_or_else(|| l.line_id.clone()),
                amount: Cents(l.weight().unwrap_or(0)),
                qty: (l.qty.ceil() as i64).max(1),
            })
            .collect(),
    );
    payload.order_no = Some(order_no.to_string());
}

/// Redeems the order's coupon (once: the key is the order's) against the order's context and
/// answers its outcome.
pub async fn redeem(
    state: &AppState,
    tenant: &Tenant,
    order_no: &str,
    member_no: &str,
    deal: &Deal,
    wait: Duration,
) -> Result<Value, MemberError> {
    let Some(code) = deal.coupon_code.as_deref() else { return Ok(Value::Null) };
    let channel = deal.sales_channel.as_str();
    let card_id = sqlx::query_scalar!(
        "select card_id from card_code where crm_id = $1 and card_code = $2
         order by (member_no = $3) desc nulls last, code_id limit 1",
        tenant.crm_id,
        code,
        member_no,
    )
    .fetch_optional(&state.db)
    .await?;
    let Some(card_id) = card_id else {
        return Ok(json!({"couponCode": code, "status": "not_found", "reason": "no card has this code"}));
    };
    let mut payload = RedeemPayload {
        member_no: member_no.to_string(),
        card_id,
        card_code: code.to_string(),
        redeem_channel: channel.chars().take(64).collect(),
        redeem_extra: format!("deal {order_no}").chars().take(256).collect(),
        ..Default::default()
    };
    context(&mut payload, order_no, deal);
    if let Err(e) = payload.validate() {
        return Ok(json!({"couponCode": code, "status": "invalid", "reason": format!("{}: {}", e.field, e.message)}));
    }
    submit(state, tenant, MessageKind::CardsRedeem, &redeem_id(order_no), Utc::now(), payload, wait).await?;
    outcome(&mut *state.db.acquire().await?, &tenant.crm_id, order_no, Some(code)).await
}

/// Reverses the order's redemption, if it was redeemed (once: keyed by the redemption).
pub async fn reverse(state: &AppState, tenant: &Tenant, order_no: &str, wait: Duration) -> Result<(), MemberError> {
    let id = redeem_id(order_no);
    let redeemed = platform::inbox::find(&state.db, &tenant.crm_id, MessageKind::CardsRedeem.key_kind(), &id)
        .await
        .map_err(crate::error::ApiError::from)?;
    if redeemed.is_some_and(|r| r.status == InboxStatus::Applied) {
        let payload = RedeemReverse { redeem_id: id.clone() };
        if let Submitted::Queued =
            submit(state, tenant, MessageKind::CardsRedeemReverse, &id, Utc::now(), payload, wait).await?
        {
            tracing::info!("coupon reversal queued, not applied within the wait");
        }
    }
    Ok(())
}

/// The coupon's outcome as the cards inbox holds it: `redeemed`, `refused` (with the reason),
/// `reversed`, `pending` (queued), `not_found`; null when the order names no coupon.
pub async fn outcome(
    db: &mut PgConnection,
    crm_id: &str,
    order_no: &str,
    code: Option<&str>,
) -> Result<Value, MemberError> {
    let Some(code) = code else { return Ok(Value::Null) };
    let id = redeem_id(order_no);
    let rows = sqlx::query!(
        "select key_kind, status, reason from inbox where crm_id = $1 and idem_key = $2 and key_kind = any($3)",
        crm_id,
        id,
        &[MessageKind::CardsRedeem.key_kind().to_string(), MessageKind::CardsRedeemReverse.key_kind().to_string()][..],
    )
    .fetch_all(&mut *db)
    .await?;
    let redeem = rows.iter().find(|r| r.key_kind == MessageKind::CardsRedeem.key_kind());
    let reversed =
        rows.iter().any(|r| r.key_kind == MessageKind::CardsRedeemReverse.key_kind() && r.status == "applied");
    let (status, reason) = match redeem {
        None => {
            let known = sqlx::query_scalar!(
                "select 1 as one from card_code where crm_id = $1 and card_code = $2 limit 1",
                crm_id,
                code
            )
            .fetch_optional(&mut *db)
            .await?
            .is_some();
            (if known { "pending" } else { "not_found" }, None)
        }
        Some(_) if reversed => ("reversed", None),
        Some(r) if r.status == "applied" => ("redeemed", None),
        Some(r) => ("refused", r.reason.clone()),
    };
    Ok(json!({"couponCode": code, "redeemId": id, "status": status, "reason": reason}))
}
