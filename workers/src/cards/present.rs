//! Presents (转赠) of card codes: a code goes from 1 to 2 while it waits for a friend; received,
//! it becomes the friend's with status 1; not received before `go_back_time` (the tenant's
//! `present_timeout_hours`, default 24), the sweeper gives it back to the giver with status 1.
//! Presents received do not count toward the receiver's `get_limit`.
//!
//! Locks: the members' counters for the card first (sorted), then the present, then the code.

use chrono::{DateTime, Duration, Utc};
use platform::rules::TenantRules;
use platform::status::{CodeStatus, PresentStatus};
use schemas::{
    analytics::{AnalyticsEvent, CardPresentReceived, CardPresentReturned, CardPresented},
    cards::{PresentPayload, PresentReceive},
    Envelope,
};
use sqlx::{PgConnection, PgPool};

use super::lock_counter;
use crate::{
    inbox, outbox,
    outcome::{ApplyError, Outcome, Refusal},
};

pub async fn give(db: &PgPool, tenant: &TenantRules, ev: &Envelope<PresentPayload>) -> Result<Outcome, ApplyError> {
    let p = &ev.payload;
    let t = ev.occurred_at;
    let mut tx = db.begin().await?;
    lock_counter(&mut tx, &ev.crm_id, &p.member_no, &p.card_id).await?;
    if inbox::already_applied(&mut tx, db, ev).await? {
        return Ok(Outcome::Duplicate);
    }
    let code = sqlx::query!(
        r#"select k.status as "status: CodeStatus", k.member_no, k.valid_end, c.can_give_friend
         from card_code k join card_info c on c.crm_id = k.crm_id and c.card_id = k.card_id
         where k.crm_id = $1 and k.card_id = $2 and k.card_code = $3 for update of k"#,
        ev.crm_id,
        p.card_id,
        p.card_code,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let refusal = match &code {
        None => Some((Refusal::NotFound, format!("no code {} of card {}", p.card_code, p.card_id))),
        Some(k) if k.member_no.as_deref() != Some(p.member_no.as_str()) => {
            Some((Refusal::NotTheHolder, "this code is not the member's".into()))
        }
        Some(k) if !k.can_give_friend => {
            Some((Refusal::NotGiftable, "this card cannot be given to a friend (can_give_friend is false)".into()))
        }
        Some(k) if k.status == CodeStatus::Redeemed => {
            Some((Refusal::AlreadyRedeemed, "this code is already redeemed".into()))
        }
        Some(k) if k.status != CodeStatus::Available => Some((
            Refusal::CodeNotAvailable,
            format!("only an available code can be presented (status {})", k.status.code()),
        )),
        Some(k) if k.valid_end.is_some_and(|end| end < t) => {
            Some((Refusal::OutsideValidity, "this code has expired".into()))
        }
        Some(_) => None,
    };
    let outcome = match refusal {
        Some((code, reason)) => Outcome::Rejected { code, reason },
        None => {
            let go_back = t + Duration::hours(tenant.present_timeout_hours);
            sqlx::query!(
                "update card_code set status = $4, updated_at = now() where crm_id = $1 and card_id = $2 and card_code = $3",
                ev.crm_id,
                p.card_id,
                p.card_code,
                CodeStatus::Presenting as _,
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query!(
                "insert into card_present (crm_id, present_id, card_id, card_code, from_member, status, present_extra, go_back_time,
                                           presented_at)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                ev.crm_id,
                ev.idempotency_key,
                p.card_id,
                p.card_code,
                p.member_no,
                PresentStatus::Pending as _,
                p.presant_extra as _,
                go_back,
                t,
            )
            .execute(&mut *tx)
            .await?;
            let event = AnalyticsEvent::CardsPresent(CardPresented {
                event_id: uuid::Uuid::now_v7(),
                crm_id: ev.crm_id.clone(),
                member_no: p.member_no.clone(),
                card_id: p.card_id.clone(),
                card_code: p.card_code.clone(),
                present_id: ev.idempotency_key.clone(),
                occurred_at: t,
                trace: ev.trace.clone(),
            });
            outbox::write(&mut tx, "cards.present", &[event]).await?;
            Outcome::Applied { count: 1 }
        }
    };
    inbox::finish(tx, ev, &p.member_no, outcome).await
}

#[derive(sqlx::FromRow)]
struct Present {
    card_id: String,
    card_code: String,
    from_member: String,
    status: PresentStatus,
    go_back_time: DateTime<Utc>,
}

async fn present_row(
    tx: &mut PgConnection,
    crm_id: &str,
    present_id: &str,
    lock: bool,
) -> sqlx::Result<Option<Present>> {
    let sql = format!(
        "select card_id, card_code, from_member, status, go_back_time from card_present where crm_id = $1 and present_id = $2 {}",
        if lock { "for update" } else { "" }
    );
    sqlx::query_as(&sql).bind(crm_id).bind(present_id).fetch_optional(&mut *tx).await
}

pub async fn receive(db: &PgPool, ev: &Envelope<PresentReceive>) -> Result<Outcome, ApplyError> {
    let p = &ev.payload;
    let t = ev.occurred_at;
    let found = present_row(&mut *db.acquire().await?, &ev.crm_id, &p.present_id, false).await?;
    let mut tx = db.begin().await?;
    if let Some(found) = &found {
        let members: std::collections::BTreeSet<&str> = [found.from_member.as_str(), p.member_no.as_str()].into();
        for m in members {
            lock_counter(&mut tx, &ev.crm_id, m, &found.card_id).await?;
        }
    }
    if inbox::already_applied(&mut tx, db, ev).await? {
        return Ok(Outcome::Duplicate);
    }
    let present = present_row(&mut tx, &ev.crm_id, &p.present_id, true).await?;
    let outcome = match present {
        None => Outcome::refused(Refusal::NotFound, format!("no present {}", p.present_id)),
        Some(pr) if pr.from_member == p.member_no => {
            Outcome::refused(Refusal::OwnGift, "the giver cannot receive their own present")
        }
        Some(pr) if pr.status != PresentStatus::Pending => {
            Outcome::refused(Refusal::AlreadySettled, format!("present {} is already {}", p.present_id, pr.status))
        }
        Some(pr) if pr.go_back_time <= t => Outcome::refused(
            Refusal::TimedOut,
            format!("present {} timed out; the card goes back to the giver", p.present_id),
        ),
        Some(pr) => {
            sqlx::query!(
                "update card_code set status = $5, member_no = $4, updated_at = now()
                 where crm_id = $1 and card_id = $2 and card_code = $3",
                ev.crm_id,
                pr.card_id,
                pr.card_code,
                p.member_no,
                CodeStatus::Available as _,
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query!(
                "update card_present set status = $5, to_member = $3, received_at = $4, updated_at = now()
                 where crm_id = $1 and present_id = $2",
                ev.crm_id,
                p.present_id,
                p.member_no,
                t,
                PresentStatus::Received as _,
            )
            .execute(&mut *tx)
            .await?;
            let event = AnalyticsEvent::CardsPresentReceive(CardPresentReceived {
                event_id: uuid::Uuid::now_v7(),
                crm_id: ev.crm_id.clone(),
                member_no: p.member_no.clone(),
                from_member: pr.from_member,
                card_id: pr.card_id,
                present_id: p.present_id.clone(),
                occurred_at: t,
                trace: ev.trace.clone(),
            });
            outbox::write(&mut tx, "cards.present_receive", &[event]).await?;
            Outcome::Applied { count: 1 }
        }
    };
    inbox::finish(tx, ev, &p.member_no, outcome).await
}

/// Gives presents not received by their `go_back_time` back to their givers (status 1).
/// Returns how many went back.
pub async fn return_due(db: &PgPool, now: DateTime<Utc>) -> sqlx::Result<usize> {
    // The literal matches the partial index `card_present_due`, which a bound state would hide.
    let due = sqlx::query!(
        "select crm_id, present_id, from_member, card_id from card_present
         where status = 'pending' /* PresentStatus::Pending */ and go_back_time <= $1
         order by go_back_time limit 500",
        now,
    )
    .fetch_all(db)
    .await?;
    let mut returned = 0;
    for row in due {
        let (crm_id, present_id, giver, card_id) = (row.crm_id, row.present_id, row.from_member, row.card_id);
        let mut tx = db.begin().await?;
        let locked = sqlx::query_scalar!(
            "select used from card_member where crm_id = $1 and member_no = $2 and card_id = $3 for update skip locked",
            crm_id,
            giver,
            card_id,
        )
        .fetch_optional(&mut *tx)
        .await?;
        if locked.is_none() {
            continue;
        }
        let Some(pr) = present_row(&mut tx, &crm_id, &present_id, true).await? else { continue };
        if pr.status != PresentStatus::Pending || pr.go_back_time > now {
            continue;
        }
        sqlx::query!(
            "update card_code set status = $4, updated_at = now()
             where crm_id = $1 and card_id = $2 and card_code = $3 and status = $5",
            crm_id,
            pr.card_id,
            pr.card_code,
            CodeStatus::Available as _,
            CodeStatus::Presenting as _,
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "update card_present set status = $4, returned_at = $3, updated_at = now() where crm_id = $1 and present_id = $2",
            crm_id,
            present_id,
            now,
            PresentStatus::Returned as _,
        )
        .execute(&mut *tx)
        .await?;
        let event = AnalyticsEvent::CardsPresentReturn(CardPresentReturned {
            event_id: uuid::Uuid::now_v7(),
            crm_id,
            member_no: giver,
            card_id: pr.card_id,
            present_id,
            occurred_at: now,
            trace: None,
        });
        outbox::write(&mut tx, "cards.present_return", &[event]).await?;
        tx.commit().await?;
        returned += 1;
    }
    Ok(returned)
}
