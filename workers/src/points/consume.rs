//! Spending points (seed 000 consume): from available lots, soonest-expiring first; frozen and
//! expired points are never spent; not enough points is a rejected outcome with the numbers.

use platform::rules::TenantRules;
use platform::status::LedgerEventType;
use schemas::{
    points::{quote_spend, ConsumePayload},
    Envelope,
};
use sqlx::PgPool;

use super::ledger::{self, Entry};
use crate::{
    inbox,
    outcome::{ApplyError, Outcome},
};

/// The member's current level (`member.level_id`), if it has a profile and a level.
async fn level_of(tx: &mut sqlx::PgConnection, crm_id: &str, member_no: &str) -> sqlx::Result<Option<i64>> {
    let level =
        sqlx::query_scalar!("select level_id from member where crm_id = $1 and member_no = $2", crm_id, member_no)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(level.flatten())
}

/// Applies one spend in its own transaction.
pub async fn apply(db: &PgPool, tenant: &TenantRules, ev: &Envelope<ConsumePayload>) -> Result<Outcome, ApplyError> {
    let p = &ev.payload;
    let Some(mut tx) = ledger::open(db, ev, &[&p.member_no]).await? else {
        return Ok(Outcome::Duplicate);
    };
    let t = ev.occurred_at;
    let lots = ledger::spendable_lots(&mut tx, &ev.crm_id, &p.member_no, t).await?;
    let available: i64 = lots.iter().map(|l| l.remaining).sum();
    let frozen = ledger::frozen_points(&mut tx, &ev.crm_id, &p.member_no, t).await?;
    // Without `member_level`, the member's level (seed 002) selects the `consume_level` tier.
    let with_level;
    let quoted = match p.member_level {
        Some(_) => p,
        None => {
            with_level = ConsumePayload {
                member_level: platform::levels::priority_of(&mut tx, &ev.crm_id, &p.member_no).await?,
                ..p.clone()
            };
            &with_level
        }
    };
    // Seed 004: the member's level entry in the store's (else the brand's) level rule replaces
    // seed 000's spend tier.
    let level_rule = match tenant.level_rule_for(p.store_code.as_deref()) {
        Some(set) => level_of(&mut tx, &ev.crm_id, &p.member_no)
            .await?
            .and_then(|level| set.deduction_for(level).map(|entry| (set, entry))),
        None => None,
    };
    let quote = match level_rule {
        Some((set, entry)) => set.quote_spend(entry, p, available, frozen).map(|(n, m, why)| (n, m, Some(why))),
        None => {
            quote_spend(tenant.consume_rule_for(&p.action_scene), quoted, available, frozen).map(|(n, m)| (n, m, None))
        }
    };
    let outcome = match quote {
        Err((code, reason)) => Outcome::Rejected { code, reason },
        Ok((points, money, why)) => {
            ledger::take(&mut tx, &ev.crm_id, &p.member_no, &ev.idempotency_key, &lots, points).await?;
            let entry = Entry {
                crm_id: ev.crm_id.clone(),
                member_no: p.member_no.clone(),
                event_no: ev.idempotency_key.clone(),
                action_scene: p.action_scene.clone(),
                amount_cents: p.amount.map(|a| a.0),
                points: -points,
                store_code: p.store_code.clone(),
                cost_center: p.cost_center.clone(),
                campagin_code: p.campagin_code.clone(),
                operator: p.operator.clone(),
                event_desc: p
                    .event_desc
                    .clone()
                    .or_else(|| money.map(|m| ledger::describe(-points, &format!("抵扣{}元", m.to_decimal_string())))),
                order_items: p.order_items.clone(),
                explain: why,
                occurred_at: t,
                trace: ev.trace.clone(),
                ..Entry::new(LedgerEventType::Consume)
            };
            ledger::insert_entry(&mut tx, &entry).await?;
            sqlx::query!(
                "update member_balance set points = points - $3, total_consumed = total_consumed + $3, updated_at = now()
                 where crm_id = $1 and member_no = $2",
                ev.crm_id,
                p.member_no,
                points,
            )
            .execute(&mut *tx)
            .await?;
            ledger::outbox(&mut tx, "points.consume", &[&entry]).await?;
            Outcome::Applied { count: points }
        }
    };
    inbox::finish(tx, ev, &p.member_no, outcome).await
}
