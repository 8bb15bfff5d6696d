//! The outbox writer: analytics events written in the handler's transaction, which the relay
//! ([`crate::relay`]) publishes after the commit.

use serde_json::Value;
use sqlx::{types::Json, PgConnection};

/// One outbox row holding these analytics events (the relay sends them as one message).
pub async fn write(tx: &mut PgConnection, routing_key: &str, events: &[Value]) -> sqlx::Result<()> {
    sqlx::query("insert into outbox (routing_key, events, event_count) values ($1, $2, $3)")
        .bind(routing_key)
        .bind(Json(events))
        .bind(events.len() as i32)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
