//! Typed settings read from environment variables (or the flags of the same names, e.g.
//! `--database-url` for `DATABASE_URL`) with clap's `env` support, with defaults that work on a
//! developer machine (the services on their standard local ports), so `api --help` and
//! `workers --help` list every variable with its default.
//!
//! Three groups: [`CommonArgs`] (both binaries), [`ApiArgs`] (the api only: its address and the
//! admin token) and [`WorkerArgs`] (the workers only). Each binary flattens the groups it reads
//! into its own `clap::Parser`, so the workers never need the admin token. [`Settings`] is the
//! one struct the code reads; the groups a binary does not read take their defaults.
//!
//! An empty variable takes the default, as if unset (compose passes `${X:-}` through as ""),
//! except `WORKER_METRICS_ADDR`, where empty means "do not serve".

use std::{fmt::Display, str::FromStr, time::Duration};

use clap::{Args, Parser};

/// Development mode prints a default admin token; production refuses to start without one,
/// and refuses this one.
pub const DEV_ADMIN_TOKEN: &str = "dev-admin-token";

/// The variable read by the log filter itself (`tracing_subscriber::EnvFilter`), not by clap:
/// named in each binary's `--help` (`after_help`).
pub const LOG_FILTER_HELP: &str = "Also read: RUST_LOG, the log filter, e.g. info,sqlx=warn,api=debug [default: info]";

/// Defaults, once: clap prints them in `--help` and the parsers fall back to them on "".
pub mod default {
    pub const DATABASE_URL: &str = "postgres://postgres:postgres@127.0.0.1:5432/loyalty";
    pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
    pub const REDIS_URL: &str = "redis://127.0.0.1:6379";
    pub const REDIS_CLUSTER: &str = "false";
    pub const WORKER_SHARD: &str = "default";
    pub const LOYALTY_ENV: &str = "development";
    pub const LOYALTY_NAMESPACE: &str = "loyalty";
    pub const DB_MAX_CONNECTIONS: &str = "16";
    pub const RETRY_DELAYS_MS: &str = "1000,5000,30000";
    pub const LOG_FORMAT: &str = "json";
    pub const API_ADDR: &str = "127.0.0.1:21100";
    pub const WORKER_CONSUMERS: &str = "2";
    pub const WORKER_PREFETCH: &str = "1000";
    pub const WORKER_BATCH_SIZE: &str = "500";
    pub const RELAY_BATCH: &str = "20";
    pub const ANALYTICS_BATCH_EVENTS: &str = "10000";
    pub const SWEEP_INTERVAL_MS: &str = "5000";
    pub const WORKER_METRICS_ADDR: &str = "127.0.0.1:21101";
    pub const MAX_BODY_BYTES: &str = "1048576";
    pub const IMPORT_MAX_BYTES: &str = "134217728";
    pub const RATE_LIMIT_PER_SECOND: &str = "500";
    pub const RATE_LIMIT_BURST: &str = "1000";
}

