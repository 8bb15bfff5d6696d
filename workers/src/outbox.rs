//! The outbox writer: analytics events written in the handler's transaction, which the relay
//! ([`crate::relay`]) publishes after the commit.

use schemas::analytics::AnalyticsEvent;
use sqlx::{types::Json, PgConnection};

/// One outbox row holding these analytics events (the relay sends them as one message).
pub async fn write(tx: &mut PgConnection, routing_key: &str, events: &[AnalyticsEvent]) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into outbox (routing_key, events, event_count) values ($1, $2, $3)",
        routing_key,
        Json(events) as _,
        events.len() as i32,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}
