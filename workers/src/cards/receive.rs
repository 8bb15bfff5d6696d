//! Members claim cards (seed 003 member/receive), each claim all or nothing across its
//! `card_info`, a batch of claims in one transaction.
//!
//! A flash sale is thousands of claims a second on one card, so claims are applied like earn
//! events: a fixed handful of set-based statements per batch, whatever its size.
//! 1. the claimants' per-card counters that exist are locked, sorted (the lock order every
//!    batch shares: two batches of one member wait, never deadlock); a counter that does not
//!    exist yet is created by the insert of step 5, which fails if another batch created it
//!    meanwhile (the batch then runs again and finds it). That makes `get_limit` exact;
//! 2. the cards are read; every check (card exists, not removed, still valid, `get_limit`
//!    counting the member's earlier claims of the same batch) is made in memory;
//! 3. each card's codes come from the code pool ([`CodePool`]: candidates from Redis, each
//!    locked here with `FOR UPDATE SKIP LOCKED`, so concurrent batches take different codes and
//!    never wait on each other), as many as the batch may need at once;
//! 4. claims are served in delivery order; one that cannot have every card it asks for is
//!    refused as sold out and takes nothing;
//! 5. codes, counters (only those that grew: a refused claim writes none), analytics (one
//!    outbox row) and the inbox rows are written; the codes locked but not issued go back to
//!    the pool after the transaction.
//!
//! No code is issued twice and stock is never oversold whatever the number of workers or
//! whatever happens to Redis: the lock in this transaction is what issues a code.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use platform::rules::TenantRules;
use platform::status::CodeStatus;
use schemas::{
    analytics::{AnalyticsEvent, CardExpired, CardReceiveReversed, CardReceived},
    cards::{ReceivePayload, ReceiveReverse},
    Envelope,
};
use sqlx::PgPool;

use super::pool::CodePool;
use crate::{
    batch, inbox, outbox,
    outcome::{ApplyError, Outcome, Refusal},
};

struct CardRow {
    crm_id: String,
    card_id: String,
    removed: bool,
    get_limit: i32,
    date_type: i16,
    begin_time: Option<DateTime<Utc>>,
    end_time: Option<DateTime<Utc>>,
    start_day_count: Option<i32>,
    expire_day_count: Option<i32>,
}

impl CardRow {
    /// When a code received at `t` can be used: (begin, end), `None` for forever.
    fn validity(&self, t: DateTime<Utc>) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        match self.date_type {
            1 => (self.begin_time, self.end_time),
            2 => {
                let begin = t + Duration::days(self.start_day_count.unwrap_or(0).into());
                (Some(begin), Some(begin + Duration::days(self.expire_day_count.unwrap_or(0).into())))
            }
            _ => (None, None),
        }
    }

    /// Why a claim of `quantity` codes cannot be made at `t` by a member holding `received`,
    /// stock aside.
    fn refusal(&self, quantity: i64, received: i64, t: DateTime<Utc>) -> Option<(Refusal, String)> {
        let card_id = &self.card_id;
        if self.removed {
            return Some((Refusal::CardRemoved, format!("card {card_id} is removed: it takes no new claims")));
        }
        if self.get_limit > 0 && received + quantity > i64::from(self.get_limit) {
            return Some((
                Refusal::LimitReached,
                format!("card {card_id}: get_limit {} per member reached ({received} received)", self.get_limit),
            ));
        }
        if self.validity(t).1.is_some_and(|end| end <= t) {
            return Some((Refusal::OutsideValidity, format!("card {card_id} is no longer valid")));
        }
        None
    }
}

/// (crm_id, card_id).
type CardKey = (String, String);
/// (crm_id, member_no, card_id).
type CounterKey = (String, String, String);

/// Applies a batch of claims; one outcome per claim, in order. `tenants` holds the batch's
/// tenants; a claim of a tenant absent from it is poison.
pub async fn apply_batch(
    db: &PgPool,
    pool: &CodePool,
    tenants: &HashMap<String, TenantRules>,
    claims: &[Envelope<ReceivePayload>],
) -> Result<Vec<Outcome>, ApplyError> {
    batch::apply_with_known(db, claims, |known| async move {
        let mut locked = HashMap::new();
        let result = try_apply(db, pool, tenants, claims, known, &mut locked).await;
        // The transaction has ended, committed or not: what it locked and did not issue is
        // free again.
        for ((crm_id, card_id), codes) in &locked {
            pool.give_back(crm_id, card_id, codes).await;
        }
        result
    })
    .await
}