/// A value parser that reads "" as `default` (clap hands an empty variable over as a value).
fn or_default<T>(default: &'static str) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr,
    T::Err: Display,
{
    move |s: &str| {
        let s = if s.trim().is_empty() { default } else { s.trim() };
        s.parse().map_err(|e: T::Err| e.to_string())
    }
}

/// Settings both binaries read.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Services and environment")]
pub struct CommonArgs {
    /// PostgreSQL; the database is created if missing and migrated at start.
    #[arg(long = "database-url", env = "DATABASE_URL", default_value = default::DATABASE_URL, hide_env_values = true,
          value_parser = or_default::<String>(default::DATABASE_URL))]
    pub database_url: String,
    /// More PostgreSQL databases for tenants (shards), comma-separated `name=url` (names of
    /// a-z, 0-9 and _); DATABASE_URL is the shard `default` and the directory of tenants and
    /// keys. Each shard has its own queues and Redis keys (LOYALTY_NAMESPACE-name) and workers.
    #[arg(long = "database-shards", env = "DATABASE_SHARDS", default_value = "", hide_env_values = true)]
    pub database_shards: String,
    /// RabbitMQ (%2f is the default vhost "/"). Several addresses, comma-separated (the nodes
    /// of a cluster): a connection goes to one that answers, the next one starting one further.
    #[arg(long = "amqp-url", env = "AMQP_URL", default_value = default::AMQP_URL, hide_env_values = true,
          value_parser = or_default::<String>(default::AMQP_URL))]
    pub amqp_url: String,
    /// Redis: a cache of what PostgreSQL holds (the engine reads PostgreSQL when it is down).
    #[arg(long = "redis-url", env = "REDIS_URL", default_value = default::REDIS_URL, hide_env_values = true,
          value_parser = or_default::<String>(default::REDIS_URL))]
    pub redis_url: String,
    /// PEM file of the CA(s) a rediss:// server's certificate must chain to, instead of the
    /// system's roots (a private CA, a self-signed server). Unset: the system's roots.
    #[arg(long = "redis-ca-file", env = "REDIS_CA_FILE", hide_env_values = true)]
    pub redis_ca_file: Option<std::path::PathBuf>,
    /// true: REDIS_URL is a Redis Cluster, named by one or more of its nodes, comma-separated
    /// (keys are hash-tagged so that what one call touches shares a slot).
    #[arg(long = "redis-cluster", env = "REDIS_CLUSTER", default_value = default::REDIS_CLUSTER,
          action = clap::ArgAction::Set, value_parser = or_default::<bool>(default::REDIS_CLUSTER))]
    pub redis_cluster: bool,
    /// development | production (or prod): production refuses to start without an admin token.
    #[arg(long = "loyalty-env", env = "LOYALTY_ENV", default_value = default::LOYALTY_ENV,
          value_parser = or_default::<String>(default::LOYALTY_ENV))]
    pub loyalty_env: String,
    /// Prefix of every exchange, queue and Redis key.
    #[arg(long = "loyalty-namespace", env = "LOYALTY_NAMESPACE", value_name = "LOYALTY_NAMESPACE", default_value = default::LOYALTY_NAMESPACE,
          value_parser = or_default::<String>(default::LOYALTY_NAMESPACE))]
    pub namespace: String,
    /// Largest PostgreSQL pool, per process.
    #[arg(long = "db-max-connections", env = "DB_MAX_CONNECTIONS", default_value = default::DB_MAX_CONNECTIONS,
          value_parser = or_default::<u32>(default::DB_MAX_CONNECTIONS))]
    pub db_max_connections: u32,
    /// Delays (ms, comma-separated) of the bounded retries of a transient failure.
    #[arg(long = "retry-delays-ms", env = "RETRY_DELAYS_MS", default_value = default::RETRY_DELAYS_MS,
          value_parser = or_default::<String>(default::RETRY_DELAYS_MS))]
    pub retry_delays_ms: String,
    /// json | pretty.
    #[arg(long = "log-format", env = "LOG_FORMAT", default_value = default::LOG_FORMAT,
          value_parser = or_default::<String>(default::LOG_FORMAT))]
    pub log_format: String,
}

