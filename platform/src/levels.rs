//! Member levels (seed 002): computing a member's level from the ledger and recording a change.
//!
//! Shared by the api (a new member's first level) and the workers (on every earn, in the earn's
//! own transaction, and on the sweep's schedule as windows slide), so the one computation is
//! here. The rule figures come from the points ledger and the orders: `consumption` is the
//! amount of the member's orders — seed 002 orders (`deal`) still paid and not wholly refunded,
//! at their `dateOrder`, for `amountPaid` less their standing refunds; and earn events carrying
//! an amount that are not an order's, each event once — `frequency` their count,
//! `points` the points earned net of reversed earns; the `*Total` kinds over the member's
//! lifetime, the others over the last `month` months before `now` (business time).
//!
//! A change writes a `member_level_change` row (from, to, why, when) and a
//! `members.level_change` analytics event into the outbox of the same transaction.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Months, Utc};
use schemas::{
    analytics::{AnalyticsEvent, MemberLevelChanged},
    members::{compute_level, parse_rules, LevelDef, MemberFigures},
};
use sqlx::{types::Json, PgConnection};
use uuid::Uuid;

/// The analytics routing key of level changes.
pub const ROUTING_KEY: &str = "members.level";

/// The tenant's level definitions.
pub async fn definitions(tx: &mut PgConnection, crm_id: &str) -> sqlx::Result<Vec<LevelDef>> {
    type Row = (i64, i32, bool, String, Json<serde_json::Map<String, serde_json::Value>>);
    let rows: Vec<Row> =
        sqlx::query_as("select id, priority, is_forever, operator, rules from member_level where crm_id = $1")
            .bind(crm_id)
            .fetch_all(&mut *tx)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, priority, is_forever, operator, rules)| LevelDef {
            id,
            priority: i64::from(priority),
            is_forever,
            and: operator == "and",
            // Stored rules were checked when written.
            rules: parse_rules(&rules.0).unwrap_or_default(),
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct FigureRow {
    member_no: String,
    months: i32,
    consumption: i64,
    frequency: i64,
    points: i64,
}

/// The rule figures of `member_nos` at `now`, for the windows `months` (lifetime always).
async fn figures(
    tx: &mut PgConnection,
    crm_id: &str,
    member_nos: &[String],
    months: &BTreeSet<i64>,
    now: DateTime<Utc>,
) -> sqlx::Result<HashMap<String, MemberFigures>> {
    // 0: the lifetime; each window starts `m` months before now.
    let mut windows: Vec<i32> = vec![0];
    let mut starts: Vec<Option<DateTime<Utc>>> = vec![None];
    for &m in months {
        windows.push(m as i32);
        starts.push(now.checked_sub_months(Months::new(m as u32)));
    }
    let rows: Vec<FigureRow> = sqlx::query_as(
        "with l as (select member_no, event_no, event_type, amount_cents, points, occurred_at from points_ledger
                    where crm_id = $1 and member_no = any($2) and event_type in ('produce', 'reverse_produce')
                      and occurred_at <= $5),
              events as (select distinct on (member_no, event_no) member_no, amount_cents, occurred_at from l
                         where event_type = 'produce' and amount_cents is not null
                           and not exists (select 1 from deal d where d.crm_id = $1 and d.event_no = l.event_no)
                         order by member_no, event_no),
              deals as (select d.member_no,
                               d.amount_paid - coalesce((select sum((s.detail->>'refundTotalCents')::bigint) from deal_step s
                                                         where s.crm_id = d.crm_id and s.order_no = d.order_no
                                                           and s.step = 'refund' and s.undone_by is null), 0) as amount_cents,
                               d.date_order as occurred_at
                        from deal d
                        where d.crm_id = $1 and d.member_no = any($2) and d.state = 'paid' and d.date_order <= $5
                          and exists (select 1 from deal_line dl where dl.crm_id = d.crm_id and dl.order_no = d.order_no
                                        and dl.refund_key is null)),
              orders as (select * from events union all select * from deals)
         select m.member_no, w.months,
                (select coalesce(sum(o.amount_cents), 0) from orders o
                 where o.member_no = m.member_no and (w.since is null or o.occurred_at > w.since))::bigint as consumption,
                (select count(*) from orders o where o.member_no = m.member_no and (w.since is null or o.occurred_at > w.since))::bigint
                  as frequency,
                (select coalesce(sum(l.points), 0) from l where l.member_no = m.member_no
                   and (w.since is null or l.occurred_at > w.since))::bigint
                  as points
         from unnest($2::text[]) as m(member_no) cross join unnest($3::int[], $4::timestamptz[]) as w(months, since)",
    )
    .bind(crm_id)
    .bind(member_nos)
    .bind(&windows)
    .bind(&starts)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let mut out: HashMap<String, MemberFigures> = HashMap::new();
    for r in rows {
        let f = out.entry(r.member_no).or_default();
        let yuan = r.consumption as f64 / 100.0;
        if r.months == 0 {
            f.consumption_total = yuan;
            f.frequency_total = r.frequency as f64;
            f.points_total = r.points as f64;
        } else {
            let m = i64::from(r.months);
            f.consumption.insert(m, yuan);
            f.frequency.insert(m, r.frequency as f64);
            f.points.insert(m, r.points as f64);
        }
    }
    Ok(out)
}

