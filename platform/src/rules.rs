//! Tenants' earn rules: loaded from PostgreSQL (the truth) and cached in Redis.
//!
//! A cached rule set carries the tenant's `rules_version`. Every write stores the new set with
//! a "set if newer" script, and so does a refill after a miss: a worker that read an old set
//! just before a rule changed can never overwrite the newer one. A flush only costs a reload.

use std::collections::HashMap;

use deadpool_redis::redis;
use schemas::activities::Activity;
use schemas::level_rules::LevelRuleSet;
use schemas::points::{ConsumeRule, ProduceRule};
use serde::{Deserialize, Serialize};
use sqlx::{types::Json, PgPool};

use crate::cache::{Redis, REDIS_TIMEOUT};

/// Everything a worker needs to know of a tenant to apply its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantRules {
    pub crm_id: String,
    pub version: i64,
    pub time_zone: String,
    pub produce: Vec<ProduceRule>,
    #[serde(default)]
    pub consume: Vec<ConsumeRule>,
    /// Hours a transfer waits for its receiver before the points go back.
    #[serde(default = "default_transfer_timeout")]
    pub transfer_timeout_hours: i64,
    /// Hours a presented card waits for its friend before it goes back.
    #[serde(default = "default_transfer_timeout")]
    pub present_timeout_hours: i64,
    /// Seed 001's live, enabled activities (the earn worker judges their windows per event).
    #[serde(default)]
    pub activities: Vec<Activity>,
    /// Seed 004's live point rules per member level: the brand's (`shop_id` none) and shops'.
    #[serde(default)]
    pub level_rules: Vec<LevelRuleSet>,
}

fn default_transfer_timeout() -> i64 {
    24
}

impl TenantRules {
    /// The rules a produce event of `scene` earns under: every rule of the scene when they all
    /// say `mul_rules`, else only the oldest (lowest id) one.
    pub fn produce_rules_for(&self, scene: &str) -> Vec<&ProduceRule> {
        let mut rules: Vec<&ProduceRule> = self.produce.iter().filter(|r| r.action_scene == scene).collect();
        rules.sort_by_key(|r| r.rule_id);
        if rules.len() > 1 && !rules.iter().all(|r| r.mul_rules) {
            rules.truncate(1);
        }
        rules
    }

    /// Seed 004: the level rule of an event at `store`: the shop's, else the brand's.
    pub fn level_rule_for(&self, store: Option<&str>) -> Option<&LevelRuleSet> {
        let shop = store.and_then(|s| self.level_rules.iter().find(|r| r.shop_id.as_deref() == Some(s)));
        shop.or_else(|| self.level_rules.iter().find(|r| r.shop_id.is_none()))
    }

    /// The spend rule of a consume scene (the oldest, if several).
    pub fn consume_rule_for(&self, scene: &str) -> Option<&ConsumeRule> {
        self.consume.iter().filter(|r| r.action_scene == scene).min_by_key(|r| r.rule_id)
    }
}

/// Loads the rule sets of some tenants from PostgreSQL; unknown tenants are absent.
pub async fn load<'e, E: sqlx::PgExecutor<'e>>(
    db: E,
    crm_ids: &[String],
) -> sqlx::Result<HashMap<String, TenantRules>> {
    let rows = sqlx::query!(
        r#"select t.crm_id, t.rules_version, t.time_zone,
                coalesce((select json_agg(json_build_object(
                    'rule_id', r.rule_id, 'rule_name', r.rule_name, 'action_scene', r.action_scene,
                    'points_type', r.points_type, 'expire_term', r.expire_term, 'per_money', r.per_money,
                    'change_points', r.change_points, 'freeze_term', r.freeze_term,
                    'max_points', r.max_points, 'max_times', r.max_times, 'range_days', r.range_days,
                    'mul_rules', r.mul_rules) order by r.rule_id)
                  from produce_rule r where r.crm_id = t.crm_id and r.deleted_at is null), '[]')
                  as "produce!: Json<Vec<ProduceRule>>",
                coalesce((select json_agg(json_build_object(
                    'rule_id', c.rule_id, 'rule_name', c.rule_name, 'action_scene', c.action_scene,
                    'rules_li', c.rules_li) order by c.rule_id)
                  from consume_rule c where c.crm_id = t.crm_id and c.deleted_at is null), '[]')
                  as "consume!: Json<Vec<ConsumeRule>>",
                coalesce((select json_agg(json_build_object(
                    'id', a.id, 'name', a.name, 'shop_sub_id', a.shop_sub_id,
                    'relate_product_type', a.relate_product_type, 'expire_type', a.expire_type,
                    'start_time', a.start_time, 'end_time', a.end_time, 'type', a.type,
                    'amount', a.amount, 'points', a.points,
                    'skus', coalesce((select json_agg(g.product_sku_id::text order by g.id)
                                      from points_activity_goods g where g.crm_id = a.crm_id and g.points_consumption_id = a.id), '[]'))
                    order by a.id)
                  from points_activity a where a.crm_id = t.crm_id and a.enabled and a.removed_at is null), '[]')
                  as "activities!: Json<Vec<Activity>>",
                coalesce((select json_agg(json_build_object(
                    'rule_id', l.rule_id, 'shop_id', l.shop_id, 'point_addition_rule', l.point_addition_rule,
                    'point_deduction_rule', l.point_deduction_rule, 'point_clear_rule', l.point_clear_rule)
                    order by l.rule_id)
                  from level_point_rule l where l.crm_id = t.crm_id and not l.deleted), '[]')
                  as "level_rules!: Json<Vec<LevelRuleSet>>",
                t.transfer_timeout_hours, t.present_timeout_hours
             from tenant t
             where t.crm_id = any($1)"#,
        crm_ids,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let rules = TenantRules {
                crm_id: r.crm_id.clone(),
                version: r.rules_version,
                time_zone: r.time_zone,
                produce: r.produce.0,
                consume: r.consume.0,
                transfer_timeout_hours: r.transfer_timeout_hours.into(),
                present_timeout_hours: r.present_timeout_hours.into(),
                activities: r.activities.0,
                level_rules: r.level_rules.0,
            };
            (r.crm_id, rules)
        })
        .collect())
}

