//! Every metric name the services emit, in one place (the README's metrics table lists them).
//! Labels are written where the metric is recorded.

// Workers: the consumers.

/// Counter: deliveries taken from a work queue.
pub const WORKER_CONSUMED_TOTAL: &str = "worker_consumed_total";
/// Counter: messages applied (a change was made).
pub const WORKER_APPLIED_TOTAL: &str = "worker_applied_total";
/// Counter: messages answered with a business rejection (stored, acked).
pub const WORKER_REJECTED_TOTAL: &str = "worker_rejected_total";
/// Counter: deliveries of a key applied before.
pub const WORKER_DUPLICATES_TOTAL: &str = "worker_duplicates_total";
/// Counter: messages sent to a delayed retry queue.
pub const WORKER_RETRIED_TOTAL: &str = "worker_retried_total";
/// Counter: messages parked in a dead-letter queue; label `class` (poison | transient).
pub const WORKER_PARKED_TOTAL: &str = "worker_parked_total";
/// Histogram: seconds to apply and ack one delivery batch.
pub const WORKER_BATCH_SECONDS: &str = "worker_batch_seconds";
/// Counter: consuming sessions ended by broker trouble (the consumer reconnects).
pub const CONSUMER_SESSIONS_LOST_TOTAL: &str = "consumer_sessions_lost_total";
/// Gauge: consumers of this process holding an active `basic_consume` (its `/healthz` is 503 at 0).
pub const WORKER_CONSUMERS_CONSUMING: &str = "worker_consumers_consuming";

// Workers: the relay, the card code pool, the sweeper.

/// Counter: analytics events counted by the analytics consumer (duplicates excluded).
pub const ANALYTICS_COUNTED_TOTAL: &str = "analytics_counted_total";
/// Counter: analytics events the consumer had already counted (relay resends, replays).
pub const ANALYTICS_DUPLICATES_TOTAL: &str = "analytics_duplicates_total";
/// Histogram: seconds from an event's commit (the outbox row's `created_at`) to its being
/// counted in the dashboards' aggregates.
pub const ANALYTICS_FRESHNESS_SECONDS: &str = "analytics_freshness_seconds";

/// Counter: outbox events published by the relay.
pub const OUTBOX_RELAYED_TOTAL: &str = "outbox_relayed_total";
/// Counter: card codes taken from the pool; label `source` (redis | postgres).
pub const CARD_POOL_CODES_TOTAL: &str = "card_pool_codes_total";
/// Counter: pooled codes found already taken (stale in Redis).
pub const CARD_POOL_STALE_TOTAL: &str = "card_pool_stale_total";
/// Counter: reloads of a card's Redis pool from PostgreSQL.
pub const CARD_POOL_RELOADS_TOTAL: &str = "card_pool_reloads_total";
/// Counter: card codes generated into stock.
pub const CARDS_CODES_GENERATED_TOTAL: &str = "cards_codes_generated_total";
/// Counter: point lots expired by the sweeper.
pub const SWEEPER_EXPIRED_LOTS_TOTAL: &str = "sweeper_expired_lots_total";
/// Counter: point lots unfrozen by the sweeper.
pub const SWEEPER_UNFROZEN_LOTS_TOTAL: &str = "sweeper_unfrozen_lots_total";
/// Counter: transfers not accepted in time, returned to their givers by the sweeper.
pub const SWEEPER_RETURNED_TRANSFERS_TOTAL: &str = "sweeper_returned_transfers_total";

// Workers: the sampled gauges (`workers/src/gauges.rs`); every worker process reports the same
// numbers, so alert on `max`, not `sum`.

/// Gauge: messages in a queue; labels `queue`, `kind` (work | dead_letter).
pub const BROKER_QUEUE_MESSAGES: &str = "broker_queue_messages";
/// Gauge: consumers attached to a queue (all processes); labels `queue`, `kind`.
pub const BROKER_QUEUE_CONSUMERS: &str = "broker_queue_consumers";
/// Gauge: outbox rows not yet relayed.
pub const OUTBOX_UNSENT_ROWS: &str = "outbox_unsent_rows";
/// Gauge: age in seconds of the oldest outbox row not yet relayed (0 when none).
pub const OUTBOX_OLDEST_UNSENT_SECONDS: &str = "outbox_oldest_unsent_seconds";
/// Gauge: the sweeper's lag, seconds since the oldest due item fell due without being swept
/// (0 when none); label `kind` (lot: points to expire | code: card codes to expire | present:
/// presents to return | transfer: transfers to return).
pub const SWEEPER_LAG_SECONDS: &str = "sweeper_lag_seconds";
/// Gauge: the share (0 to 1) of the card codes this worker process claimed that came from the
/// Redis pool rather than PostgreSQL, since it started (dashboards use the rate of
/// `card_pool_codes_total` by `source` for a recent figure).
pub const CARD_POOL_HIT_RATIO: &str = "card_pool_hit_ratio";

// Platform.

/// Counter: broker publications; label `outcome` (confirmed | failed).
pub const BROKER_PUBLISHED_TOTAL: &str = "broker_published_total";
/// Counter: tenant rule lookups; label `result` (hit | miss).
pub const RULE_CACHE_LOOKUPS_TOTAL: &str = "rule_cache_lookups_total";

// The API (recorded in `api/src/routes/ops.rs`).

/// Counter: HTTP requests; labels `route`, `method`, `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";
/// Histogram: HTTP request seconds; labels `route`, `method`.
pub const HTTP_REQUEST_SECONDS: &str = "http_request_seconds";
