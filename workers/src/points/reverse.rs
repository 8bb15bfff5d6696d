//! Reversal (冲正) of an earlier earn or spend, fully or partly, exactly once by its own
//! `event_no`.
//!
//! - An earn: the award's lots give back what they still hold; what was already spent becomes
//!   a debt (shown in the summary, settled first by later earnings). The origin's `reversed`
//!   grows, so rule windows count a reversed award as not given.
//! - A spend: the points go back into the lots they came from, longest-lived first, with their
//!   own expiry; points whose lot has expired meanwhile are given back and expire at once.

use chrono::{DateTime, Utc};
use platform::rules::TenantRules;
use platform::status::{LedgerEventType, ReverseStatus};
use schemas::{points::ReversePayload, Envelope};
use sqlx::{PgConnection, PgPool};

use super::ledger::{self, Entry};
use crate::{
    inbox,
    outcome::{ApplyError, Outcome, Refusal},
};

#[derive(Debug, Clone, sqlx::FromRow)]
struct Origin {
    auto_id: i64,
    member_no: String,
    event_type: LedgerEventType,
    action_scene: String,
    points: i64,
    reversed: i64,
    rule_id: Option<i64>,
}

async fn origin_rows(tx: &mut PgConnection, crm_id: &str, event_no: &str, lock: bool) -> sqlx::Result<Vec<Origin>> {
    let sql = format!(
        "select auto_id, member_no, event_type, action_scene, points, reversed, rule_id from points_ledger
         where crm_id = $1 and event_no = $2 and event_type = any($3) order by auto_id {}",
        if lock { "for update" } else { "" }
    );
    sqlx::query_as(&sql)
        .bind(crm_id)
        .bind(event_no)
        .bind([LedgerEventType::Produce, LedgerEventType::Consume].as_slice())
        .fetch_all(&mut *tx)
        .await
}

/// Applies one reversal in its own transaction.
pub async fn apply(db: &PgPool, _tenant: &TenantRules, ev: &Envelope<ReversePayload>) -> Result<Outcome, ApplyError> {
    let p = &ev.payload;
    // Read unlocked to learn the member; read again below, locked, under the member's lock.
    let found = origin_rows(&mut *db.acquire().await?, &ev.crm_id, &p.origin_event_no, false).await?;
    let member = found.first().map(|o| o.member_no.clone());
    let Some(mut tx) = ledger::open(db, ev, member.as_deref().as_slice()).await? else {
        return Ok(Outcome::Duplicate);
    };
    let outcome = match member {
        None => Outcome::refused(
            Refusal::NotFound,
            format!("origin event {} has no earn or spend to reverse", p.origin_event_no),
        ),
        Some(_) => {
            let rows = origin_rows(&mut tx, &ev.crm_id, &p.origin_event_no, true).await?;
            let total: i64 = rows.iter().map(|r| r.points.abs()).sum();
            let done: i64 = rows.iter().map(|r| r.reversed).sum();
            let left = total - done;
            let wanted = p.points.unwrap_or(left);
            if left == 0 {
                Outcome::refused(
                    Refusal::AlreadyReversed,
                    format!("origin event {} is already fully reversed ({total} points)", p.origin_event_no),
                )
            } else if wanted > left {
                Outcome::refused(
                    Refusal::ExceedsReversible,
                    format!(
                        "cannot reverse {wanted} points: {left} of the {total} of event {} are left to reverse",
                        p.origin_event_no
                    ),
                )
            } else if rows[0].event_type == LedgerEventType::Produce {
                reverse_earn(&mut tx, ev, &rows, wanted).await?;
                mark_reversed(&mut tx, &ev.crm_id, &rows, wanted).await?;
                Outcome::Applied { count: wanted }
            } else {
                reverse_spend(&mut tx, ev, &rows[0], wanted).await?;
                mark_reversed(&mut tx, &ev.crm_id, &rows, wanted).await?;
                Outcome::Applied { count: wanted }
            }
        }
    };
    let member_no = found.first().map_or("", |o| o.member_no.as_str());
    inbox::finish(tx, ev, member_no, outcome).await
}

