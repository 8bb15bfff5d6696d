//! What the one-message ledger handlers (spend, reversal, the sweeper) share: locking a member,
//! opening a handler's transaction (member locks, then the inbox check), ledger rows and their
//! analytics events, and the lots a debit takes from. The inbox and outbox themselves are
//! [`crate::inbox`] and [`crate::outbox`].
//!
//! Lock order, the same as the batched earn apply: the member's balance row first, then inbox
//! keys. Debits lock the member before reading lots, so two debits of one member run one
//! after the other and never both spend the same points.

use chrono::{DateTime, Utc};
use schemas::Envelope;
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use crate::inbox;

/// Creates the member's balance row if needed and locks it; returns (points, debt).
pub async fn lock_member(tx: &mut PgConnection, crm_id: &str, member_no: &str) -> sqlx::Result<(i64, i64)> {
    sqlx::query("insert into member_balance (crm_id, member_no) values ($1, $2) on conflict do nothing")
        .bind(crm_id)
        .bind(member_no)
        .execute(&mut *tx)
        .await?;
    sqlx::query_as("select points, debt from member_balance where crm_id = $1 and member_no = $2 for update")
        .bind(crm_id)
        .bind(member_no)
        .fetch_one(&mut *tx)
        .await
}

/// One ledger row.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub crm_id: String,
    pub member_no: String,
    pub event_no: String,
    pub origin_event_no: Option<String>,
    pub action_scene: String,
    pub event_type: &'static str,
    pub amount_cents: Option<i64>,
    /// Signed.
    pub points: i64,
    pub expire_time: Option<DateTime<Utc>>,
    pub store_code: Option<String>,
    pub cost_center: Option<String>,
    pub campagin_code: Option<String>,
    pub operator: Option<String>,
    pub event_desc: Option<String>,
    pub order_items: Option<Value>,
    pub rule_id: Option<i64>,
    pub lot_id: Option<i64>,
    pub occurred_at: DateTime<Utc>,
}

pub async fn insert_entry(tx: &mut PgConnection, e: &Entry) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "insert into points_ledger (crm_id, member_no, event_no, origin_event_no, action_scene, event_type, amount_cents,
                                    points, expire_time, store_code, cost_center, campagin_code, operator, event_desc,
                                    order_items, rule_id, lot_id, occurred_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) returning auto_id",
    )
    .bind(&e.crm_id)
    .bind(&e.member_no)
    .bind(&e.event_no)
    .bind(&e.origin_event_no)
    .bind(&e.action_scene)
    .bind(e.event_type)
    .bind(e.amount_cents)
    .bind(e.points)
    .bind(e.expire_time)
    .bind(&e.store_code)
    .bind(&e.cost_center)
    .bind(&e.campagin_code)
    .bind(&e.operator)
    .bind(&e.event_desc)
    .bind(&e.order_items)
    .bind(e.rule_id)
    .bind(e.lot_id)
    .bind(e.occurred_at)
    .fetch_one(&mut *tx)
    .await
}

/// The analytics event of a ledger row, as the outbox carries it.
pub fn analytics(e: &Entry) -> Value {
    serde_json::json!({
        "event_id": uuid::Uuid::now_v7(),
        "kind": format!("points.{}", e.event_type),
        "crm_id": e.crm_id,
        "member_no": e.member_no,
        "event_no": e.event_no,
        "origin_event_no": e.origin_event_no,
        "event_type": e.event_type,
        "action_scene": e.action_scene,
        "rule_id": e.rule_id,
        "points": e.points,
        "amount": e.amount_cents.map(|c| schemas::money::Cents(c).to_decimal_string()),
        "store_code": e.store_code,
        "cost_center": e.cost_center,
        "campagin_code": e.campagin_code,
        "occurred_at": e.occurred_at,
    })
}

/// One outbox row holding these ledger rows' analytics events.
pub async fn outbox(tx: &mut PgConnection, routing_key: &str, entries: &[&Entry]) -> sqlx::Result<()> {
    let events: Vec<Value> = entries.iter().map(|e| analytics(e)).collect();
    crate::outbox::write(tx, routing_key, &events).await
}

/// A lot a debit can take from.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Lot {
    pub lot_id: i64,
    pub remaining: i64,
    pub expire_time: DateTime<Utc>,
}

