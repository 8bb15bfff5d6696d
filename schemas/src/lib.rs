//! Types shared by the ingress, the workers and the tests: the broker envelope, the event
//! payloads, the request and response bodies of the native API, and the analytics events.
//!
//! Modules in reading order (one per concern; each opens with a header saying what it holds):

/// The native API's response envelope and `FieldError`.
pub mod response;

/// The broker envelope every message travels in, and the message kinds.
pub mod envelope;

/// Business time: the seeds' local `YYYY-MM-DD HH:MM:SS` in the tenant's zone, and UTC.
pub mod time;

/// Money: `Cents` and the serde that reads amounts from numbers or strings.
pub mod money;

/// The field checks points and cards share: keys, scenes, lengths, ranges, paging.
pub mod checks;

/// Points: earn rules, spend rules and `quote_spend`, and the points commands.
pub mod points;

/// Cards: the card definition, stock, and the member commands.
pub mod cards;

/// Points activities (seed 001): the `/points-consumption/` bodies and the activity award.
pub mod activities;

/// Point rules per member level (seed 004): the rule model, its management body and query.
pub mod level_rules;

/// Members (seed 002): profiles, custom attributes, identities, levels.
pub mod members;

/// DM Hub coupons (seed 002 §13) over the cards: draw and redeem bodies, the card → coupon mapping.
pub mod coupons;
/// Seed 002's ledger writes: orders and their steps, points up and down.
pub mod orders;
/// W3C trace context and the request id, carried across the broker into the analytics events.
pub mod trace;

/// Analytics events: the typed `kind`-tagged events the analytics consumer reads.
pub mod analytics;

pub use analytics::AnalyticsEvent;
pub use envelope::{Envelope, MessageKind, SCHEMA_VERSION};
pub use response::{ApiResponse, FieldError};
