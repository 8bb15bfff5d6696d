//! Analytics (issue 10): the consumer of the `loyalty.analytics` stream ([`consumer`]) and the
//! operator's rebuild from the ledger and the card tables ([`rebuild`]). Both write the same
//! aggregates, per tenant and local day (the tenant's `time_zone`):
//!
//! - `analytics_day (crm_id, series, day, dim, dim2) → points, events`: sums. Series
//!   `points.<ledger event_type>` with dim the action scene, `points.active` (every points event,
//!   dim ''), `cards.receive` / `cards.redeem` (dim the card_id, dim2 the channel: the claim's
//!   `out_str`, the redemption's `redeem_channel`), `cards.present` (dim the card_id);
//! - `analytics_member_day (crm_id, series, day, dim, member_no)`: who, for exact distinct
//!   member counts (points series dim '', card series the card_id).
//!
//! An event is applied once: its `event_id` goes into `analytics_seen` in the same transaction
//! as its sums. The day of an event is computed in SQL from the tenant's time zone, by the one
//! expression the rebuild uses too: `(at at time zone tenant.time_zone)::date`.

pub mod consumer;
pub mod rebuild;

use chrono::{DateTime, Utc};
use schemas::analytics::AnalyticsEvent;
use sqlx::PgConnection;
use uuid::Uuid;

/// Every points event, whatever its kind.
pub const ACTIVE: &str = "points.active";

/// One contribution of an event to the aggregates.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    pub crm_id: String,
    pub series: String,
    pub dim: String,
    pub dim2: String,
    /// The dimension of the member's presence row ('' for points, the card_id for cards).
    pub member_dim: String,
    pub member_no: Option<String>,
    pub points: i64,
    pub events: i64,
    pub at: DateTime<Utc>,
}

/// What an event adds (nothing for the kinds the dashboards do not show: reversals of claims and
/// redemptions, code expiries, present receipts and returns; the dashboards count gross flows).
pub fn facts(event: &AnalyticsEvent) -> Vec<Fact> {
    let points = |crm_id: &str, kind: &str, scene: &str, member: &str, points: i64, at: DateTime<Utc>| {
        let fact = |series: String, dim: &str| Fact {
            crm_id: crm_id.to_string(),
            series,
            dim: dim.to_string(),
            dim2: String::new(),
            member_dim: String::new(),
            member_no: Some(member.to_string()),
            points,
            events: 1,
            at,
        };
        vec![fact(format!("points.{kind}"), scene), fact(ACTIVE.to_string(), "")]
    };
    let card = |crm_id: &str, series: &str, card_id: &str, channel: &str, member: &str, n: i64, at| {
        vec![Fact {
            crm_id: crm_id.to_string(),
            series: series.to_string(),
            dim: card_id.to_string(),
            dim2: channel.to_string(),
            member_dim: card_id.to_string(),
            member_no: Some(member.to_string()),
            points: 0,
            events: n,
            at,
        }]
    };
    match event {
        AnalyticsEvent::PointsProduce(e) => {
            points(&e.crm_id, "produce", &e.action_scene, &e.member_no, e.points, e.occurred_at)
        }
        AnalyticsEvent::PointsConsume(e)
        | AnalyticsEvent::PointsReverseProduce(e)
        | AnalyticsEvent::PointsReverseConsume(e)
        | AnalyticsEvent::PointsFreeze(e)
        | AnalyticsEvent::PointsUnfreeze(e)
        | AnalyticsEvent::PointsTransfer(e)
        | AnalyticsEvent::PointsAccept(e)
        | AnalyticsEvent::PointsTransferReturn(e)
        | AnalyticsEvent::PointsExpire(e) => {
            points(&e.crm_id, &e.event_type, &e.action_scene, &e.member_no, e.points, e.occurred_at)
        }
        AnalyticsEvent::CardsReceive(e) => {
            card(&e.crm_id, "cards.receive", &e.card_id, &e.channel, &e.member_no, e.quantity, e.occurred_at)
        }
        AnalyticsEvent::CardsRedeem(e) => {
            card(&e.crm_id, "cards.redeem", &e.card_id, &e.channel, &e.member_no, 1, e.occurred_at)
        }
        AnalyticsEvent::CardsPresent(e) => {
            card(&e.crm_id, "cards.present", &e.card_id, "", &e.member_no, 1, e.occurred_at)
        }
        AnalyticsEvent::CardsReceiveReverse(_)
        | AnalyticsEvent::CardsExpire(_)
        | AnalyticsEvent::CardsRedeemReverse(_)
        | AnalyticsEvent::CardsPresentReceive(_)
        | AnalyticsEvent::CardsPresentReturn(_)
        // Level changes have their own log (`member_level_change`); no dashboard counts them yet.
        | AnalyticsEvent::MembersLevelChange(_) => Vec::new(),
    }
}

