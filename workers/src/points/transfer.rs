//! Transfers (转赠) and their acceptance (领取转赠).
//!
//! Giving takes points from the giver's available lots (soonest-expiring first, recorded like a
//! spend) into escrow. Accepting credits the receiver with one lot that keeps the soonest expiry
//! of the points given (points never live longer by changing hands). Unaccepted by the tenant's
//! time-out (default 24 h), the sweeper returns them into the lots they came from.
//!
//! Locks: the members' balance rows first (both, sorted, when accepting), then the transfer row.

use chrono::{DateTime, Duration, Utc};
use platform::rules::TenantRules;
use platform::status::{LedgerEventType, TransferStatus};
use schemas::{
    points::{AcceptPayload, TransferPayload},
    Envelope,
};
use sqlx::{PgConnection, PgPool};

use super::ledger::{self, Entry};
use crate::{
    inbox,
    outcome::{ApplyError, Outcome, Refusal},
};

/// Moves points from the giver into escrow.
pub async fn give(db: &PgPool, tenant: &TenantRules, ev: &Envelope<TransferPayload>) -> Result<Outcome, ApplyError> {
    let p = &ev.payload;
    let t = ev.occurred_at;
    let Some(mut tx) = ledger::open(db, ev, &[&p.member_no]).await? else {
        return Ok(Outcome::Duplicate);
    };
    let lots = ledger::spendable_lots(&mut tx, &ev.crm_id, &p.member_no, t).await?;
    let available: i64 = lots.iter().map(|l| l.remaining).sum();
    let outcome = if p.points > available {
        let frozen = ledger::frozen_points(&mut tx, &ev.crm_id, &p.member_no, t).await?;
        let more = if frozen > 0 { format!(" ({frozen} more frozen)") } else { String::new() };
        Outcome::refused(
            Refusal::InsufficientPoints,
            format!("insufficient points: {} to transfer, {available} available{more}", p.points),
        )
    } else {
        ledger::take(&mut tx, &ev.crm_id, &p.member_no, &ev.idempotency_key, &lots, p.points).await?;
        let expire_at = t + Duration::hours(tenant.transfer_timeout_hours);
        sqlx::query!(
            "insert into points_transfer (crm_id, transfer_no, from_member, points, status, expire_at)
             values ($1, $2, $3, $4, $5, $6)",
            ev.crm_id,
            ev.idempotency_key,
            p.member_no,
            p.points,
            TransferStatus::Pending as _,
            expire_at,
        )
        .execute(&mut *tx)
        .await?;
        let entry = Entry {
            crm_id: ev.crm_id.clone(),
            member_no: p.member_no.clone(),
            event_no: ev.idempotency_key.clone(),
            action_scene: "transfer".into(),
            points: -p.points,
            operator: p.operator.clone(),
            event_desc: p.event_desc.clone(),
            occurred_at: t,
            trace: ev.trace.clone(),
            ..Entry::new(LedgerEventType::Transfer)
        };
        ledger::insert_entry(&mut tx, &entry).await?;
        sqlx::query!(
            "update member_balance set points = points - $3, escrow = escrow + $3, total_transferred = total_transferred + $3,
                    updated_at = now()
             where crm_id = $1 and member_no = $2",
            ev.crm_id,
            p.member_no,
            p.points,
        )
        .execute(&mut *tx)
        .await?;
        ledger::outbox(&mut tx, "points.transfer", &[&entry]).await?;
        Outcome::Applied { count: p.points }
    };
    inbox::finish(tx, ev, &p.member_no, outcome).await
}

#[derive(sqlx::FromRow)]
struct Transfer {
    from_member: String,
    points: i64,
    status: TransferStatus,
    expire_at: DateTime<Utc>,
}

async fn transfer_row(
    tx: &mut PgConnection,
    crm_id: &str,
    transfer_no: &str,
    lock: bool,
) -> sqlx::Result<Option<Transfer>> {
    let sql = format!(
        "select from_member, points, status, expire_at from points_transfer where crm_id = $1 and transfer_no = $2 {}",
        if lock { "for update" } else { "" }
    );
    sqlx::query_as(&sql).bind(crm_id).bind(transfer_no).fetch_optional(&mut *tx).await
}

