//! The code pool: each card's codes in stock wait in a Redis list (the seed's design), loaded
//! from PostgreSQL, so a flash sale hands codes out without scanning the stock index for every
//! claim.
//!
//! PostgreSQL stays the truth. A code popped from the list is only a candidate: the claim locks
//! it in its own transaction with `status = 0 … FOR UPDATE SKIP LOCKED`, so a code already
//! issued, or held by a claim still in flight, is dropped instead of issued twice. Whatever the
//! list cannot supply (flushed, Redis down, codes popped by a worker that then died) the claim
//! takes straight from the stock index; the list itself is reloaded whenever it runs empty, which
//! brings back every code still in stock. So a flush or a restart costs speed, never a code.
//!
//! The two reads of the stock in code order say `crm_id between $1 and $1` rather than
//! `crm_id = $1` (the same for `card_id`) and order by all three columns of the stock index
//! `card_code_stock (crm_id, card_id, code_id) where status = 0`. With equalities the planner
//! drops the constant columns from the order, leaving `order by code_id`, which the primary key
//! provides too; and the statistics, from the analyze that ends a stock generation, say every
//! code is in stock, so walking the primary key looks as cheap as the stock index. In a sale it
//! is not: the walk reads and filters out every code already issued (8 ms a read with 6,000 of
//! 10,000 codes issued). Ranges are not equalities: the order keeps its three columns, only the
//! stock index provides it, and the same read takes 0.2–0.5 ms whatever the statistics say.

use std::{future::Future, time::Duration};

use deadpool_redis::redis;
use platform::{
    cache::{Redis, REDIS_TIMEOUT},
    metric_names::{CARD_POOL_CODES_TOTAL, CARD_POOL_RELOADS_TOTAL, CARD_POOL_STALE_TOTAL},
};

/// Codes loaded into a card's list at once.
const REFILL: i64 = 2_000;
/// A list nobody reloads (a removed or sold-out card) goes away on its own.
const LIST_TTL_SECS: i64 = 24 * 3600;
/// Bounds one loader's hold on a card's list; a worker that dies while loading frees it then.
const LOADING_LOCK: Duration = Duration::from_secs(5);

/// 2 when the list already holds codes, 1 when this caller now holds the loading lock, 0 when
/// another loader does. One script, so the check and the lock cannot interleave with a load.
const CLAIM_LOADING: &str = r"
if redis.call('LLEN', KEYS[1]) > 0 then return 2 end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return 1 end
return 0
";

#[derive(Clone)]
pub struct CodePool {
    redis: Redis,
    namespace: String,
}

impl CodePool {
    pub fn new(redis: Redis, namespace: &str) -> CodePool {
        CodePool { redis, namespace: namespace.to_string() }
    }

    /// The list of one card's codes in stock (public for tests and operators). Hash-tagged by
    /// card: on a Redis Cluster the list and its loader lock (`…:loading`), which one script
    /// reads together, share a slot, and the cards of a sale spread over the nodes.
    pub fn key(&self, crm_id: &str, card_id: &str) -> String {
        format!("{}:codes:{{{crm_id}:{card_id}}}", self.namespace)
    }

