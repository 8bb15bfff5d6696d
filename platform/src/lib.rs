//! What the `api` and the `workers` share: settings, telemetry, the database, the broker
//! topology and publisher, the dead-letter tools, and the Redis rule cache.

pub mod broker;
pub mod cache;
pub mod db;
pub mod inbox;
pub mod rules;
pub mod settings;
pub mod telemetry;

pub use settings::Settings;
