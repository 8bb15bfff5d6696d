//! Applying a batch of produce (earn) events in one transaction.
//!
//! The batch is applied with a fixed handful of set-based statements whatever its size (arrays
//! in, unnested as [`crate::batch`] says; no per-event round trips): that is what lets one
//! worker drain tens of thousands of events a second, where one transaction per event tops out
//! at a few thousand.
//!
//! Order of work inside the transaction, and why:
//! 1. only when a rule of the batch has limits (`max_times` / `max_points`): create-or-lock the
//!    batch's members, sorted, so that two workers cannot both count the same window;
//! 2. read the members' awards inside the rules' windows, compute every award in memory;
//! 3. settle debts (the members who owe, read through the small `member_balance_owing` index),
//!    write the lots and the ledger rows (a binary COPY each) and one outbox row (the batch's
//!    analytics events), then the balances (one upsert of the per-member sums: last, because
//!    its row locks last until the commit and a batch of the same members waits on them);
//! 4. insert the inbox rows. Row locks are taken in one order in every batch (members, then
//!    inbox keys, each sorted) and as late as possible, so concurrent batches neither deadlock
//!    nor wait on each other for long.
//!
//! The inbox is not read first: its insert is the optimistic one of [`crate::batch`]. If a key
//! was applied before (a redelivery) or concurrently by another worker, the insert fails, the
//! batch is rolled back and computed again, and the second time the key is a duplicate.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use platform::copy_rows::CopyRows;
use platform::rules::TenantRules;
use platform::status::LedgerEventType;
use schemas::{
    analytics::{AnalyticsEvent, PointsProduced},
    points::EarnPayload,
    Envelope,
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    batch,
    outcome::{ApplyError, Outcome},
};

mod compute;

use compute::{compute, Credit, CAMPAIGN_SCENE, LEVEL_SCENES};

type MemberKey = (String, String);

/// Applies a batch. `tenants` holds the rule sets of the batch's tenants; a tenant absent
/// from it is unknown and its events are poison.
pub async fn apply_batch(
    db: &PgPool,
    tenants: &HashMap<String, TenantRules>,
    events: &[Envelope<EarnPayload>],
) -> Result<Vec<Outcome>, ApplyError> {
    batch::apply_with_known(db, events, |known| try_apply(db, tenants, events, known)).await
}

/// One attempt; if some keys turn out to exist, nothing is written and they are answered.
async fn try_apply(
    db: &PgPool,
    tenants: &HashMap<String, TenantRules>,
    events: &[Envelope<EarnPayload>],
    known: HashSet<batch::Key>,
) -> Result<batch::Attempt, ApplyError> {
    let mut sorted = batch::Sorted::new(events, tenants, &known);
    if sorted.is_settled() {
        return Ok(Ok(sorted.finish()));
    }
    let fresh = sorted.fresh.clone();

    let mut tx = db.begin().await?;
    award(&mut tx, tenants, events, &fresh, &mut sorted.outcomes).await?;

    // 4. The inbox rows, sorted by key (every batch locks members before keys, each in sorted
    //    order, so two batches never wait on each other in a cycle), and the duplicates.
    if let Err(exists) = sorted.record(&mut tx, events, |p| &p.member_no).await? {
        tx.rollback().await?;
        return Ok(Err(exists));
    }
    tx.commit().await?;
    Ok(Ok(sorted.finish()))
}

