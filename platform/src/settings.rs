//! Typed settings read from environment variables, with defaults that work on a developer
//! machine (the services on their standard local ports).

use std::{env, time::Duration};

/// Development mode prints a default admin token; production refuses to start without one.
pub const DEV_ADMIN_TOKEN: &str = "dev-admin-token";

#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    pub amqp_url: String,
    pub redis_url: String,
    pub api_addr: String,
    /// Where a worker process serves `/metrics` and `/healthz` (empty: not at all).
    pub worker_metrics_addr: String,
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
    /// How often the expiry / unfreeze sweeper looks for due lots.
    pub sweep_interval: Duration,
    pub log_json: bool,
}

impl std::fmt::Debug for Settings {
    // Hand-written so that credentials in URLs and the admin token are never logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact(&self.database_url))
            .field("amqp_url", &redact(&self.amqp_url))
            .field("redis_url", &redact(&self.redis_url))
            .field("api_addr", &self.api_addr)
            .field("worker_metrics_addr", &self.worker_metrics_addr)
            .field("production", &self.production)
            .field("namespace", &self.namespace)
            .field("db_max_connections", &self.db_max_connections)
            .field("consumers", &self.consumers)
            .field("prefetch", &self.prefetch)
            .field("batch_size", &self.batch_size)
            .field("retry_delays", &self.retry_delays)
            .finish_non_exhaustive()
    }
}

/// `scheme://user:secret@host/..` → `scheme://user:***@host/..`
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..s + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

fn var(name: &str, default: &str) -> String {
    env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

fn parsed<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match env::var(name).ok().filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| anyhow::anyhow!("{name}={v:?} is not valid")),
    }
}

impl Settings {
    /// Reads every variable; see `.env.example` for the list.
    pub fn from_env() -> anyhow::Result<Settings> {
        let production = matches!(var("LOYALTY_ENV", "development").as_str(), "production" | "prod");
        let admin_token = match env::var("LOYALTY_ADMIN_TOKEN").ok().filter(|v| !v.is_empty()) {
            Some(t) => t,
            None if production => anyhow::bail!("LOYALTY_ADMIN_TOKEN is required when LOYALTY_ENV=production"),
            None => {
                eprintln!("LOYALTY_ADMIN_TOKEN is not set: development mode uses the token `{DEV_ADMIN_TOKEN}`");
                DEV_ADMIN_TOKEN.to_string()
            }
        };
        let retry_delays = var("RETRY_DELAYS_MS", "1000,5000,30000")
            .split(',')
            .map(|s| s.trim().parse::<u64>().map(Duration::from_millis))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| anyhow::anyhow!("RETRY_DELAYS_MS must be a comma-separated list of milliseconds"))?;
        anyhow::ensure!(!retry_delays.is_empty(), "RETRY_DELAYS_MS needs at least one delay");
        Ok(Settings {
            database_url: var("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/loyalty"),
            amqp_url: var("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            redis_url: var("REDIS_URL", "redis://127.0.0.1:6379"),
            api_addr: var("API_ADDR", "127.0.0.1:21100"),
            worker_metrics_addr: env::var("WORKER_METRICS_ADDR").unwrap_or_else(|_| "127.0.0.1:21101".into()),
            admin_token,
            production,
            namespace: var("LOYALTY_NAMESPACE", "loyalty"),
            db_max_connections: parsed("DB_MAX_CONNECTIONS", 16)?,
            consumers: parsed("WORKER_CONSUMERS", 2)?,
            prefetch: parsed("WORKER_PREFETCH", 500)?,
            batch_size: parsed("WORKER_BATCH_SIZE", 250)?,
            retry_delays,
            relay_batch: parsed("RELAY_BATCH", 20)?,
            sweep_interval: Duration::from_millis(parsed("SWEEP_INTERVAL_MS", 5000)?),
            log_json: var("LOG_FORMAT", "json") == "json",
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(super::redact("amqp://guest:guest@h:5672/%2f"), "amqp://guest:***@h:5672/%2f");
        assert_eq!(super::redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
