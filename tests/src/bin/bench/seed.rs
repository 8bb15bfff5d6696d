//! `bench --drain --seed-rows N`: the earn drain on an empty database, then again after N ledger
//! rows over N/10 members (`--seed-members`) were loaded, in the same run (issue 14, item 5: the
//! seeded drain should keep ≥ 0.8 of the empty one).
//!
//! The rows are generated here and streamed with `COPY … from stdin` (text format, in chunks of
//! about a megabyte), one COPY per table on its own connection and task so that PostgreSQL works
//! on both cores. Row-by-row or `unnest` inserts were the alternative: they cost a round trip or
//! a plan per batch and load 10 million rows several times slower.
//!
//! What is seeded is what applied earn events leave behind, so `workers verify` stays clean and
//! the indexes the drain writes to are big: per seeded event a ledger row, a lot with all of it
//! remaining and an inbox row; per member its `member_balance` row (points = the sum of its lots =
//! the sum of its ledger, which is what verify compares) and a `member` profile. The members are
//! `seed-0000000…` under the bench's own tenant, numbered so that they sort in the order they are
//! generated: every index receives the rows in key order, as a long-lived database received them.

use std::{fmt::Write, time::Instant};

use chrono::{DateTime, Duration, Utc};
use lapin::Channel;
use loyalty_tests::TestEnv;
use platform::status::LedgerEventType;
use sqlx::PgPool;

use crate::{cpu, publish_all, Args};

/// Bytes of COPY data per message to the server.
const CHUNK_BYTES: usize = 1 << 20;

/// A drain's rate and its CPU per event line (cpu.rs).
pub struct Drain {
    pub rate: f64,
    pub cpu: String,
}

/// Loads `--seed-rows` ledger rows over `--seed-members` members of the bench's tenant, then
/// drains `bodies` again under new keys and prints both drains side by side. Answers the number
/// of ledger rows it seeded.
pub async fn run(env: &TestEnv, channel: &Channel, bodies: &[(String, Vec<u8>)], args: &Args, empty: &Drain) -> i64 {
    let rows = args.seed_rows.unwrap_or_default().max(1);
    let members = args.seed_members.unwrap_or(rows / 10).clamp(1, rows);
    println!("seed: {rows} ledger rows over {members} members of tenant 10080 (COPY)");
    let started = Instant::now();
    load(env, "10080", rows, members).await;
    let loaded = started.elapsed().as_secs_f64();
    // One ledger row, one lot and one inbox row per seeded event, one balance and one member per
    // member: the rate is of ledger rows, the figure the issue states.
    println!(
        "seed load:                  {:>9.0} ledger rows/s  ({rows} ledger + {rows} lot + {rows} inbox rows, {members} balances and members, in {loaded:.1} s)",
        rows as f64 / loaded
    );

    let (vacuumed, checkpointed) = settle(env).await;
    println!(
        "seed vacuum analyze:        {vacuumed:>9.1} s, checkpoint {checkpointed:.1} s  (so neither runs during the drain)"
    );
    let sizes: Vec<(String, String)> = sqlx::query_as(
        "select relname::text, pg_size_pretty(pg_total_relation_size(oid)) from pg_class
         where relname in ('points_ledger', 'points_lot', 'inbox', 'member_balance', 'member') order by relname",
    )
    .fetch_all(&env.db)
    .await
    .expect("sizes");
    let sizes: Vec<String> = sizes.into_iter().map(|(t, s)| format!("{t} {s}")).collect();
    println!("seed sizes (with indexes):  {}", sizes.join(", "));

    let spread = args.seed_spread.then_some(members);
    let seeded = drain(env, channel, bodies, spread, args.consumers, args.window).await;
    println!("empty-db drain:             {:>9.0} events/s", empty.rate);
    println!("  {}", empty.cpu);
    let whose = if spread.is_some() { "seeded members, one each" } else { "the empty drain's members" };
    println!(
        "seeded drain:               {:>9.0} events/s  ({rows} ledger rows, {members} members seeded; events of {whose})",
        seeded.rate
    );
    println!("  {}", seeded.cpu);
    println!("ratio seeded / empty:       {:>9.2}  (goal ≥ 0.8)", seeded.rate / empty.rate);
    rows as i64
}

/// VACUUM (ANALYZE) of the tables the earn drain writes, then a CHECKPOINT; answers how long
/// each took (s). VACUUM rather than ANALYZE alone: after ten million inserts autovacuum would
/// otherwise start on these tables during the drain being measured; the checkpoint, for the same
/// reason: the load's WAL would be checkpointed in the middle of the drain. `main` settles the
/// database the same way before the empty drain, so that both drains start alike (without it the
/// seeded drain came out 1.3-1.6 times as fast as the empty one in three runs of four).
pub async fn settle(env: &TestEnv) -> (f64, f64) {
    let started = Instant::now();
    sqlx::raw_sql("vacuum (analyze) points_ledger, points_lot, inbox, member_balance, member, outbox")
        .execute(&env.db)
        .await
        .expect("vacuum analyze");
    let vacuumed = started.elapsed().as_secs_f64();
    let started = Instant::now();
    sqlx::raw_sql("checkpoint").execute(&env.db).await.expect("checkpoint");
    (vacuumed, started.elapsed().as_secs_f64())
}

