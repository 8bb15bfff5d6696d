//! Redis: one server or a Redis Cluster, behind one handle ([`Redis`]). Redis only ever holds
//! what PostgreSQL can rebuild: a flush, or a cluster node lost with its keys, costs speed,
//! never data.
//!
//! Keys that one call (a script, a pipeline) touches together carry the same hash tag (the part
//! in braces), so that on a cluster they live in one slot: a card's code list and its loader
//! lock are `{ns}:codes:{crm_id:card_id}` and `…:loading`; a tenant's rule set is
//! `{ns}:rules:{crm_id}`. A read of several tenants' rule sets (`MGET`) spans slots, which the
//! cluster client splits by node and joins again.

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::Context;
use deadpool_redis::{
    redis::{
        self,
        aio::ConnectionLike,
        cluster::{ClusterClient, ClusterClientBuilder},
        cluster_async::ClusterConnection,
        IntoConnectionInfo, RedisFuture, TlsCertificates,
    },
    Manager, Pool, PoolConfig, Runtime, Timeouts,
};
use tokio::sync::OnceCell;

use crate::settings::Settings;

/// Every Redis call is bounded by this; past it the caller falls back to PostgreSQL.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// The handle every component holds: cheap to clone, and it connects lazily, so a process starts
/// (and serves from PostgreSQL) while Redis is down.
#[derive(Clone)]
pub struct Redis(Backend);

#[derive(Clone)]
enum Backend {
    /// One server: a pool of connections, each used by one caller at a time.
    Single(Pool),
    /// A Redis Cluster: one multiplexed connection (to every node it routes to), shared by all
    /// callers, opened on first use and again after a failed open.
    Cluster(Arc<Cluster>),
}

struct Cluster {
    client: ClusterClient,
    connection: OnceCell<ClusterConnection>,
}

/// A connection from [`Redis::get`]: pass `&mut conn` to `query_async`.
pub enum Connection {
    Single(deadpool_redis::Connection),
    Cluster(ClusterConnection),
}

impl Redis {
    /// The Redis of the settings: `REDIS_URL`, `REDIS_CA_FILE`, and `REDIS_CLUSTER` (then
    /// `REDIS_URL` lists the cluster's seed nodes, comma-separated).
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Redis> {
        let ca_file = settings.redis_ca_file.as_deref();
        if settings.redis_cluster {
            Redis::cluster(&settings.redis_url, ca_file)
        } else {
            Redis::single(&settings.redis_url, ca_file)
        }
    }

    /// One server, through a pool with time-outs (deadpool has none by default, and a caller
    /// could wait for ever).
    ///
    /// `rediss://` speaks TLS (rustls). The server's certificate is checked, host name
    /// included, against the system's roots, or, given `ca_file` (`REDIS_CA_FILE`), against the
    /// PEM certificates of that file only: a private CA or a self-signed server.
    pub fn single(url: &str, ca_file: Option<&Path>) -> anyhow::Result<Redis> {
        anyhow::ensure!(
            !url.contains(','),
            "REDIS_URL lists several addresses: set REDIS_CLUSTER=true for a Redis Cluster"
        );
        let info = match roots(url, ca_file)? {
            None => url.into_connection_info()?,
            // The client carries the parsed roots in its connection info, which the pool's
            // manager reopens as it is.
            Some(certificates) => redis::Client::build_with_tls(url, certificates)
                .context("REDIS_CA_FILE holds no usable PEM certificate")?
                .get_connection_info()
                .clone(),
        };
        let mut config = PoolConfig::new(16);
        config.timeouts =
            Timeouts { wait: Some(REDIS_TIMEOUT), create: Some(REDIS_TIMEOUT), recycle: Some(REDIS_TIMEOUT) };
        let pool = Pool::builder(Manager::new(info)?).config(config).runtime(Runtime::Tokio1).build()?;
        Ok(Redis(Backend::Single(pool)))
    }

    /// A Redis Cluster, found through `urls` (comma-separated seed nodes; one that answers is
    /// enough). TLS as in [`Redis::single`].
    pub fn cluster(urls: &str, ca_file: Option<&Path>) -> anyhow::Result<Redis> {
        let seeds: Vec<&str> = urls.split(',').map(str::trim).filter(|u| !u.is_empty()).collect();
        anyhow::ensure!(!seeds.is_empty(), "REDIS_URL names no node of the Redis Cluster");
        let mut builder = ClusterClientBuilder::new(seeds.clone())
            .connection_timeout(REDIS_TIMEOUT)
            .response_timeout(REDIS_TIMEOUT)
            // A call to a dead node's slots fails fast, and the caller reads PostgreSQL instead
            // of waiting through the client's default of 16 retries.
            .retries(1);
        for seed in &seeds {
            if let Some(certificates) = roots(seed, ca_file)? {
                builder = builder.certs(certificates);
                break;
            }
        }
        let client = builder.build().context("REDIS_URL: the Redis Cluster's seed nodes")?;
        Ok(Redis(Backend::Cluster(Arc::new(Cluster { client, connection: OnceCell::new() }))))
    }

    /// A connection; bound the call and what is done with it by [`REDIS_TIMEOUT`].
    pub async fn get(&self) -> anyhow::Result<Connection> {
        match &self.0 {
            Backend::Single(pool) => Ok(Connection::Single(pool.get().await?)),
            Backend::Cluster(cluster) => {
                let connection = cluster.connection.get_or_try_init(|| cluster.client.get_async_connection()).await?;
                Ok(Connection::Cluster(connection.clone()))
            }
        }
    }
}

/// The roots `ca_file` names for a `rediss://` url; `None` without a file (the system's roots).
fn roots(url: &str, ca_file: Option<&Path>) -> anyhow::Result<Option<TlsCertificates>> {
    let Some(path) = ca_file else { return Ok(None) };
    anyhow::ensure!(url.starts_with("rediss://"), "REDIS_CA_FILE is set but REDIS_URL is not rediss://");
    let pem = std::fs::read(path).with_context(|| format!("reading REDIS_CA_FILE {}", path.display()))?;
    Ok(Some(TlsCertificates { client_tls: None, root_cert: Some(pem) }))
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, redis::Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(cmd, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}