/// Recomputes the levels of the tenant's members among `member_nos` that have a profile
/// (members without one have no level); records and emits each change. Answers the changes.
pub async fn recompute(
    tx: &mut PgConnection,
    crm_id: &str,
    member_nos: &[String],
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<MemberLevelChanged>> {
    let levels = definitions(tx, crm_id).await?;
    if levels.is_empty() || member_nos.is_empty() {
        return Ok(Vec::new());
    }
    let mut sorted = member_nos.to_vec();
    sorted.sort();
    sorted.dedup();
    let members: Vec<(i64, String, Option<i64>)> = sqlx::query_as(
        "select id, member_no, level_id from member where crm_id = $1 and member_no = any($2) order by id for update",
    )
    .bind(crm_id)
    .bind(&sorted)
    .fetch_all(&mut *tx)
    .await?;
    if members.is_empty() {
        return Ok(Vec::new());
    }
    let months: BTreeSet<i64> = levels.iter().flat_map(|l| l.rules.windows()).collect();
    let nos: Vec<String> = members.iter().map(|(_, no, _)| no.clone()).collect();
    let figures = figures(tx, crm_id, &nos, &months, now).await?;
    let mut changes = Vec::new();
    for (id, member_no, current) in members {
        let f = figures.get(&member_no).cloned().unwrap_or_default();
        let next = compute_level(&levels, current, &f);
        let to = next.map(|l| l.id);
        if to == current {
            continue;
        }
        let from_priority = current.and_then(|c| levels.iter().find(|l| l.id == c)).map(|l| l.priority);
        changes.push(MemberLevelChanged {
            event_id: Uuid::now_v7(),
            crm_id: crm_id.to_string(),
            membership_id: id,
            member_no,
            from_level: current,
            to_level: to,
            from_priority,
            to_priority: next.map(|l| l.priority),
            reason: reason.to_string(),
            occurred_at: now,
        });
    }
    sqlx::query("update member set level_checked_at = $3 where crm_id = $1 and member_no = any($2)")
        .bind(crm_id)
        .bind(&nos)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    if changes.is_empty() {
        return Ok(changes);
    }
    for c in &changes {
        sqlx::query("update member set level_id = $2, updated_at = now() where crm_id = $3 and id = $1")
            .bind(c.membership_id)
            .bind(c.to_level)
            .bind(crm_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "insert into member_level_change (crm_id, member_id, from_level, to_level, from_priority, to_priority, reason, created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(crm_id)
        .bind(c.membership_id)
        .bind(c.from_level)
        .bind(c.to_level)
        .bind(c.from_priority.map(|p| p as i32))
        .bind(c.to_priority.map(|p| p as i32))
        .bind(reason)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    let events: Vec<AnalyticsEvent> = changes.iter().cloned().map(AnalyticsEvent::MembersLevelChange).collect();
    crate::outbox::write(tx, ROUTING_KEY, &events).await?;
    Ok(changes)
}

/// The members whose level is stalest (never computed, or computed before `before`), at most
/// `limit`, with their tenant: the sweep's slice.
pub async fn due(db: &sqlx::PgPool, before: DateTime<Utc>, limit: i64) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as(
        "select m.crm_id, m.member_no from member m
         where (m.level_checked_at is null or m.level_checked_at < $1)
           and exists (select 1 from member_level l where l.crm_id = m.crm_id)
         order by m.level_checked_at nulls first, m.id limit $2",
    )
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The priority of the member's level (a spend without `member_level` selects its
/// `consume_level` tier by it); none for a member without a profile or a level.
pub async fn priority_of(tx: &mut PgConnection, crm_id: &str, member_no: &str) -> sqlx::Result<Option<i64>> {
    let p: Option<i32> = sqlx::query_scalar(
        "select l.priority from member m join member_level l on l.crm_id = m.crm_id and l.id = m.level_id
         where m.crm_id = $1 and m.member_no = $2",
    )
    .bind(crm_id)
    .bind(member_no)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(p.map(i64::from))
}
