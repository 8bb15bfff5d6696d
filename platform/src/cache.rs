//! The Redis pool. Redis only ever holds what PostgreSQL can rebuild: a flush costs speed,
//! never data.

use std::{path::Path, time::Duration};

use anyhow::Context;
use deadpool_redis::{
    redis::{self, IntoConnectionInfo},
    Manager, Pool, PoolConfig, Runtime, Timeouts,
};

/// Every Redis call is bounded by this; past it the caller falls back to PostgreSQL.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// A pool with time-outs: deadpool has none by default, and a caller could wait for ever.
///
/// `rediss://` speaks TLS (rustls). The server's certificate is checked, host name included,
/// against the system's roots, or, given `ca_file` (`REDIS_CA_FILE`), against the PEM
/// certificates of that file only: a private CA or a self-signed server.
pub fn redis_pool(url: &str, ca_file: Option<&Path>) -> anyhow::Result<Pool> {
    let info = match ca_file {
        None => url.into_connection_info()?,
        Some(path) => {
            anyhow::ensure!(url.starts_with("rediss://"), "REDIS_CA_FILE is set but REDIS_URL is not rediss://");
            let pem = std::fs::read(path).with_context(|| format!("reading REDIS_CA_FILE {}", path.display()))?;
            let certificates = redis::TlsCertificates { client_tls: None, root_cert: Some(pem) };
            // The client carries the parsed roots in its connection info, which the pool's
            // manager reopens as it is.
            redis::Client::build_with_tls(url, certificates)
                .context("REDIS_CA_FILE holds no usable PEM certificate")?
                .get_connection_info()
                .clone()
        }
    };
    let mut config = PoolConfig::new(16);
    config.timeouts = Timeouts { wait: Some(REDIS_TIMEOUT), create: Some(REDIS_TIMEOUT), recycle: Some(REDIS_TIMEOUT) };
    Ok(Pool::builder(Manager::new(info)?).config(config).runtime(Runtime::Tokio1).build()?)
}
