//! The inbox, as the handlers write it: one row per business key holding the first outcome,
//! the check for a key applied before, and the count of later deliveries. Every domain's
//! handlers open and end with these (the reading side is `platform::inbox`).

use std::collections::HashSet;

use platform::copy_rows::CopyRows;
use schemas::Envelope;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, Transaction};

use crate::outcome::{ApplyError, Outcome};

/// (crm_id, idempotency key).
pub type Key = (String, String);

/// Inbox rows to insert together: encoded for one binary COPY as they are pushed.
pub struct Rows {
    copy: CopyRows,
}

impl Rows {
    pub fn with_capacity(n: usize) -> Rows {
        Rows { copy: CopyRows::new(10, n, 160) }
    }

    /// Adds the row of an applied or rejected outcome.
    pub fn push<P>(&mut self, envelope: &Envelope<P>, member_no: &str, outcome: &Outcome) {
        let (status, count, reason, refusal) = outcome.stored();
        self.copy
            .row()
            .text(&envelope.crm_id)
            .text(envelope.kind.key_kind())
            .text(&envelope.idempotency_key)
            .uuid(envelope.message_id)
            .text(envelope.kind.as_str())
            .text(member_no)
            .text(status.as_str())
            .int8(count)
            .opt_text(reason)
            .opt_text(refusal);
    }

    pub fn is_empty(&self) -> bool {
        self.copy.is_empty()
    }

    /// Inserts the rows (in the order pushed: push them sorted by key, the lock order every
    /// transaction shares). `Ok(false)`: one of the keys existed already (stored by another
    /// transaction meanwhile); the transaction is aborted and must be rolled back.
    ///
    /// A binary COPY, not `insert … on conflict do nothing`: keys are almost always new, and the
    /// speculative insertion that `on conflict` needs (probe the index, insert, insert the index
    /// entry, confirm) cost PostgreSQL about half as much again per row (issue 14); COPY also
    /// spares each row an `unnest` projection and logs a heap page's new rows as one WAL record
    /// (`platform::copy_rows`). The rare collision aborts the transaction instead, and
    /// [`existing`] tells which keys collided.
    pub async fn insert(self, tx: &mut PgConnection) -> sqlx::Result<bool> {
        let copied = self
            .copy
            .copy_in(
                tx,
                "copy inbox (crm_id, key_kind, idem_key, message_id, kind, member_no, status, points, reason, refusal)
                 from stdin (format binary)",
            )
            .await;
        match copied {
            Ok(_) => Ok(true),
            Err(e) if platform::db::is_unique_violation(&e, "inbox_pkey") => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Which of these envelopes' keys the inbox holds (committed): read after a collision, to
/// answer them as duplicates the next time.
pub async fn existing<P>(db: &PgPool, envelopes: &[Envelope<P>]) -> sqlx::Result<HashSet<Key>> {
    let (mut c, mut kk, mut k) = (Vec::new(), Vec::new(), Vec::new());
    for e in envelopes {
        c.push(e.crm_id.as_str());
        kk.push(e.kind.key_kind());
        k.push(e.idempotency_key.as_str());
    }
    // A primary-key probe per key (the lateral subquery): a join of the keys against the inbox
    // can be planned, and the plan cached, while the table is small, as a scan of all of it
    // (what happened to the card counters' join, issue 14), and this runs for the life of a
    // worker whose inbox grows. `limit 1` (a key has one row) keeps the planner from flattening
    // the subquery back into that join: checked with `plan_cache_mode = force_generic_plan` on
    // an empty inbox, a nested loop over `inbox_pkey`.
    let rows = sqlx::query!(
        r#"select i.crm_id as "crm_id!", i.idem_key as "idem_key!"
           from unnest($1::text[], $2::text[], $3::text[]) as t(c, kk, k)
           cross join lateral (select crm_id, idem_key from inbox
                               where crm_id = t.c and key_kind = t.kk and idem_key = t.k limit 1) i"#,
        &c as _,
        &kk as _,
        &k as _,
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.crm_id, r.idem_key)).collect())
}

/// Ends a one-message handler: stores the outcome under the message's key and commits. A key
/// stored meanwhile by another transaction is a race: rolled back, for the consumer to retry
/// (the retry finds the key and answers a duplicate).
pub async fn finish<P>(
    mut tx: Transaction<'static, Postgres>,
    envelope: &Envelope<P>,
    member_no: &str,
    outcome: Outcome,
) -> Result<Outcome, ApplyError> {
    let mut row = Rows::with_capacity(1);
    row.push(envelope, member_no, &outcome);
    if !row.insert(&mut tx).await? {
        return Err(ApplyError::KeyRace);
    }
    tx.commit().await?;
    Ok(outcome)
}

/// Whether the message's key was applied before (under the lock the caller holds).
pub async fn seen<P>(tx: &mut PgConnection, envelope: &Envelope<P>) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from inbox where crm_id = $1 and key_kind = $2 and idem_key = $3) as "seen!""#,
        envelope.crm_id,
        envelope.kind.key_kind(),
        envelope.idempotency_key,
    )
    .fetch_one(&mut *tx)
    .await
}

/// Adds later deliveries to their keys' first outcome: (crm_id, key kind, key, how many).
/// Sort them by key, the lock order every transaction shares.
pub async fn count_duplicates<'e>(db: impl PgExecutor<'e>, counts: &[(&str, &str, &str, i32)]) -> sqlx::Result<()> {
    if counts.is_empty() {
        return Ok(());
    }
    let (mut c, mut kk, mut k, mut n) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for &(crm, key_kind, key, count) in counts {
        c.push(crm);
        kk.push(key_kind);
        k.push(key);
        n.push(count);
    }
    sqlx::query!(
        "update inbox i set duplicates = i.duplicates + t.n, updated_at = now()
         from unnest($1::text[], $2::text[], $3::text[], $4::int[]) as t(c, kk, k, n)
         where i.crm_id = t.c and i.key_kind = t.kk and i.idem_key = t.k",
        &c as _,
        &kk as _,
        &k as _,
        &n[..],
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Counts one later delivery of an applied key.
pub async fn count_duplicate<P>(db: &PgPool, envelope: &Envelope<P>) -> sqlx::Result<()> {
    let one = (envelope.crm_id.as_str(), envelope.kind.key_kind(), envelope.idempotency_key.as_str(), 1);
    count_duplicates(db, &[one]).await
}

/// Whether the message's key was applied before; if so the duplicate is counted (on another
/// connection) and the caller answers `Duplicate`, dropping (rolling back) its transaction.
pub async fn already_applied<P>(tx: &mut PgConnection, db: &PgPool, envelope: &Envelope<P>) -> sqlx::Result<bool> {
    if seen(tx, envelope).await? {
        count_duplicate(db, envelope).await?;
        return Ok(true);
    }
    Ok(false)
}