    /// Takes `quantity` codes of a card for the claim running in `tx`: candidates from the list
    /// (reloaded once if empty), each locked in PostgreSQL, then the stock index for the rest.
    /// Returns fewer than `quantity` only when the stock has no more free codes. The codes stay
    /// locked until `tx` ends; if the claim does not keep them, hand them to [`give_back`].
    ///
    /// [`give_back`]: CodePool::give_back
    pub async fn take(
        &self,
        tx: &mut sqlx::PgConnection,
        crm_id: &str,
        card_id: &str,
        quantity: i64,
    ) -> sqlx::Result<Vec<i64>> {
        let key = self.key(crm_id, card_id);
        let mut taken: Vec<i64> = Vec::new();
        let mut reloaded = false;
        // Each round either takes a code, drops a stale candidate for good, or reloads once:
        // the bound only guards against a list full of stale entries.
        for _ in 0..8 {
            let want = quantity - taken.len() as i64;
            if want <= 0 {
                break;
            }
            let candidates = self.pop(&key, want).await;
            if candidates.is_empty() {
                if reloaded {
                    break;
                }
                reloaded = true;
                match self.reload(tx, &key, crm_id, card_id).await? {
                    Reload::Loaded => continue,
                    // Nothing at all in stock: no need to ask the stock index again.
                    Reload::Empty => return Ok(taken),
                    Reload::Unavailable => break,
                }
            }
            // `SKIP LOCKED` does not skip rows this transaction holds: a code listed twice must
            // not be taken twice. `status = 0` stays a literal in the three reads of the stock:
            // it is the predicate of the partial index `card_code_stock`.
            let locked: Vec<i64> = sqlx::query_scalar!(
                "select code_id from card_code
                 where crm_id = $1 and card_id = $2 and code_id = any($3) and status = 0 /* CodeStatus::InStock */
                 and code_id <> all($4) for update skip locked",
                crm_id,
                card_id,
                &candidates[..],
                &taken[..],
            )
            .fetch_all(&mut *tx)
            .await?;
            metrics::counter!(CARD_POOL_CODES_TOTAL, "source" => "redis").increment(locked.len() as u64);
            hits::record(locked.len() as u64, 0);
            metrics::counter!(CARD_POOL_STALE_TOTAL).increment((candidates.len() - locked.len()) as u64);
            taken.extend(locked);
        }
        let want = quantity - taken.len() as i64;
        if want > 0 {
            // The ranges: see the module's doc.
            let more: Vec<i64> = sqlx::query_scalar!(
                "select code_id from card_code
                 where crm_id between $1 and $1 and card_id between $2 and $2 and status = 0 /* CodeStatus::InStock */
                   and code_id <> all($3)
                 order by crm_id, card_id, code_id limit $4 for update skip locked",
                crm_id,
                card_id,
                &taken[..],
                want,
            )
            .fetch_all(&mut *tx)
            .await?;
            metrics::counter!(CARD_POOL_CODES_TOTAL, "source" => "postgres").increment(more.len() as u64);
            hits::record(0, more.len() as u64);
            taken.extend(more);
        }
        Ok(taken)
    }

    /// Puts back codes a claim locked but did not keep (refused, or its transaction failed).
    /// Call it after the transaction has ended, or another claim would skip them as locked.
    /// Best effort: a code not put back is found again by the next reload.
    pub async fn give_back(&self, crm_id: &str, card_id: &str, codes: &[i64]) {
        if codes.is_empty() {
            return;
        }
        let key = self.key(crm_id, card_id);
        self.redis_call("give back", async {
            let mut conn = self.redis.get().await?;
            let _: i64 = redis::cmd("LPUSH").arg(&key).arg(codes).query_async(&mut conn).await?;
            anyhow::Ok(())
        })
        .await;
    }

    /// Up to `n` candidates from the list; none when it is empty or Redis is unavailable.
    async fn pop(&self, key: &str, n: i64) -> Vec<i64> {
        self.redis_call("pop", async {
            let mut conn = self.redis.get().await?;
            let codes: Option<Vec<i64>> = redis::cmd("LPOP").arg(key).arg(n).query_async(&mut conn).await?;
            anyhow::Ok(codes.unwrap_or_default())
        })
        .await
        .unwrap_or_default()
    }