/// Settings only the api reads.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "API")]
pub struct ApiArgs {
    /// Where the api listens (0.0.0.0:21100 inside a container).
    #[arg(long = "api-addr", env = "API_ADDR", default_value = default::API_ADDR,
          value_parser = or_default::<String>(default::API_ADDR))]
    pub api_addr: String,
    /// Bearer token of /api/admin/...; required when LOYALTY_ENV=production; in development,
    /// unset means `dev-admin-token` (printed at start).
    #[arg(
        long = "loyalty-admin-token",
        env = "LOYALTY_ADMIN_TOKEN",
        value_name = "LOYALTY_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    /// Largest request body in bytes (a larger one is answered 413), except the CSV import's.
    #[arg(long = "max-body-bytes", env = "MAX_BODY_BYTES", default_value = default::MAX_BODY_BYTES,
          value_parser = or_default::<usize>(default::MAX_BODY_BYTES))]
    pub max_body_bytes: usize,
    /// Largest CSV import body in bytes (streamed, never held whole; a larger one is answered
    /// 413); at most 2,000,000 codes per import whatever the size.
    #[arg(long = "import-max-bytes", env = "IMPORT_MAX_BYTES", default_value = default::IMPORT_MAX_BYTES,
          value_parser = or_default::<u64>(default::IMPORT_MAX_BYTES))]
    pub import_max_bytes: u64,
    /// Requests per second a tenant may make (token bucket refill), unless the tenant has its
    /// own limit (`PUT /api/admin/tenants/{crm_id}/rate_limit`).
    #[arg(long = "rate-limit-per-second", env = "RATE_LIMIT_PER_SECOND", default_value = default::RATE_LIMIT_PER_SECOND,
          value_parser = or_default::<u32>(default::RATE_LIMIT_PER_SECOND))]
    pub rate_limit_per_second: u32,
    /// Requests a tenant may make at once (token bucket size), unless the tenant has its own.
    #[arg(long = "rate-limit-burst", env = "RATE_LIMIT_BURST", default_value = default::RATE_LIMIT_BURST,
          value_parser = or_default::<u32>(default::RATE_LIMIT_BURST))]
    pub rate_limit_burst: u32,
}

/// Settings only the workers read.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Workers")]
pub struct WorkerArgs {
    /// Consumers per queue family (points, cards) per worker process, each its own channel.
    #[arg(long = "worker-consumers", env = "WORKER_CONSUMERS", value_name = "WORKER_CONSUMERS", default_value = default::WORKER_CONSUMERS,
          value_parser = or_default::<usize>(default::WORKER_CONSUMERS))]
    pub consumers: usize,
    /// Unacknowledged messages RabbitMQ delivers ahead to each consumer.
    #[arg(long = "worker-prefetch", env = "WORKER_PREFETCH", value_name = "WORKER_PREFETCH", default_value = default::WORKER_PREFETCH,
          value_parser = or_default::<u16>(default::WORKER_PREFETCH))]
    pub prefetch: u16,
    /// Most messages applied in one transaction.
    #[arg(long = "worker-batch-size", env = "WORKER_BATCH_SIZE", value_name = "WORKER_BATCH_SIZE", default_value = default::WORKER_BATCH_SIZE,
          value_parser = or_default::<usize>(default::WORKER_BATCH_SIZE))]
    pub batch_size: usize,
    /// Outbox rows the relay claims per round (each row is one applied batch).
    #[arg(long = "relay-batch", env = "RELAY_BATCH", default_value = default::RELAY_BATCH,
          value_parser = or_default::<i64>(default::RELAY_BATCH))]
    pub relay_batch: i64,
    /// Most analytics events one analytics transaction applies (whole messages: one message of
    /// more events is applied alone).
    #[arg(long = "analytics-batch-events", env = "ANALYTICS_BATCH_EVENTS", default_value = default::ANALYTICS_BATCH_EVENTS,
          value_parser = or_default::<usize>(default::ANALYTICS_BATCH_EVENTS))]
    pub analytics_batch_events: usize,
    /// How often each worker process expires and unfreezes due lots (ms).
    #[arg(long = "sweep-interval-ms", env = "SWEEP_INTERVAL_MS", default_value = default::SWEEP_INTERVAL_MS,
          value_parser = or_default::<u64>(default::SWEEP_INTERVAL_MS))]
    pub sweep_interval_ms: u64,
    /// Where each worker process serves /metrics and /healthz (empty: not served).
    #[arg(long = "worker-metrics-addr", env = "WORKER_METRICS_ADDR", value_name = "WORKER_METRICS_ADDR", default_value = default::WORKER_METRICS_ADDR)]
    pub metrics_addr: String,
    /// The shard (of DATABASE_SHARDS) this worker process serves: its database, queues and
    /// Redis keys.
    #[arg(long = "worker-shard", env = "WORKER_SHARD", value_name = "WORKER_SHARD", default_value = default::WORKER_SHARD,
          value_parser = or_default::<String>(default::WORKER_SHARD))]
    pub shard: String,
}

