//! An order created paid (`points.order`, keyed by `orderNo`): the order's rows and its points,
//! in one transaction per batch of orders.
//!
//! The points are the earn computation's ([`crate::points::earn::award`]): each order is an earn
//! event of scene `order_pay` whose `amount` is what the order paid, `order_items` its lines and
//! `store_code` its store, under the ledger event_no `deal/{orderNo}`, so rules, `per_money`,
//! `max_points` / `max_times` windows, freeze, expiry, debts and levels apply exactly as to any
//! earn. Only the inbox key differs (the order's, kind `order_no`), so the order and its points
//! are applied together, once. What the order earned (every produce row of its event_no, so a
//! campaign bonus written under it counts) is then shared out over its lines by amount
//! ([`schemas::orders::share_out`]): that share is what refunding a line takes back.

use std::collections::{HashMap, HashSet};

use platform::rules::TenantRules;
use platform::status::LedgerEventType;
use schemas::{
    orders::{order_event_no, OrderPayload},
    points::EarnPayload,
    Envelope, MessageKind,
};
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use crate::{
    batch,
    outcome::{ApplyError, Outcome},
    points::earn,
};

/// The scene an order earns under.
pub const ORDER_SCENE: &str = "order_pay";

/// Applies a batch of orders; one outcome each (applied with the points earned, possibly 0).
pub async fn apply_batch(
    db: &PgPool,
    tenants: &HashMap<String, TenantRules>,
    orders: &[Envelope<OrderPayload>],
) -> Result<Vec<Outcome>, ApplyError> {
    batch::apply_with_known(db, orders, |known| try_apply(db, tenants, orders, known)).await
}

/// The earn event an order is, for the earn computation.
fn as_earn(order: &Envelope<OrderPayload>) -> Envelope<EarnPayload> {
    let d = &order.payload.deal;
    Envelope {
        message_id: order.message_id,
        kind: MessageKind::PointsEarn,
        schema_version: order.schema_version,
        crm_id: order.crm_id.clone(),
        occurred_at: order.occurred_at,
        idempotency_key: order_event_no(&order.idempotency_key),
        payload: EarnPayload {
            member_no: order.payload.member_no.clone(),
            action_scene: ORDER_SCENE.into(),
            amount: Some(d.amount_paid),
            order_items: Some(d.order_items()),
            store_code: Some(d.store.clone()),
            cost_center: None,
            campagin_code: None,
            operator: Some(d.sales_channel.clone()),
            event_desc: None,
            // 支付方式: what a level rule's allowed pay methods are matched against (seed 004).
            pay_method: d.payment_term.clone(),
        },
        trace: order.trace.clone(),
    }
}

async fn try_apply(
    db: &PgPool,
    tenants: &HashMap<String, TenantRules>,
    orders: &[Envelope<OrderPayload>],
    known: HashSet<batch::Key>,
) -> Result<batch::Attempt, ApplyError> {
    let mut sorted = batch::Sorted::new(orders, tenants, &known);
    if sorted.is_settled() {
        return Ok(Ok(sorted.finish()));
    }
    let fresh = sorted.fresh.clone();
    let earns: Vec<Envelope<EarnPayload>> = orders.iter().map(as_earn).collect();
    let mut tx = db.begin().await?;
    let mut earned = vec![None; orders.len()];
    earn::award(&mut tx, tenants, &earns, &fresh, &mut earned).await?;
    let totals = earned_totals(&mut tx, &earns, &fresh).await?;

    // The order rows, sorted by key like the inbox rows: two batches never wait in a cycle. A
    // key taken concurrently is found by the inbox insert below, which rolls all of it back.
    let mut by_key = fresh.clone();
    by_key.sort_by(|&a, &b| {
        (&orders[a].crm_id, &orders[a].idempotency_key).cmp(&(&orders[b].crm_id, &orders[b].idempotency_key))
    });
    for &i in &by_key {
        let order = &orders[i];
        let event_no = &earns[i].idempotency_key;
        let total = totals.get(event_no.as_str()).copied().unwrap_or(0);
        let note = match &earned[i] {
            Some(Outcome::Rejected { reason, .. }) => Some(reason.clone()),
            _ => None,
        };
        insert_order(&mut tx, order, event_no, total, note.as_deref()).await?;
        sorted.outcomes[i] = Some(Outcome::Applied { count: total });
    }
    recompute_levels(&mut tx, orders, &by_key).await?;
    if let Err(exists) = sorted.record(&mut tx, orders, |p| &p.member_no).await? {
        tx.rollback().await?;
        return Ok(Err(exists));
    }
    tx.commit().await?;
    Ok(Ok(sorted.finish()))
}

