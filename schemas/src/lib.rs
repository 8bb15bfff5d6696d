//! Types shared by the ingress, the workers and the tests: the broker envelope, the event
//! payloads, and the request and response bodies of the native API.

pub mod cards;
pub mod envelope;
pub mod points;
pub mod response;
pub mod time;

pub use envelope::{Envelope, MessageKind, SCHEMA_VERSION};
pub use response::{ApiResponse, FieldError};