/// One attempt. `locked` receives, per card, the codes taken from the stock and not issued.
async fn try_apply(
    db: &PgPool,
    pool: &CodePool,
    tenants: &HashMap<String, TenantRules>,
    claims: &[Envelope<ReceivePayload>],
    known: HashSet<batch::Key>,
    locked: &mut HashMap<CardKey, Vec<i64>>,
) -> Result<batch::Attempt, ApplyError> {
    let mut sorted = batch::Sorted::new(claims, tenants, &known);
    if sorted.is_settled() {
        return Ok(Ok(sorted.finish()));
    }
    let fresh = sorted.fresh.clone();
    let mut tx = db.begin().await?;

    // 1. The counters that exist, locked in one sorted order; the others count from 0.
    let mut counters: BTreeMap<CounterKey, i64> = BTreeMap::new();
    for &i in &fresh {
        let c = &claims[i];
        for card_id in c.payload.card_info.keys() {
            counters.insert((c.crm_id.clone(), c.payload.member_no.clone(), card_id.clone()), 0);
        }
    }
    let existing = lock_counters(&mut tx, &mut counters).await?;

    // 2. The cards, and what the batch may ask of each.
    let cards = load_cards(&mut tx, &counters).await?;
    let mut demand: BTreeMap<CardKey, i64> = BTreeMap::new();
    for &i in &fresh {
        let c = &claims[i];
        for (card_id, quantity) in &c.payload.card_info {
            let key = (c.crm_id.clone(), card_id.clone());
            if cards.get(&key).is_some_and(|card| card.refusal(*quantity, 0, c.occurred_at).is_none()) {
                *demand.entry(key).or_default() += quantity;
            }
        }
    }

    // 3. Codes from the pool, card by card in one order.
    for (key, wanted) in demand {
        let codes = pool.take(&mut tx, &key.0, &key.1, wanted).await?;
        locked.insert(key, codes);
    }

    // 4. Serve the claims in delivery order.
    let mut issue = Issue::default();
    for &i in &fresh {
        sorted.outcomes[i] = Some(serve(&claims[i], &cards, &mut counters, locked, &mut issue));
    }

    // 5. Write it all. Until the commit succeeds the codes served are not issued: on any
    //    failure they join the ones to put back.
    let written = write_and_commit(tx, &issue, &counters, &existing, &sorted, claims).await;
    if !matches!(written, Ok(Ok(()))) {
        for (key, codes) in issue.by_card {
            locked.entry(key).or_default().extend(codes);
        }
    }
    // A transaction not committed is rolled back when dropped.
    Ok(written?.map(|()| sorted.finish()))
}

async fn write_and_commit(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    issue: &Issue,
    counters: &BTreeMap<CounterKey, i64>,
    existing: &HashSet<CounterKey>,
    sorted: &batch::Sorted,
    claims: &[Envelope<ReceivePayload>],
) -> sqlx::Result<Result<(), batch::KeyExists>> {
    if let Err(created_meanwhile) = issue.write(&mut tx, counters, existing).await? {
        return Ok(Err(created_meanwhile));
    }
    let recorded = sorted.record(&mut tx, claims, |p| &p.member_no).await?;
    if recorded.is_ok() {
        tx.commit().await?;
    }
    Ok(recorded)
}

