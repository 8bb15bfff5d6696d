//! Decoding a delivery into a message this build understands, or a reason it is poison.

use schemas::{points::EarnPayload, Envelope, MessageKind, SCHEMA_VERSION};
use serde::Deserialize;

/// A decoded, validated message.
#[derive(Debug, Clone)]
pub enum Message {
    PointsEarn(Envelope<EarnPayload>),
}

/// Only the routing fields, to classify before decoding the payload.
#[derive(Deserialize)]
struct Head {
    kind: MessageKind,
    schema_version: u16,
}

/// Decodes and validates a body. `Err` is the reason the message is poison.
pub fn decode(body: &[u8]) -> Result<Message, String> {
    let head: Head = serde_json::from_slice(body).map_err(|e| format!("undecodable envelope: {e}"))?;
    if head.schema_version != SCHEMA_VERSION {
        return Err(format!(
            "schema_version {} is not understood by this worker (it reads {SCHEMA_VERSION})",
            head.schema_version
        ));
    }
    match head.kind {
        MessageKind::PointsEarn => {
            let envelope: Envelope<EarnPayload> =
                serde_json::from_slice(body).map_err(|e| format!("invalid points.earn message: {e}"))?;
            schemas::points::check_key("idempotency_key", &envelope.idempotency_key)
                .map_err(|e| format!("invalid {}: {}", e.field, e.message))?;
            envelope.payload.validate().map_err(|e| format!("invalid {}: {}", e.field, e.message))?;
            Ok(Message::PointsEarn(envelope))
        }
    }
}
