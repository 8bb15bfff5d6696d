//! `--analytics`: the analytics consumer under the earn benchmark's load.
//!
//! 1. Freshness: while the workers apply the order events (and the relay publishes their
//!    outbox rows), the analytics consumers count them; per event, from the apply
//!    transaction's outbox row (`outbox.created_at`) to the analytics transaction that counted
//!    it (`analytics_seen.seen_at`); p50, p99 and max.
//! 2. Throughput: the aggregates emptied and every outbox row published again with no
//!    analytics consumer running (a backlog), then analytics consumers alone drain it: events/s
//!    (and messages/s: one message per outbox row), beside the raw broker rate of the same run.

use std::{sync::Arc, time::Instant};

use loyalty_tests::TestEnv;
use tokio_util::sync::CancellationToken;
use workers::{WorkerHandle, WorkerOptions};

/// A worker of `consumers` points/cards consumers with the relay and `analytics` analytics
/// consumers.
pub fn worker(env: &TestEnv, consumers: usize, relay: bool, analytics: usize) -> WorkerHandle {
    workers::start(
        env.deps(Arc::default()),
        WorkerOptions { consumers, relay, sweep: false, analytics },
        CancellationToken::new(),
    )
}

async fn wait_until(env: &TestEnv, sql: &str, target: i64) {
    while env.scalar(sql).await < target {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// After the earn run, its worker (with analytics consumers) still running: the freshness.
pub async fn freshness(env: &TestEnv) {
    let total = env.scalar("select coalesce(sum(event_count), 0)::bigint from outbox").await;
    wait_until(env, "select count(*) from analytics_seen", total).await;
    let row: (f64, f64, f64) = sqlx::query_as(
        "select percentile_cont(0.5) within group (order by d), percentile_cont(0.99) within group (order by d), max(d)
           from (select extract(epoch from s.seen_at - o.created_at)::float8 as d
                   from outbox o cross join lateral json_array_elements(convert_from(o.events, 'UTF8')::json) e
                   join analytics_seen s on s.crm_id = o.crm_id and s.event_id = (e ->> 'event_id')::uuid) f",
    )
    .fetch_one(&env.db)
    .await
    .expect("freshness");
    println!(
        "analytics freshness (applied → counted, {total} events under load): p50 {:.3} s, p99 {:.3} s, max {:.3} s",
        row.0, row.1, row.2
    );
}

/// With no worker running: the analytics consumers' drain rate over a backlog of every outbox row.
pub async fn drain(env: &TestEnv, consumers: usize, raw: f64) {
    let total = env.scalar("select coalesce(sum(event_count), 0)::bigint from outbox").await;
    for table in ["analytics_seen", "analytics_day", "analytics_member_day"] {
        sqlx::query(&format!("delete from {table}")).execute(&env.db).await.expect("empty");
    }
    let rows = env.scalar("select count(*) from outbox").await;
    sqlx::query("update outbox set sent_at = null").execute(&env.db).await.expect("unsend");
    let relay = worker(env, 1, true, 0);
    wait_until(env, "select count(*) from outbox where sent_at is not null", rows).await;
    relay.stop(std::time::Duration::from_secs(10)).await;
    let started = Instant::now();
    let counting = worker(env, 1, false, consumers);
    wait_until(env, "select count(*) from analytics_seen", total).await;
    let elapsed = started.elapsed().as_secs_f64();
    counting.stop(std::time::Duration::from_secs(10)).await;
    let rate = total as f64 / elapsed;
    println!(
        "analytics consumer drain:   {rate:>9.0} events/s  ({total} events in {rows} messages, {:.0} msg/s, {consumers} consumers, {elapsed:.1} s)",
        rows as f64 / elapsed
    );
    println!("ratio analytics events/s / raw broker msg/s: {:.2}", rate / raw);
}
