//! The analytics consumer: reads `{ns}.analytics` (each message a JSON array of
//! [`AnalyticsEvent`]s, one outbox row), and per delivery batch, in transactions of at most
//! `ANALYTICS_BATCH_EVENTS` events ([`by_events`]), marks the events seen and adds the new ones to
//! the aggregates, then acks each transaction's messages with one `multiple` ack. A message it
//! cannot read is parked in `{ns}.analytics.dlq` with the reason. Started `WORKER_CONSUMERS`
//! times per worker process, like the other consumer families.

use std::{ops::Range, sync::Arc, time::Duration};

use backon::{ExponentialBuilder, Retryable};
use futures_util::StreamExt;
use lapin::{
    message::Delivery,
    options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions},
    types::{AMQPValue, FieldTable},
};
use platform::{broker::headers, metric_names::*};
use schemas::analytics::AnalyticsEvent;
use tokio_util::sync::CancellationToken;

use crate::{
    consumer::{next_batch, SessionEnd},
    health::Consuming,
    Deps,
};

/// Runs one analytics consumer until `shutdown`, reconnecting after broker trouble.
pub async fn run(deps: Arc<Deps>, index: usize, consuming: Arc<Consuming>, shutdown: CancellationToken) {
    let mut delay = Duration::from_millis(200);
    while !shutdown.is_cancelled() {
        match session(&deps, index, &consuming, &shutdown).await {
            Ok(()) => return,
            Err(e) => {
                metrics::counter!(CONSUMER_SESSIONS_LOST_TOTAL).increment(1);
                tracing::warn!(consumer = index, error = %e, "analytics consumer session ended; reconnecting");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn session(
    deps: &Deps,
    index: usize,
    consuming: &Arc<Consuming>,
    shutdown: &CancellationToken,
) -> Result<(), SessionEnd> {
    let connection =
        platform::broker::connect(&deps.settings.amqp_url, &format!("loyalty-worker-analytics-{index}")).await?;
    let channel = connection.create_channel().await?;
    deps.topology.declare(&channel).await?;
    channel.basic_qos(deps.settings.prefetch, BasicQosOptions::default()).await?;
    let queue = deps.topology.analytics_queue();
    let consumer = channel
        .basic_consume(queue.as_str().into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await?;
    tracing::info!(consumer = index, %queue, "consuming analytics");
    let _consuming = consuming.enter();
    let mut batches = consumer.ready_chunks(deps.settings.batch_size.max(1));
    while let Some(deliveries) = next_batch(&channel, &queue, &mut batches, shutdown).await? {
        process(deps, deliveries).await?;
    }
    connection.close(200, "shutdown".into()).await.ok();
    Ok(())
}

/// Applies one delivery batch and acks it, in transactions of at most
/// `ANALYTICS_BATCH_EVENTS` events (whole messages; see [`by_events`]): each is committed, then
/// its messages acked with one `multiple` ack. Public for the benchmark.
pub async fn process(deps: &Deps, deliveries: Vec<Delivery>) -> Result<(), SessionEnd> {
    let mut parsed = Vec::with_capacity(deliveries.len());
    for delivery in &deliveries {
        match serde_json::from_slice::<Vec<AnalyticsEvent>>(&delivery.data) {
            Ok(events) => parsed.push(events),
            Err(e) => {
                // Parked now, acked with the transaction its place falls in.
                park(deps, delivery, &format!("not a JSON array of analytics events: {e}")).await?;
                parsed.push(Vec::new());
            }
        }
    }
    let sizes: Vec<usize> = parsed.iter().map(Vec::len).collect();
    for range in by_events(&sizes, deps.settings.analytics_batch_events) {
        let events: Vec<AnalyticsEvent> = parsed[range.clone()].iter_mut().flat_map(std::mem::take).collect();
        let total = events.len();
        let attempt = || {
            let events = events.clone();
            async move { apply(deps, events).await }
        };
        // A database outage outlasting the retries ends the session: what is not acked yet is
        // redelivered.
        let counted = attempt
            .retry(ExponentialBuilder::default().with_min_delay(Duration::from_millis(20)).with_max_times(5))
            .notify(|e, after| tracing::warn!(error = %e, retry_in_ms = after.as_millis() as u64, "analytics apply failed; retrying"))
            .await
            .map_err(|e| SessionEnd::Database(e.to_string()))?;
        let now = chrono::Utc::now().timestamp_millis();
        for delivery in &deliveries[range.clone()] {
            if let Some(ms) = headers::int(&delivery.properties, headers::APPLIED_AT) {
                metrics::histogram!(ANALYTICS_FRESHNESS_SECONDS).record((now - ms).max(0) as f64 / 1000.0);
            }
        }
        metrics::counter!(ANALYTICS_COUNTED_TOTAL).increment(counted as u64);
        metrics::counter!(ANALYTICS_DUPLICATES_TOTAL).increment((total - counted) as u64);
        if !deliveries[range.end - 1].acker.ack(BasicAckOptions { multiple: true }).await? {
            return Err(SessionEnd::AckLost);
        }
    }
    Ok(())
}

/// Splits messages of `sizes` events each into consecutive runs of at most `cap` events, so
/// that a backlog read in one delivery batch (`WORKER_BATCH_SIZE` messages, each up to a worker
/// batch's events) is not one transaction of hundreds of thousands of events. A message is never
/// split (it is acked whole): one of more than `cap` events is a run of its own.
pub(crate) fn by_events(sizes: &[usize], cap: usize) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let (mut start, mut held) = (0, 0);
    for (i, &n) in sizes.iter().enumerate() {
        if i > start && held + n > cap {
            runs.push(start..i);
            (start, held) = (i, 0);
        }
        held += n;
    }
    if start < sizes.len() {
        runs.push(start..sizes.len());
    }
    runs
}

/// Marks `events` seen and adds the new ones, in one transaction; returns how many were new.
pub async fn apply(deps: &Deps, events: Vec<AnalyticsEvent>) -> sqlx::Result<usize> {
    if events.is_empty() {
        return Ok(0);
    }
    let mut tx = deps.db.begin().await?;
    let fresh = super::fresh(&mut tx, events).await?;
    let facts: Vec<_> = fresh.iter().flat_map(super::facts).collect();
    super::add(&mut tx, &facts).await?;
    tx.commit().await?;
    Ok(fresh.len())
}

async fn park(deps: &Deps, delivery: &Delivery, reason: &str) -> Result<(), SessionEnd> {
    let set = vec![
        (headers::PARK_REASON, AMQPValue::LongString(reason.into())),
        (headers::PARK_CLASS, AMQPValue::LongString("poison".into())),
        (headers::PARKED_AT, AMQPValue::LongString(chrono::Utc::now().to_rfc3339().into())),
    ];
    let props = headers::with_headers(&delivery.properties, set, &[]).with_delivery_mode(2);
    let dlq = deps.topology.analytics_dead_letter_queue();
    deps.publisher.publish("", &dlq, &delivery.data, props).await?;
    metrics::counter!(WORKER_PARKED_TOTAL, "class" => "poison").increment(1);
    tracing::warn!(reason, message_id = ?delivery.properties.message_id(), "analytics message parked");
    Ok(())
}