/// A database of tenants: its name, URL, and the namespace of its queues and Redis keys.
#[derive(Clone)]
pub struct Shard {
    pub name: String,
    pub database_url: String,
    pub namespace: String,
}

/// The shard of DATABASE_URL, and the directory of tenants and keys.
pub const DEFAULT_SHARD: &str = "default";

/// Every group, for [`Settings::from_env`].
#[derive(Parser)]
struct AllArgs {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    api: ApiArgs,
    #[command(flatten)]
    workers: WorkerArgs,
}

#[derive(Clone)]
pub struct Settings {
    /// This process's database: the directory (the `default` shard) in the api; the shard it
    /// serves (`WORKER_SHARD`) in a worker.
    pub database_url: String,
    /// Every shard, `default` first (DATABASE_URL, then DATABASE_SHARDS).
    pub shards: Vec<Shard>,
    /// The shard this process serves (the api: `default`, and dispatches to the others).
    pub shard: String,
    pub amqp_url: String,
    pub redis_url: String,
    /// The roots of a rediss:// server when not the system's (`REDIS_CA_FILE`).
    pub redis_ca_file: Option<std::path::PathBuf>,
    /// `REDIS_URL` names the seed nodes of a Redis Cluster (`REDIS_CLUSTER`).
    pub redis_cluster: bool,
    pub api_addr: String,
    /// Where a worker process serves `/metrics` and `/healthz` (empty: not at all).
    pub worker_metrics_addr: String,
    /// Empty in the workers, which serve no admin route (an empty bearer never matches).
    pub admin_token: String,
    pub production: bool,
    /// Prefix of every exchange, queue and Redis key: several environments (or tests) can
    /// share one broker and one Redis without seeing each other.
    pub namespace: String,
    pub db_max_connections: u32,
    /// Consumers per worker process (each with its own channel and prefetch window).
    pub consumers: usize,
    pub prefetch: u16,
    /// Most messages applied in one transaction.
    pub batch_size: usize,
    /// Delays of the bounded retries of a transient failure; past the last, the message is parked.
    pub retry_delays: Vec<Duration>,
    /// Outbox rows per relay round (a row holds one applied batch's events).
    pub relay_batch: i64,
    /// Most analytics events applied in one transaction: a delivery batch of the analytics
    /// consumer is `WORKER_BATCH_SIZE` messages of up to a whole worker batch's events each.
    pub analytics_batch_events: usize,
    /// How often the expiry / unfreeze sweeper looks for due lots.
    pub sweep_interval: Duration,
    pub log_json: bool,
    /// Largest request body (bytes), the CSV import's excepted.
    pub max_body_bytes: usize,
    /// Largest CSV import body (bytes).
    pub import_max_bytes: u64,
    /// The default token bucket of every tenant: refill per second and size.
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
}

impl std::fmt::Debug for Settings {
    // Hand-written so that credentials in URLs and the admin token are never logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact(&self.database_url))
            .field(
                "shards",
                &self.shards.iter().map(|s| format!("{}={}", s.name, redact(&s.database_url))).collect::<Vec<_>>(),
            )
            .field("shard", &self.shard)
            .field("amqp_url", &redact(&self.amqp_url))
            .field("redis_url", &redact(&self.redis_url))
            .field("redis_ca_file", &self.redis_ca_file)
            .field("redis_cluster", &self.redis_cluster)
            .field("api_addr", &self.api_addr)
            .field("worker_metrics_addr", &self.worker_metrics_addr)
            .field("production", &self.production)
            .field("namespace", &self.namespace)
            .field("db_max_connections", &self.db_max_connections)
            .field("consumers", &self.consumers)
            .field("prefetch", &self.prefetch)
            .field("batch_size", &self.batch_size)
            .field("retry_delays", &self.retry_delays)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("import_max_bytes", &self.import_max_bytes)
            .field("rate_limit_per_second", &self.rate_limit_per_second)
            .field("rate_limit_burst", &self.rate_limit_burst)
            .finish_non_exhaustive()
    }
}

