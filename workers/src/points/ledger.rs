//! What the one-message ledger handlers (spend, reversal, the sweeper) share: locking a member,
//! opening a handler's transaction (member locks, then the inbox check), ledger rows and their
//! analytics events, and the lots a debit takes from. The inbox and outbox themselves are
//! [`crate::inbox`] and [`crate::outbox`].
//!
//! Lock order, the same as the batched earn apply: the member's balance row first, then inbox
//! keys. Debits lock the member before reading lots, so two debits of one member run one
//! after the other and never both spend the same points.

use chrono::{DateTime, Utc};
use platform::status::LedgerEventType;
use schemas::analytics::{AnalyticsEvent, PointsLedgerRow};
use schemas::money::Cents;
use schemas::trace::TraceContext;
use schemas::Envelope;
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use crate::inbox;

/// Creates the member's balance row if needed and locks it; returns (points, debt).
pub async fn lock_member(tx: &mut PgConnection, crm_id: &str, member_no: &str) -> sqlx::Result<(i64, i64)> {
    sqlx::query!(
        "insert into member_balance (crm_id, member_no) values ($1, $2) on conflict do nothing",
        crm_id,
        member_no,
    )
    .execute(&mut *tx)
    .await?;
    let row = sqlx::query!(
        "select points, debt from member_balance where crm_id = $1 and member_no = $2 for update",
        crm_id,
        member_no,
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok((row.points, row.debt))
}

/// One ledger row.
#[derive(Debug, Clone)]
pub struct Entry {
    pub crm_id: String,
    pub member_no: String,
    pub event_no: String,
    pub origin_event_no: Option<String>,
    pub action_scene: String,
    pub event_type: LedgerEventType,
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
    /// Why the row is what it is (the rule and the arithmetic), where the handler knows one.
    pub explain: Option<String>,
    pub rule_id: Option<i64>,
    pub lot_id: Option<i64>,
    pub occurred_at: DateTime<Utc>,
    /// The trace context of the message that wrote the row (for its analytics event).
    pub trace: Option<TraceContext>,
}

impl Entry {
    /// A row of `event_type` with every other column empty, for the caller to fill in.
    pub fn new(event_type: LedgerEventType) -> Entry {
        Entry {
            crm_id: String::new(),
            member_no: String::new(),
            event_no: String::new(),
            origin_event_no: None,
            action_scene: String::new(),
            event_type,
            amount_cents: None,
            points: 0,
            expire_time: None,
            store_code: None,
            cost_center: None,
            campagin_code: None,
            operator: None,
            event_desc: None,
            order_items: None,
            explain: None,
            rule_id: None,
            lot_id: None,
            occurred_at: DateTime::<Utc>::UNIX_EPOCH,
            trace: None,
        }
    }
}

/// The `event_desc` of what the system writes, worded as seed 000's example ("用户多了30积分,
/// 无冻结时间"): the change to the member's points, then why.
pub fn describe(points: i64, why: &str) -> String {
    if points < 0 {
        format!("用户少了{}积分,{why}", -points)
    } else {
        format!("用户多了{points}积分,{why}")
    }
}

pub async fn insert_entry(tx: &mut PgConnection, e: &Entry) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "insert into points_ledger (crm_id, member_no, event_no, origin_event_no, action_scene, event_type, amount_cents,
                                    points, expire_time, store_code, cost_center, campagin_code, operator, event_desc,
                                    order_items, rule_id, lot_id, occurred_at, explain)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) returning auto_id",
        e.crm_id,
        e.member_no,
        e.event_no,
        e.origin_event_no,
        e.action_scene,
        e.event_type as _,
        e.amount_cents,
        e.points,
        e.expire_time,
        e.store_code,
        e.cost_center,
        e.campagin_code,
        e.operator,
        e.event_desc,
        e.order_items,
        e.rule_id,
        e.lot_id,
        e.occurred_at,
        e.explain,
    )
    .fetch_one(&mut *tx)
    .await
}

/// The analytics event of a ledger row, as the outbox carries it.
pub fn analytics(e: &Entry) -> AnalyticsEvent {
    let row = PointsLedgerRow {
        event_id: uuid::Uuid::now_v7(),
        crm_id: e.crm_id.clone(),
        member_no: e.member_no.clone(),
        event_no: e.event_no.clone(),
        origin_event_no: e.origin_event_no.clone(),
        event_type: e.event_type.as_str().to_string(),
        action_scene: e.action_scene.clone(),
        rule_id: e.rule_id,
        points: e.points,
        amount: e.amount_cents.map(Cents),
        store_code: e.store_code.clone(),
        cost_center: e.cost_center.clone(),
        campagin_code: e.campagin_code.clone(),
        occurred_at: e.occurred_at,
        trace: e.trace.clone(),
    };
    // Entries written here are debits, reversals, transfers, freezes and expiries, which all
    // have a kind; earns (`produce`, `settle_debt`) are written by the earn batch.
    AnalyticsEvent::points_ledger(row).expect("every ledger entry written by a handler has an analytics kind")
}

/// One outbox row holding these ledger rows' analytics events.
pub async fn outbox(tx: &mut PgConnection, routing_key: &str, entries: &[&Entry]) -> sqlx::Result<()> {
    let events: Vec<AnalyticsEvent> = entries.iter().map(|e| analytics(e)).collect();
    crate::outbox::write(tx, routing_key, &events).await
}

/// A lot a debit can take from.
#[derive(Debug, Clone)]
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
    sqlx::query_as!(
        Lot,
        "select lot_id, remaining, expire_time from points_lot
         where crm_id = $1 and member_no = $2 and remaining > 0 and expired_at is null and expire_time > $3
           and (unfreeze_time is null or unfreeze_time <= $3)
         order by expire_time, lot_id
         for update",
        crm_id,
        member_no,
        at,
    )
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
    sqlx::query_scalar!(
        r#"select coalesce(sum(remaining), 0)::bigint as "frozen!" from points_lot
         where crm_id = $1 and member_no = $2 and remaining > 0 and expired_at is null and expire_time > $3
           and unfreeze_time > $3"#,
        crm_id,
        member_no,
        at,
    )
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
    sqlx::query!(
        "update points_lot l set remaining = l.remaining - t.n, updated_at = now()
         from unnest($1::bigint[], $2::bigint[]) as t(id, n) where l.crm_id = $3 and l.lot_id = t.id",
        &ids[..],
        &amounts[..],
        crm_id,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "insert into lot_take (crm_id, member_no, event_no, lot_id, points)
         select $1, $2, $3, unnest($4::bigint[]), unnest($5::bigint[])",
        crm_id,
        member_no,
        event_no,
        &ids[..],
        &amounts[..],
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

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
    let takes = sqlx::query_as!(
        Take,
        r#"select t.take_id, t.lot_id, t.points - t.returned as "open!",
                (l.expired_at is not null or l.expire_time <= $3) as "expired!"
         from lot_take t join points_lot l using (crm_id, lot_id)
         where t.crm_id = $1 and t.event_no = $2 and t.points > t.returned
         order by l.expire_time desc, t.take_id
         for update of t, l"#,
        crm_id,
        event_no,
        at,
    )
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
        sqlx::query!(
            "update lot_take set returned = returned + $2 where crm_id = $3 and take_id = $1",
            take.take_id,
            n,
            crm_id
        )
        .execute(&mut *tx)
        .await?;
        if take.expired {
            expired += n;
        } else {
            restored += n;
            sqlx::query!(
                "update points_lot set remaining = remaining + $2, updated_at = now() where crm_id = $3 and lot_id = $1",
                take.lot_id,
                n,
                crm_id,
            )
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
