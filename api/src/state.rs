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
    pub db: PgPool,
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
        let topology = Topology::new(&settings.namespace, settings.retry_delays.clone());
        let publisher = Arc::new(Publisher::new(&settings.amqp_url, "loyalty-api-publisher", topology.clone()));
        let rules = RuleCache::new(redis.clone(), &settings.namespace);
        let keys = Arc::new(KeyCache::default());
        tokio::spawn(crate::auth::listen_for_revocations(
            Arc::downgrade(&keys),
            settings.database_url.clone(),
            db.clone(),
        ));
        AppState(Arc::new(Shared {
            settings: Arc::new(settings),
            db,
            redis,
            rules,
            topology,
            publisher,
            keys,
            limiter: Arc::new(Limiter::default()),
        }))
    }

    /// Connects the database (creating and migrating it) and Redis from settings.
    pub async fn from_settings(settings: Settings) -> anyhow::Result<AppState> {
        let db = platform::db::connect_and_migrate(&settings).await?;
        let redis = platform::cache::Redis::from_settings(&settings)?;
        Ok(AppState::new(settings, db, redis))
    }
}
