//! Redemption (核销) and its reversal (seed 003 member/redeem, member/redeem_reverse).
//!
//! A redeem locks the member's counter for the card, then the code row: two tills scanning the
//! same code at the same instant are served one after the other, and the second finds it
//! redeemed. Every refusal is a stored outcome with a reason a cashier can read.

use chrono::{DateTime, Utc};
use platform::rules::TenantRules;
use platform::status::{CodeStatus, RollbackStatus};
use schemas::{
    analytics::{AnalyticsEvent, CardRedeemReversed, CardRedeemed},
    cards::{day_list, RedeemPayload, RedeemReverse, RedeemWindow},
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
                c.day_end_time
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
                "insert into card_redeem (crm_id, redeem_id, card_id, card_code, member_no, redeem_channel, redeem_extra, redeemed_at)
                 values ($1, $2, $3, $4, $5, $6, $7, $8)",
                ev.crm_id,
                ev.idempotency_key,
                p.card_id,
                p.card_code,
                p.member_no,
                p.redeem_channel,
                p.redeem_extra as _,
                t,
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
