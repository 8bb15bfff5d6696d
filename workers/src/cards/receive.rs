//! A member claims cards (seed 003 member/receive), all or nothing across `card_info`.
//!
//! The claim is made in PostgreSQL, in the same transaction as everything else: the member's
//! per-card counters are locked first (sorted by card; that serialises one member's claims and
//! makes `get_limit` exact), then each card's codes come from the code pool ([`CodePool`]:
//! candidates from Redis, each locked here with `FOR UPDATE SKIP LOCKED`, so concurrent claims
//! take different codes and never wait on each other) and are written to the member with their
//! validity. No code is issued twice and stock is never oversold whatever the number of workers
//! or whatever happens to Redis: the lock in this transaction is what issues a code.

use chrono::{DateTime, Duration, Utc};
use platform::rules::TenantRules;
use schemas::{
    cards::{ReceivePayload, ReceiveReverse},
    Envelope,
};
use serde_json::json;
use sqlx::PgPool;

use super::pool::CodePool;
use crate::points::{
    earn::{ApplyError, Outcome},
    ledger,
};

/// The codes a claim locked, per card, to put back in the pool if it does not keep them.
type Taken = Vec<(String, Vec<i64>)>;

#[derive(sqlx::FromRow)]
struct CardRow {
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
}

pub async fn apply(
    db: &PgPool,
    pool: &CodePool,
    _tenant: &TenantRules,
    ev: &Envelope<ReceivePayload>,
) -> Result<Outcome, ApplyError> {
    let mut taken = Taken::new();
    let result = apply_in_tx(db, pool, ev, &mut taken).await;
    if !matches!(result, Ok(Outcome::Applied { .. })) {
        // Refused part-way (another card sold out, a limit) or failed: the transaction has
        // ended, so the codes it locked are free again.
        for (card_id, codes) in &taken {
            pool.give_back(&ev.crm_id, card_id, codes).await;
        }
    }
    result
}

async fn apply_in_tx(
    db: &PgPool,
    pool: &CodePool,
    ev: &Envelope<ReceivePayload>,
    taken: &mut Taken,
) -> Result<Outcome, ApplyError> {
    let p = &ev.payload;
    let t = ev.occurred_at;
    let mut tx = db.begin().await?;
    // card_info is a BTreeMap: its keys come sorted, so every claim locks in one order.
    let mut held = Vec::new();
    for card_id in p.card_info.keys() {
        sqlx::query("insert into card_member (crm_id, member_no, card_id) values ($1, $2, $3) on conflict do nothing")
            .bind(&ev.crm_id)
            .bind(&p.member_no)
            .bind(card_id)
            .execute(&mut *tx)
            .await?;
        let received: i32 = sqlx::query_scalar(
            "select received from card_member where crm_id = $1 and member_no = $2 and card_id = $3 for update",
        )
        .bind(&ev.crm_id)
        .bind(&p.member_no)
        .bind(card_id)
        .fetch_one(&mut *tx)
        .await?;
        held.push(received);
    }
    if ledger::already_applied(&mut tx, db, ev).await? {
        return Ok(Outcome::Duplicate);
    }
    let outcome = claim(&mut tx, pool, ev, &held, t, taken).await?;
    if !ledger::insert_inbox(&mut tx, ev, &p.member_no, &outcome).await? {
        return Err(ApplyError::KeyRace);
    }
    tx.commit().await?;
    Ok(outcome)
}

/// Checks every card, then takes the codes; a refusal writes nothing but the outcome.
async fn claim(
    tx: &mut sqlx::PgConnection,
    pool: &CodePool,
    ev: &Envelope<ReceivePayload>,
    held: &[i32],
    t: DateTime<Utc>,
    taken: &mut Taken,
) -> Result<Outcome, ApplyError> {
    let p = &ev.payload;
    let mut plan = Vec::new();
    for ((card_id, &quantity), &received) in p.card_info.iter().zip(held) {
        let card: Option<CardRow> = sqlx::query_as(
            "select removed, get_limit, date_type, begin_time, end_time, start_day_count, expire_day_count
             from card_info where crm_id = $1 and card_id = $2",
        )
        .bind(&ev.crm_id)
        .bind(card_id)
        .fetch_optional(&mut *tx)
        .await?;
        let refuse = |reason: String| Ok(Outcome::Rejected { reason });
        let Some(card) = card else { return refuse(format!("no card {card_id}")) };
        if card.removed {
            return refuse(format!("card {card_id} is removed: it takes no new claims"));
        }
        if card.get_limit > 0 && i64::from(received) + quantity > i64::from(card.get_limit) {
            return refuse(format!(
                "card {card_id}: get_limit {} per member reached ({received} received)",
                card.get_limit
            ));
        }
        let (begin, end) = card.validity(t);
        if end.is_some_and(|e| e <= t) {
            return refuse(format!("card {card_id} is no longer valid"));
        }
        let codes = pool.take(tx, &ev.crm_id, card_id, quantity).await?;
        taken.push((card_id.clone(), codes.clone()));
        if (codes.len() as i64) < quantity {
            return refuse(format!("card {card_id} is sold out ({} left, {quantity} asked)", codes.len()));
        }
        plan.push((card_id, quantity, codes, begin, end));
    }
    let mut events = Vec::new();
    let mut total = 0;
    for (card_id, quantity, codes, begin, end) in plan {
        sqlx::query(
            "update card_code set status = 1, member_no = $2, received_id = $3, received_at = $4, valid_begin = $5,
                    valid_end = $6, out_str = $7, updated_at = now()
             where code_id = any($1)",
        )
        .bind(&codes)
        .bind(&p.member_no)
        .bind(&ev.idempotency_key)
        .bind(t)
        .bind(begin)
        .bind(end)
        .bind(&p.out_str)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "update card_member set received = received + $4, updated_at = now() where crm_id = $1 and member_no = $2 and card_id = $3",
        )
        .bind(&ev.crm_id)
        .bind(&p.member_no)
        .bind(card_id)
        .bind(quantity as i32)
        .execute(&mut *tx)
        .await?;
        total += quantity;
        events.push(json!({
            "event_id": uuid::Uuid::now_v7(), "kind": "cards.receive", "crm_id": ev.crm_id, "member_no": p.member_no,
            "card_id": card_id, "quantity": quantity, "received_id": ev.idempotency_key, "channel": p.out_str,
            "occurred_at": t,
        }));
    }
    ledger::outbox_events(&mut *tx, "cards.receive", &events).await?;
    Ok(Outcome::Applied { points: total })
}

