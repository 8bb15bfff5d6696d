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

/// Writes (or rewrites) the order's lines, sharing `earned` out over them by amount. Lines
/// already refunded keep their refund.
pub(crate) async fn write_lines(
    tx: &mut PgConnection,
    crm_id: &str,
    order_no: &str,
    deal: &Deal,
    earned: i64,
) -> sqlx::Result<()> {
    let weights: Vec<i64> = deal.deal_lines.iter().map(|l| l.weight().unwrap_or(0)).collect();
    let shares = share_out(earned, &weights);
    let n = deal.deal_lines.len();
    let mut ids = Vec::with_capacity(n);
    let mut positions = Vec::with_capacity(n);
    let mut lines = Vec::with_capacity(n);
    let mut line_weights = Vec::with_capacity(n);
    for (i, l) in deal.deal_lines.iter().enumerate() {
        ids.push(l.line_id.clone());
        positions.push(i as i32);
        lines.push(serde_json::to_value(l).unwrap_or(Value::Null));
        line_weights.push(l.weight());
    }
    sqlx::query!(
        "insert into deal_line (crm_id, order_no, line_id, position, line, weight, points)
         select $1, $2, unnest($3::text[]), unnest($4::int[]), unnest($5::jsonb[]), unnest($6::bigint[]), unnest($7::bigint[])
         on conflict (crm_id, order_no, line_id)
         do update set position = excluded.position, line = excluded.line, weight = excluded.weight,
                       points = excluded.points, updated_at = now()",
        crm_id,
        order_no,
        &ids[..],
        &positions[..],
        &lines[..],
        &line_weights as _,
        &shares[..],
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Records one step of an order with its change to the member's points.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn record_step(
    tx: &mut PgConnection,
    crm_id: &str,
    order_no: &str,
    step: &str,
    idem_key: &str,
    points: i64,
    detail: Value,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into deal_step (crm_id, order_no, step, idem_key, points, detail, occurred_at)
         values ($1, $2, $3, $4, $5, $6, $7) on conflict (crm_id, idem_key) do nothing",
        crm_id,
        order_no,
        step,
        idem_key,
        points,
        detail,
        at,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}
