//! The worker fleet: consumers that apply messages exactly once (inbox + change + outbox in
//! one transaction, ack after commit), the outbox relay, the sweeper, and the operator
//! commands.

pub mod analytics;
pub mod batch;
pub mod cards;
pub mod consumer;
pub mod deps;
pub mod failpoint;
pub mod gauges;
pub mod health;
pub mod inbox;
pub mod members;
pub mod message;
pub mod orders;
pub mod outbox;
pub mod outcome;
pub mod points;
pub mod relay;
pub mod runner;
pub mod sweep;
pub mod tenant_move;
pub mod verify;

pub use deps::Deps;
pub use failpoint::Failpoints;
pub use runner::{start, WorkerHandle, WorkerOptions};
