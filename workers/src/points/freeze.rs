//! Operator freezes and unfreezes, by event.
//!
//! A freeze takes points from the member's available lots (soonest-expiring first, recorded
//! like a spend) into one new lot frozen until released, expiring with the soonest of the
//! points it holds; the member keeps the points (ledger `freeze`, not counted in the balance).
//! An unfreeze names the event whose frozen lots to release now: an operator's freeze, or an
//! earn still inside its `freeze_term` (ledger `unfreeze`).

use chrono::{DateTime, TimeZone, Utc};
use platform::status::LedgerEventType;
use schemas::{
    points::{FreezePayload, UnfreezePayload},
    Envelope,
};
use sqlx::PgPool;

use super::ledger::{self, Entry};
use crate::{
    inbox,
    outcome::{ApplyError, Outcome, Refusal},
};

/// "Until released": far enough never to come, and representable (unlike `infinity`).
fn until_released() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 0, 0, 0).single().expect("a valid date")
}

pub async fn freeze(db: &PgPool, ev: &Envelope<FreezePayload>) -> Result<Outcome, ApplyError> {
    let p = &ev.payload;
    let t = ev.occurred_at;
    let Some(mut tx) = ledger::open(db, ev, &[&p.member_no]).await? else {
        return Ok(Outcome::Duplicate);
    };
    let lots = ledger::spendable_lots(&mut tx, &ev.crm_id, &p.member_no, t).await?;
    let available: i64 = lots.iter().map(|l| l.remaining).sum();
    let outcome = if p.points > available {
        Outcome::refused(
            Refusal::InsufficientPoints,
            format!("cannot freeze {} points: {available} available", p.points),
        )
    } else {
        ledger::take(&mut tx, &ev.crm_id, &p.member_no, &ev.idempotency_key, &lots, p.points).await?;
        // Lots are soonest-expiring first: the first one taken from expires first.
        let expire = lots.first().map_or(t, |l| l.expire_time);
        let lot_id: i64 = sqlx::query_scalar!(
            "insert into points_lot (crm_id, member_no, event_no, points, remaining, expire_time, unfreeze_time)
             values ($1, $2, $3, $4, $4, $5, $6) returning lot_id",
            ev.crm_id,
            p.member_no,
            ev.idempotency_key,
            p.points,
            expire,
            until_released(),
        )
        .fetch_one(&mut *tx)
        .await?;
        let entry = Entry {
            crm_id: ev.crm_id.clone(),
            member_no: p.member_no.clone(),
            event_no: ev.idempotency_key.clone(),
            action_scene: "freeze".into(),
            points: p.points,
            expire_time: Some(expire),
            operator: p.operator.clone(),
            event_desc: p.event_desc.clone(),
            lot_id: Some(lot_id),
            occurred_at: t,
            trace: ev.trace.clone(),
            ..Entry::new(LedgerEventType::Freeze)
        };
        ledger::insert_entry(&mut tx, &entry).await?;
        ledger::outbox(&mut tx, "points.freeze", &[&entry]).await?;
        Outcome::Applied { count: p.points }
    };
    inbox::finish(tx, ev, &p.member_no, outcome).await
}

pub async fn unfreeze(db: &PgPool, ev: &Envelope<UnfreezePayload>) -> Result<Outcome, ApplyError> {
    let p = &ev.payload;
    let t = ev.occurred_at;
    let member: Option<String> = sqlx::query_scalar!(
        // The member whose lots the event credited, from its positive ledger rows (lots are not
        // indexed by event, see migration 20261204000001; every lot has such a row).
        "select member_no from points_ledger where crm_id = $1 and event_no = $2 and points > 0 limit 1",
        ev.crm_id,
        p.origin_event_no,
    )
    .fetch_optional(db)
    .await?;
    let Some(mut tx) = ledger::open(db, ev, member.as_deref().as_slice()).await? else {
        return Ok(Outcome::Duplicate);
    };
    let released = sqlx::query!(
        "update points_lot set unfreeze_time = $3, unfrozen_at = $3, updated_at = now()
         where crm_id = $1 and event_no = $2 and unfreeze_time is not null and unfrozen_at is null and expired_at is null
           and unfreeze_time > $3
         returning lot_id, remaining",
        ev.crm_id,
        p.origin_event_no,
        t,
    )
    .fetch_all(&mut *tx)
    .await?;
    let points: i64 = released.iter().map(|r| r.remaining).sum();
    let outcome = if released.is_empty() {
        Outcome::refused(Refusal::NothingFrozen, format!("event {} has no frozen points to release", p.origin_event_no))
    } else {
        let entry = Entry {
            crm_id: ev.crm_id.clone(),
            member_no: member.clone().unwrap_or_default(),
            event_no: ev.idempotency_key.clone(),
            origin_event_no: Some(p.origin_event_no.clone()),
            action_scene: "unfreeze".into(),
            points,
            operator: p.operator.clone(),
            occurred_at: t,
            trace: ev.trace.clone(),
            ..Entry::new(LedgerEventType::Unfreeze)
        };
        ledger::insert_entry(&mut tx, &entry).await?;
        ledger::outbox(&mut tx, "points.freeze", &[&entry]).await?;
        Outcome::Applied { count: points }
    };
    inbox::finish(tx, ev, member.as_deref().unwrap_or(""), outcome).await
}