/// The receiver accepts: a lot of the transferred points, expiring with the soonest of them.
pub async fn accept(db: &PgPool, _tenant: &TenantRules, ev: &Envelope<AcceptPayload>) -> Result<Outcome, ApplyError> {
    let receiver = &ev.payload.member_no;
    let transfer_no = &ev.payload.transfer_no;
    let t = ev.occurred_at;
    // Read unlocked to learn the giver; read again below under both members' locks.
    let found = transfer_row(&mut *db.acquire().await?, &ev.crm_id, transfer_no, false).await?;
    let giver = found.as_ref().map(|f| f.from_member.as_str());
    let members: Vec<&str> = std::iter::once(receiver.as_str()).chain(giver).collect();
    let Some(mut tx) = ledger::open(db, ev, &members).await? else {
        return Ok(Outcome::Duplicate);
    };
    let transfer = transfer_row(&mut tx, &ev.crm_id, transfer_no, true).await?;
    let outcome = match transfer {
        None => Outcome::refused(Refusal::NotFound, format!("no transfer {}", transfer_no)),
        Some(tr) if tr.from_member == *receiver => {
            Outcome::refused(Refusal::OwnGift, "the giver cannot accept their own transfer")
        }
        Some(tr) if tr.status != TransferStatus::Pending => {
            Outcome::refused(Refusal::AlreadySettled, format!("transfer {} is already {}", transfer_no, tr.status))
        }
        Some(tr) if tr.expire_at <= t => Outcome::Rejected {
            code: Refusal::TimedOut,
            reason: format!(
                "transfer {} timed out at {}; the points go back to the giver",
                transfer_no,
                tr.expire_at.to_rfc3339()
            ),
        },
        Some(tr) => {
            let expire = sqlx::query_scalar!(
                "select min(l.expire_time) from lot_take k join points_lot l using (crm_id, lot_id) where k.crm_id = $1 and k.event_no = $2",
                ev.crm_id,
                transfer_no,
            )
            .fetch_one(&mut *tx)
            .await?;
            let expire = expire.unwrap_or(t);
            let lot_id = sqlx::query_scalar!(
                "insert into points_lot (crm_id, member_no, event_no, points, remaining, expire_time)
                 values ($1, $2, $3, $4, $4, $5) returning lot_id",
                ev.crm_id,
                receiver,
                transfer_no,
                tr.points,
                expire,
            )
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query!(
                "update points_transfer set status = $5, to_member = $3, accepted_at = $4, updated_at = now()
                 where crm_id = $1 and transfer_no = $2",
                ev.crm_id,
                transfer_no,
                receiver,
                t,
                TransferStatus::Accepted as _,
            )
            .execute(&mut *tx)
            .await?;
            let entry = Entry {
                crm_id: ev.crm_id.clone(),
                member_no: receiver.clone(),
                event_no: transfer_no.clone(),
                action_scene: "accept".into(),
                points: tr.points,
                expire_time: Some(expire),
                lot_id: Some(lot_id),
                occurred_at: t,
                trace: ev.trace.clone(),
                ..Entry::new(LedgerEventType::Accept)
            };
            let auto_id = ledger::insert_entry(&mut tx, &entry).await?;
            sqlx::query!(
                "update points_ledger set from_transfer_no = event_no where crm_id = $2 and auto_id = $1",
                auto_id,
                ev.crm_id
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query!(
                "update member_balance set points = points + $3, total_accepted = total_accepted + $3, updated_at = now()
                 where crm_id = $1 and member_no = $2",
                ev.crm_id,
                receiver,
                tr.points,
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query!(
                "update member_balance set escrow = escrow - $3, updated_at = now() where crm_id = $1 and member_no = $2",
                ev.crm_id,
                tr.from_member,
                tr.points,
            )
            .execute(&mut *tx)
            .await?;
            ledger::outbox(&mut tx, "points.accept", &[&entry]).await?;
            Outcome::Applied { count: tr.points }
        }
    };
    inbox::finish(tx, ev, receiver, outcome).await
}

/// Returns transfers not accepted by their time-out to their givers, into the lots the points
/// came from (points of lots that expired meanwhile come back and expire at once). Returns how
/// many transfers went back.
pub async fn return_due(db: &PgPool, now: DateTime<Utc>, limit: i64) -> sqlx::Result<usize> {
    // The literal matches the partial index `points_transfer_due`, which a bound state would hide.
    let due = sqlx::query!(
        "select crm_id, transfer_no, from_member from points_transfer
         where status = 'pending' /* TransferStatus::Pending */ and expire_at <= $1
         order by expire_at limit $2",
        now,
        limit,
    )
    .fetch_all(db)
    .await?;
    let mut returned = 0;
    for row in due {
        let (crm_id, transfer_no, giver) = (row.crm_id, row.transfer_no, row.from_member);
        let mut tx = db.begin().await?;
        let locked = sqlx::query_scalar!(
            "select points from member_balance where crm_id = $1 and member_no = $2 for update skip locked",
            crm_id,
            giver,
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(_) = locked else { continue };
        let Some(tr) = transfer_row(&mut tx, &crm_id, &transfer_no, true).await? else { continue };
        if tr.status != TransferStatus::Pending || tr.expire_at > now {
            continue;
        }
        let (restored, expired) = ledger::give_back(&mut tx, &crm_id, &transfer_no, tr.points, now).await?;
        sqlx::query!(
            "update points_transfer set status = $4, returned_at = $3, updated_at = now() where crm_id = $1 and transfer_no = $2",
            crm_id,
            transfer_no,
            now,
            TransferStatus::Returned as _,
        )
        .execute(&mut *tx)
        .await?;
        let back = Entry {
            crm_id: crm_id.clone(),
            member_no: giver.clone(),
            event_no: transfer_no.clone(),
            action_scene: "transfer".into(),
            points: tr.points,
            event_desc: Some(ledger::describe(tr.points, "转赠超时未被领取,退回")),
            occurred_at: tr.expire_at,
            ..Entry::new(LedgerEventType::TransferReturn)
        };
        ledger::insert_entry(&mut tx, &back).await?;
        let mut entries = vec![back];
        if expired > 0 {
            let gone = Entry {
                crm_id: crm_id.clone(),
                member_no: giver.clone(),
                event_no: transfer_no.clone(),
                action_scene: "transfer".into(),
                points: -expired,
                event_desc: Some(ledger::describe(-expired, "退回的积分已过期")),
                occurred_at: tr.expire_at,
                ..Entry::new(LedgerEventType::Expire)
            };
            ledger::insert_entry(&mut tx, &gone).await?;
            entries.push(gone);
        }
        sqlx::query!(
            "update member_balance set points = points + $3, escrow = escrow - $4, total_expired = total_expired + $5,
                    updated_at = now()
             where crm_id = $1 and member_no = $2",
            crm_id,
            giver,
            restored,
            tr.points,
            expired,
        )
        .execute(&mut *tx)
        .await?;
        ledger::outbox(&mut tx, "points.transfer", &entries.iter().collect::<Vec<_>>()).await?;
        tx.commit().await?;
        returned += 1;
    }
    Ok(returned)
}
