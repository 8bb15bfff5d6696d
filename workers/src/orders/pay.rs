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
    let mut paid = Vec::with_capacity(by_key.len());
    for &i in &by_key {
        let event_no = earns[i].idempotency_key.as_str();
        let earned_total = totals.get(event_no).copied().unwrap_or(0);
        let note = match &earned[i] {
            Some(Outcome::Rejected { reason, .. }) => Some(reason.as_str()),
            _ => None,
        };
        paid.push(Paid { order: &orders[i], event_no, earned: earned_total, note });
        sorted.outcomes[i] = Some(Outcome::Applied { count: earned_total });
    }
    insert_orders(&mut tx, &paid).await?;
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

/// A new order as written: what it earned, and why nothing when a rule refused it.
struct Paid<'a> {
    order: &'a Envelope<OrderPayload>,
    event_no: &'a str,
    earned: i64,
    note: Option<&'a str>,
}

/// The orders, their lines with their share of what each earned, and their `pay` steps: three
/// statements for the whole batch, in key order. (One of each per order held the batch's
/// balance locks for ~700 round trips a batch, while the other consumer's credits waited on
/// them: `bench --orders`, issue 14.)
async fn insert_orders(tx: &mut PgConnection, paid: &[Paid<'_>]) -> sqlx::Result<()> {
    let n = paid.len();
    let (mut crm, mut order_nos, mut members, mut ids) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut headers, mut channels, mut stores, mut dates) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut amounts, mut coupons, mut event_nos, mut earned, mut notes) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut lines = Vec::with_capacity(n);
    let mut steps = Vec::with_capacity(n);
    for p in paid {
        let (o, d) = (p.order, &p.order.payload.deal);
        let mut header = serde_json::to_value(d).unwrap_or_default();
        if let Some(obj) = header.as_object_mut() {
            obj.remove("dealLines");
        }
        crm.push(o.crm_id.as_str());
        order_nos.push(o.idempotency_key.as_str());
        members.push(o.payload.member_no.as_str());
        ids.push(o.payload.membership_id);
        headers.push(header);
        channels.push(d.sales_channel.as_str());
        stores.push(d.store.as_str());
        dates.push(d.date_order);
        amounts.push(d.amount_paid.0);
        coupons.push(d.coupon_code.as_deref());
        event_nos.push(p.event_no);
        earned.push(p.earned);
        notes.push(p.note);
        lines.push(super::OrderLines { crm_id: &o.crm_id, order_no: &o.idempotency_key, deal: d, earned: p.earned });
        steps.push(super::StepRecord {
            crm_id: &o.crm_id,
            order_no: &o.idempotency_key,
            step: "pay",
            idem_key: &o.idempotency_key,
            points: p.earned,
            detail: json!({ "amountPaid": d.amount_paid.to_decimal_string(), "note": p.note }),
            at: o.occurred_at,
        });
    }
    sqlx::query!(
        "insert into deal (crm_id, order_no, member_no, membership_id, header, sales_channel, store, date_order,
                           amount_paid, coupon_code, event_no, points_earned, earn_note, version)
         select unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::bigint[]), unnest($5::jsonb[]),
                unnest($6::text[]), unnest($7::text[]), unnest($8::timestamptz[]), unnest($9::bigint[]),
                unnest($10::text[]), unnest($11::text[]), unnest($12::bigint[]), unnest($13::text[]), 1
         on conflict do nothing",
        &crm as &[&str],
        &order_nos as &[&str],
        &members as &[&str],
        &ids as _,
        &headers[..],
        &channels as &[&str],
        &stores as &[&str],
        &dates[..],
        &amounts[..],
        &coupons as _,
        &event_nos as &[&str],
        &earned[..],
        &notes as _,
    )
    .execute(&mut *tx)
    .await?;
    super::write_lines(tx, &lines).await?;
    super::record_steps(tx, steps).await
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
