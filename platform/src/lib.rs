//! What the `api` and the `workers` share: settings, telemetry, the database, the broker
//! topology and publisher, the dead-letter tools, the Redis pool and rule cache, the
//! shutdown signal and the progress of long operator commands.

pub mod broker;
pub mod cache;
pub mod copy_rows;
pub mod db;
pub mod inbox;
pub mod levels;
pub mod metric_names;
pub mod outbox;
pub mod progress;
pub mod rules;
pub mod settings;
pub mod shutdown;
pub mod status;
pub mod telemetry;

pub use settings::Settings;

/// The PostgreSQL channel (in the directory) on which the api instances hear what to drop from
/// their API key caches: a key's hash (the key was revoked), or `*` (every key: a tenant
/// changed shard, `workers tenant move --to-shard`).
pub const API_KEYS_CHANNEL: &str = "api_key_revoked";