const SET_IF_NEWER: &str = r"
local current = redis.call('GET', KEYS[1])
if current then
  local v = tonumber(string.match(current, '^(%d+):'))
  if v and v >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], 'EX', ARGV[3])
return 1
";

/// The Redis-backed cache of [`TenantRules`].
#[derive(Clone)]
pub struct RuleCache {
    redis: Redis,
    namespace: String,
    /// Bounds how long an entry lives even if nothing changes (belt and braces).
    ttl_secs: u64,
}

impl RuleCache {
    pub fn new(redis: Redis, namespace: &str) -> RuleCache {
        RuleCache { redis, namespace: namespace.to_string(), ttl_secs: 300 }
    }

    /// The key of a tenant's rule set (public for tests and operators); hash-tagged by tenant
    /// (see [`crate::cache`]).
    pub fn key(&self, crm_id: &str) -> String {
        format!("{}:rules:{{{crm_id}}}", self.namespace)
    }

    /// The rule sets of these tenants: from Redis where cached, else from PostgreSQL (and
    /// then cached). Redis trouble is logged and costs only speed.
    pub async fn get(&self, db: &PgPool, crm_ids: &[String]) -> sqlx::Result<HashMap<String, TenantRules>> {
        let cached = match tokio::time::timeout(REDIS_TIMEOUT, self.mget(crm_ids)).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "rule cache read failed; reading PostgreSQL");
                HashMap::new()
            }
            Err(_) => {
                tracing::warn!("rule cache read timed out; reading PostgreSQL");
                HashMap::new()
            }
        };
        let missing: Vec<String> = crm_ids.iter().filter(|c| !cached.contains_key(*c)).cloned().collect();
        metrics::counter!(crate::metric_names::RULE_CACHE_LOOKUPS_TOTAL, "result" => "hit")
            .increment((crm_ids.len() - missing.len()) as u64);
        if missing.is_empty() {
            return Ok(cached);
        }
        metrics::counter!(crate::metric_names::RULE_CACHE_LOOKUPS_TOTAL, "result" => "miss")
            .increment(missing.len() as u64);
        let loaded = load(db, &missing).await?;
        for rules in loaded.values() {
            self.store(rules).await;
        }
        let mut all = cached;
        all.extend(loaded);
        Ok(all)
    }

    async fn mget(&self, crm_ids: &[String]) -> anyhow::Result<HashMap<String, TenantRules>> {
        let mut conn = self.redis.get().await?;
        let keys: Vec<String> = crm_ids.iter().map(|c| self.key(c)).collect();
        let values: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
        let mut out = HashMap::new();
        for value in values.into_iter().flatten() {
            let json = value.split_once(':').map_or("", |(_, j)| j);
            if let Ok(rules) = serde_json::from_str::<TenantRules>(json) {
                out.insert(rules.crm_id.clone(), rules);
            }
        }
        Ok(out)
    }

    /// Caches a rule set unless Redis already holds a newer one. Best effort.
    pub async fn store(&self, rules: &TenantRules) {
        let attempt = async {
            let mut conn = self.redis.get().await?;
            let json = serde_json::to_string(rules)?;
            // EVAL rather than EVALSHA: the script is tiny and a flush would forget the SHA.
            let _: i64 = redis::cmd("EVAL")
                .arg(SET_IF_NEWER)
                .arg(1)
                .arg(self.key(&rules.crm_id))
                .arg(rules.version)
                .arg(json)
                .arg(self.ttl_secs)
                .query_async(&mut conn)
                .await?;
            anyhow::Ok(())
        };
        match tokio::time::timeout(REDIS_TIMEOUT, attempt).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, crm_id = %rules.crm_id, "rule cache write failed"),
            Err(_) => tracing::warn!(crm_id = %rules.crm_id, "rule cache write timed out"),
        }
    }

    /// After a rule write has committed: reload the tenant's set and cache it.
    pub async fn refresh(&self, db: &PgPool, crm_id: &str) -> sqlx::Result<()> {
        if let Some(rules) = load(db, &[crm_id.to_string()]).await?.remove(crm_id) {
            self.store(&rules).await;
        }
        Ok(())
    }
}
