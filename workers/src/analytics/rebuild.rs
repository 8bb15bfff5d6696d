//! `workers analytics rebuild --crm-id X [--from D --to D]`: recomputes a tenant's aggregates
//! from the truth (the points ledger, the card codes, redemptions and presents), one local day
//! per transaction: the day's rows are deleted and written again, so running it twice changes
//! nothing. A rebuilt day equals what the live consumer built (an e2e test holds them equal).
//!
//! The stream and a rebuild of the same day must not overlap: an event of that day still in
//! the analytics queue when its day is rebuilt would be counted by both (the ledger does not
//! hold analytics `event_id`s). Rebuild days the stream has delivered (anything before the
//! queue's backlog), or stop the analytics consumers meanwhile.

use chrono::{Days, NaiveDate};
use platform::progress::Progress;
use sqlx::PgPool;

/// What a rebuild did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rebuilt {
    pub crm_id: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub days: u64,
}

/// Rebuilds `crm_id`'s days `from..=to` (by default: from its first recorded day to today, in
/// its time zone). `Err` for an unknown tenant or `from` after `to`.
pub async fn rebuild(
    db: &PgPool,
    crm_id: &str,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> anyhow::Result<Rebuilt> {
    let bounds = sqlx::query!(
        r#"select (now() at time zone t.time_zone)::date as "today!",
                  (least((select min(occurred_at) from points_ledger where crm_id = $1),
                         (select min(received_at) from card_code where crm_id = $1 and received_at is not null),
                         (select min(redeemed_at) from card_redeem where crm_id = $1),
                         (select min(coalesce(presented_at, created_at)) from card_present where crm_id = $1))
                   at time zone t.time_zone)::date as first
             from tenant t where t.crm_id = $1"#,
        crm_id,
    )
    .fetch_optional(db)
    .await?
    .ok_or_else(|| anyhow::anyhow!("no tenant with crm_id {crm_id}"))?;
    let to = to.unwrap_or(bounds.today);
    let from = from.or(bounds.first).unwrap_or(to);
    anyhow::ensure!(from <= to, "--from {from} is after --to {to}");
    let days = (to - from).num_days() as u64 + 1;
    let mut progress = Progress::new(&format!("analytics rebuild {crm_id}"), Some(days));
    let mut day = from;
    while day <= to {
        rebuild_day(db, crm_id, day).await?;
        progress.inc(1);
        day = day.checked_add_days(Days::new(1)).expect("a date in range");
    }
    progress.finish(&format!("{days} day(s) rebuilt, {from} to {to}"));
    Ok(Rebuilt { crm_id: crm_id.to_string(), from, to, days })
}

/// One local day, in one transaction.
pub async fn rebuild_day(db: &PgPool, crm_id: &str, day: NaiveDate) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query!("delete from analytics_day where crm_id = $1 and day = $2", crm_id, day).execute(&mut *tx).await?;
    sqlx::query!("delete from analytics_member_day where crm_id = $1 and day = $2", crm_id, day)
        .execute(&mut *tx)
        .await?;
    // The day's bounds in UTC: local midnight to local midnight.
    let b = sqlx::query!(
        r#"select ($2::date::timestamp at time zone time_zone) as "lo!", (($2::date + 1)::timestamp at time zone time_zone) as "hi!"
             from tenant where crm_id = $1"#,
        crm_id,
        day,
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        r#"insert into analytics_day (crm_id, series, day, dim, dim2, points, events)
           select $1, 'points.' || event_type, $2::date, action_scene, '', sum(points)::bigint, count(*)
             from points_ledger where crm_id = $1 and occurred_at >= $3 and occurred_at < $4
            group by event_type, action_scene
           union all
           select $1, 'points.active', $2::date, '', '', sum(points)::bigint, count(*)
             from points_ledger where crm_id = $1 and occurred_at >= $3 and occurred_at < $4
           having count(*) > 0
           union all
           select $1, 'cards.receive', $2::date, card_id, coalesce(out_str, ''), 0, count(*)
             from card_code where crm_id = $1 and received_id is not null and received_at >= $3 and received_at < $4
            group by card_id, coalesce(out_str, '')
           union all
           select $1, 'cards.redeem', $2::date, card_id, redeem_channel, 0, count(*)
             from card_redeem where crm_id = $1 and redeemed_at >= $3 and redeemed_at < $4
            group by card_id, redeem_channel
           union all
           select $1, 'cards.present', $2::date, card_id, '', 0, count(*)
             from card_present where crm_id = $1 and coalesce(presented_at, created_at) >= $3 and coalesce(presented_at, created_at) < $4
            group by card_id"#,
        crm_id,
        day,
        b.lo,
        b.hi,
    )
    .execute(&mut *tx)
    .await?;
    // A code's first holder is its claimer: the giver of its first present when it has been
    // given away since, else its holder.
    sqlx::query!(
        r#"insert into analytics_member_day (crm_id, series, day, dim, member_no)
           select distinct $1, 'points.' || event_type, $2::date, '', member_no
             from points_ledger where crm_id = $1 and occurred_at >= $3 and occurred_at < $4
           union
           select distinct $1, 'points.active', $2::date, '', member_no
             from points_ledger where crm_id = $1 and occurred_at >= $3 and occurred_at < $4
           union
           select distinct $1, 'cards.receive', $2::date, k.card_id,
                  coalesce((select p.from_member from card_present p
                             where p.crm_id = k.crm_id and p.card_id = k.card_id and p.card_code = k.card_code
                             order by p.auto_id limit 1), k.member_no)
             from card_code k where k.crm_id = $1 and k.received_id is not null and k.received_at >= $3 and k.received_at < $4
           union
           select distinct $1, 'cards.redeem', $2::date, card_id, member_no
             from card_redeem where crm_id = $1 and redeemed_at >= $3 and redeemed_at < $4
           union
           select distinct $1, 'cards.present', $2::date, card_id, from_member
             from card_present where crm_id = $1 and coalesce(presented_at, created_at) >= $3 and coalesce(presented_at, created_at) < $4"#,
        crm_id,
        day,
        b.lo,
        b.hi,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
