//! Points up and down by seed 002's pattern codes (§5 增减会员积分), one transaction each:
//!
//! - incr: a credit of exactly the points asked, as a ledger `produce` row with the scene
//!   `dmhub_pattern_N` (so it shows in the history and the analytics like any earn). Its lot
//!   expires and freezes as the tenant's earn rule for that scene says, if it has one; without
//!   one the points never expire (no rule names a term for them). A debt is settled first, as
//!   every earning settles it.
//! - decr: a spend of exactly the points asked from the available lots, soonest-expiring first,
//!   or a refusal with the numbers; pattern 6 (积分失效) is written as an `expire` row, the other
//!   patterns as `consume` rows. No spend rule is needed: the points are named, not quoted.
//!
//! [`credit`] is also how an order gives points back outside the earn computation (a deleted
//! refund, an update that raises the amount).

use chrono::{DateTime, Duration, TimeZone, Utc};
use platform::rules::TenantRules;
use platform::status::LedgerEventType;
use schemas::{
    analytics::{AnalyticsEvent, PointsProduced},
    orders::{pattern_scene, AdjustPayload, Direction},
    trace::TraceContext,
    Envelope,
};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::ledger::{self, Entry};
use crate::{
    inbox,
    outcome::{ApplyError, Outcome, Refusal},
};

/// A credit outside the earn computation: exactly `points`, under `event_no`.
pub struct FixedCredit<'a> {
    pub crm_id: &'a str,
    pub member_no: &'a str,
    pub event_no: &'a str,
    pub action_scene: &'a str,
    pub points: i64,
    pub rule_id: Option<i64>,
    pub expire_time: DateTime<Utc>,
    pub unfreeze_time: Option<DateTime<Utc>>,
    pub event_desc: String,
    pub occurred_at: DateTime<Utc>,
    pub message_id: Uuid,
    pub trace: Option<TraceContext>,
}

/// Writes a credit under the member's lock (the caller holds it): the debt first, then a lot,
/// the `produce` row (and a `settle_debt` row), the balance and the analytics event.
pub async fn credit(tx: &mut PgConnection, c: &FixedCredit<'_>) -> sqlx::Result<()> {
    let debt = sqlx::query_scalar!(
        "select debt from member_balance where crm_id = $1 and member_no = $2",
        c.crm_id,
        c.member_no
    )
    .fetch_one(&mut *tx)
    .await?;
    let settled = c.points.min(debt.max(0));
    let held = c.points - settled;
    if held > 0 {
        sqlx::query!(
            "insert into points_lot (crm_id, member_no, event_no, rule_id, points, remaining, expire_time, unfreeze_time)
             values ($1, $2, $3, $4, $5, $5, $6, $7)",
            c.crm_id,
            c.member_no,
            c.event_no,
            c.rule_id,
            held,
            c.expire_time,
            c.unfreeze_time,
        )
        .execute(&mut *tx)
        .await?;
    }
    let row = Entry {
        crm_id: c.crm_id.to_string(),
        member_no: c.member_no.to_string(),
        event_no: c.event_no.to_string(),
        action_scene: c.action_scene.to_string(),
        points: c.points,
        expire_time: Some(c.expire_time),
        event_desc: Some(c.event_desc.clone()),
        rule_id: c.rule_id,
        occurred_at: c.occurred_at,
        trace: c.trace.clone(),
        ..Entry::new(LedgerEventType::Produce)
    };
    ledger::insert_entry(tx, &row).await?;
    if settled > 0 {
        let mut settle = row.clone();
        settle.event_type = LedgerEventType::SettleDebt;
        settle.points = -settled;
        settle.expire_time = None;
        settle.event_desc = Some(ledger::describe(-settled, "抵还冲正欠下的积分"));
        ledger::insert_entry(tx, &settle).await?;
    }
    sqlx::query!(
        "update member_balance set points = points + $3, debt = debt - $4, total_produced = total_produced + $5,
                updated_at = now()
         where crm_id = $1 and member_no = $2",
        c.crm_id,
        c.member_no,
        held,
        settled,
        c.points,
    )
    .execute(&mut *tx)
    .await?;
    let event = AnalyticsEvent::PointsProduce(PointsProduced {
        event_id: Uuid::now_v7(),
        crm_id: c.crm_id.to_string(),
        member_no: c.member_no.to_string(),
        event_no: c.event_no.to_string(),
        event_type: LedgerEventType::Produce.as_str().to_string(),
        action_scene: c.action_scene.to_string(),
        rule_id: c.rule_id.unwrap_or(0),
        points: c.points,
        amount: None,
        store_code: None,
        cost_center: None,
        campagin_code: None,
        expire_time: c.expire_time,
        unfreeze_time: c.unfreeze_time,
        occurred_at: c.occurred_at,
        message_id: c.message_id,
        trace: c.trace.clone(),
    });
    crate::outbox::write(&mut *tx, "points.produce", &[event]).await
}

