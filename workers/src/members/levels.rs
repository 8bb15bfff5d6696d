//! The sweep's level step: the members whose level is stalest (never computed, or a day old, or
//! reset by a change of the tenant's definitions) are recomputed at the business time `now`, so
//! a level whose window no longer holds falls (unless it `isForever`).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

/// How old a computed level may get before the sweep computes it again: windows are months long.
pub const RECHECK_AFTER: Duration = Duration::days(1);

/// Recomputes up to `limit` due members; answers (members checked, levels changed).
pub async fn sweep(db: &PgPool, now: DateTime<Utc>, limit: i64) -> sqlx::Result<(usize, usize)> {
    let due = platform::levels::due(db, now - RECHECK_AFTER, limit).await?;
    let checked = due.len();
    let mut by_tenant: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (crm_id, member_no) in due {
        by_tenant.entry(crm_id).or_default().push(member_no);
    }
    let mut changed = 0;
    for (crm_id, members) in by_tenant {
        let mut tx = db.begin().await?;
        changed += platform::levels::recompute(&mut tx, &crm_id, &members, "schedule", now).await?.len();
        tx.commit().await?;
    }
    Ok((checked, changed))
}
