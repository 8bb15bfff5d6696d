//! The consumer loop: take what the prefetch window holds (up to a batch), apply it (runs of
//! earn events, and a batch's card claims, each in one transaction through
//! [`crate::message::Batched`]; other messages one transaction each through
//! [`Message::apply`]), ack the whole batch with one `multiple` ack after the commits. It
//! receives, batches, retries, parks and acks; what a message does is its handler's business.
//!
//! Failures, three answers:
//! - a business rejection is an outcome: stored with the inbox row, acked;
//! - a transient fault (database down, deadlock) is retried in place a few times, then each
//!   message goes to the retry queue of its attempt (TTL, then back to the work queue), and
//!   past the last delay it is parked;
//! - a poison message (undecodable, invalid, unknown tenant) is parked at once with its reason.
//!
//! Any broker error ends the session: the loop reconnects, re-declares, and calls `basic_qos`
//! before `basic_consume`. Whatever was not acked is redelivered and deduplicated by the inbox.
//! So does a consumer the broker forgot without telling: see [`next_batch`].

use std::{sync::Arc, time::Duration};

use backon::{ExponentialBuilder, Retryable};
use futures_util::{Stream, StreamExt};
use lapin::{
    message::Delivery,
    options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable},
    Channel,
};
use platform::broker::{headers, Domain, PublishError};
use platform::metric_names::*;
use schemas::{cards::ReceivePayload, orders::OrderPayload, points::EarnPayload, Envelope};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{
    health::Consuming,
    message::{decode, Batched, Head, Message},
    outcome::{ApplyError, ErrorClass, Outcome},
    Deps, Failpoints,
};

/// A span naming one message: its id, tenant, kind and key, and the trace id and request id of
/// the request that published it (empty when its headers had none) (`$level`: `info_span` or
/// `debug_span`). The fields are formatted only if a subscriber records the span. With the OTLP
/// export on, the span joins the trace of the message's `traceparent`.
macro_rules! message_span {
    ($level:ident, $head:expr) => {{
        let head = $head;
        let span = tracing::$level!(
            "message",
            message_id = %head.message_id,
            crm_id = head.crm_id,
            kind = head.kind.as_str(),
            key = head.idempotency_key,
            trace_id = head.trace.map_or("", |t| t.trace_id()),
            request_id = head.trace.and_then(|t| t.request_id.as_deref()).unwrap_or(""),
        );
        platform::telemetry::adopt_parent(&span, head.trace.map(|t| t.traceparent.as_str()));
        span
    }};
}

/// Card messages applied at once per consumer (each holds a database connection meanwhile:
/// keep consumers × this within `DB_MAX_CONNECTIONS`).
const CARD_PARALLELISM: usize = 6;

/// Why a consuming session ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionEnd {
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
    #[error("publishing a retry or a parked message failed: {0}")]
    Publish(#[from] PublishError),
    #[error("the channel is gone: an ack was not sent")]
    AckLost,
    #[error("the server cancelled the consumer")]
    Cancelled,
    /// The channel is open but the broker delivers nothing to this consumer (see [`next_batch`]).
    #[error(
        "the broker delivers nothing to this consumer of {queue} ({ready} messages ready, {listed} consumers listed): it was lost without a cancel"
    )]
    Forgotten { queue: String, ready: u32, listed: u32 },
    #[error("the broker did not answer a passive declare of {0} in time")]
    Unanswered(String),
    /// The analytics consumer could not write its aggregates (after its retries).
    #[error("database: {0}")]
    Database(String),
    /// The crash-after-commit failpoint fired: the worker "died" before acking.
    #[error("failpoint: crashed after commit")]
    Crashed,
}

