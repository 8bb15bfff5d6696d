//! Types shared by the ingress, the workers and the tests: the broker envelope, the event
//! payloads, and the request and response bodies of the native API.
//!
//! Modules in reading order:

/// Cards: the card definition, stock, and the member commands.
pub mod cards;
/// The field checks points and cards share: keys, scenes, lengths, ranges, paging.
pub mod checks;
/// The broker envelope every message travels in, and the message kinds.
pub mod envelope;
/// Money: `Cents` and the serde that reads amounts from numbers or strings.
pub mod money;
/// Points: earn rules, spend rules and `quote_spend`, and the points commands.
pub mod points;
/// The native API's response envelope and `FieldError`.
pub mod response;
/// Business time: the seeds' local `YYYY-MM-DD HH:MM:SS` in the tenant's zone, and UTC.
pub mod time;

pub use envelope::{Envelope, MessageKind, SCHEMA_VERSION};
pub use response::{ApiResponse, FieldError};