/// `scheme://user:secret@host/..` → `scheme://user:***@host/..`
fn redact(url: &str) -> String {
    // A list of addresses (AMQP_URL, a Redis Cluster's REDIS_URL): each one's password hidden.
    if url.contains(',') {
        return url.split(',').map(redact).collect::<Vec<_>>().join(",");
    }
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..s + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

impl CommonArgs {
    fn production(&self) -> bool {
        matches!(self.loyalty_env.as_str(), "production" | "prod")
    }

    fn retry_delays(&self) -> anyhow::Result<Vec<Duration>> {
        let delays = self
            .retry_delays_ms
            .split(',')
            .map(|s| s.trim().parse::<u64>().map(Duration::from_millis))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| anyhow::anyhow!("RETRY_DELAYS_MS must be a comma-separated list of milliseconds"))?;
        anyhow::ensure!(!delays.is_empty(), "RETRY_DELAYS_MS needs at least one delay");
        Ok(delays)
    }
}

impl ApiArgs {
    /// The admin token, with the production guard: a production start needs a token of its
    /// own, so neither a missing token nor the public development one gets through (whatever
    /// a compose file or an `.env` copy passes in).
    fn admin_token(&self, production: bool) -> anyhow::Result<String> {
        match self.admin_token.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(DEV_ADMIN_TOKEN) if production => {
                anyhow::bail!("LOYALTY_ADMIN_TOKEN={DEV_ADMIN_TOKEN} is the public development token; LOYALTY_ENV=production needs a token of its own")
            }
            Some(t) => Ok(t.to_string()),
            None if production => anyhow::bail!("LOYALTY_ADMIN_TOKEN is required when LOYALTY_ENV=production"),
            None => {
                eprintln!("LOYALTY_ADMIN_TOKEN is not set: development mode uses the token `{DEV_ADMIN_TOKEN}`");
                Ok(DEV_ADMIN_TOKEN.to_string())
            }
        }
    }
}

impl Settings {
    /// The api's settings (the worker settings take their defaults: the api does not read them).
    pub fn for_api(common: CommonArgs, api: ApiArgs) -> anyhow::Result<Settings> {
        let admin_token = api.admin_token(common.production())?;
        Settings::from_parts(common, api, admin_token, defaults().workers)
    }

    /// The workers' settings: no admin token, whatever LOYALTY_ENV says; the database and the
    /// namespace of the shard they serve.
    pub fn for_workers(common: CommonArgs, workers: WorkerArgs) -> anyhow::Result<Settings> {
        let shard = workers.shard.clone();
        let settings = Settings::from_parts(common, defaults().api, String::new(), workers)?;
        settings.for_shard(&shard).ok_or_else(|| {
            anyhow::anyhow!("WORKER_SHARD={shard} is not a shard: DATABASE_SHARDS names {}", settings.shard_names())
        })
    }

    /// These settings for the process that serves `shard`: its database and namespace.
    pub fn for_shard(&self, shard: &str) -> Option<Settings> {
        self.shards.iter().find(|s| s.name == shard).map(|s| self.with_shard(s))
    }

