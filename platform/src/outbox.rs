//! The outbox writer: analytics events written in the changing transaction, which the workers'
//! relay publishes after the commit. Here, not in the workers, because the api's member
//! changes write level events too (`crate::levels`).

use schemas::analytics::AnalyticsEvent;
use sqlx::PgConnection;

/// One outbox row per tenant holding these analytics events (the relay sends each row as one
/// message): a JSON array, serialised here and stored as `bytea`, so PostgreSQL neither parses
/// nor re-prints it (it did both while the column was `json` bound as `jsonb`: a few per cent of
/// its CPU per event, issue 14). A row is a tenant's (its key includes `crm_id`, issue 16): a
/// batch of several tenants' events writes a row for each, in one statement; no events, no row.
pub async fn write(tx: &mut PgConnection, routing_key: &str, events: &[AnalyticsEvent]) -> sqlx::Result<()> {
    let mut tenants: Vec<&str> = Vec::new();
    let mut groups: Vec<Vec<&AnalyticsEvent>> = Vec::new();
    for event in events {
        // A batch is nearly always one tenant's: a linear search over a handful of tenants.
        match tenants.iter().position(|t| *t == event.crm_id()) {
            Some(i) => groups[i].push(event),
            None => {
                tenants.push(event.crm_id());
                groups.push(vec![event]);
            }
        }
    }
    if tenants.is_empty() {
        return Ok(());
    }
    // The bytes the relay publishes as they are: the database never parses them.
    let bytes: Vec<Vec<u8>> =
        groups.iter().map(|g| serde_json::to_vec(g).expect("analytics events serialise")).collect();
    let counts: Vec<i32> = groups.iter().map(|g| g.len() as i32).collect();
    sqlx::query!(
        "insert into outbox (crm_id, routing_key, events, event_count)
         select unnest($1::text[]), $2, unnest($3::bytea[]), unnest($4::int[])",
        &tenants as &[&str],
        routing_key,
        &bytes[..],
        &counts[..],
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}
