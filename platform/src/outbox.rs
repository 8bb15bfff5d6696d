//! The outbox writer: analytics events written in the changing transaction, which the workers'
//! relay publishes after the commit. Here, not in the workers, because the api's member
//! changes write level events too (`crate::levels`).

use schemas::analytics::AnalyticsEvent;
use sqlx::PgConnection;

/// One outbox row holding these analytics events (the relay sends them as one message): a
/// JSON array, serialised here and stored as `bytea`, so PostgreSQL neither parses nor
/// re-prints it (it did both while the column was `json` bound as `jsonb`: a few per cent of
/// its CPU per event, issue 14).
pub async fn write(tx: &mut PgConnection, routing_key: &str, events: &[AnalyticsEvent]) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into outbox (routing_key, events, event_count) values ($1, $2, $3)",
        routing_key,
        // The bytes the relay publishes as they are: the database never parses them.
        &serde_json::to_vec(events).expect("analytics events serialise")[..],
        events.len() as i32,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}
