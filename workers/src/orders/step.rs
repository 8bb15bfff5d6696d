//! A later step of an order (`points.order_step`), one transaction each: the member's balance
//! row is locked first (as every debit locks it), then the order row, so concurrent steps of one
//! order run one after the other and two refunds can never both take the same line's points.
//!
//! - refund: the refunded lines' share of the order's points is taken back through the ledger's
//!   exact reversal (lots give back, the rest becomes debt). Refused, changing nothing: an
//!   unknown line, a line already refunded, a `refundTotal` beyond what is left of the amount
//!   paid, an order cancelled or deleted.
//! - deleteRefund: what that refund took is credited back (a `produce` row under the order's
//!   event_no, expiring when the order's award expires), its lines are refundable again.
//! - cancel: everything the order still holds is taken back; the state becomes cancelled.
//! - delete: the same, and the state becomes deleted.
//! - update: the header and lines are replaced; when `amountPaid` changes, the points move by
//!   the difference between what the order's rules give the new and the old amount (credited or
//!   taken back), and the points are shared out over the new lines again.

use chrono::{DateTime, Utc};
use platform::rules::TenantRules;
use schemas::{
    money::Cents,
    orders::{Deal, OrderStepPayload, Step},
    points::ReversePayload,
    Envelope, MessageKind,
};
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use super::{pay::ORDER_SCENE, OrderLines, StepRecord};
use crate::{
    inbox,
    outcome::{ApplyError, Outcome, Refusal},
    points::{
        adjust::{self, FixedCredit},
        ledger, reverse,
    },
};

struct Order {
    member_no: String,
    state: String,
    amount_paid: i64,
    event_no: String,
    points_earned: i64,
    points_taken: i64,
}

struct Line {
    line_id: String,
    points: i64,
    refund_key: Option<String>,
}