/// Locks the counters of `counters` that exist, in its sorted order, and reads their values
/// into it; answers which exist. The others stay at 0 and are not locked: nothing can be locked
/// that does not exist, and creating them here for every claimant would write a row for each
/// claim refused (half of a flash sale). A concurrent batch of the same member and card is
/// caught by the insert of the new counters instead ([`Issue::write`]).
async fn lock_counters(
    tx: &mut sqlx::PgConnection,
    counters: &mut BTreeMap<CounterKey, i64>,
) -> sqlx::Result<HashSet<CounterKey>> {
    let (mut c, mut m, mut k) = (Vec::new(), Vec::new(), Vec::new());
    for (crm, member, card) in counters.keys() {
        c.push(crm.as_str());
        m.push(member.as_str());
        k.push(card.as_str());
    }
    // One primary-key probe per key (the lateral subquery), in the input's order. A join of the
    // batch's keys against card_member was planned once, while the table was small, as a scan
    // of the whole table with a hash join, and kept that plan as the table grew (4 ms a batch by
    // the end of a 20,000-claim sale); a probe per key has no such alternative (`for update`
    // keeps the planner from flattening the subquery into a join: a nested loop over
    // `card_member_pkey` even as a generic plan on an empty table).
    let rows = sqlx::query!(
        r#"select cm.crm_id as "crm_id!", cm.member_no as "member_no!", cm.card_id as "card_id!",
                  cm.received as "received!"
           from unnest($1::text[], $2::text[], $3::text[]) with ordinality as t(c, m, k, i)
           cross join lateral (select crm_id, member_no, card_id, received from card_member
                               where crm_id = t.c and member_no = t.m and card_id = t.k for update) cm
           order by t.i"#,
        &c as _,
        &m as _,
        &k as _,
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut existing = HashSet::with_capacity(rows.len());
    for r in rows {
        let key = (r.crm_id, r.member_no, r.card_id);
        counters.insert(key.clone(), r.received.into());
        existing.insert(key);
    }
    Ok(existing)
}

async fn load_cards(
    tx: &mut sqlx::PgConnection,
    counters: &BTreeMap<CounterKey, i64>,
) -> sqlx::Result<HashMap<CardKey, CardRow>> {
    let wanted: HashSet<(&str, &str)> = counters.keys().map(|(crm, _, card)| (crm.as_str(), card.as_str())).collect();
    let (c, k): (Vec<&str>, Vec<&str>) = wanted.into_iter().unzip();
    let rows = sqlx::query_as!(
        CardRow,
        "select i.crm_id, i.card_id, removed, get_limit, date_type, begin_time, end_time, start_day_count,
                expire_day_count
         from card_info i join unnest($1::text[], $2::text[]) as t(c, k) on i.crm_id = t.c and i.card_id = t.k",
        &c as _,
        &k as _,
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().map(|r| ((r.crm_id.clone(), r.card_id.clone()), r)).collect())
}

/// A code as it is issued.
struct Issued {
    crm_id: String,
    code_id: i64,
    member_no: String,
    received_id: String,
    received_at: DateTime<Utc>,
    valid_begin: Option<DateTime<Utc>>,
    valid_end: Option<DateTime<Utc>>,
    out_str: String,
}

/// What the batch issues.
#[derive(Default)]
struct Issue {
    codes: Vec<Issued>,
    by_card: HashMap<CardKey, Vec<i64>>,
    /// Counters that grew.
    grown: HashSet<CounterKey>,
    events: Vec<AnalyticsEvent>,
}

/// Decides one claim: every check in memory, then its codes from what the batch locked.
fn serve(
    claim: &Envelope<ReceivePayload>,
    cards: &HashMap<CardKey, CardRow>,
    counters: &mut BTreeMap<CounterKey, i64>,
    locked: &mut HashMap<CardKey, Vec<i64>>,
    issue: &mut Issue,
) -> Outcome {
    let (p, t) = (&claim.payload, claim.occurred_at);
    for (card_id, &quantity) in &p.card_info {
        let key = (claim.crm_id.clone(), card_id.clone());
        let Some(card) = cards.get(&key) else {
            return Outcome::refused(Refusal::NotFound, format!("no card {card_id}"));
        };
        let received = counters[&(claim.crm_id.clone(), p.member_no.clone(), card_id.clone())];
        if let Some((code, reason)) = card.refusal(quantity, received, t) {
            return Outcome::Rejected { code, reason };
        }
        let left = locked.get(&key).map_or(0, Vec::len) as i64;
        if left < quantity {
            return Outcome::refused(
                Refusal::SoldOut,
                format!("card {card_id} is sold out ({left} left, {quantity} asked)"),
            );
        }
    }
    let mut total = 0;
    for (card_id, &quantity) in &p.card_info {
        let key = (claim.crm_id.clone(), card_id.clone());
        let (begin, end) = cards[&key].validity(t);
        let stock = locked.get_mut(&key).expect("checked above");
        let codes: Vec<i64> = stock.drain(..quantity as usize).collect();
        issue.codes.extend(codes.iter().map(|&code_id| Issued {
            crm_id: claim.crm_id.clone(),
            code_id,
            member_no: p.member_no.clone(),
            received_id: claim.idempotency_key.clone(),
            received_at: t,
            valid_begin: begin,
            valid_end: end,
            out_str: p.out_str.clone(),
        }));
        issue.by_card.entry(key).or_default().extend(codes);
        let counter = (claim.crm_id.clone(), p.member_no.clone(), card_id.clone());
        *counters.get_mut(&counter).expect("locked above") += quantity;
        issue.grown.insert(counter);
        total += quantity;
        issue.events.push(AnalyticsEvent::CardsReceive(CardReceived {
            event_id: uuid::Uuid::now_v7(),
            crm_id: claim.crm_id.clone(),
            member_no: p.member_no.clone(),
            card_id: card_id.clone(),
            quantity,
            received_id: claim.idempotency_key.clone(),
            channel: p.out_str.clone(),
            occurred_at: t,
            trace: claim.trace.clone(),
        }));
    }
    Outcome::Applied { count: total }
}

impl Issue {
    /// Writes the issued codes, the counters that grew and the analytics. A counter that did not
    /// exist when the batch began is inserted; if another batch created it meanwhile, the insert
    /// fails and nothing is written (`KeyExists`: the batch runs again, and finds it).
    async fn write(
        &self,
        tx: &mut sqlx::PgConnection,
        counters: &BTreeMap<CounterKey, i64>,
        existing: &HashSet<CounterKey>,
    ) -> sqlx::Result<Result<(), batch::KeyExists>> {
        if self.codes.is_empty() {
            return Ok(Ok(()));
        }
        let n = self.codes.len();
        let (mut crm, mut id, mut member, mut rid, mut at, mut begin, mut end, mut out) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for code in &self.codes {
            crm.push(code.crm_id.as_str());
            id.push(code.code_id);
            member.push(code.member_no.as_str());
            rid.push(code.received_id.as_str());
            at.push(code.received_at);
            begin.push(code.valid_begin);
            end.push(code.valid_end);
            out.push(code.out_str.as_str());
        }
        sqlx::query!(
            "update card_code k set status = $8, member_no = t.m, received_id = t.r, received_at = t.a, valid_begin = t.b,
                    valid_end = t.e, out_str = t.o, updated_at = now()
             from unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[],
                         $7::text[], $9::text[]) as t(id, m, r, a, b, e, o, c)
             where k.crm_id = t.c and k.code_id = t.id",
            &id[..],
            &member as _,
            &rid as _,
            &at[..],
            &begin as _,
            &end as _,
            &out as _,
            CodeStatus::Available as _,
            &crm as _,
        )
        .execute(&mut *tx)
        .await?;
        // Sorted (the map's order), so two batches creating the same counters wait on each other
        // in one order.
        let (mut old, mut new) = (Counts::default(), Counts::default());
        for (key, &value) in counters.iter().filter(|(key, _)| self.grown.contains(*key)) {
            if existing.contains(key) { &mut old } else { &mut new }.push(key, value);
        }
        if !old.c.is_empty() {
            // Locked by this batch (`lock_counters`): the insert always meets its row and updates
            // it, found through the primary key (see `lock_counters` for why not a join).
            sqlx::query!(
                "insert into card_member (crm_id, member_no, card_id, received)
                 select unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::int[])
                 on conflict (crm_id, member_no, card_id) do update set received = excluded.received, updated_at = now()",
                &old.c as _,
                &old.m as _,
                &old.k as _,
                &old.n[..],
            )
            .execute(&mut *tx)
            .await?;
        }
        if !new.c.is_empty() {
            // A plain insert: `on conflict` would make each row a speculative insertion, and
            // would hide the concurrent batch whose count this one never saw.
            let inserted = sqlx::query!(
                "insert into card_member (crm_id, member_no, card_id, received)
                 select unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::int[])",
                &new.c as _,
                &new.m as _,
                &new.k as _,
                &new.n[..],
            )
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {}
                Err(e) if platform::db::is_unique_violation(&e, "card_member_pkey") => {
                    return Ok(Err(batch::KeyExists))
                }
                Err(e) => return Err(e),
            }
        }
        outbox::write(&mut *tx, "cards.receive", &self.events).await?;
        Ok(Ok(()))
    }
}