/// When points without a rule expire: never (the end of the calendar).
pub fn never() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 0, 0, 0).single().expect("a valid date")
}

/// Applies one incr or decr in its own transaction.
pub async fn apply(db: &PgPool, tenant: &TenantRules, ev: &Envelope<AdjustPayload>) -> Result<Outcome, ApplyError> {
    let p = &ev.payload;
    let Some(mut tx) = ledger::open(db, ev, &[&p.member_no]).await? else {
        return Ok(Outcome::Duplicate);
    };
    let scene = pattern_scene(p.pattern);
    let t = ev.occurred_at;
    let outcome = match p.direction {
        Direction::Incr => {
            let rule = tenant.produce_rules_for(&scene).into_iter().next();
            let unfreeze_time = rule.filter(|r| r.freeze_term > 0).map(|r| t + Duration::days(r.freeze_term));
            let freeze =
                unfreeze_time.map_or("无冻结时间".to_string(), |u| format!("冻结{}天", (u - t).num_days()));
            credit(
                &mut tx,
                &FixedCredit {
                    crm_id: &ev.crm_id,
                    member_no: &p.member_no,
                    event_no: &ev.idempotency_key,
                    action_scene: &scene,
                    points: p.points,
                    rule_id: rule.map(|r| r.rule_id),
                    expire_time: rule.map_or_else(never, |r| t + Duration::days(r.expire_term)),
                    unfreeze_time,
                    event_desc: ledger::describe(p.points, &freeze),
                    occurred_at: t,
                    message_id: ev.message_id,
                    trace: ev.trace.clone(),
                },
            )
            .await?;
            Outcome::Applied { count: p.points }
        }
        Direction::Decr => {
            let lots = ledger::spendable_lots(&mut tx, &ev.crm_id, &p.member_no, t).await?;
            let available: i64 = lots.iter().map(|l| l.remaining).sum();
            if p.points > available {
                let frozen = ledger::frozen_points(&mut tx, &ev.crm_id, &p.member_no, t).await?;
                let more = if frozen > 0 { format!(" ({frozen} more frozen)") } else { String::new() };
                Outcome::refused(
                    Refusal::InsufficientPoints,
                    format!("insufficient points: {} requested, {available} available{more}", p.points),
                )
            } else {
                ledger::take(&mut tx, &ev.crm_id, &p.member_no, &ev.idempotency_key, &lots, p.points).await?;
                let expiry = p.pattern == 6;
                let (kind, why) = if expiry {
                    (LedgerEventType::Expire, "积分失效")
                } else {
                    (LedgerEventType::Consume, "积分减少")
                };
                let entry = Entry {
                    crm_id: ev.crm_id.clone(),
                    member_no: p.member_no.clone(),
                    event_no: ev.idempotency_key.clone(),
                    action_scene: scene.clone(),
                    points: -p.points,
                    event_desc: Some(ledger::describe(-p.points, why)),
                    occurred_at: t,
                    trace: ev.trace.clone(),
                    ..Entry::new(kind)
                };
                ledger::insert_entry(&mut tx, &entry).await?;
                let (consumed, expired) = if expiry { (0, p.points) } else { (p.points, 0) };
                sqlx::query!(
                    "update member_balance set points = points - $3, total_consumed = total_consumed + $4,
                            total_expired = total_expired + $5, updated_at = now()
                     where crm_id = $1 and member_no = $2",
                    ev.crm_id,
                    p.member_no,
                    p.points,
                    consumed,
                    expired,
                )
                .execute(&mut *tx)
                .await?;
                let routing = if expiry { "points.sweep" } else { "points.consume" };
                ledger::outbox(&mut tx, routing, &[&entry]).await?;
                Outcome::Applied { count: p.points }
            }
        }
    };
    inbox::finish(tx, ev, &p.member_no, outcome).await
}
