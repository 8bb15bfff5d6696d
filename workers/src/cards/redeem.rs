//! Redemption (核销) and its reversal (seed 003 member/redeem, member/redeem_reverse).
//!
//! A redeem locks the member's counter for the card, then the code row: two tills scanning the
//! same code at the same instant are served one after the other, and the second finds it
//! redeemed. Every refusal is a stored outcome with a reason a cashier can read.
//!
//! A redemption with an order context is also checked against the card's conditions
//! (`schemas::cards::conditions`); one naming an `order_no` then takes a lock on that order
//! (a transaction-scoped advisory lock on the tenant and order number) before reading the
//! coupons already redeemed on it, so two coupons of one order are checked one after the other.
//! (A row per order to lock was the alternative: it would need creating and cleaning up, for a
//! lock that lives only as long as the transaction.)

use chrono::{DateTime, Utc};
use platform::rules::TenantRules;
use platform::status::{CodeStatus, RollbackStatus};
use schemas::{
    analytics::{AnalyticsEvent, CardRedeemReversed, CardRedeemed},
    cards::{
        conditions::{Conditions, OtherCoupon},
        day_list, RedeemPayload, RedeemReverse, RedeemWindow,
    },
    money::Cents,
    Envelope,
};
use sqlx::PgPool;

use crate::{
    inbox, outbox,
    outcome::{ApplyError, Outcome, Refusal},
};

struct Code {
    status: CodeStatus,
    member_no: Option<String>,
    valid_begin: Option<DateTime<Utc>>,
    valid_end: Option<DateTime<Utc>>,
    use_limit: i32,
    weekdays: Option<String>,
    monthdays: Option<String>,
    day_begin_time: i32,
    day_end_time: i32,
    store_codes: Option<String>,
    cash_condition_cents: Option<i64>,
    qty_condition: i16,
    use_with_other_offer: bool,
    use_with_other_coupon: bool,
}

impl Code {
    fn conditions(&self) -> Conditions {
        Conditions {
            store_codes: self.store_codes.clone(),
            cash_condition: self.cash_condition_cents.map(Cents),
            qty_condition: self.qty_condition.into(),
            use_with_other_offer: self.use_with_other_offer,
            use_with_other_coupon: self.use_with_other_coupon,
        }
    }
}

/// Why a code in this state cannot be redeemed (only an available one can).
fn status_reason(status: CodeStatus) -> (Refusal, &'static str) {
    match status {
        CodeStatus::InStock => (Refusal::CodeNotAvailable, "has not been received"),
        CodeStatus::Presenting => (Refusal::CodeNotAvailable, "is being presented to a friend"),
        CodeStatus::Redeemed => (Refusal::AlreadyRedeemed, "is already redeemed"),
        CodeStatus::Expired => (Refusal::CodeNotAvailable, "has expired"),
        CodeStatus::Obsolete => (Refusal::CodeNotAvailable, "is obsolete (its receipt was reversed)"),
        CodeStatus::Available => (Refusal::CodeNotAvailable, "is not available"),
    }
}