/// Steps 1-3 of the batch inside the caller's transaction: computes the outcome of each event of
/// `fresh` into `outcomes` and writes its credits. Orders (`crate::orders::pay`) earn through it
/// with their own inbox keys, so an order earns exactly as an earn event would.
pub(crate) async fn award(
    tx: &mut sqlx::PgConnection,
    tenants: &HashMap<String, TenantRules>,
    events: &[Envelope<EarnPayload>],
    fresh: &[usize],
    outcomes: &mut [Option<Outcome>],
) -> sqlx::Result<()> {
    // 1. Members, when a rule has limits: create the missing rows, then lock them all, sorted.
    let limited = fresh.iter().any(|&i| {
        let ev = &events[i];
        tenants[&ev.crm_id]
            .produce_rules_for(&ev.payload.action_scene)
            .iter()
            .any(|r| r.max_times.is_some() || r.max_points.is_some())
    });
    if limited {
        let mut members: Vec<MemberKey> =
            fresh.iter().map(|&i| (events[i].crm_id.clone(), events[i].payload.member_no.clone())).collect();
        members.sort();
        members.dedup();
        lock_members(&mut *tx, members).await?;
    }

    // 2. Awards inside the windows of the rules that have limits; every outcome, in memory.
    let mut windows = load_windows(&mut *tx, tenants, events, fresh).await?;
    let levels = load_levels(&mut *tx, tenants, events, fresh).await?;
    let mut credits = Vec::new();
    for &i in fresh {
        let ev = &events[i];
        let level = levels.get(&(ev.crm_id.clone(), ev.payload.member_no.clone())).copied();
        outcomes[i] = Some(compute(&tenants[&ev.crm_id], ev, i, level, &mut windows, &mut credits));
    }

    // 3. The change: debts first (earnings settle them), lots, ledger and balances, outbox.
    settle_debts(&mut *tx, events, &mut credits).await?;
    write_credits(&mut *tx, events, &credits).await?;
    recompute_levels(&mut *tx, events, &credits).await
}

/// The levels of the members who earned (seed 002), in the earn's transaction: per tenant, at
/// the business time of its latest event in the batch.
async fn recompute_levels(
    tx: &mut sqlx::PgConnection,
    events: &[Envelope<EarnPayload>],
    credits: &[Credit],
) -> sqlx::Result<()> {
    let mut per_tenant: HashMap<&str, (Vec<String>, DateTime<Utc>)> = HashMap::new();
    for c in credits {
        let ev = &events[c.idx];
        let entry = per_tenant.entry(&ev.crm_id).or_insert_with(|| (Vec::new(), ev.occurred_at));
        entry.0.push(ev.payload.member_no.clone());
        entry.1 = entry.1.max(ev.occurred_at);
    }
    let mut tenants: Vec<_> = per_tenant.into_iter().collect();
    tenants.sort_by(|a, b| a.0.cmp(b.0));
    for (crm_id, (members, at)) in tenants {
        platform::levels::recompute(tx, crm_id, &members, "earn", at).await?;
    }
    Ok(())
}

/// Creates the members' balance rows if missing and locks them, in sorted order.
async fn lock_members(tx: &mut sqlx::PgConnection, members: Vec<MemberKey>) -> sqlx::Result<()> {
    let (m_crm, m_no): (Vec<String>, Vec<String>) = members.into_iter().unzip();
    sqlx::query!(
        "insert into member_balance (crm_id, member_no)
         select c, m from unnest($1::text[], $2::text[]) as t(c, m) order by c, m
         on conflict (crm_id, member_no) do nothing",
        &m_crm as _,
        &m_no as _,
    )
    .execute(&mut *tx)
    .await?;
    // One primary-key probe per member, in the sorted order of `members` (a `lateral` subquery
    // with `for update`, which the planner does not flatten into a join): a join of the keys
    // against the table can be planned, and the plan cached, as a scan of the whole table while
    // the table is small or not yet analyzed (the counters of a flash sale did exactly that).
    sqlx::query!(
        "select 1 as locked from unnest($1::text[], $2::text[]) with ordinality as t(c, m, i)
         cross join lateral (select 1 from member_balance where crm_id = t.c and member_no = t.m for update) b
         order by t.i",
        &m_crm as _,
        &m_no as _,
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(())
}

/// Earlier awards per (crm_id, member_no, rule_id), with their business time and points net of
/// reversals (a fully reversed award counts as not given).
type Windows = HashMap<(String, String, i64), Vec<(DateTime<Utc>, i64)>>;

async fn load_windows(
    tx: &mut sqlx::PgConnection,
    tenants: &HashMap<String, TenantRules>,
    events: &[Envelope<EarnPayload>],
    fresh: &[usize],
) -> sqlx::Result<Windows> {
    let mut c = Vec::new();
    let mut m = Vec::new();
    let mut r = Vec::new();
    let mut since = Vec::new();
    for &i in fresh {
        let ev = &events[i];
        for rule in tenants[&ev.crm_id].produce_rules_for(&ev.payload.action_scene) {
            if rule.max_times.is_none() && rule.max_points.is_none() {
                continue;
            }
            c.push(ev.crm_id.clone());
            m.push(ev.payload.member_no.clone());
            r.push(rule.rule_id);
            // range_days 0: the limits count over the member's whole history.
            since.push((rule.range_days > 0).then(|| ev.occurred_at - Duration::days(rule.range_days)));
        }
    }
    let mut windows = Windows::new();
    if c.is_empty() {
        return Ok(windows);
    }
    // Per (member, rule), a range of `points_ledger_member` from the window's start (`-infinity`
    // for a limit over the whole history): a `lateral` subquery fenced by `offset 0`, so that
    // it is not flattened into a join, which a plan made while the ledger was small or not
    // analyzed runs as a scan of the whole ledger (`EXPLAIN` of the generic plan).
    let rows = sqlx::query!(
        r#"select l.crm_id as "crm_id!", l.member_no as "member_no!", l.rule_id as "rule_id!",
                  l.occurred_at as "occurred_at!", l.points - l.reversed as "points!"
           from (select c, m, r, case when bool_or(s is null) then '-infinity' else min(s) end as s
                 from unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[]) as t(c, m, r, s)
                 group by c, m, r) w
           cross join lateral (select crm_id, member_no, rule_id, occurred_at, points, reversed from points_ledger
                               where crm_id = w.c and member_no = w.m and rule_id = w.r and occurred_at > w.s
                                 and event_type = $5
                               offset 0) l"#,
        &c as _,
        &m as _,
        &r[..],
        &since as _,
        LedgerEventType::Produce as _,
    )
    .fetch_all(&mut *tx)
    .await?;
    for row in rows {
        windows.entry((row.crm_id, row.member_no, row.rule_id)).or_default().push((row.occurred_at, row.points));
    }
    Ok(windows)
}

