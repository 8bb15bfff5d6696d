//! What every handler shares.

use std::sync::Arc;

use platform::{
    broker::{Publisher, Topology},
    rules::RuleCache,
    Settings,
};
use sqlx::PgPool;

use crate::{auth::KeyCache, rate_limit::Limiter};

/// Cloned by every middleware and handler of every request: one reference count, not the
/// settings, topology and cache names it holds (a clone per layer used to be allocations).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub settings: Arc<Settings>,
    /// The database of this state's shard: the tenants' data.
    pub db: PgPool,
    /// The directory (the `default` shard's database): tenants, API keys, rate limits.
    pub directory: PgPool,
    /// The other shards' states, in the `default` shard's state (empty in theirs): the api hands
    /// a request to the state of its tenant's shard (`crate::shards`).
    pub shards: Vec<AppState>,
    pub redis: platform::cache::Redis,
    pub rules: RuleCache,
    pub topology: Topology,
    pub publisher: Arc<Publisher>,
    pub keys: Arc<KeyCache>,
    /// The tenants' token buckets of this instance.
    pub limiter: Arc<Limiter>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Builds the state (and starts listening for key revocations: call it inside the tokio
    /// runtime); the broker connection is opened lazily, so the API starts (and
    /// answers 503 on ingress, not-ready on `/readyz`) while RabbitMQ is down.
    pub fn new(settings: Settings, db: PgPool, redis: platform::cache::Redis) -> AppState {
        AppState::with_shards(settings, db, redis, Vec::new())
    }

    /// The state of the `default` shard (`db`, also the directory) with the other shards'
    /// databases (`DATABASE_SHARDS`, in `settings.shards` order after `default`).
    pub fn with_shards(
        settings: Settings,
        db: PgPool,
        redis: platform::cache::Redis,
        shard_dbs: Vec<PgPool>,
    ) -> AppState {
        let keys = Arc::new(KeyCache::default());
        tokio::spawn(crate::auth::listen_for_revocations(
            Arc::downgrade(&keys),
            settings.database_url.clone(),
            db.clone(),
        ));
        let limiter = Arc::new(Limiter::default());
        let shards = settings
            .every_shard()
            .skip(1)
            .zip(shard_dbs)
            .map(|(shard, shard_db)| {
                AppState::shard(shard, shard_db, db.clone(), redis.clone(), keys.clone(), limiter.clone(), Vec::new())
            })
            .collect();
        AppState::shard(settings, db.clone(), db, redis, keys, limiter, shards)
    }

    fn shard(
        settings: Settings,
        db: PgPool,
        directory: PgPool,
        redis: platform::cache::Redis,
        keys: Arc<KeyCache>,
        limiter: Arc<Limiter>,
        shards: Vec<AppState>,
    ) -> AppState {
        let topology = Topology::new(&settings.namespace, settings.retry_delays.clone());
        let publisher = Arc::new(Publisher::new(&settings.amqp_url, "loyalty-api-publisher", topology.clone()));
        let rules = RuleCache::new(redis.clone(), &settings.namespace);
        AppState(Arc::new(Shared {
            settings: Arc::new(settings),
            db,
            directory,
            shards,
            redis,
            rules,
            topology,
            publisher,
            keys,
            limiter,
        }))
    }

    /// Connects the databases (creating and migrating each) and Redis from settings.
    pub async fn from_settings(settings: Settings) -> anyhow::Result<AppState> {
        let db = platform::db::connect_and_migrate(&settings).await?;
        let shard_dbs = platform::db::connect_shards(&settings).await?;
        let redis = platform::cache::Redis::from_settings(&settings)?;
        Ok(AppState::with_shards(settings, db, redis, shard_dbs))
    }

    /// The state of `shard`: this one or one of its shards'.
    pub fn of_shard(&self, shard: &str) -> Option<&AppState> {
        if self.settings.shard == shard {
            return Some(self);
        }
        self.shards.iter().find(|s| s.settings.shard == shard)
    }
}