    /// Loads the next codes in stock into an empty list. One loader per card at a time; a claim
    /// that finds another one loading takes from the stock index meanwhile.
    async fn reload(
        &self,
        tx: &mut sqlx::PgConnection,
        key: &str,
        crm_id: &str,
        card_id: &str,
    ) -> sqlx::Result<Reload> {
        let lock = format!("{key}:loading");
        let state = self
            .redis_call("reload lock", async {
                let mut conn = self.redis.get().await?;
                let state: i64 = redis::cmd("EVAL")
                    .arg(CLAIM_LOADING)
                    .arg(2)
                    .arg(key)
                    .arg(&lock)
                    .arg(LOADING_LOCK.as_millis() as u64)
                    .query_async(&mut conn)
                    .await?;
                anyhow::Ok(state)
            })
            .await;
        match state {
            Some(1) => {}
            // Another loader filled the list between our empty pop and now.
            Some(2) => return Ok(Reload::Loaded),
            _ => return Ok(Reload::Unavailable),
        }
        // Plain read, no lock: codes that claims in flight hold come along and are dropped as
        // stale when popped, or issued if their claim gives them back. The ranges: see the
        // module's doc.
        let codes: Vec<i64> = sqlx::query_scalar!(
            "select code_id from card_code
             where crm_id between $1 and $1 and card_id between $2 and $2 and status = 0 /* CodeStatus::InStock */
             order by crm_id, card_id, code_id limit $3",
            crm_id,
            card_id,
            REFILL,
        )
        .fetch_all(&mut *tx)
        .await?;
        let loaded = self
            .redis_call("reload", async {
                let mut conn = self.redis.get().await?;
                let mut pipe = redis::pipe();
                if !codes.is_empty() {
                    pipe.cmd("RPUSH").arg(key).arg(&codes).ignore();
                    pipe.cmd("EXPIRE").arg(key).arg(LIST_TTL_SECS).ignore();
                }
                pipe.cmd("DEL").arg(&lock).ignore();
                let () = pipe.query_async(&mut conn).await?;
                anyhow::Ok(())
            })
            .await;
        metrics::counter!(CARD_POOL_RELOADS_TOTAL).increment(1);
        Ok(match (loaded, codes.is_empty()) {
            (_, true) => Reload::Empty,
            (Some(()), false) => Reload::Loaded,
            (None, false) => Reload::Unavailable,
        })
    }

    /// Runs a Redis call within [`REDIS_TIMEOUT`]; trouble is logged and answered with `None`,
    /// and the caller falls back to PostgreSQL.
    async fn redis_call<T>(&self, what: &str, call: impl Future<Output = anyhow::Result<T>>) -> Option<T> {
        match tokio::time::timeout(REDIS_TIMEOUT, call).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, what, "code pool: Redis call failed; using PostgreSQL");
                None
            }
            Err(_) => {
                tracing::warn!(what, "code pool: Redis call timed out; using PostgreSQL");
                None
            }
        }
    }
}

enum Reload {
    Loaded,
    /// The card has no code in stock.
    Empty,
    /// Redis is unreachable, or another worker is loading.
    Unavailable,
}

/// The process's share of codes served from Redis, as the `card_pool_hit_ratio` gauge.
pub mod hits {
    use std::sync::atomic::{AtomicU64, Ordering};

    static FROM_REDIS: AtomicU64 = AtomicU64::new(0);
    static FROM_POSTGRES: AtomicU64 = AtomicU64::new(0);

    /// Counts codes taken from Redis and from PostgreSQL, and sets the gauge; answers the ratio.
    pub fn record(redis: u64, postgres: u64) -> f64 {
        let r = FROM_REDIS.fetch_add(redis, Ordering::Relaxed) + redis;
        let p = FROM_POSTGRES.fetch_add(postgres, Ordering::Relaxed) + postgres;
        let ratio = if r + p == 0 { 0.0 } else { r as f64 / (r + p) as f64 };
        metrics::gauge!(platform::metric_names::CARD_POOL_HIT_RATIO).set(ratio);
        ratio
    }

    #[cfg(test)]
    mod tests {
        /// The only caller in this crate's unit tests: the counts start at zero.
        #[test]
        fn the_ratio_is_the_share_served_from_redis() {
            assert_eq!(super::record(0, 0), 0.0);
            assert_eq!(super::record(3, 1), 0.75);
            assert_eq!(super::record(0, 4), 3.0 / 8.0);
        }
    }
}
