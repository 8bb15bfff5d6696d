//! The scheduled ledger work: lots whose `expire_time` has come lose their remainder (ledger
//! `expire`), lots whose `unfreeze_time` has come become spendable (ledger `unfreeze`, which
//! moves points from frozen to available and so does not count in the balance), and transfers
//! not accepted in time go back to their givers (ledger `transfer_return`, in `transfer.rs`).
//!
//! Exactly once with N workers: each member is handled in its own transaction that locks the
//! member's balance row with `SKIP LOCKED` (a member busy elsewhere waits for the next round),
//! then re-reads its due lots under that lock. `now` is a parameter, so tests move time
//! instead of sleeping.

use chrono::{DateTime, Utc};
use platform::status::LedgerEventType;
use sqlx::PgPool;

use super::ledger::{self, Entry};

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub expired_lots: usize,
    pub expired_points: i64,
    pub unfrozen_lots: usize,
    /// Transfers not accepted in time, returned to their givers.
    pub returned_transfers: usize,
}

/// Runs the points steps once: transfers due go back, then up to `members` members' due lots
/// expire or unfreeze. (The sweeper runs them as two steps of [`crate::sweep::STEPS`].)
pub async fn run_once(db: &PgPool, now: DateTime<Utc>, members: i64) -> sqlx::Result<Swept> {
    let returned_transfers = super::transfer::return_due(db, now, members).await?;
    Ok(Swept { returned_transfers, ..expire_and_unfreeze(db, now, members).await? })
}

/// Expires or unfreezes the due lots of up to `members` members.
pub async fn expire_and_unfreeze(db: &PgPool, now: DateTime<Utc>, members: i64) -> sqlx::Result<Swept> {
    let due = sqlx::query!(
        r#"select distinct crm_id as "crm_id!", member_no as "member_no!" from (
             (select crm_id, member_no from points_lot
              where remaining > 0 and expired_at is null and expire_time <= $1 order by expire_time limit $2)
             union all
             (select crm_id, member_no from points_lot
              where unfrozen_at is null and unfreeze_time <= $1 order by unfreeze_time limit $2)) d"#,
        now,
        members,
    )
    .fetch_all(db)
    .await?;
    let mut swept = Swept::default();
    for m in due {
        let one = sweep_member(db, &m.crm_id, &m.member_no, now).await?;
        swept.expired_lots += one.expired_lots;
        swept.expired_points += one.expired_points;
        swept.unfrozen_lots += one.unfrozen_lots;
    }
    Ok(swept)
}

async fn sweep_member(db: &PgPool, crm_id: &str, member_no: &str, now: DateTime<Utc>) -> sqlx::Result<Swept> {
    let mut tx = db.begin().await?;
    let locked: Option<i64> = sqlx::query_scalar!(
        "select points from member_balance where crm_id = $1 and member_no = $2 for update skip locked",
        crm_id,
        member_no,
    )
    .fetch_optional(&mut *tx)
    .await?;
    if locked.is_none() {
        return Ok(Swept::default());
    }
    let expiring: Vec<(i64, String, i64, DateTime<Utc>)> = sqlx::query!(
        r#"with due as (select lot_id, remaining from points_lot
                      where crm_id = $1 and member_no = $2 and remaining > 0 and expired_at is null and expire_time <= $3
                      for update)
         update points_lot l set expired_at = $3, remaining = 0, updated_at = now()
         from due where l.crm_id = $1 and l.lot_id = due.lot_id
         returning l.lot_id, l.event_no, due.remaining as "remaining!", l.expire_time"#,
        crm_id,
        member_no,
        now,
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| (r.lot_id, r.event_no, r.remaining, r.expire_time))
    .collect();
    let unfreezing: Vec<(i64, String, i64, Option<DateTime<Utc>>)> = sqlx::query!(
        "update points_lot set unfrozen_at = $3, updated_at = now()
         where crm_id = $1 and lot_id in (select lot_id from points_lot
                          where crm_id = $1 and member_no = $2 and unfrozen_at is null and unfreeze_time <= $3
                          for update)
         returning lot_id, event_no, remaining, unfreeze_time",
        crm_id,
        member_no,
        now,
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| (r.lot_id, r.event_no, r.remaining, r.unfreeze_time))
    .collect();
    let mut entries = Vec::new();
    for (lot_id, event_no, gone, at) in &expiring {
        entries.push(Entry {
            crm_id: crm_id.into(),
            member_no: member_no.into(),
            event_no: event_no.clone(),
            action_scene: "expire".into(),
            points: -gone,
            event_desc: Some(ledger::describe(-gone, "积分过期")),
            lot_id: Some(*lot_id),
            occurred_at: *at,
            ..Entry::new(LedgerEventType::Expire)
        });
    }
    for (lot_id, event_no, remaining, at) in &unfreezing {
        entries.push(Entry {
            crm_id: crm_id.into(),
            member_no: member_no.into(),
            event_no: event_no.clone(),
            action_scene: "unfreeze".into(),
            points: *remaining,
            // Unfreezing moves points from frozen to available: the member has no more than before.
            event_desc: Some(format!("用户{remaining}积分解冻,冻结时间已到")),
            lot_id: Some(*lot_id),
            occurred_at: at.unwrap_or(now),
            ..Entry::new(LedgerEventType::Unfreeze)
        });
    }
    // A lot whose remainder was 0 (all spent) expires silently: nothing to write.
    entries.retain(|e| e.points != 0);
    for e in &entries {
        ledger::insert_entry(&mut tx, e).await?;
    }
    let expired_points: i64 = expiring.iter().map(|(_, _, gone, _)| gone).sum();
    if expired_points > 0 {
        sqlx::query!(
            "update member_balance set points = points - $3, total_expired = total_expired + $3, updated_at = now()
             where crm_id = $1 and member_no = $2",
            crm_id,
            member_no,
            expired_points,
        )
        .execute(&mut *tx)
        .await?;
    }
    if !entries.is_empty() {
        ledger::outbox(&mut tx, "points.sweep", &entries.iter().collect::<Vec<_>>()).await?;
    }
    tx.commit().await?;
    Ok(Swept { expired_lots: expiring.len(), expired_points, unfrozen_lots: unfreezing.len(), returned_transfers: 0 })
}