/// Runs one consumer until `shutdown`, reconnecting after broker trouble.
pub async fn run(
    deps: Arc<Deps>,
    domain: Domain,
    index: usize,
    consuming: Arc<Consuming>,
    shutdown: CancellationToken,
) {
    let mut delay = Duration::from_millis(200);
    while !shutdown.is_cancelled() {
        match session(&deps, domain, index, &consuming, &shutdown).await {
            Ok(()) => return,
            Err(SessionEnd::Crashed) => {
                tracing::warn!(consumer = index, "failpoint: consumer crashed after commit");
                return;
            }
            Err(e) => {
                metrics::counter!(CONSUMER_SESSIONS_LOST_TOTAL).increment(1);
                tracing::warn!(consumer = index, error = %e, retry_in_ms = delay.as_millis() as u64, "consumer session ended; reconnecting");
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
    domain: Domain,
    index: usize,
    consuming: &Arc<Consuming>,
    shutdown: &CancellationToken,
) -> Result<(), SessionEnd> {
    let connection =
        platform::broker::connect(&deps.settings.amqp_url, &format!("loyalty-worker-consumer-{index}")).await?;
    let channel = connection.create_channel().await?;
    deps.topology.declare(&channel).await?;
    channel.basic_qos(deps.settings.prefetch, BasicQosOptions::default()).await?;
    let queue = deps.topology.work_queue(domain);
    let consumer = channel
        .basic_consume(queue.as_str().into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await?;
    tracing::info!(consumer = index, %queue, "consuming");
    // Counted for the worker's /healthz until this session ends, whichever way.
    let _consuming = consuming.enter();
    let mut batches = consumer.ready_chunks(deps.settings.batch_size.max(1));
    while let Some(deliveries) = next_batch(&channel, &queue, &mut batches, shutdown).await? {
        match process(deps, domain, deliveries).await {
            Err(SessionEnd::Crashed) => {
                connection.close(320, "failpoint crash".into()).await.ok();
                return Err(SessionEnd::Crashed);
            }
            other => other?,
        }
    }
    // Between batches: nothing is half done. Closing returns the prefetched, unprocessed
    // messages to the queue.
    connection.close(200, "shutdown".into()).await.ok();
    Ok(())
}

/// How long a consumer waits for a delivery before asking the broker whether it still lists it.
const IDLE_CHECK: Duration = Duration::from_secs(5);

/// The next delivery batch of a consuming session, or `None` once `shutdown` is cancelled.
///
/// Each time no delivery has come for [`IDLE_CHECK`], a passive declare of `queue` asks the
/// broker how many consumers it lists and how many messages are ready. No consumer listed, or
/// messages ready while this consumer, its prefetch window empty (every batch is acked before
/// the next is awaited), got none for that long, means the broker no longer delivers to it
/// although its channel is open and no `basic.cancel` came (RabbitMQ 3.10's quorum queue does
/// this to consumers of surviving nodes when its leader's node dies, and may go on listing a
/// consumer meanwhile: another of the queue's, or a stale one): the session ends, and the
/// reconnect consumes again. Without it nothing would be delivered until the process restarted.
/// A message published just as the check reads the queue may end a healthy session too: the
/// reconnect costs a few milliseconds, and that message is delivered again (the inbox makes it
/// harmless).
pub(crate) async fn next_batch<S>(
    channel: &Channel,
    queue: &str,
    batches: &mut S,
    shutdown: &CancellationToken,
) -> Result<Option<Vec<Delivery>>, SessionEnd>
where
    S: Stream<Item = Vec<Result<Delivery, lapin::Error>>> + Unpin,
{
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            batch = batches.next() => {
                let Some(batch) = batch else {
                    return Err(SessionEnd::Cancelled);
                };
                return Ok(Some(batch.into_iter().collect::<Result<Vec<Delivery>, lapin::Error>>()?));
            }
            _ = tokio::time::sleep(IDLE_CHECK) => {
                let passive = QueueDeclareOptions { passive: true, ..Default::default() };
                let declared = tokio::time::timeout(IDLE_CHECK, channel.queue_declare(queue.into(), passive, FieldTable::default()))
                    .await
                    .map_err(|_| SessionEnd::Unanswered(queue.to_string()))??;
                let (listed, ready) = (declared.consumer_count(), declared.message_count());
                if listed == 0 || ready > 0 {
                    return Err(SessionEnd::Forgotten { queue: queue.to_string(), ready, listed });
                }
            }
        }
    }
}

/// Handles one batch of deliveries and acks them all. Public so tests and the benchmark can
/// drive it.
#[tracing::instrument(name = "batch", skip_all, fields(domain = domain.name(), size = deliveries.len()))]
pub async fn process(deps: &Deps, domain: Domain, deliveries: Vec<Delivery>) -> Result<(), SessionEnd> {
    let Some(last_tag) = deliveries.last().map(|d| d.delivery_tag) else {
        return Ok(());
    };
    let started = std::time::Instant::now();
    metrics::counter!(WORKER_CONSUMED_TOTAL).increment(deliveries.len() as u64);
    match domain {
        Domain::Cards => batched_first::<ReceivePayload>(deps, domain, &deliveries).await?,
        Domain::Points => in_order::<EarnPayload, OrderPayload>(deps, domain, &deliveries).await?,
    }
    // Everything in the batch is settled (applied, rejected, duplicate, retried or parked):
    // one ack covers it. The last delivery's acker acks all earlier tags with `multiple`.
    let last = deliveries.into_iter().next_back().expect("non-empty batch");
    debug_assert_eq!(last.delivery_tag, last_tag);
    if !last.ack(BasicAckOptions { multiple: true }).await? {
        return Err(SessionEnd::AckLost);
    }
    metrics::histogram!(WORKER_BATCH_SECONDS).record(started.elapsed().as_secs_f64());
    Ok(())
}

/// The cards way (claims as `B`). Claims come in floods (a flash sale): the batch's claims are
/// applied together, in one transaction. The other card messages of different members do not
/// depend on each other (row locks order those that touch the same member or code), so they
/// are applied several at a time, after the claims they may refer to.
async fn batched_first<B: Batched>(deps: &Deps, domain: Domain, deliveries: &[Delivery]) -> Result<(), SessionEnd> {
    let mut batched = Vec::new();
    let mut rest = Vec::new();
    for delivery in deliveries {
        match decode(&delivery.data, headers::trace(&delivery.properties)).map(B::take) {
            Ok(Ok(envelope)) => batched.push((delivery, envelope)),
            Ok(Err(other)) => rest.push((delivery, other)),
            Err(reason) => park(deps, domain, delivery, "poison", &reason).await?,
        }
    }
    if !batched.is_empty() {
        apply_together(deps, domain, Together::new(batched)).await?;
    }
    let work: Vec<_> = rest.into_iter().map(|(delivery, message)| apply_one(deps, domain, delivery, message)).collect();
    let results: Vec<Result<(), SessionEnd>> =
        futures_util::stream::iter(work).buffer_unordered(CARD_PARALLELISM).collect().await;
    results.into_iter().collect()
}

/// The points way (earn events as `A`, orders as `B`): in delivery order; consecutive messages
/// of one batched kind are applied together, in one transaction.
async fn in_order<A: Batched, B: Batched>(
    deps: &Deps,
    domain: Domain,
    deliveries: &[Delivery],
) -> Result<(), SessionEnd> {
    let mut run_a: Vec<(&Delivery, Envelope<A>)> = Vec::new();
    let mut run_b: Vec<(&Delivery, Envelope<B>)> = Vec::new();
    for delivery in deliveries {
        let message = match decode(&delivery.data, headers::trace(&delivery.properties)) {
            Ok(m) => m,
            Err(reason) => {
                park(deps, domain, delivery, "poison", &reason).await?;
                continue;
            }
        };
        match A::take(message).map_err(B::take) {
            Ok(envelope) => {
                if !run_b.is_empty() {
                    apply_together(deps, domain, Together::new(std::mem::take(&mut run_b))).await?;
                }
                run_a.push((delivery, envelope));
            }
            Err(Ok(envelope)) => {
                if !run_a.is_empty() {
                    apply_together(deps, domain, Together::new(std::mem::take(&mut run_a))).await?;
                }
                run_b.push((delivery, envelope));
            }
            Err(Err(single)) => {
                if !run_a.is_empty() {
                    apply_together(deps, domain, Together::new(std::mem::take(&mut run_a))).await?;
                }
                if !run_b.is_empty() {
                    apply_together(deps, domain, Together::new(std::mem::take(&mut run_b))).await?;
                }
                apply_one(deps, domain, delivery, single).await?;
            }
        }
    }
    if !run_a.is_empty() {
        apply_together(deps, domain, Together::new(run_a)).await?;
    }
    if !run_b.is_empty() {
        apply_together(deps, domain, Together::new(run_b)).await?;
    }
    Ok(())
}

/// Messages of one batched kind applied together, in one transaction of set-based
/// statements: their deliveries and their envelopes, in the same order.
struct Together<'a, B> {
    deliveries: Vec<&'a Delivery>,
    events: Vec<Envelope<B>>,
}

impl<'a, B: Batched> Together<'a, B> {
    fn new(items: Vec<(&'a Delivery, Envelope<B>)>) -> Together<'a, B> {
        let (deliveries, events) = items.into_iter().unzip();
        Together { deliveries, events }
    }

    /// The same messages, one group each.
    fn one_by_one(self) -> Vec<Together<'a, B>> {
        self.deliveries.into_iter().zip(self.events).map(|one| Together::new(vec![one])).collect()
    }

    /// One attempt, with the batch's tenants.
    async fn apply(&self, deps: &Deps) -> Result<Vec<Outcome>, ApplyError> {
        let mut crm_ids: Vec<String> = self.events.iter().map(|e| e.crm_id.clone()).collect();
        crm_ids.sort();
        crm_ids.dedup();
        let tenants = deps.rules.get(&deps.db, &crm_ids).await?;
        B::apply_batch(deps, &tenants, &self.events).await
    }
}

async fn apply_together<B: Batched>(deps: &Deps, domain: Domain, group: Together<'_, B>) -> Result<(), SessionEnd> {
    let attempt = || async {
        if Failpoints::take(&deps.failpoints.transient_failures) {
            return Err(ApplyError::Db(sqlx::Error::PoolTimedOut));
        }
        group.apply(deps).await
    };
    let result = attempt
        .retry(in_place_retries())
        .when(ApplyError::is_retryable)
        .notify(|e, after| tracing::warn!(error = %e, retry_in_ms = after.as_millis() as u64, "apply failed; retrying"))
        .await;
    match result {
        Ok(outcomes) => {
            if Failpoints::take(&deps.failpoints.crash_after_commit) {
                return Err(SessionEnd::Crashed);
            }
            for ((delivery, envelope), outcome) in group.deliveries.iter().zip(&group.events).zip(outcomes) {
                // Debug level: a span per message of a big batch costs nothing unless asked for.
                let span = message_span!(debug_span, Head::from(envelope));
                settle(deps, domain, delivery, outcome).instrument(span).await?;
            }
            Ok(())
        }
        Err(e) if e.class() == ErrorClass::Poison && group.deliveries.len() > 1 => {
            // A deterministic failure may be one bad message: apply one by one so the others
            // go through and only the culprit is parked.
            tracing::warn!(error = %e, "batch failed; applying its messages one by one");
            for one in group.one_by_one() {
                Box::pin(apply_together(deps, domain, one)).await?;
            }
            Ok(())
        }
        Err(e) if e.class() == ErrorClass::Poison => {
            park(deps, domain, group.deliveries[0], "poison", &format!("the database refused it: {e}")).await
        }
        Err(e) => {
            for delivery in group.deliveries {
                retry_or_park(deps, domain, delivery, &e.to_string()).await?;
            }
            Ok(())
        }
    }
}

/// Counts an outcome; parks a poison one.
async fn settle(deps: &Deps, domain: Domain, delivery: &Delivery, outcome: Outcome) -> Result<(), SessionEnd> {
    match outcome {
        Outcome::Applied { count } => {
            metrics::counter!(WORKER_APPLIED_TOTAL).increment(1);
            tracing::debug!(count, "applied");
        }
        Outcome::Rejected { code, reason } => {
            metrics::counter!(WORKER_REJECTED_TOTAL).increment(1);
            tracing::debug!(refusal = code.as_str(), %reason, "rejected");
        }
        Outcome::Duplicate => {
            metrics::counter!(WORKER_DUPLICATES_TOTAL).increment(1);
            tracing::debug!("duplicate");
        }
        Outcome::Poison { reason } => park(deps, domain, delivery, "poison", &reason).await?,
    }
    Ok(())
}

/// Applies one message in its own transaction, in a span naming it.
async fn apply_one(deps: &Deps, domain: Domain, delivery: &Delivery, message: Message) -> Result<(), SessionEnd> {
    let span = message_span!(info_span, message.head());
    apply_one_in_span(deps, domain, delivery, message).instrument(span).await
}

async fn apply_one_in_span(
    deps: &Deps,
    domain: Domain,
    delivery: &Delivery,
    message: Message,
) -> Result<(), SessionEnd> {
    let attempt = || async {
        if Failpoints::take(&deps.failpoints.transient_failures) {
            return Err(ApplyError::Db(sqlx::Error::PoolTimedOut));
        }
        let crm_id = message.crm_id().to_string();
        let tenants = deps.rules.get(&deps.db, std::slice::from_ref(&crm_id)).await?;
        if !tenants.contains_key(&crm_id) {
            return Ok(Outcome::Poison { reason: format!("unknown tenant crm_id {crm_id}") });
        }
        message.apply(deps, &tenants).await
    };
    let result = attempt.retry(in_place_retries()).when(ApplyError::is_retryable).await;
    match result {
        Ok(outcome) => {
            if Failpoints::take(&deps.failpoints.crash_after_commit) {
                return Err(SessionEnd::Crashed);
            }
            settle(deps, domain, delivery, outcome).await
        }
        Err(e) if e.class() == ErrorClass::Poison => {
            park(deps, domain, delivery, "poison", &format!("the database refused it: {e}")).await
        }
        Err(e) => retry_or_park(deps, domain, delivery, &e.to_string()).await,
    }
}

/// Quick retries for deadlocks, key races and short outages, before the delayed ones.
fn in_place_retries() -> ExponentialBuilder {
    ExponentialBuilder::default().with_min_delay(Duration::from_millis(20)).with_max_times(2)
}

/// Sends a message to the retry queue of its next attempt, or parks it past the last one.
async fn retry_or_park(deps: &Deps, domain: Domain, delivery: &Delivery, error: &str) -> Result<(), SessionEnd> {
    let attempt = headers::attempt(&delivery.properties);
    let delays = &deps.topology.retry_delays;
    let Some(&delay) = delays.get(attempt as usize) else {
        return park(deps, domain, delivery, "transient", &format!("gave up after {} attempts: {error}", attempt + 1))
            .await;
    };
    let props =
        headers::with_headers(&delivery.properties, vec![(headers::ATTEMPT, AMQPValue::LongLongInt(attempt + 1))], &[]);
    let queue = deps.topology.retry_queue(domain, delay);
    deps.publisher.publish("", &queue, &delivery.data, props).await?;
    metrics::counter!(WORKER_RETRIED_TOTAL).increment(1);
    tracing::warn!(attempt = attempt + 1, delay_ms = delay.as_millis() as u64, %error, "message scheduled for retry");
    Ok(())
}

/// Parks a message in its domain's DLQ with the reason in its headers (confirmed before the
/// original is acked, so a crash in between only leaves a copy in both places, and the inbox
/// makes the copy harmless).
async fn park(deps: &Deps, domain: Domain, delivery: &Delivery, class: &str, reason: &str) -> Result<(), SessionEnd> {
    let set = vec![
        (headers::PARK_REASON, AMQPValue::LongString(reason.into())),
        (headers::PARK_CLASS, AMQPValue::LongString(class.into())),
        (headers::PARKED_AT, AMQPValue::LongString(chrono::Utc::now().to_rfc3339().into())),
        (headers::ATTEMPT, AMQPValue::LongLongInt(headers::attempt(&delivery.properties))),
    ];
    let props = headers::with_headers(&delivery.properties, set, &[]).with_delivery_mode(2);
    let dlq = deps.topology.dead_letter_queue(domain);
    deps.publisher.publish("", &dlq, &delivery.data, props).await?;
    metrics::counter!(WORKER_PARKED_TOTAL, "class" => class.to_string()).increment(1);
    tracing::warn!(class, reason, message_id = ?delivery.properties.message_id(), "message parked");
    Ok(())
}
