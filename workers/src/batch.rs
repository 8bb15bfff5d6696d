//! What the set-based batch handlers (earn events, card claims, orders) share: sorting a batch
//! into fresh keys, duplicates and poison; recording them with the optimistic inbox insert that
//! detects keys applied concurrently; and counting the duplicates on their first outcome.
//!
//! Optimistic, because most keys are new: the inbox is not read first. The rows are inserted at
//! the end of the transaction, sorted by key (the lock order every batch shares); if some key
//! already existed the insert fails, the handler rolls back, and the batch is computed again
//! with the keys the inbox holds known as duplicates ([`apply_with_known`]).
//!
//! The bulk inserts (the inbox rows, an earn's lots and ledger rows) go by binary COPY
//! ([`platform::copy_rows::CopyRows`]): no statement to parse or plan, no arrays to unpack.
//! The other batch statements take their rows as arrays, one per column, and turn them into rows
//! with `unnest` in the select list (`select unnest($1::text[]) as c, unnest($2::text[]) as m`),
//! not in `from` (`from unnest($1, $2) as t(c, m)`). Both zip the arrays into rows in order;
//! but in `from`, PostgreSQL materialises each array's elements into a tuplestore of its own
//! and reads them back (a Function Scan), where in the select list it steps through the arrays
//! together (a ProjectSet). Rows of ten columns: about 1.5 µs of PostgreSQL's CPU per row; an
//! earn's statements: ~44,000 of its ~310,000 instructions per event (issue 14). Rows that a
//! statement joins against a table (`update … from`, the `lateral` probes) stay in `from`: the
//! join is planned from them.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
};

use platform::rules::TenantRules;
use schemas::Envelope;
use sqlx::{PgConnection, PgPool};

pub use crate::inbox::Key;
use crate::{
    inbox,
    outcome::{ApplyError, Outcome},
};

/// A row the batch inserts under a key was created by another transaction meanwhile (an inbox
/// key; a card claim's counter): nothing was written. The next attempt finds it.
#[derive(Debug)]
pub struct KeyExists;

/// One attempt's answer: the outcomes, or a collision (nothing written).
pub type Attempt = Result<Vec<Outcome>, KeyExists>;

/// Runs `attempt` with the keys of `events` known to exist so far, twice at most: after a
/// collision the inbox is read for the batch's keys, and the second time those are duplicates.
/// A third collision is a race worth a retry from the consumer.
pub async fn apply_with_known<P, F, Fut>(
    db: &PgPool,
    events: &[Envelope<P>],
    mut attempt: F,
) -> Result<Vec<Outcome>, ApplyError>
where
    F: FnMut(HashSet<Key>) -> Fut,
    Fut: Future<Output = Result<Attempt, ApplyError>>,
{
    let mut known = HashSet::new();
    for _ in 0..2 {
        match attempt(known.clone()).await? {
            Ok(outcomes) => return Ok(outcomes),
            Err(KeyExists) => known = inbox::existing(db, events).await?,
        }
    }
    Err(ApplyError::KeyRace)
}

/// A batch sorted: outcomes decided without the database, and the indexes left to apply.
pub struct Sorted {
    pub outcomes: Vec<Option<Outcome>>,
    pub fresh: Vec<usize>,
    /// Per key: its key kind and how many more deliveries this batch holds.
    duplicates: HashMap<Key, (&'static str, i32)>,
}

impl Sorted {
    /// Unknown tenants are poison; a key seen earlier in the batch (a double publish arriving
    /// together) or known to exist is a duplicate; the rest is fresh.
    pub fn new<P>(events: &[Envelope<P>], tenants: &HashMap<String, TenantRules>, known: &HashSet<Key>) -> Sorted {
        let mut sorted = Sorted { outcomes: vec![None; events.len()], fresh: Vec::new(), duplicates: HashMap::new() };
        let mut first_of: HashSet<(&str, &str)> = HashSet::new();
        for (i, ev) in events.iter().enumerate() {
            let key = (ev.crm_id.as_str(), ev.idempotency_key.as_str());
            if !tenants.contains_key(&ev.crm_id) {
                sorted.outcomes[i] = Some(Outcome::Poison { reason: format!("unknown tenant crm_id {}", ev.crm_id) });
            } else if !first_of.insert(key) || known.contains(&(key.0.to_string(), key.1.to_string())) {
                sorted.outcomes[i] = Some(Outcome::Duplicate);
                sorted
                    .duplicates
                    .entry((ev.crm_id.clone(), ev.idempotency_key.clone()))
                    .or_insert((ev.kind.key_kind(), 0))
                    .1 += 1;
            } else {
                sorted.fresh.push(i);
            }
        }
        sorted
    }

    /// Nothing to write: no fresh key and no duplicate to count.
    pub fn is_settled(&self) -> bool {
        self.fresh.is_empty() && self.duplicates.is_empty()
    }

    /// Every outcome, once the fresh ones are computed.
    pub fn finish(self) -> Vec<Outcome> {
        self.outcomes.into_iter().map(|o| o.unwrap_or(Outcome::Duplicate)).collect()
    }

    /// Inserts the fresh outcomes' inbox rows, then counts the duplicates. `Err(KeyExists)`: a
    /// key already existed; the transaction is aborted and the caller must roll back.
    pub async fn record<P>(
        &self,
        tx: &mut PgConnection,
        events: &[Envelope<P>],
        member_of: impl Fn(&P) -> &str,
    ) -> sqlx::Result<Result<(), KeyExists>> {
        let mut fresh = self.fresh.clone();
        fresh.sort_by(|&a, &b| {
            (&events[a].crm_id, &events[a].idempotency_key).cmp(&(&events[b].crm_id, &events[b].idempotency_key))
        });
        let mut rows = inbox::Rows::with_capacity(fresh.len());
        for &i in &fresh {
            let outcome = self.outcomes[i].as_ref().expect("fresh outcomes are computed before recording");
            rows.push(&events[i], member_of(&events[i].payload), outcome);
        }
        if !rows.is_empty() && !rows.insert(tx).await? {
            return Ok(Err(KeyExists));
        }
        // Sorted, like the inserts.
        let mut counts: Vec<_> = self
            .duplicates
            .iter()
            .map(|((crm, key), (key_kind, n))| (crm.as_str(), *key_kind, key.as_str(), *n))
            .collect();
        counts.sort();
        inbox::count_duplicates(&mut *tx, &counts).await?;
        Ok(Ok(()))
    }
}
