//! What every worker task shares.

use std::sync::Arc;

use platform::{
    broker::{Publisher, Topology},
    rules::RuleCache,
    Settings,
};
use sqlx::PgPool;

use crate::{cards::pool::CodePool, Failpoints};

pub struct Deps {
    pub settings: Settings,
    pub db: PgPool,
    pub rules: RuleCache,
    /// Card codes in stock, handed out from Redis lists.
    pub codes: CodePool,
    pub topology: Topology,
    /// Its own connection: retries, parking and the relay publish here, never on a consuming
    /// connection (flow control on a publishing connection would stall the consumers' acks).
    pub publisher: Arc<Publisher>,
    pub failpoints: Arc<Failpoints>,
}

impl Deps {
    pub fn new(settings: Settings, db: PgPool, redis: platform::cache::Redis, failpoints: Arc<Failpoints>) -> Deps {
        let topology = Topology::new(&settings.namespace, settings.retry_delays.clone());
        let publisher = Arc::new(Publisher::new(&settings.amqp_url, "loyalty-worker-publisher", topology.clone()));
        let rules = RuleCache::new(redis.clone(), &settings.namespace);
        let codes = CodePool::new(redis, &settings.namespace);
        Deps { settings, db, rules, codes, topology, publisher, failpoints }
    }
}