/// Spreads `points` over the origin rows' `reversed` and sets their `reverse_status`
/// (1 partly, 2 fully reversed).
async fn mark_reversed(tx: &mut PgConnection, crm_id: &str, rows: &[Origin], points: i64) -> sqlx::Result<()> {
    let mut left = points;
    for row in rows {
        let n = (row.points.abs() - row.reversed).min(left);
        if n <= 0 {
            continue;
        }
        left -= n;
        sqlx::query!(
            "update points_ledger set reversed = reversed + $2,
                    reverse_status = case when reversed + $2 >= abs(points) then $3::smallint else $4::smallint end,
                    update_time = now()
             where crm_id = $5 and auto_id = $1",
            row.auto_id,
            n,
            ReverseStatus::Fully as _,
            ReverseStatus::Partly as _,
            crm_id,
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

fn entry(
    ev: &Envelope<ReversePayload>,
    origin: &Origin,
    event_type: LedgerEventType,
    points: i64,
    at: DateTime<Utc>,
) -> Entry {
    Entry {
        crm_id: ev.crm_id.clone(),
        member_no: origin.member_no.clone(),
        event_no: ev.idempotency_key.clone(),
        origin_event_no: Some(ev.payload.origin_event_no.clone()),
        action_scene: origin.action_scene.clone(),
        points,
        operator: ev.payload.operator.clone(),
        event_desc: ev.payload.event_desc.clone(),
        rule_id: origin.rule_id,
        occurred_at: at,
        trace: ev.trace.clone(),
        ..Entry::new(event_type)
    }
}

async fn reverse_earn(
    tx: &mut PgConnection,
    ev: &Envelope<ReversePayload>,
    rows: &[Origin],
    wanted: i64,
) -> sqlx::Result<()> {
    let origin = &rows[0];
    let lots = sqlx::query_as!(
        ledger::Lot,
        // The earn's lots are its member's: found among the member's live lots (the member's
        // partial index; there is no index of lots by event, see migration 20261204000001).
        "select lot_id, remaining, expire_time from points_lot
         where crm_id = $1 and member_no = $3 and event_no = $2 and remaining > 0 and expired_at is null
         order by lot_id for update",
        ev.crm_id,
        ev.payload.origin_event_no,
        origin.member_no,
    )
    .fetch_all(&mut *tx)
    .await?;
    let held: i64 = lots.iter().map(|l| l.remaining).sum();
    let taken = wanted.min(held);
    let debt = wanted - taken;
    if taken > 0 {
        ledger::take(tx, &ev.crm_id, &origin.member_no, &ev.idempotency_key, &lots, taken).await?;
    }
    let mut e = entry(ev, origin, LedgerEventType::ReverseProduce, -taken, ev.occurred_at);
    if debt > 0 {
        let note = format!("其中{debt}积分已被使用,记为欠分");
        e.event_desc = Some(e.event_desc.map_or(note.clone(), |d| format!("{d}; {note}")));
    }
    ledger::insert_entry(tx, &e).await?;
    sqlx::query!(
        "update member_balance set points = points - $3, debt = debt + $4, total_reversed = total_reversed + $5, updated_at = now()
         where crm_id = $1 and member_no = $2",
        ev.crm_id,
        origin.member_no,
        taken,
        debt,
        wanted,
    )
    .execute(&mut *tx)
    .await?;
    ledger::outbox(tx, "points.reverse", &[&e]).await
}

async fn reverse_spend(
    tx: &mut PgConnection,
    ev: &Envelope<ReversePayload>,
    origin: &Origin,
    wanted: i64,
) -> sqlx::Result<()> {
    let at = ev.occurred_at;
    let (restored, expired_again) = ledger::give_back(tx, &ev.crm_id, &ev.payload.origin_event_no, wanted, at).await?;
    let back = entry(ev, origin, LedgerEventType::ReverseConsume, wanted, at);
    ledger::insert_entry(tx, &back).await?;
    let mut entries = vec![back];
    if expired_again > 0 {
        let mut gone = entry(ev, origin, LedgerEventType::Expire, -expired_again, at);
        gone.event_desc = Some(ledger::describe(-expired_again, "退回的积分已过期"));
        ledger::insert_entry(tx, &gone).await?;
        entries.push(gone);
    }
    sqlx::query!(
        "update member_balance set points = points + $3, total_expired = total_expired + $4,
                total_reversed = total_reversed + $5, updated_at = now()
         where crm_id = $1 and member_no = $2",
        ev.crm_id,
        origin.member_no,
        restored,
        expired_again,
        wanted,
    )
    .execute(&mut *tx)
    .await?;
    ledger::outbox(tx, "points.reverse", &entries.iter().collect::<Vec<_>>()).await
}

/// Takes back `points` of the earn `origin_event_no` inside the caller's transaction (which holds
/// the member's lock), as a reversal keyed `event_no` would: the lots give back what they hold,
/// the rest becomes debt, the origin rows' `reversed` grows. Orders take back their refunds and
/// cancellations through it. The caller has checked that `points` are left to reverse.
pub(crate) async fn take_back(tx: &mut PgConnection, reversal: &Envelope<ReversePayload>) -> sqlx::Result<()> {
    let p = &reversal.payload;
    let wanted = p.points.unwrap_or(0);
    if wanted <= 0 {
        return Ok(());
    }
    let rows = origin_rows(tx, &reversal.crm_id, &p.origin_event_no, true).await?;
    let rows: Vec<Origin> = rows.into_iter().filter(|r| r.event_type == LedgerEventType::Produce).collect();
    if rows.is_empty() {
        return Ok(());
    }
    reverse_earn(tx, reversal, &rows, wanted).await?;
    mark_reversed(tx, &reversal.crm_id, &rows, wanted).await
}
