//! Orders (seed 002 §11) on the points queue: `pay.rs` creates an order and earns its points
//! through the earn computation (batched, like earn events); `step.rs` applies its later steps
//! (update, refund, deleteRefund, cancel, delete), one transaction each under the member's lock
//! and the order row's. This module holds what both write: the lines with their share of the
//! points, and the step log.

pub mod pay;
pub mod step;

use chrono::{DateTime, Utc};
use schemas::orders::{share_out, Deal};
use serde_json::Value;
use sqlx::PgConnection;

/// An order whose lines are written, with the points it earned (shared out over them).
pub(crate) struct OrderLines<'a> {
    pub crm_id: &'a str,
    pub order_no: &'a str,
    pub deal: &'a Deal,
    pub earned: i64,
}

/// Writes (or rewrites) the lines of `orders`, sharing each one's `earned` out over its lines
/// by amount, in one statement for all of them (a batch of new orders: one round trip, not one
/// per order). Lines already refunded keep their refund.
pub(crate) async fn write_lines(tx: &mut PgConnection, orders: &[OrderLines<'_>]) -> sqlx::Result<()> {
    let n: usize = orders.iter().map(|o| o.deal.deal_lines.len()).sum();
    let (mut crm, mut order_nos) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut ids, mut positions) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut lines, mut line_weights, mut shares) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for o in orders {
        let weights: Vec<i64> = o.deal.deal_lines.iter().map(|l| l.weight().unwrap_or(0)).collect();
        shares.extend(share_out(o.earned, &weights));
        for (i, l) in o.deal.deal_lines.iter().enumerate() {
            crm.push(o.crm_id);
            order_nos.push(o.order_no);
            ids.push(l.line_id.as_str());
            positions.push(i as i32);
            lines.push(serde_json::to_value(l).unwrap_or(Value::Null));
            line_weights.push(l.weight());
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "insert into deal_line (crm_id, order_no, line_id, position, line, weight, points)
         select unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::int[]), unnest($5::jsonb[]),
                unnest($6::bigint[]), unnest($7::bigint[])
         on conflict (crm_id, order_no, line_id)
         do update set position = excluded.position, line = excluded.line, weight = excluded.weight,
                       points = excluded.points, updated_at = now()",
        &crm as &[&str],
        &order_nos as &[&str],
        &ids as &[&str],
        &positions[..],
        &lines[..],
        &line_weights as _,
        &shares[..],
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// One step of an order with its change to the member's points.
pub(crate) struct StepRecord<'a> {
    pub crm_id: &'a str,
    pub order_no: &'a str,
    /// pay | update | refund | delete_refund | cancel | delete
    pub step: &'a str,
    pub idem_key: &'a str,
    pub points: i64,
    pub detail: Value,
    pub at: DateTime<Utc>,
}

/// Records `steps`, in one statement; a step already recorded (its inbox key) is left as it is.
pub(crate) async fn record_steps(tx: &mut PgConnection, steps: Vec<StepRecord<'_>>) -> sqlx::Result<()> {
    if steps.is_empty() {
        return Ok(());
    }
    let n = steps.len();
    let (mut crm, mut order_nos, mut names, mut keys) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut points, mut details, mut at) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for s in steps {
        crm.push(s.crm_id);
        order_nos.push(s.order_no);
        names.push(s.step);
        keys.push(s.idem_key);
        points.push(s.points);
        details.push(s.detail);
        at.push(s.at);
    }
    sqlx::query!(
        "insert into deal_step (crm_id, order_no, step, idem_key, points, detail, occurred_at)
         select unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::text[]), unnest($5::bigint[]),
                unnest($6::jsonb[]), unnest($7::timestamptz[])
         on conflict (crm_id, idem_key) do nothing",
        &crm as &[&str],
        &order_nos as &[&str],
        &names as &[&str],
        &keys as &[&str],
        &points[..],
        &details[..],
        &at[..],
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}