/// Counters to write, as the statements' columns.
#[derive(Default)]
struct Counts<'a> {
    c: Vec<&'a str>,
    m: Vec<&'a str>,
    k: Vec<&'a str>,
    n: Vec<i32>,
}

impl<'a> Counts<'a> {
    fn push(&mut self, key: &'a CounterKey, received: i64) {
        self.c.push(&key.0);
        self.m.push(&key.1);
        self.k.push(&key.2);
        self.n.push(received as i32);
    }
}

/// Undoes a claim: its codes become obsolete (5) whatever their state, the member's receive
/// counts go back down, and as many fresh codes join the stock, so the sale can issue them
/// again.
pub async fn reverse(db: &PgPool, ev: &Envelope<ReceiveReverse>) -> Result<Outcome, ApplyError> {
    let received_id = &ev.payload.received_id;
    let t = ev.occurred_at;
    let held: Vec<(String, String)> = sqlx::query!(
        r#"select distinct member_no as "member_no!", card_id from card_code
           where crm_id = $1 and received_id = $2 order by card_id"#,
        ev.crm_id,
        received_id,
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| (r.member_no, r.card_id))
    .collect();
    let mut tx = db.begin().await?;
    for (member, card) in &held {
        super::lock_counter(&mut tx, &ev.crm_id, member, card).await?;
    }
    if inbox::already_applied(&mut tx, db, ev).await? {
        return Ok(Outcome::Duplicate);
    }
    let undone: Vec<(String, i64)> = sqlx::query!(
        r#"with gone as (update card_code set status = $4, obsoleted_at = $3, updated_at = now()
                       where crm_id = $1 and received_id = $2 and status <> $4 returning card_id)
         select card_id as "card_id!", count(*) as "codes!" from gone group by card_id order by card_id"#,
        ev.crm_id,
        received_id,
        t,
        CodeStatus::Obsolete as _,
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| (r.card_id, r.codes))
    .collect();
    let member = held.first().map_or(String::new(), |(m, _)| m.clone());
    let outcome = if undone.is_empty() {
        Outcome::refused(Refusal::AlreadyReversed, format!("claim {received_id} has no codes to reverse"))
    } else {
        let mut total = 0;
        for (card_id, n) in &undone {
            sqlx::query!(
                "update card_member set received = greatest(received - $4, 0), updated_at = now()
                 where crm_id = $1 and member_no = $2 and card_id = $3",
                ev.crm_id,
                member,
                card_id,
                *n as i32,
            )
            .execute(&mut *tx)
            .await?;
            let mut fresh = 0;
            while fresh < *n {
                let codes: Vec<String> = {
                    let mut rng = rand::rng();
                    (0..(*n - fresh)).map(|_| super::generate::new_code(&mut rng)).collect()
                };
                fresh += sqlx::query!(
                    "insert into card_code (crm_id, card_id, card_code, generate_id) select $1, $2, unnest($4::text[]), $3
                     on conflict do nothing",
                    ev.crm_id,
                    card_id,
                    format!("reverse:{received_id}"),
                    &codes[..],
                )
                .execute(&mut *tx)
                .await?
                .rows_affected() as i64;
            }
            total += n;
        }
        let event = AnalyticsEvent::CardsReceiveReverse(CardReceiveReversed {
            event_id: uuid::Uuid::now_v7(),
            crm_id: ev.crm_id.clone(),
            member_no: member.clone(),
            received_id: received_id.clone(),
            codes: total,
            occurred_at: t,
            trace: ev.trace.clone(),
        });
        outbox::write(&mut tx, "cards.receive_reverse", &[event]).await?;
        Outcome::Applied { count: total }
    };
    inbox::finish(tx, ev, &member, outcome).await
}