pub async fn redeem(db: &PgPool, tenant: &TenantRules, ev: &Envelope<RedeemPayload>) -> Result<Outcome, ApplyError> {
    let p = &ev.payload;
    let t = ev.occurred_at;
    let mut tx = db.begin().await?;
    let used = super::lock_counter(&mut tx, &ev.crm_id, &p.member_no, &p.card_id).await?;
    if inbox::already_applied(&mut tx, db, ev).await? {
        return Ok(Outcome::Duplicate);
    }
    let code = sqlx::query_as!(
        Code,
        r#"select k.status as "status: CodeStatus", k.member_no, k.valid_begin, k.valid_end, c.use_limit, c.weekdays, c.monthdays, c.day_begin_time,
                c.day_end_time, c.store_codes, c.cash_condition_cents, c.qty_condition, c.use_with_other_offer, c.use_with_other_coupon
         from card_code k join card_info c on c.crm_id = k.crm_id and c.card_id = k.card_id
         where k.crm_id = $1 and k.card_id = $2 and k.card_code = $3
         for update of k"#,
        ev.crm_id,
        p.card_id,
        p.card_code,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let tz = tenant.time_zone.parse().unwrap_or(schemas::time::DEFAULT_TIME_ZONE);
    let refusal = match &code {
        None => Some((Refusal::NotFound, format!("no code {} of card {}", p.card_code, p.card_id))),
        Some(c) if c.member_no.as_deref() != Some(p.member_no.as_str()) => {
            Some((Refusal::NotTheHolder, "this code is not the member's".to_string()))
        }
        Some(c) if c.status != CodeStatus::Available => {
            let (code, why) = status_reason(c.status);
            Some((code, format!("this code {why}")))
        }
        Some(c) if c.valid_begin.is_some_and(|b| t < b) => Some((
            Refusal::OutsideValidity,
            format!("this code is valid from {}", schemas::time::format_local(c.valid_begin.unwrap_or(t), tz)),
        )),
        Some(c) if c.valid_end.is_some_and(|e| t > e) => {
            Some((Refusal::OutsideValidity, "this code has expired".to_string()))
        }
        Some(c) if c.use_limit > 0 && used >= c.use_limit => {
            Some((Refusal::LimitReached, format!("use_limit {} per member reached", c.use_limit)))
        }
        Some(c) => {
            let window = RedeemWindow {
                weekdays: c.weekdays.as_deref().and_then(|w| day_list("weekdays", w, 0, 6).ok()),
                monthdays: c.monthdays.as_deref().and_then(|m| day_list("monthdays", m, 1, 31).ok()),
                day_begin_time: c.day_begin_time.into(),
                day_end_time: c.day_end_time.into(),
            };
            window.check(t, tz).err().map(|why| (Refusal::OutsideRedeemWindow, why))
        }
    };
    let refusal = match (refusal, &code) {
        (None, Some(c)) if p.has_order_context() => {
            let others = match &p.order_no {
                Some(order_no) => others_on_order(&mut tx, &ev.crm_id, order_no, p).await?,
                None => Vec::new(),
            };
            c.conditions().check(p, &others).err()
        }
        (refusal, _) => refusal,
    };
    let outcome = match refusal {
        Some((code, reason)) => Outcome::Rejected { code, reason },
        None => {
            sqlx::query!(
                "update card_code set status = $5, redeem_id = $4, updated_at = now()
                 where crm_id = $1 and card_id = $2 and card_code = $3",
                ev.crm_id,
                p.card_id,
                p.card_code,
                ev.idempotency_key,
                CodeStatus::Redeemed as _,
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query!(
                "update card_member set used = used + 1, updated_at = now() where crm_id = $1 and member_no = $2 and card_id = $3",
                ev.crm_id,
                p.member_no,
                p.card_id,
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query!(
                "insert into card_redeem (crm_id, redeem_id, card_id, card_code, member_no, redeem_channel, redeem_extra, redeemed_at,
                     order_no, store_code, amount_cents)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                ev.crm_id,
                ev.idempotency_key,
                p.card_id,
                p.card_code,
                p.member_no,
                p.redeem_channel,
                p.redeem_extra as _,
                t,
                p.order_no,
                p.store_code,
                p.order_amount().map(|a| a.0),
            )
            .execute(&mut *tx)
            .await?;
            let event = AnalyticsEvent::CardsRedeem(CardRedeemed {
                event_id: uuid::Uuid::now_v7(),
                crm_id: ev.crm_id.clone(),
                member_no: p.member_no.clone(),
                card_id: p.card_id.clone(),
                card_code: p.card_code.clone(),
                redeem_id: ev.idempotency_key.clone(),
                channel: p.redeem_channel.clone(),
                occurred_at: t,
                trace: ev.trace.clone(),
            });
            outbox::write(&mut tx, "cards.redeem", &[event]).await?;
            Outcome::Applied { count: 1 }
        }
    };
    inbox::finish(tx, ev, &p.member_no, outcome).await
}

/// Locks the order (until the transaction ends) and reads the coupons redeemed on it and not
/// reversed, other than this code.
async fn others_on_order(
    tx: &mut sqlx::PgConnection,
    crm_id: &str,
    order_no: &str,
    p: &RedeemPayload,
) -> sqlx::Result<Vec<OtherCoupon>> {
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended('card_order/' || $1 || '/' || $2, 0))",
        crm_id,
        order_no,
    )
    .execute(&mut *tx)
    .await?;
    let rows = sqlx::query!(
        "select r.card_id, r.card_code, c.use_with_other_coupon from card_redeem r
           join card_info c on c.crm_id = r.crm_id and c.card_id = r.card_id
         where r.crm_id = $1 and r.order_no = $2 and r.rollback_status = $3
           and not (r.card_id = $4 and r.card_code = $5)
         order by r.redeemed_at, r.redeem_id",
        crm_id,
        order_no,
        RollbackStatus::Standing as _,
        p.card_id,
        p.card_code,
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| OtherCoupon {
            card_id: r.card_id,
            card_code: r.card_code,
            use_with_other_coupon: r.use_with_other_coupon,
        })
        .collect())
}

