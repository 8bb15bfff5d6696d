//! The Redis pool. Redis only ever holds what PostgreSQL can rebuild: a flush costs speed,
//! never data.

use std::time::Duration;

use deadpool_redis::{Config, PoolConfig, Runtime, Timeouts};

/// Every Redis call is bounded by this; past it the caller falls back to PostgreSQL.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// A pool with time-outs: deadpool has none by default, and a caller could wait for ever.
pub fn redis_pool(url: &str) -> anyhow::Result<deadpool_redis::Pool> {
    let mut config = Config::from_url(url);
    let mut pool = PoolConfig::new(16);
    pool.timeouts = Timeouts { wait: Some(REDIS_TIMEOUT), create: Some(REDIS_TIMEOUT), recycle: Some(REDIS_TIMEOUT) };
    config.pool = Some(pool);
    Ok(config.create_pool(Some(Runtime::Tokio1))?)
}