/// Applies one step in its own transaction.
pub async fn apply(db: &PgPool, tenant: &TenantRules, ev: &Envelope<OrderStepPayload>) -> Result<Outcome, ApplyError> {
    let p = &ev.payload;
    let member =
        sqlx::query_scalar!("select member_no from deal where crm_id = $1 and order_no = $2", ev.crm_id, p.order_no)
            .fetch_optional(db)
            .await?;
    let members: Vec<&str> = member.as_deref().into_iter().collect();
    let Some(mut tx) = ledger::open(db, ev, &members).await? else {
        return Ok(Outcome::Duplicate);
    };
    let order = sqlx::query_as!(
        Order,
        "select member_no, state, amount_paid, event_no, points_earned, points_taken from deal
         where crm_id = $1 and order_no = $2 for update",
        ev.crm_id,
        p.order_no,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let outcome = match order {
        None => Outcome::refused(Refusal::NotFound, format!("orderNo: no order {}", p.order_no)),
        Some(order) => match &p.step {
            Step::Refund { lines, refund_total, date_refund, reason } => {
                refund(&mut tx, ev, &order, lines, *refund_total, *date_refund, reason.as_deref()).await?
            }
            Step::DeleteRefund { refund_key } => delete_refund(&mut tx, ev, &order, refund_key).await?,
            Step::Cancel => close(&mut tx, ev, &order, "cancelled", "cancel").await?,
            Step::Delete => close(&mut tx, ev, &order, "deleted", "delete").await?,
            Step::Update { deal } => update(&mut tx, tenant, ev, &order, deal).await?,
        },
    };
    let member_no = member.unwrap_or_default();
    // The order's amount and state feed the member's level (consumption, frequency).
    if matches!(outcome, Outcome::Applied { .. }) {
        platform::levels::recompute(&mut tx, &ev.crm_id, std::slice::from_ref(&member_no), "order", ev.occurred_at)
            .await?;
    }
    inbox::finish(tx, ev, &member_no, outcome).await
}

/// What the order still holds: earned, less what its steps took back.
fn held(order: &Order) -> i64 {
    (order.points_earned - order.points_taken).max(0)
}

/// Refuses a step on an order that is no longer paid.
fn not_open(order: &Order, order_no: &str) -> Option<Outcome> {
    (order.state != "paid")
        .then(|| Outcome::refused(Refusal::AlreadyReversed, format!("orderNo: order {order_no} is {}", order.state)))
}

/// Takes back `points` of the order's event through the ledger's exact reversal.
async fn take_back(
    tx: &mut PgConnection,
    ev: &Envelope<OrderStepPayload>,
    order: &Order,
    points: i64,
    why: &str,
) -> sqlx::Result<()> {
    if points <= 0 {
        return Ok(());
    }
    let reversal = Envelope {
        message_id: ev.message_id,
        kind: MessageKind::PointsReverse,
        schema_version: ev.schema_version,
        crm_id: ev.crm_id.clone(),
        occurred_at: ev.occurred_at,
        idempotency_key: ev.idempotency_key.clone(),
        payload: ReversePayload {
            origin_event_no: order.event_no.clone(),
            points: Some(points),
            operator: None,
            event_desc: Some(ledger::describe(-points, why)),
        },
        trace: ev.trace.clone(),
    };
    reverse::take_back(tx, &reversal).await
}

/// Credits `points` back to the order's event (a deleted refund, a raised amount).
async fn give_back(
    tx: &mut PgConnection,
    ev: &Envelope<OrderStepPayload>,
    order: &Order,
    points: i64,
    why: &str,
) -> sqlx::Result<()> {
    if points <= 0 {
        return Ok(());
    }
    // The points live as long as the order's award: its latest credit's expiry (the ledger's
    // event index; lots are not indexed by event, see migration 20261204000001).
    let expire = sqlx::query_scalar!(
        "select max(expire_time) from points_ledger where crm_id = $1 and event_no = $2 and points > 0",
        ev.crm_id,
        order.event_no
    )
    .fetch_one(&mut *tx)
    .await?
    .unwrap_or_else(adjust::never);
    adjust::credit(
        tx,
        &FixedCredit {
            crm_id: &ev.crm_id,
            member_no: &order.member_no,
            event_no: &order.event_no,
            action_scene: ORDER_SCENE,
            points,
            rule_id: None,
            expire_time: expire,
            unfreeze_time: None,
            event_desc: ledger::describe(points, why),
            occurred_at: ev.occurred_at,
            message_id: ev.message_id,
            trace: ev.trace.clone(),
        },
    )
    .await
}

async fn lines_of(tx: &mut PgConnection, crm_id: &str, order_no: &str) -> sqlx::Result<Vec<Line>> {
    sqlx::query_as!(
        Line,
        "select line_id, points, refund_key from deal_line where crm_id = $1 and order_no = $2 order by position",
        crm_id,
        order_no,
    )
    .fetch_all(&mut *tx)
    .await
}

/// Moves the order's counters and version.
async fn touch(tx: &mut PgConnection, crm_id: &str, order_no: &str, taken: i64, earned: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "update deal set points_taken = points_taken + $3, points_earned = points_earned + $4, version = version + 1,
                updated_at = now()
         where crm_id = $1 and order_no = $2",
        crm_id,
        order_no,
        taken,
        earned,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn refund(
    tx: &mut PgConnection,
    ev: &Envelope<OrderStepPayload>,
    order: &Order,
    refunded: &[String],
    refund_total: Cents,
    date_refund: DateTime<Utc>,
    reason: Option<&str>,
) -> sqlx::Result<Outcome> {
    let order_no = &ev.payload.order_no;
    if let Some(refused) = not_open(order, order_no) {
        return Ok(refused);
    }
    let lines = lines_of(tx, &ev.crm_id, order_no).await?;
    let mut points = 0;
    for (i, id) in refunded.iter().enumerate() {
        let field = format!("refundLines[{i}].lineId");
        match lines.iter().find(|l| &l.line_id == id) {
            None => {
                return Ok(Outcome::refused(Refusal::NotFound, format!("{field}: order {order_no} has no line {id}")))
            }
            Some(l) if l.refund_key.is_some() => {
                return Ok(Outcome::refused(
                    Refusal::AlreadyReversed,
                    format!("{field}: line {id} of order {order_no} is already refunded"),
                ))
            }
            Some(l) => points += l.points,
        }
    }
    let refunded_before = sqlx::query_scalar!(
        r#"select coalesce(sum((detail->>'refundTotalCents')::bigint), 0)::bigint as "cents!" from deal_step
         where crm_id = $1 and order_no = $2 and step = 'refund' and undone_by is null"#,
        ev.crm_id,
        order_no,
    )
    .fetch_one(&mut *tx)
    .await?;
    let left = order.amount_paid - refunded_before;
    if refund_total.0 > left {
        return Ok(Outcome::refused(
            Refusal::ExceedsReversible,
            format!(
                "refundTotal: {} is more than is left to refund ({} of the {} paid)",
                refund_total.to_decimal_string(),
                Cents(left.max(0)).to_decimal_string(),
                Cents(order.amount_paid).to_decimal_string()
            ),
        ));
    }
    // Never more than the order holds (an update may have lowered it).
    let points = points.min(held(order));
    take_back(tx, ev, order, points, &format!("订单{order_no}退单")).await?;
    sqlx::query!(
        "update deal_line set refund_key = $3, updated_at = now()
         where crm_id = $1 and order_no = $2 and line_id = any($4)",
        ev.crm_id,
        order_no,
        ev.idempotency_key,
        refunded,
    )
    .execute(&mut *tx)
    .await?;
    touch(tx, &ev.crm_id, order_no, points, 0).await?;
    let detail = json!({
        "refundLines": refunded.iter().map(|l| json!({"lineId": l})).collect::<Vec<_>>(),
        "refundTotal": refund_total.to_decimal_string(),
        "refundTotalCents": refund_total.0,
        "dateRefund": schemas::members::format_datetime(date_refund),
        "reason": reason,
    });
    let step = StepRecord {
        crm_id: &ev.crm_id,
        order_no,
        step: "refund",
        idem_key: &ev.idempotency_key,
        points: -points,
        detail,
        at: ev.occurred_at,
    };
    super::record_steps(tx, vec![step]).await?;
    Ok(Outcome::Applied { count: points })
}

async fn delete_refund(
    tx: &mut PgConnection,
    ev: &Envelope<OrderStepPayload>,
    order: &Order,
    refund_key: &str,
) -> sqlx::Result<Outcome> {
    let order_no = &ev.payload.order_no;
    if let Some(refused) = not_open(order, order_no) {
        return Ok(refused);
    }
    let step = sqlx::query!(
        "select points, undone_by from deal_step where crm_id = $1 and order_no = $2 and idem_key = $3 and step = 'refund'",
        ev.crm_id,
        order_no,
        refund_key,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(step) = step else {
        return Ok(Outcome::refused(Refusal::NotFound, format!("orderNo: order {order_no} has no refund to delete")));
    };
    if step.undone_by.is_some() {
        return Ok(Outcome::refused(
            Refusal::AlreadyReversed,
            format!("orderNo: the latest refund of order {order_no} is already deleted"),
        ));
    }
    let points = -step.points;
    give_back(tx, ev, order, points, &format!("订单{order_no}删除退单")).await?;
    sqlx::query!(
        "update deal_line set refund_key = null, updated_at = now() where crm_id = $1 and order_no = $2 and refund_key = $3",
        ev.crm_id,
        order_no,
        refund_key,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "update deal_step set undone_by = $3 where crm_id = $1 and idem_key = $2",
        ev.crm_id,
        refund_key,
        ev.idempotency_key,
    )
    .execute(&mut *tx)
    .await?;
    touch(tx, &ev.crm_id, order_no, -points, 0).await?;
    let step = StepRecord {
        crm_id: &ev.crm_id,
        order_no,
        step: "delete_refund",
        idem_key: &ev.idempotency_key,
        points,
        detail: json!({ "refund": refund_key }),
        at: ev.occurred_at,
    };
    super::record_steps(tx, vec![step]).await?;
    Ok(Outcome::Applied { count: points })
}

/// Cancel or delete: takes back everything the order still holds and sets its state.
async fn close(
    tx: &mut PgConnection,
    ev: &Envelope<OrderStepPayload>,
    order: &Order,
    state: &str,
    step: &str,
) -> sqlx::Result<Outcome> {
    let order_no = &ev.payload.order_no;
    // A cancelled order may still be deleted; nothing is deleted or cancelled twice.
    if order.state == "deleted" || order.state == state {
        return Ok(Outcome::refused(Refusal::AlreadyReversed, format!("orderNo: order {order_no} is {}", order.state)));
    }
    let points = held(order);
    let why = if step == "cancel" { "取消" } else { "删除" };
    take_back(tx, ev, order, points, &format!("订单{order_no}{why}")).await?;
    sqlx::query!(
        "update deal set state = $3, updated_at = now() where crm_id = $1 and order_no = $2",
        ev.crm_id,
        order_no,
        state
    )
    .execute(&mut *tx)
    .await?;
    touch(tx, &ev.crm_id, order_no, points, 0).await?;
    let step = StepRecord {
        crm_id: &ev.crm_id,
        order_no,
        step,
        idem_key: &ev.idempotency_key,
        points: -points,
        detail: json!({}),
        at: ev.occurred_at,
    };
    super::record_steps(tx, vec![step]).await?;
    Ok(Outcome::Applied { count: points })
}

/// What the tenant's `order_pay` rules give an amount, before any window or limit.
fn rule_award(tenant: &TenantRules, amount: Cents) -> i64 {
    tenant.produce_rules_for(ORDER_SCENE).iter().filter_map(|r| r.base_award(Some(amount)).ok()).sum()
}

async fn update(
    tx: &mut PgConnection,
    tenant: &TenantRules,
    ev: &Envelope<OrderStepPayload>,
    order: &Order,
    deal: &Deal,
) -> sqlx::Result<Outcome> {
    let order_no = &ev.payload.order_no;
    if let Some(refused) = not_open(order, order_no) {
        return Ok(refused);
    }
    let lines = lines_of(tx, &ev.crm_id, order_no).await?;
    if let Some(gone) =
        lines.iter().find(|l| l.refund_key.is_some() && !deal.deal_lines.iter().any(|n| n.line_id == l.line_id))
    {
        return Ok(Outcome::refused(
            Refusal::AlreadyReversed,
            format!("dealLines: line {} is refunded and cannot be removed", gone.line_id),
        ));
    }
    let diff = if order.points_earned == 0 && rule_award(tenant, Cents(order.amount_paid)) == 0 {
        // It earned nothing (no rule, below per_money): an update does not make it earn.
        0
    } else {
        rule_award(tenant, deal.amount_paid) - rule_award(tenant, Cents(order.amount_paid))
    };
    // Down by at most what the order holds; up by the difference.
    let diff = diff.max(-held(order));
    if diff > 0 {
        give_back(tx, ev, order, diff, &format!("订单{order_no}修改金额")).await?;
    } else {
        take_back(tx, ev, order, -diff, &format!("订单{order_no}修改金额")).await?;
    }
    let mut header = serde_json::to_value(deal).unwrap_or_default();
    if let Some(obj) = header.as_object_mut() {
        obj.remove("dealLines");
    }
    sqlx::query!(
        "update deal set header = $3, sales_channel = $4, store = $5, date_order = $6, amount_paid = $7,
                coupon_code = coalesce($8, coupon_code), updated_at = now()
         where crm_id = $1 and order_no = $2",
        ev.crm_id,
        order_no,
        header,
        deal.sales_channel,
        deal.store,
        deal.date_order,
        deal.amount_paid.0,
        deal.coupon_code,
    )
    .execute(&mut *tx)
    .await?;
    let keep: Vec<String> = deal.deal_lines.iter().map(|l| l.line_id.clone()).collect();
    sqlx::query!(
        "delete from deal_line where crm_id = $1 and order_no = $2 and line_id <> all($3)",
        ev.crm_id,
        order_no,
        &keep[..]
    )
    .execute(&mut *tx)
    .await?;
    let earned = order.points_earned + diff;
    super::write_lines(tx, &[OrderLines { crm_id: &ev.crm_id, order_no, deal, earned }]).await?;
    touch(tx, &ev.crm_id, order_no, 0, diff).await?;
    let detail = json!({
        "amountPaid": deal.amount_paid.to_decimal_string(),
        "amountPaidBefore": Cents(order.amount_paid).to_decimal_string(),
    });
    let step = StepRecord {
        crm_id: &ev.crm_id,
        order_no,
        step: "update",
        idem_key: &ev.idempotency_key,
        points: diff,
        detail,
        at: ev.occurred_at,
    };
    super::record_steps(tx, vec![step]).await?;
    Ok(Outcome::Applied { count: diff.abs() })
}
