//! The outbox writer: analytics events written in the handler's transaction, which the relay
//! ([`crate::relay`]) publishes after the commit.

use schemas::analytics::AnalyticsEvent;
use serde_json::Value;
use sqlx::{types::Json, PgConnection};

/// One outbox row holding these analytics events (the relay sends them as one message).
///
/// Each event goes through a `serde_json::Value` first: its object keys come out sorted, so
/// the bytes the relay sends (the `json` column keeps them as written) are the very bytes the
/// handlers' `json!` objects gave before the events were typed, not merely the same object.
pub async fn write(tx: &mut PgConnection, routing_key: &str, events: &[AnalyticsEvent]) -> sqlx::Result<()> {
    let values = events
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<Value>, _>>()
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query!(
        "insert into outbox (routing_key, events, event_count) values ($1, $2, $3)",
        routing_key,
        Json(&values) as _,
        events.len() as i32,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}