/// The current level (`member.level_id`) of the batch's members whose tenant has seed 004 level
/// rules and whose event is of a scene they govern: one query for the whole batch.
type Levels = HashMap<MemberKey, i64>;

async fn load_levels(
    tx: &mut sqlx::PgConnection,
    tenants: &HashMap<String, TenantRules>,
    events: &[Envelope<EarnPayload>],
    fresh: &[usize],
) -> sqlx::Result<Levels> {
    let (mut c, mut m) = (Vec::new(), Vec::new());
    for &i in fresh {
        let ev = &events[i];
        if !tenants[&ev.crm_id].level_rules.is_empty() && LEVEL_SCENES.contains(&ev.payload.action_scene.as_str()) {
            c.push(ev.crm_id.clone());
            m.push(ev.payload.member_no.clone());
        }
    }
    if c.is_empty() {
        return Ok(Levels::new());
    }
    let rows = sqlx::query!(
        r#"select m.crm_id, m.member_no as "member_no!", m.level_id as "level_id!"
           from member m join unnest($1::text[], $2::text[]) as t(c, n) on m.crm_id = t.c and m.member_no = t.n
           where m.level_id is not null"#,
        &c[..],
        &m[..],
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().map(|r| ((r.crm_id, r.member_no), r.level_id)).collect())
}