/// The events of `events` not applied before, marked applied now (in `tx`): their ids in
/// `analytics_seen`. Ids are inserted sorted, so concurrent consumers lock them in one order.
pub async fn fresh(tx: &mut PgConnection, events: Vec<AnalyticsEvent>) -> sqlx::Result<Vec<AnalyticsEvent>> {
    let mut ids: Vec<(Uuid, String)> = events.iter().map(|e| (e.event_id(), e.crm_id().to_string())).collect();
    ids.sort();
    ids.dedup_by(|a, b| a.0 == b.0);
    let (id, crm): (Vec<Uuid>, Vec<String>) = ids.into_iter().unzip();
    let new: std::collections::HashSet<Uuid> = sqlx::query_scalar!(
        "insert into analytics_seen (event_id, crm_id) select unnest($1::uuid[]), unnest($2::text[])
         on conflict do nothing returning event_id",
        &id[..],
        &crm[..],
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let mut taken = std::collections::HashSet::new();
    // An id twice in one delivery batch counts once.
    Ok(events.into_iter().filter(|e| new.contains(&e.event_id()) && taken.insert(e.event_id())).collect())
}

/// How long an applied event's id is remembered. A copy of an event can arrive late only from
/// the broker (a relay resend, a redelivery, a replay from the DLQ): outbox rows are deleted a
/// day after they were sent, so a copy older than this means a queue left unconsumed for a
/// month, which `analytics_queue_depth` alerts on long before.
pub const SEEN_RETENTION_DAYS: i64 = 30;

/// The smallest UUID v7 of `at`'s millisecond: every event id made at or after `at` sorts at or
/// above it (UUID v7 begins with its Unix milliseconds, and PostgreSQL compares uuids bytewise),
/// so the ids to forget are a range of each tenant's part of the primary key `(crm_id,
/// event_id)`: no index on `seen_at` to keep up.
pub fn first_id_at(at: DateTime<Utc>) -> Uuid {
    let ms = u128::try_from(at.timestamp_millis()).unwrap_or(0);
    Uuid::from_u128(ms << 80)
}

/// Forgets up to `limit` event ids older than [`SEEN_RETENTION_DAYS`] before `now`; answers how
/// many. Run by the sweeper (step "analytics dedup retention"). Tenant by tenant, each a range
/// of the key, until `limit` (the next run goes on where this one stopped: what it deleted is
/// gone). The tenants are those of the table itself, found by walking the key from one
/// `crm_id` to the next (a loose index scan), not read from `tenant`: an event's tenant need
/// not be registered (analytics events may be published by others).
pub async fn prune_seen(db: &sqlx::PgPool, now: DateTime<Utc>, limit: i64) -> sqlx::Result<u64> {
    let cutoff = first_id_at(now - chrono::Duration::days(SEEN_RETENTION_DAYS));
    let deleted = sqlx::query!(
        "with recursive tenants(crm_id) as (
           (select crm_id from analytics_seen order by crm_id limit 1)
           union all
           select (select s.crm_id from analytics_seen s where s.crm_id > t.crm_id order by s.crm_id limit 1)
           from tenants t where t.crm_id is not null)
         delete from analytics_seen where (crm_id, event_id) in
           (select s.crm_id, s.event_id from tenants t
            cross join lateral (select crm_id, event_id from analytics_seen s where s.crm_id = t.crm_id and s.event_id < $1
                                order by event_id limit $2) s
            limit $2)",
        cutoff,
        limit,
    )
    .execute(db)
    .await?;
    Ok(deleted.rows_affected())
}

/// Adds `facts` to the aggregates (in `tx`): the sums grouped by key and upserted in key order
/// (concurrent consumers lock rows in one order), the members' presence inserted once. Facts of
/// a tenant that does not exist are dropped by the join.
pub async fn add(tx: &mut PgConnection, facts: &[Fact]) -> sqlx::Result<()> {
    if facts.is_empty() {
        return Ok(());
    }
    let n = facts.len();
    let (mut crm, mut series, mut dim, mut dim2, mut mdim, mut member, mut points, mut events, mut at) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for f in facts {
        crm.push(f.crm_id.as_str());
        series.push(f.series.as_str());
        dim.push(f.dim.as_str());
        dim2.push(f.dim2.as_str());
        mdim.push(f.member_dim.as_str());
        member.push(f.member_no.as_deref());
        points.push(f.points);
        events.push(f.events);
        at.push(f.at);
    }
    sqlx::query!(
        r#"insert into analytics_day (crm_id, series, day, dim, dim2, points, events)
           select f.crm_id, f.series, (f.at at time zone t.time_zone)::date as day, f.dim, f.dim2, sum(f.points), sum(f.events)
             from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::timestamptz[])
                  as f(crm_id, series, dim, dim2, points, events, at)
             join tenant t on t.crm_id = f.crm_id
            group by 1, 2, 3, 4, 5
            order by 1, 2, 3, 4, 5
           on conflict (crm_id, series, day, dim, dim2)
           do update set points = analytics_day.points + excluded.points, events = analytics_day.events + excluded.events"#,
        &crm as _,
        &series as _,
        &dim as _,
        &dim2 as _,
        &points[..],
        &events[..],
        &at[..],
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        r#"insert into analytics_member_day (crm_id, series, day, dim, member_no)
           select distinct f.crm_id, f.series, (f.at at time zone t.time_zone)::date as day, f.dim, f.member_no
             from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) as f(crm_id, series, dim, member_no, at)
             join tenant t on t.crm_id = f.crm_id
            where f.member_no is not null
            order by 1, 2, 3, 4, 5
           on conflict do nothing"#,
        &crm as _,
        &series as _,
        &mdim as _,
        &member as _,
        &at[..],
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