/// Undoes a claim: its codes become obsolete (5) whatever their state, the member's receive
/// counts go back down, and as many fresh codes join the stock, so the sale can issue them
/// again.
pub async fn reverse(db: &PgPool, ev: &Envelope<ReceiveReverse>) -> Result<Outcome, ApplyError> {
    let received_id = &ev.payload.received_id;
    let t = ev.occurred_at;
    let held: Vec<(String, String)> = sqlx::query_as(
        "select distinct member_no, card_id from card_code where crm_id = $1 and received_id = $2 order by card_id",
    )
    .bind(&ev.crm_id)
    .bind(received_id)
    .fetch_all(db)
    .await?;
    let mut tx = db.begin().await?;
    for (member, card) in &held {
        super::redeem::lock_counter(&mut tx, &ev.crm_id, member, card).await?;
    }
    if ledger::already_applied(&mut tx, db, ev).await? {
        return Ok(Outcome::Duplicate);
    }
    let undone: Vec<(String, i64)> = sqlx::query_as(
        "with gone as (update card_code set status = 5, obsoleted_at = $3, updated_at = now()
                       where crm_id = $1 and received_id = $2 and status <> 5 returning card_id)
         select card_id, count(*) from gone group by card_id order by card_id",
    )
    .bind(&ev.crm_id)
    .bind(received_id)
    .bind(t)
    .fetch_all(&mut *tx)
    .await?;
    let member = held.first().map_or(String::new(), |(m, _)| m.clone());
    let outcome = if undone.is_empty() {
        Outcome::Rejected { reason: format!("claim {received_id} has no codes to reverse") }
    } else {
        let mut total = 0;
        for (card_id, n) in &undone {
            sqlx::query("update card_member set received = greatest(received - $4, 0), updated_at = now() where crm_id = $1 and member_no = $2 and card_id = $3")
                .bind(&ev.crm_id)
                .bind(&member)
                .bind(card_id)
                .bind(*n as i32)
                .execute(&mut *tx)
                .await?;
            let mut fresh = 0;
            while fresh < *n {
                let codes: Vec<String> = {
                    let mut rng = rand::rng();
                    (0..(*n - fresh)).map(|_| super::generate::new_code(&mut rng)).collect()
                };
                fresh += sqlx::query(
                    "insert into card_code (crm_id, card_id, card_code, generate_id) select $1, $2, c, $3 from unnest($4::text[]) as t(c)
                     on conflict do nothing",
                )
                .bind(&ev.crm_id)
                .bind(card_id)
                .bind(format!("reverse:{received_id}"))
                .bind(&codes)
                .execute(&mut *tx)
                .await?
                .rows_affected() as i64;
            }
            total += n;
        }
        let event = json!({"event_id": uuid::Uuid::now_v7(), "kind": "cards.receive_reverse", "crm_id": ev.crm_id,
            "member_no": member, "received_id": received_id, "codes": total, "occurred_at": t});
        ledger::outbox_events(&mut tx, "cards.receive_reverse", &[event]).await?;
        Outcome::Applied { points: total }
    };
    if !ledger::insert_inbox(&mut tx, ev, &member, &outcome).await? {
        return Err(ApplyError::KeyRace);
    }
    tx.commit().await?;
    Ok(outcome)
}

/// Codes past the end of their validity become expired (4), each recorded once in
/// `card_code_expired`; row locks with `SKIP LOCKED` let N workers share the work. Returns how
/// many expired.
pub async fn expire_due(db: &PgPool, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let mut tx = db.begin().await?;
    let gone: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "with due as (select code_id from card_code where status = 1 and valid_end < $1
                      order by valid_end limit 1000 for update skip locked),
              gone as (update card_code k set status = 4, updated_at = now() from due where k.code_id = due.code_id
                       returning k.code_id, k.crm_id, k.card_id, k.card_code, k.member_no, k.valid_end),
              kept as (insert into card_code_expired (code_id, crm_id, card_id, card_code, member_no, valid_end, expired_at)
                       select code_id, crm_id, card_id, card_code, member_no, valid_end, $1 from gone)
         select crm_id, card_id, card_code, member_no from gone",
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    if !gone.is_empty() {
        let events: Vec<serde_json::Value> = gone
            .iter()
            .map(|(crm_id, card_id, code, member)| {
                json!({"event_id": uuid::Uuid::now_v7(), "kind": "cards.expire", "crm_id": crm_id, "member_no": member,
                       "card_id": card_id, "card_code": code, "occurred_at": now})
            })
            .collect();
        ledger::outbox_events(&mut tx, "cards.expire", &events).await?;
    }
    tx.commit().await?;
    Ok(gone.len() as u64)
}
