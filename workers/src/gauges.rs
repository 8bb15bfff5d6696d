//! Gauges an operator alerts on, sampled by each worker process every [`INTERVAL`]: the depth
//! and consumer count of each work queue and dead-letter queue (a passive declare, which
//! RabbitMQ answers with both numbers, so no management plugin is needed), and the outbox
//! backlog (unsent rows and the age of the oldest), and the sweeper's lag (the age of the oldest
//! due lot, code, present or transfer not yet swept). Sampled rather than counted from our own
//! events because a queue also grows from other processes and shrinks by replay, which no
//! counter of ours sees. Every process reports the same numbers: alert on `max`, not `sum`.

use std::time::Duration;

use lapin::{options::QueueDeclareOptions, types::FieldTable, Channel, Connection};
use platform::{broker::Domain, metric_names::*};
use tokio_util::sync::CancellationToken;

use crate::Deps;

/// Often enough for a one-minute alert, rarely enough to cost nothing.
pub const INTERVAL: Duration = Duration::from_secs(15);

/// One queue's numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDepth {
    pub queue: String,
    /// work | dead_letter
    pub kind: &'static str,
    pub messages: u32,
    pub consumers: u32,
}

/// One sample, as recorded.
#[derive(Debug, Clone)]
pub struct Sample {
    pub queues: Vec<QueueDepth>,
    pub outbox_unsent_rows: i64,
    pub outbox_oldest_unsent_seconds: f64,
    /// Per kind of due item (lot, code, present, transfer): seconds since the oldest fell due.
    pub sweeper_lag_seconds: Vec<(&'static str, f64)>,
}

/// Samples until `shutdown`; a failed sample is logged and the next one reconnects.
pub async fn run(deps: &Deps, shutdown: CancellationToken) {
    let mut broker: Option<(Connection, Channel)> = None;
    while !shutdown.is_cancelled() {
        if let Err(e) = sample(deps, &mut broker).await {
            tracing::warn!(error = %e, "sampling the queue and outbox gauges failed");
            broker = None;
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
    }
    if let Some((connection, _)) = broker {
        connection.close(200, "shutdown".into()).await.ok();
    }
}

/// Takes one sample and records it; `broker` caches the connection between samples (opened
/// when `None`).
pub async fn sample(deps: &Deps, broker: &mut Option<(Connection, Channel)>) -> anyhow::Result<Sample> {
    if broker.is_none() {
        let connection = platform::broker::connect(&deps.settings.amqp_url, "loyalty-worker-gauges").await?;
        let channel = connection.create_channel().await?;
        *broker = Some((connection, channel));
    }
    let (_, channel) = broker.as_ref().expect("connected above");
    let mut queues = Vec::new();
    for &domain in Domain::ALL {
        for (queue, kind) in
            [(deps.topology.work_queue(domain), "work"), (deps.topology.dead_letter_queue(domain), "dead_letter")]
        {
            // Passive: reads the numbers, never creates the queue (a missing one is an error).
            let q = channel
                .queue_declare(
                    queue.as_str().into(),
                    QueueDeclareOptions { passive: true, ..Default::default() },
                    FieldTable::default(),
                )
                .await?;
            queues.push(QueueDepth { queue, kind, messages: q.message_count(), consumers: q.consumer_count() });
        }
    }
    let outbox = sqlx::query!(
        r#"select count(*) as "rows!", coalesce(extract(epoch from now() - min(created_at)), 0)::float8 as "oldest!"
           from outbox where sent_at is null"#
    )
    .fetch_one(&deps.db)
    .await?;
    let (rows, oldest) = (outbox.rows, outbox.oldest);
    // The sweep steps' own predicates (workers/src/sweep/steps.rs), each on its partial index.
    let lag = sqlx::query!(
        r#"select
             coalesce(extract(epoch from now() - (select min(expire_time) from points_lot
                 where remaining > 0 and expired_at is null and expire_time <= now())), 0)::float8 as "lot!",
             coalesce(extract(epoch from now() - (select min(valid_end) from card_code
                 where status = 1 /* CodeStatus::Available */ and valid_end < now())), 0)::float8 as "code!",
             coalesce(extract(epoch from now() - (select min(go_back_time) from card_present
                 where status = 'pending' /* PresentStatus::Pending */ and go_back_time <= now())), 0)::float8 as "present!",
             coalesce(extract(epoch from now() - (select min(expire_at) from points_transfer
                 where status = 'pending' /* TransferStatus::Pending */ and expire_at <= now())), 0)::float8 as "transfer!""#
    )
    .fetch_one(&deps.db)
    .await?;
    let sweeper_lag_seconds =
        vec![("lot", lag.lot), ("code", lag.code), ("present", lag.present), ("transfer", lag.transfer)];
    for q in &queues {
        let labels = [("queue", q.queue.clone()), ("kind", q.kind.to_string())];
        metrics::gauge!(BROKER_QUEUE_MESSAGES, &labels).set(q.messages);
        metrics::gauge!(BROKER_QUEUE_CONSUMERS, &labels).set(q.consumers);
    }
    metrics::gauge!(OUTBOX_UNSENT_ROWS).set(rows as f64);
    metrics::gauge!(OUTBOX_OLDEST_UNSENT_SECONDS).set(oldest);
    for &(kind, seconds) in &sweeper_lag_seconds {
        metrics::gauge!(SWEEPER_LAG_SECONDS, "kind" => kind).set(seconds);
    }
    Ok(Sample { queues, outbox_unsent_rows: rows, outbox_oldest_unsent_seconds: oldest, sweeper_lag_seconds })
}