/// Reverses a redemption: the code is available again if still valid, else expired.
pub async fn reverse(db: &PgPool, ev: &Envelope<RedeemReverse>) -> Result<Outcome, ApplyError> {
    let redeem_id = &ev.payload.redeem_id;
    let t = ev.occurred_at;
    let found = sqlx::query!(
        "select member_no, card_id, card_code from card_redeem where crm_id = $1 and redeem_id = $2",
        ev.crm_id,
        redeem_id,
    )
    .fetch_optional(db)
    .await?
    .map(|r| (r.member_no, r.card_id, r.card_code));
    let mut tx = db.begin().await?;
    if let Some((member, card, _)) = &found {
        super::lock_counter(&mut tx, &ev.crm_id, member, card).await?;
    }
    if inbox::already_applied(&mut tx, db, ev).await? {
        return Ok(Outcome::Duplicate);
    }
    let outcome = match &found {
        None => Outcome::refused(Refusal::NotFound, format!("no redemption {redeem_id}")),
        Some((member, card, code)) => {
            let status = sqlx::query_scalar!(
                r#"select rollback_status as "rollback_status: RollbackStatus" from card_redeem
                   where crm_id = $1 and redeem_id = $2 for update"#,
                ev.crm_id,
                redeem_id,
            )
            .fetch_one(&mut *tx)
            .await?;
            if status != RollbackStatus::Standing {
                Outcome::refused(Refusal::AlreadyReversed, format!("redemption {redeem_id} is already reversed"))
            } else {
                let back = sqlx::query_scalar!(
                    r#"update card_code set status = case when valid_end is not null and valid_end < $4 then $5::smallint else $6::smallint end,
                            redeem_id = null, updated_at = now()
                     where crm_id = $1 and card_id = $2 and card_code = $3 returning status as "status: CodeStatus""#,
                    ev.crm_id,
                    card,
                    code,
                    t,
                    CodeStatus::Expired as _,
                    CodeStatus::Available as _,
                )
                .fetch_one(&mut *tx)
                .await?;
                let rollback =
                    if back == CodeStatus::Available { RollbackStatus::Restored } else { RollbackStatus::Expired };
                sqlx::query!(
                    "update card_redeem set rollback_status = $3, reversed_at = $4, updated_at = now()
                     where crm_id = $1 and redeem_id = $2",
                    ev.crm_id,
                    redeem_id,
                    rollback as _,
                    t,
                )
                .execute(&mut *tx)
                .await?;
                sqlx::query!(
                    "update card_member set used = used - 1, updated_at = now() where crm_id = $1 and member_no = $2 and card_id = $3",
                    ev.crm_id,
                    member,
                    card,
                )
                .execute(&mut *tx)
                .await?;
                let event = AnalyticsEvent::CardsRedeemReverse(CardRedeemReversed {
                    event_id: uuid::Uuid::now_v7(),
                    crm_id: ev.crm_id.clone(),
                    member_no: member.clone(),
                    card_id: card.clone(),
                    card_code: code.clone(),
                    redeem_id: redeem_id.clone(),
                    rollback_status: rollback as i16,
                    occurred_at: t,
                    trace: ev.trace.clone(),
                });
                outbox::write(&mut tx, "cards.redeem_reverse", &[event]).await?;
                Outcome::Applied { count: 1 }
            }
        }
    };
    let member = found.as_ref().map_or("", |(m, _, _)| m.as_str());
    inbox::finish(tx, ev, member, outcome).await
}
