//! The inbox: one row per business key, holding the first outcome. The workers write it; the
//! ingress (`wait_ms`) and `GET .../events/{event_no}` read it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::status::InboxStatus;

/// The key kind of points events.
pub const EVENT_NO: &str = "event_no";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboxRow {
    pub crm_id: String,
    pub key_kind: String,
    pub idem_key: String,
    pub message_id: Uuid,
    pub kind: String,
    pub member_no: Option<String>,
    /// Applied or rejected (a reserved `pending` row is never answered as an outcome).
    pub status: InboxStatus,
    pub points: i64,
    pub reason: Option<String>,
    /// The kind of a refusal (`schemas::response::Refusal`'s word); null when applied.
    pub refusal: Option<String>,
    pub duplicates: i32,
    pub received_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn find<'e, E: sqlx::PgExecutor<'e>>(
    db: E,
    crm_id: &str,
    key_kind: &str,
    key: &str,
) -> sqlx::Result<Option<InboxRow>> {
    sqlx::query_as!(
        InboxRow,
        "select crm_id, key_kind, idem_key, message_id, kind, member_no, status as \"status: InboxStatus\", points, reason, refusal, duplicates, received_at, updated_at
         from inbox where crm_id = $1 and key_kind = $2 and idem_key = $3",
        crm_id,
        key_kind,
        key,
    )
    .fetch_optional(db)
    .await
}