/// The same backlog again, under keys no run has used (`late-…`), published before the worker
/// starts, like the empty-database drain. With `spread` (the number of seeded members), event `i`
/// goes to seeded member `i × 1,000,003 mod members` instead: distinct members scattered over
/// the whole seeded range, so that every batch reads and writes cold index pages, as a programme
/// whose members earn now and then does.
async fn drain(
    env: &TestEnv,
    channel: &Channel,
    bodies: &[(String, Vec<u8>)],
    spread: Option<usize>,
    consumers: usize,
    window: usize,
) -> Drain {
    let n = bodies.len() as i64;
    let now = Utc::now();
    let late: Vec<(String, Vec<u8>)> = bodies
        .iter()
        .enumerate()
        .map(|(i, (id, body))| {
            let mut envelope: serde_json::Value = serde_json::from_slice(body).expect("an envelope");
            envelope["idempotency_key"] = format!("late-{i}").into();
            // Occurring now (a microsecond apart), as each round of the empty drain does: the
            // first run's times again would give a member equal keys in the member indexes.
            envelope["occurred_at"] = serde_json::to_value(now + Duration::microseconds(i as i64)).expect("a time");
            if let Some(members) = spread {
                envelope["payload"]["member_no"] = member_no((i as u64 * 1_000_003 % members as u64) as usize).into();
            }
            (id.clone(), serde_json::to_vec(&envelope).expect("json"))
        })
        .collect();
    publish_all(channel, env.topology.events_exchange(), "points.earn.order_pay", &late, window).await;
    // Counting the inbox, as the empty drain does, would scan ten million rows each time: the
    // ledger rows after the last seeded one are a range of its primary key (crm_id, auto_id) (one
    // per event here: no debts, no activity bonuses).
    let before = env.scalar("select coalesce(max(auto_id), 0) from points_ledger where crm_id = '10080'").await;
    let count = format!("select count(*) from points_ledger where crm_id = '10080' and auto_id > {before}");
    let database = cpu::database_of(&env.settings.database_url).to_string();
    let cpu_before = cpu::Sample::now(&database);
    let started = Instant::now();
    let worker = env.worker(consumers, std::env::var("NORELAY").is_err(), Default::default());
    // The same wait as the empty drain's, so both carry the same overhead.
    super::wait_applied(env, channel, platform::broker::Domain::Points, &count, n, std::time::Duration::from_secs(600))
        .await;
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let cpu = cpu::Sample::now(&database).cost_since(&cpu_before, bodies.len()).event_line("workers");
    worker.stop(std::time::Duration::from_secs(10)).await;
    Drain { rate, cpu }
}

/// The seeded rows, every table at once.
async fn load(env: &TestEnv, crm_id: &str, rows: usize, members: usize) {
    let rule_id: i64 =
        sqlx::query_scalar("select rule_id from produce_rule where crm_id = $1 order by rule_id limit 1")
            .bind(crm_id)
            .fetch_one(&env.db)
            .await
            .expect("the bench's earn rule");
    let seed = Seed { crm_id: crm_id.to_string(), rows, members, rule_id, start: Utc::now() - Duration::days(300) };
    let produce = LedgerEventType::Produce.as_str();

    let mut tasks = tokio::task::JoinSet::new();
    let s = seed.clone();
    tasks.spawn(copy(
        env.db.clone(),
        "copy points_ledger (crm_id, member_no, event_no, action_scene, event_type, amount_cents, points, expire_time,
                             store_code, event_desc, rule_id, occurred_at, create_time, update_time) from stdin",
        rows,
        move |r, buf| {
            let (p, at) = (points(r), s.at(r));
            let expire = s.expire(r);
            writeln!(
                buf,
                "{}\t{}\t{}\torder_pay\t{produce}\t{}\t{p}\t{expire}\tec_mall\t用户多了{p}积分,无冻结时间\t{}\t{at}\t{at}\t{at}",
                s.crm_id,
                member_no(s.member_of(r)),
                event_no(r),
                p * 1000,
                s.rule_id,
            )
            .expect("a String");
        },
    ));
    let s = seed.clone();
    tasks.spawn(copy(
        env.db.clone(),
        "copy points_lot (crm_id, member_no, event_no, rule_id, points, remaining, expire_time, created_at, updated_at)
         from stdin",
        rows,
        move |r, buf| {
            let (p, at) = (points(r), s.at(r));
            let expire = s.expire(r);
            writeln!(
                buf,
                "{}\t{}\t{}\t{}\t{p}\t{p}\t{expire}\t{at}\t{at}",
                s.crm_id,
                member_no(s.member_of(r)),
                event_no(r),
                s.rule_id
            )
            .expect("a String");
        },
    ));
    let s = seed.clone();
    tasks.spawn(copy(
        env.db.clone(),
        "copy inbox (crm_id, key_kind, idem_key, message_id, kind, member_no, status, points, received_at, updated_at)
         from stdin",
        rows,
        move |r, buf| {
            let at = s.at(r);
            writeln!(
                buf,
                "{}\tevent_no\t{}\t{}\tpoints.earn\t{}\tapplied\t{}\t{at}\t{at}",
                s.crm_id,
                event_no(r),
                uuid::Uuid::from_u64_pair(0x5eed, r as u64),
                member_no(s.member_of(r)),
                points(r),
            )
            .expect("a String");
        },
    ));
    let s = seed.clone();
    tasks.spawn(copy(
        env.db.clone(),
        "copy member_balance (crm_id, member_no, points, total_produced) from stdin",
        members,
        move |m, buf| {
            let held: i64 = s.rows_of(m).map(points).sum();
            writeln!(buf, "{}\t{}\t{held}\t{held}", s.crm_id, member_no(m)).expect("a String");
        },
    ));
    let s = seed;
    tasks.spawn(copy(env.db.clone(), "copy member (crm_id, membership_code) from stdin", members, move |m, buf| {
        writeln!(buf, "{}\t{}", s.crm_id, member_no(m)).expect("a String")
    }));
    while let Some(done) = tasks.join_next().await {
        done.expect("a COPY task");
    }
}

