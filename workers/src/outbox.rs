//! The outbox writer: analytics events written in the handler's transaction, which the relay
//! ([`crate::relay`]) publishes after the commit.

use schemas::analytics::AnalyticsEvent;
use sqlx::{types::Json, PgConnection};

/// One outbox row holding these analytics events (the relay sends them as one message).
///
/// The events are bound as `jsonb` (what `Json` encodes to) and cast into the `json` column, so
/// the stored text is PostgreSQL's normal form: keys in its own order, whatever order serde
/// writes the fields in. That is why the typed events give the same bytes on the wire as the
/// `json!` objects did.
pub async fn write(tx: &mut PgConnection, routing_key: &str, events: &[AnalyticsEvent]) -> sqlx::Result<()> {
    debug_assert!(
        schemas::analytics::ROUTING_KEYS.contains(&routing_key),
        "{routing_key} is not in schemas::analytics::ROUTING_KEYS (the broker contract lists them)"
    );
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
