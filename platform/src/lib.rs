//! What the `api` and the `workers` share: settings, telemetry, the database, the broker
//! topology and publisher, the dead-letter tools, the Redis pool and rule cache, the
//! shutdown signal and the progress of long operator commands.

pub mod broker;
pub mod cache;
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