/// Locks the members of the batch who owe points (sorted; rare) and takes what they owe from
/// their new credits, oldest credit first.
async fn settle_debts(
    tx: &mut sqlx::PgConnection,
    events: &[Envelope<EarnPayload>],
    credits: &mut [Credit],
) -> sqlx::Result<()> {
    if credits.is_empty() {
        return Ok(());
    }
    let mut members: Vec<MemberKey> =
        credits.iter().map(|c| (events[c.idx].crm_id.clone(), events[c.idx].payload.member_no.clone())).collect();
    members.sort();
    members.dedup();
    let (c, m): (Vec<String>, Vec<String>) = members.into_iter().unzip();
    // A probe per member of `member_balance_owing` (the members who owe; almost always empty),
    // locking those found, in the members' sorted order. As a join, a plan made on a small or
    // unanalyzed table scans all of `member_balance` for every batch (`EXPLAIN` of the generic
    // plan); the `lateral` subquery with `for update` is not flattened, so it has no such plan.
    let owing = sqlx::query!(
        r#"select b.crm_id as "crm_id!", b.member_no as "member_no!", b.debt as "debt!"
           from unnest($1::text[], $2::text[]) with ordinality as t(c, m, i)
           cross join lateral (select crm_id, member_no, debt from member_balance
                               where crm_id = t.c and member_no = t.m and debt > 0 for update) b
           order by t.i"#,
        &c as _,
        &m as _,
    )
    .fetch_all(&mut *tx)
    .await?;
    if owing.is_empty() {
        return Ok(());
    }
    let mut debts: HashMap<MemberKey, i64> = owing.into_iter().map(|r| ((r.crm_id, r.member_no), r.debt)).collect();
    let (mut dc, mut dm, mut dn) = (Vec::new(), Vec::new(), Vec::new());
    for credit in credits.iter_mut() {
        let key = (events[credit.idx].crm_id.clone(), events[credit.idx].payload.member_no.clone());
        if let Some(debt) = debts.get_mut(&key).filter(|d| **d > 0) {
            credit.settled = credit.points.min(*debt);
            *debt -= credit.settled;
            dc.push(key.0);
            dm.push(key.1);
            dn.push(credit.settled);
        }
    }
    sqlx::query!(
        "update member_balance b set debt = b.debt - t.n, updated_at = now()
         from (select c, m, sum(n)::bigint as n from unnest($1::text[], $2::text[], $3::bigint[]) as u(c, m, n) group by c, m) t
         where b.crm_id = t.c and b.member_no = t.m",
        &dc as _,
        &dm as _,
        &dn[..],
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A credit's ledger scene. An activity's bonus is its own entry: scene `campaign` (and
/// campagin_code the activity's id).
fn scene<'a>(c: &Credit, p: &'a EarnPayload) -> &'a str {
    if c.activity.is_some() {
        CAMPAIGN_SCENE
    } else {
        &p.action_scene
    }
}

/// Lots, ledger rows, analytics outbox rows and balances for the credits.
///
/// The lots and the ledger rows go in by binary COPY, the balances by one upsert of the batch's
/// per-member sums in `(crm_id, member_no)` order, the lock order of every batch (issue 14,
/// seventeenth pass: a statement that unnested the credits' columns once for the three tables
/// made PostgreSQL project, materialise and insert each row alone; COPY hands the rows to the
/// tables and logs each heap page's new rows as one WAL record).
async fn write_credits<'a>(
    tx: &mut sqlx::PgConnection,
    events: &'a [Envelope<EarnPayload>],
    credits: &'a [Credit],
) -> sqlx::Result<()> {
    if credits.is_empty() {
        return Ok(());
    }
    let n = credits.len();
    let mut lots = CopyRows::new(8, n, 160);
    let mut ledger = CopyRows::new(18, n, 420);
    // (points held in lots, points produced) per member; a BTreeMap iterates in the lock order
    // (byte order, which is the `C` collation of the key columns).
    let mut balances: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
    let mut analytics = Vec::with_capacity(n);
    for c in credits {
        let ev = &events[c.idx];
        let p = &ev.payload;
        let row_scene = scene(c, p);
        let row_campaign = match c.activity {
            Some(id) => Some(id.to_string()),
            None => p.campagin_code.clone(),
        };
        // The points a credit leaves in its lot: a credit that settles a debt is produced, not held.
        let held = c.points - c.settled;
        if held > 0 {
            lots.row()
                .text(&ev.crm_id)
                .text(&p.member_no)
                .text(&ev.idempotency_key)
                .opt_int8(c.rule_id)
                .int8(held)
                .int8(held)
                .timestamptz(c.expire_time)
                .opt_timestamptz(c.unfreeze_time);
        }
        let sums = balances.entry((&ev.crm_id, &p.member_no)).or_default();
        sums.0 += held;
        sums.1 += c.points;
        // Without the client's words, the seed's: "用户多了30积分,无冻结时间".
        let desc = match p.event_desc.as_deref() {
            Some(d) => Cow::Borrowed(d),
            None => {
                let freeze = c
                    .unfreeze_time
                    .map_or("无冻结时间".to_string(), |u| format!("冻结{}天", (u - ev.occurred_at).num_days()));
                Cow::Owned(super::ledger::describe(c.points, &freeze))
            }
        };
        ledger
            .row()
            .text(&ev.crm_id)
            .text(&p.member_no)
            .text(&ev.idempotency_key)
            .text(row_scene)
            .text(LedgerEventType::Produce.as_str())
            .opt_int8(p.amount.map(|a| a.0))
            .int8(c.points)
            .timestamptz(c.expire_time)
            .opt_timestamptz(c.unfreeze_time)
            .opt_text(p.store_code.as_deref())
            .opt_text(p.cost_center.as_deref())
            .opt_text(row_campaign.as_deref())
            .opt_text(p.operator.as_deref())
            .text(&desc)
            .opt_jsonb(p.order_items.as_ref())
            .opt_int8(c.rule_id)
            .timestamptz(ev.occurred_at)
            .text(&c.why);
        analytics.push(AnalyticsEvent::PointsProduce(PointsProduced {
            event_id: Uuid::now_v7(),
            crm_id: ev.crm_id.clone(),
            member_no: p.member_no.clone(),
            event_no: ev.idempotency_key.clone(),
            event_type: LedgerEventType::Produce.as_str().to_string(),
            action_scene: row_scene.to_string(),
            // 0: no seed 000 rule (an activity's bonus; campagin_code names the activity).
            rule_id: c.rule_id.unwrap_or(0),
            points: c.points,
            amount: p.amount,
            store_code: p.store_code.clone(),
            cost_center: p.cost_center.clone(),
            campagin_code: row_campaign,
            expire_time: c.expire_time,
            unfreeze_time: c.unfreeze_time,
            occurred_at: ev.occurred_at,
            message_id: ev.message_id,
            trace: ev.trace.clone(),
        }));
    }
    let (mut b_crm, mut b_member, mut b_held, mut b_produced) = (
        Vec::with_capacity(balances.len()),
        Vec::with_capacity(balances.len()),
        Vec::with_capacity(balances.len()),
        Vec::with_capacity(balances.len()),
    );
    for ((crm, member), (held, produced)) in balances {
        b_crm.push(crm);
        b_member.push(member);
        b_held.push(held);
        b_produced.push(produced);
    }
    if !lots.is_empty() {
        lots.copy_in(
            &mut *tx,
            "copy points_lot (crm_id, member_no, event_no, rule_id, points, remaining, expire_time, unfreeze_time)
             from stdin (format binary)",
        )
        .await?;
    }
    // The part of a credit that pays back a debt, as its own ledger row after the credits'.
    for c in credits.iter().filter(|c| c.settled > 0) {
        let ev = &events[c.idx];
        ledger
            .row()
            .text(&ev.crm_id)
            .text(&ev.payload.member_no)
            .text(&ev.idempotency_key)
            .text(scene(c, &ev.payload))
            .text(LedgerEventType::SettleDebt.as_str())
            .null()
            .int8(-c.settled)
            .null()
            .null()
            .null()
            .null()
            .null()
            .null()
            .text(&super::ledger::describe(-c.settled, "抵还冲正欠下的积分"))
            .null()
            .opt_int8(c.rule_id)
            .timestamptz(ev.occurred_at)
            .null();
    }
    ledger
        .copy_in(
            &mut *tx,
            "copy points_ledger (crm_id, member_no, event_no, action_scene, event_type, amount_cents, points, expire_time,
                                 unfreeze_time, store_code, cost_center, campagin_code, operator, event_desc, order_items,
                                 rule_id, occurred_at, explain)
             from stdin (format binary)",
        )
        .await?;
    crate::outbox::write(&mut *tx, "points.produce", &analytics).await?;
    // The balances last: their upsert locks the members' rows until the commit, and a batch of
    // the same members waits on them; taken after the lots, the ledger rows and the outbox row,
    // two such batches write those side by side and wait only for each other's end.
    sqlx::query!(
        "insert into member_balance as b (crm_id, member_no, points, total_produced)
         select unnest($1::text[]), unnest($2::text[]), unnest($3::bigint[]), unnest($4::bigint[])
         on conflict (crm_id, member_no)
         do update set points = b.points + excluded.points,
                       total_produced = b.total_produced + excluded.total_produced, updated_at = now()",
        &b_crm as &[&str],
        &b_member as &[&str],
        &b_held[..],
        &b_produced[..],
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}