/// What the seeded history looks like; row `r` of the ledger, lots and inbox is the same event.
#[derive(Clone)]
struct Seed {
    crm_id: String,
    rows: usize,
    members: usize,
    rule_id: i64,
    /// The oldest seeded event; the rest spread over the following 290 days.
    start: DateTime<Utc>,
}

impl Seed {
    /// Rows go to members in order, `rows / members` each (the remainder spread among them).
    fn member_of(&self, r: usize) -> usize {
        (r as u64 * self.members as u64 / self.rows as u64) as usize
    }

    /// The rows whose member is `m`: the first `r` with `member_of(r) >= m`, up to the next's.
    fn rows_of(&self, m: usize) -> std::ops::Range<usize> {
        let first = |m: usize| (m as u64 * self.rows as u64).div_ceil(self.members as u64) as usize;
        first(m)..first(m + 1)
    }

    fn occurred(&self, r: usize) -> DateTime<Utc> {
        self.start + Duration::seconds((r as u64 * 290 * 86_400 / self.rows as u64) as i64)
    }

    fn at(&self, r: usize) -> String {
        self.occurred(r).format("%Y-%m-%d %H:%M:%S+00").to_string()
    }

    /// A year after the event (the bench rule's `expire_term`): every seeded lot is still live.
    fn expire(&self, r: usize) -> String {
        (self.occurred(r) + Duration::days(365)).format("%Y-%m-%d %H:%M:%S+00").to_string()
    }
}

/// Member `m`'s number: zero-padded, so that numeric and text order agree.
fn member_no(m: usize) -> String {
    format!("seed-{m:07}")
}

fn event_no(r: usize) -> String {
    format!("past-{r:08}")
}

/// 1-50 points, as the bench's events earn (10-500 yuan at 1 point per 10 yuan).
fn points(r: usize) -> i64 {
    (r % 50) as i64 + 1
}

/// Streams `count` lines of `statement`'s COPY text format, each written by `line`.
async fn copy(db: PgPool, statement: &'static str, count: usize, mut line: impl FnMut(usize, &mut String)) -> u64 {
    let mut conn = db.acquire().await.expect("a connection");
    let mut copy = conn.copy_in_raw(statement).await.expect(statement);
    let mut buf = String::with_capacity(CHUNK_BYTES + 4096);
    for r in 0..count {
        line(r, &mut buf);
        if buf.len() >= CHUNK_BYTES {
            copy.send(buf.as_bytes()).await.expect(statement);
            buf.clear();
        }
    }
    if !buf.is_empty() {
        copy.send(buf.as_bytes()).await.expect(statement);
    }
    let copied = copy.finish().await.expect(statement);
    assert_eq!(copied, count as u64, "{statement}");
    copied
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The balances are computed from `rows_of`, the ledger and lots from `member_of`: they must
    /// agree, or verify fails after a ten-minute load.
    #[test]
    fn each_row_belongs_to_the_member_whose_range_holds_it() {
        for (rows, members) in [(10, 1), (10, 10), (100, 10), (1_000, 7), (1_003, 100), (10, 3)] {
            let seed = Seed { crm_id: "c".into(), rows, members, rule_id: 1, start: Utc::now() };
            let mut covered = 0;
            for m in 0..members {
                for r in seed.rows_of(m) {
                    assert_eq!(seed.member_of(r), m, "rows {rows}, members {members}, row {r}");
                    covered += 1;
                }
            }
            assert_eq!(covered, rows, "rows {rows}, members {members}: every row once");
        }
    }

    #[test]
    fn member_numbers_sort_as_they_are_generated() {
        assert!(member_no(9) < member_no(10));
        assert!(member_no(999_999) < member_no(1_000_000));
    }
}
