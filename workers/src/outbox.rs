//! The outbox writer: analytics events written in the handler's transaction, which the relay
//! ([`crate::relay`]) publishes after the commit.

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

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The routing keys the handlers write (the string literal after the connection in every
    /// `outbox::write(` and `ledger::outbox(` call of this crate's sources).
    fn written_keys(dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                written_keys(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for call in ["outbox::write(", "ledger::outbox("] {
                    for (at, _) in text.match_indices(call) {
                        let args = &text[at + call.len()..];
                        // The first argument is the connection (not a string: skips this test's own text).
                        let Some((first, rest)) = args.split_once(',') else { continue };
                        if let (false, Some(quoted)) = (first.contains('"'), rest.trim_start().strip_prefix('"')) {
                            found.push(quoted.split('"').next().unwrap_or_default().to_string());
                        }
                    }
                }
            }
        }
    }

    /// The broker contract (`/asyncapi.json`) lists `schemas::analytics::ROUTING_KEYS`: every
    /// key a handler writes must be among them.
    #[test]
    fn every_routing_key_written_is_in_the_contract() {
        let mut found = Vec::new();
        written_keys(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
        assert!(found.len() >= 15, "the scan finds the calls: {found:?}");
        for key in found {
            assert!(schemas::analytics::ROUTING_KEYS.contains(&key.as_str()), "{key} is not in ROUTING_KEYS");
        }
    }
}