/// What each fresh order's event_no earned: every produce row under it (base and bonuses).
async fn earned_totals(
    tx: &mut PgConnection,
    earns: &[Envelope<EarnPayload>],
    fresh: &[usize],
) -> sqlx::Result<HashMap<String, i64>> {
    let crm: Vec<String> = fresh.iter().map(|&i| earns[i].crm_id.clone()).collect();
    let keys: Vec<String> = fresh.iter().map(|&i| earns[i].idempotency_key.clone()).collect();
    let rows = sqlx::query!(
        r#"select l.event_no, sum(l.points)::bigint as "points!"
         from points_ledger l join unnest($1::text[], $2::text[]) as t(c, e) on l.crm_id = t.c and l.event_no = t.e
         where l.event_type = $3
         group by l.event_no"#,
        &crm[..],
        &keys[..],
        LedgerEventType::Produce as _,
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().map(|r| (r.event_no, r.points)).collect())
}

/// The order, its lines with their share of `earned`, and its `pay` step.
async fn insert_order(
    tx: &mut PgConnection,
    order: &Envelope<OrderPayload>,
    event_no: &str,
    earned: i64,
    note: Option<&str>,
) -> sqlx::Result<()> {
    let p = &order.payload;
    let d = &p.deal;
    let mut header = serde_json::to_value(d).unwrap_or_default();
    if let Some(obj) = header.as_object_mut() {
        obj.remove("dealLines");
    }
    sqlx::query!(
        "insert into deal (crm_id, order_no, member_no, membership_id, header, sales_channel, store, date_order,
                           amount_paid, coupon_code, event_no, points_earned, earn_note, version)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1)
         on conflict do nothing",
        order.crm_id,
        order.idempotency_key,
        p.member_no,
        p.membership_id,
        header,
        d.sales_channel,
        d.store,
        d.date_order,
        d.amount_paid.0,
        d.coupon_code,
        event_no,
        earned,
        note,
    )
    .execute(&mut *tx)
    .await?;
    super::write_lines(tx, &order.crm_id, &order.idempotency_key, d, earned).await?;
    super::record_step(
        tx,
        &order.crm_id,
        &order.idempotency_key,
        "pay",
        &order.idempotency_key,
        earned,
        json!({ "amountPaid": d.amount_paid.to_decimal_string(), "note": note }),
        order.occurred_at,
    )
    .await
}

/// The levels of the orders' members, now that the orders count (an order that earned nothing
/// counts too): per tenant, sorted, at the latest order time of the batch.
async fn recompute_levels(
    tx: &mut PgConnection,
    orders: &[Envelope<OrderPayload>],
    fresh: &[usize],
) -> sqlx::Result<()> {
    let mut per_tenant: std::collections::BTreeMap<&str, (Vec<String>, chrono::DateTime<chrono::Utc>)> =
        std::collections::BTreeMap::new();
    for &i in fresh {
        let o = &orders[i];
        let entry = per_tenant.entry(&o.crm_id).or_insert_with(|| (Vec::new(), o.occurred_at));
        entry.0.push(o.payload.member_no.clone());
        entry.1 = entry.1.max(o.occurred_at);
    }
    for (crm_id, (mut members, at)) in per_tenant {
        members.sort();
        members.dedup();
        platform::levels::recompute(tx, crm_id, &members, "order", at).await?;
    }
    Ok(())
}