/// Codes past the end of their validity become expired (4), each recorded once in
/// `card_code_expired`; row locks with `SKIP LOCKED` let N workers share the work. Returns how
/// many expired.
pub async fn expire_due(db: &PgPool, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let mut tx = db.begin().await?;
    // `status = 1` stays a literal: it is the predicate of the partial index `card_code_due`.
    let gone = sqlx::query!(
        r#"with due as (select crm_id, code_id from card_code where status = 1 /* CodeStatus::Available */ and valid_end < $1
                      order by valid_end limit 1000 for update skip locked),
              gone as (update card_code k set status = $2, updated_at = now() from due
                       where k.crm_id = due.crm_id and k.code_id = due.code_id
                       returning k.code_id, k.crm_id, k.card_id, k.card_code, k.member_no, k.valid_end),
              kept as (insert into card_code_expired (code_id, crm_id, card_id, card_code, member_no, valid_end, expired_at)
                       select code_id, crm_id, card_id, card_code, member_no, valid_end, $1 from gone)
         select crm_id as "crm_id!", card_id as "card_id!", card_code as "card_code!", member_no as "member_no?" from gone"#,
        now,
        CodeStatus::Expired as _,
    )
    .fetch_all(&mut *tx)
    .await?;
    if !gone.is_empty() {
        let events: Vec<AnalyticsEvent> = gone
            .iter()
            .map(|k| {
                AnalyticsEvent::CardsExpire(CardExpired {
                    event_id: uuid::Uuid::now_v7(),
                    crm_id: k.crm_id.clone(),
                    member_no: k.member_no.clone(),
                    card_id: k.card_id.clone(),
                    card_code: k.card_code.clone(),
                    occurred_at: now,
                    trace: None,
                })
            })
            .collect();
        outbox::write(&mut tx, "cards.expire", &events).await?;
    }
    tx.commit().await?;
    Ok(gone.len() as u64)
}