    /// These settings for each shard, `default` (the directory) first.
    pub fn every_shard(&self) -> impl Iterator<Item = Settings> + '_ {
        self.shards.iter().map(|s| self.with_shard(s))
    }

    fn with_shard(&self, s: &Shard) -> Settings {
        let mut settings = self.clone();
        settings.database_url = s.database_url.clone();
        settings.namespace = s.namespace.clone();
        settings.shard = s.name.clone();
        settings
    }

    fn shard_names(&self) -> String {
        self.shards.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// Every variable from the environment alone (no flags): what the tests and the benchmark
    /// read, as the api would (with the admin-token guard).
    pub fn from_env() -> anyhow::Result<Settings> {
        let all = AllArgs::try_parse_from(["settings"])?;
        let admin_token = all.api.admin_token(all.common.production())?;
        Settings::from_parts(all.common, all.api, admin_token, all.workers)
    }

    fn from_parts(
        common: CommonArgs,
        api: ApiArgs,
        admin_token: String,
        workers: WorkerArgs,
    ) -> anyhow::Result<Settings> {
        crate::broker::check_addresses(&common.amqp_url).map_err(anyhow::Error::msg)?;
        let shards = shards(&common)?;
        Ok(Settings {
            shards,
            shard: DEFAULT_SHARD.to_string(),
            production: common.production(),
            retry_delays: common.retry_delays()?,
            log_json: common.log_format == "json",
            database_url: common.database_url,
            amqp_url: common.amqp_url,
            redis_url: common.redis_url,
            // "" (compose's `${REDIS_CA_FILE:-}`) is unset.
            redis_ca_file: common.redis_ca_file.filter(|p| !p.as_os_str().is_empty()),
            redis_cluster: common.redis_cluster,
            namespace: common.namespace,
            db_max_connections: common.db_max_connections,
            api_addr: api.api_addr,
            admin_token,
            max_body_bytes: api.max_body_bytes,
            import_max_bytes: api.import_max_bytes,
            rate_limit_per_second: api.rate_limit_per_second.max(1),
            rate_limit_burst: api.rate_limit_burst.max(1),
            consumers: workers.consumers,
            prefetch: workers.prefetch,
            batch_size: workers.batch_size,
            relay_batch: workers.relay_batch,
            analytics_batch_events: workers.analytics_batch_events.max(1),
            sweep_interval: Duration::from_millis(workers.sweep_interval_ms),
            worker_metrics_addr: workers.metrics_addr,
        })
    }
}

/// `default` (DATABASE_URL) and the shards of DATABASE_SHARDS (`name=url,…`), checked: a bad
/// entry is named by its place, never by its text (it holds a password).
fn shards(common: &CommonArgs) -> anyhow::Result<Vec<Shard>> {
    let mut shards = vec![Shard {
        name: DEFAULT_SHARD.to_string(),
        database_url: common.database_url.clone(),
        namespace: common.namespace.clone(),
    }];
    for (i, entry) in common.database_shards.split(',').map(str::trim).filter(|e| !e.is_empty()).enumerate() {
        let n = i + 1;
        let (name, url) = entry
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("DATABASE_SHARDS: entry {n} is not name=postgres://…"))?;
        let name = name.trim();
        anyhow::ensure!(
            !name.is_empty()
                && name.len() <= 32
                && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "DATABASE_SHARDS: entry {n}: a shard's name is 1 to 32 of a-z, 0-9 and _"
        );
        anyhow::ensure!(
            url.trim().starts_with("postgres://") || url.trim().starts_with("postgresql://"),
            "DATABASE_SHARDS: entry {n} ({name}) is not a postgres:// URL"
        );
        anyhow::ensure!(!shards.iter().any(|s| s.name == name), "DATABASE_SHARDS: shard {name} is named twice");
        shards.push(Shard {
            name: name.to_string(),
            database_url: url.trim().to_string(),
            namespace: format!("{}-{name}", common.namespace),
        });
    }
    Ok(shards)
}

/// The groups with nothing but their defaults: parsed from a command whose arguments forget
/// their variables, so no flag and no environment is read.
fn defaults() -> AllArgs {
    let command = <AllArgs as clap::CommandFactory>::command().mut_args(|arg| arg.env(None::<&str>));
    let matches = command.try_get_matches_from(["settings"]).expect("the defaults parse");
    <AllArgs as clap::FromArgMatches>::from_arg_matches(&matches).expect("the defaults parse")
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