/// The member's spendable lots at `at` (not frozen, not expired), soonest-expiring first, locked.
pub async fn spendable_lots(
    tx: &mut PgConnection,
    crm_id: &str,
    member_no: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<Vec<Lot>> {
    sqlx::query_as(
        "select lot_id, remaining, expire_time from points_lot
         where crm_id = $1 and member_no = $2 and remaining > 0 and expired_at is null and expire_time > $3
           and (unfreeze_time is null or unfreeze_time <= $3)
         order by expire_time, lot_id
         for update",
    )
    .bind(crm_id)
    .bind(member_no)
    .bind(at)
    .fetch_all(&mut *tx)
    .await
}

/// Points held at `at` but frozen.
pub async fn frozen_points(
    tx: &mut PgConnection,
    crm_id: &str,
    member_no: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "select coalesce(sum(remaining), 0)::bigint from points_lot
         where crm_id = $1 and member_no = $2 and remaining > 0 and expired_at is null and expire_time > $3
           and unfreeze_time > $3",
    )
    .bind(crm_id)
    .bind(member_no)
    .bind(at)
    .fetch_one(&mut *tx)
    .await
}

/// Takes `points` from `lots` in their order, recording each take under `event_no`.
/// The caller has checked that the lots hold enough.
pub async fn take(
    tx: &mut PgConnection,
    crm_id: &str,
    member_no: &str,
    event_no: &str,
    lots: &[Lot],
    points: i64,
) -> sqlx::Result<()> {
    let mut left = points;
    let mut ids = Vec::new();
    let mut amounts = Vec::new();
    for lot in lots {
        if left == 0 {
            break;
        }
        let n = lot.remaining.min(left);
        ids.push(lot.lot_id);
        amounts.push(n);
        left -= n;
    }
    debug_assert_eq!(left, 0, "the caller checked the lots hold enough");
    sqlx::query(
        "update points_lot l set remaining = l.remaining - t.n, updated_at = now()
         from unnest($1::bigint[], $2::bigint[]) as t(id, n) where l.lot_id = t.id",
    )
    .bind(&ids)
    .bind(&amounts)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into lot_take (crm_id, member_no, event_no, lot_id, points)
         select $1, $2, $3, id, n from unnest($4::bigint[], $5::bigint[]) as t(id, n)",
    )
    .bind(crm_id)
    .bind(member_no)
    .bind(event_no)
    .bind(&ids)
    .bind(&amounts)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Take {
    take_id: i64,
    lot_id: i64,
    open: i64,
    expired: bool,
}

/// Gives `points` back to the lots the debit `event_no` took them from, longest-lived lot
/// first, each with its own expiry. Returns (restored, expired): the points back in live lots,
/// and the points whose lot had expired by `at` (they come back and expire at once; the caller
/// writes that `expire` row).
pub async fn give_back(
    tx: &mut PgConnection,
    crm_id: &str,
    event_no: &str,
    points: i64,
    at: DateTime<Utc>,
) -> sqlx::Result<(i64, i64)> {
    let takes: Vec<Take> = sqlx::query_as(
        "select t.take_id, t.lot_id, t.points - t.returned as open,
                (l.expired_at is not null or l.expire_time <= $3) as expired
         from lot_take t join points_lot l using (lot_id)
         where t.crm_id = $1 and t.event_no = $2 and t.points > t.returned
         order by l.expire_time desc, t.take_id
         for update of t, l",
    )
    .bind(crm_id)
    .bind(event_no)
    .bind(at)
    .fetch_all(&mut *tx)
    .await?;
    let mut left = points;
    let (mut restored, mut expired) = (0, 0);
    for take in &takes {
        let n = take.open.min(left);
        if n == 0 {
            break;
        }
        left -= n;
        sqlx::query("update lot_take set returned = returned + $2 where take_id = $1")
            .bind(take.take_id)
            .bind(n)
            .execute(&mut *tx)
            .await?;
        if take.expired {
            expired += n;
        } else {
            restored += n;
            sqlx::query("update points_lot set remaining = remaining + $2, updated_at = now() where lot_id = $1")
                .bind(take.lot_id)
                .bind(n)
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok((restored, expired))
}

/// Opens the transaction of a one-message handler: locks the members' balance rows (sorted),
/// then checks the inbox. `None`: the key was applied before; the duplicate is counted and
/// nothing else happens.
pub async fn open<P>(
    db: &PgPool,
    ev: &Envelope<P>,
    members: &[&str],
) -> sqlx::Result<Option<Transaction<'static, Postgres>>> {
    let mut members = members.to_vec();
    members.sort_unstable();
    members.dedup();
    let mut tx = db.begin().await?;
    for member in members {
        lock_member(&mut tx, &ev.crm_id, member).await?;
    }
    if inbox::already_applied(&mut tx, db, ev).await? {
        return Ok(None);
    }
    Ok(Some(tx))
}
