//! The outbox relay: claims unsent rows with `FOR UPDATE SKIP LOCKED` (so N workers relay
//! side by side without sending a row twice at once), publishes each row with confirms to the
//! analytics exchange as one message (a JSON array of the events of the transaction that wrote
//! it, the row's routing key such as `points.produce` or `cards.receive`, header
//! `x-event-count`), and marks the rows sent in the same transaction.
//!
//! A crash after the publish and before the commit sends those rows again: delivery to
//! analytics is at-least-once, and each event carries an `event_id` to deduplicate on.

use std::time::Duration;

use platform::broker::headers;
use platform::broker::FieldTableBuilder;
use tokio_util::sync::CancellationToken;

use crate::Deps;

/// Sent rows are kept this long (for inspection), then deleted.
const KEEP_SENT: &str = "1 day";

/// Relays until `shutdown`.
pub async fn run(deps: &Deps, shutdown: CancellationToken) {
    let mut last_cleanup = std::time::Instant::now();
    while !shutdown.is_cancelled() {
        let pause = match relay_once(deps).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => Duration::from_millis(50),
            Err(e) => {
                tracing::warn!(error = %e, "outbox relay failed; retrying");
                Duration::from_secs(1)
            }
        };
        if last_cleanup.elapsed() > Duration::from_secs(600) {
            last_cleanup = std::time::Instant::now();
            let sql = format!("delete from outbox where sent_at < now() - interval '{KEEP_SENT}'");
            if let Err(e) = sqlx::query(&sql).execute(&deps.db).await {
                tracing::warn!(error = %e, "outbox cleanup failed");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// Relays up to `RELAY_BATCH` outbox rows (one message each); returns how many events were sent.
pub async fn relay_once(deps: &Deps) -> anyhow::Result<usize> {
    let mut tx = deps.db.begin().await?;
    let rows = sqlx::query!(
        r#"select id, routing_key, events, event_count, created_at from outbox
           where sent_at is null order by id limit $1 for update skip locked"#,
        deps.settings.relay_batch,
    )
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let sent: usize = rows.iter().map(|r| r.event_count as usize).sum();
    let messages = rows
        .into_iter()
        .map(|r| {
            let props = headers::persistent_json(&format!("outbox-{}", r.id), &r.routing_key).with_headers(
                FieldTableBuilder::default()
                    .int(headers::EVENT_COUNT, r.event_count.into())
                    .int(headers::APPLIED_AT, r.created_at.timestamp_millis())
                    .build(),
            );
            (r.routing_key, r.events, props)
        })
        .collect();
    deps.publisher.publish_all(&deps.topology.analytics_exchange(), messages).await?;
    sqlx::query!(
        // `sent_at is null` (true of every row locked above) lets the unsent rows' index find them.
        "update outbox set sent_at = now() where id = any($1) and sent_at is null",
        &ids[..]
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    metrics::counter!(platform::metric_names::OUTBOX_RELAYED_TOTAL).increment(sent as u64);
    Ok(sent)
}
