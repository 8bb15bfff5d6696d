//! Decoding a delivery into a message this build understands, or a reason it is poison.

use schemas::{
    cards::{
        GeneratePayload, PresentPayload, PresentReceive, ReceivePayload, ReceiveReverse, RedeemPayload, RedeemReverse,
    },
    checks::check_key,
    points::{
        AcceptPayload, ConsumePayload, EarnPayload, FreezePayload, ReversePayload, TransferPayload, UnfreezePayload,
    },
    Envelope, FieldError, MessageKind, SCHEMA_VERSION,
};
use serde::{de::DeserializeOwned, Deserialize};

use super::Message;

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
    let kind = head.kind;
    match kind {
        MessageKind::PointsEarn => decoded(body, kind, EarnPayload::validate, Message::PointsEarn),
        MessageKind::PointsConsume => decoded(body, kind, ConsumePayload::validate, Message::PointsConsume),
        MessageKind::PointsReverse => decoded(body, kind, ReversePayload::validate, Message::PointsReverse),
        MessageKind::PointsTransfer => decoded(body, kind, TransferPayload::validate, Message::PointsTransfer),
        MessageKind::PointsAccept => decoded(body, kind, AcceptPayload::validate, Message::PointsAccept),
        MessageKind::PointsFreeze => decoded(body, kind, FreezePayload::validate, Message::PointsFreeze),
        MessageKind::PointsUnfreeze => decoded(body, kind, UnfreezePayload::validate, Message::PointsUnfreeze),
        MessageKind::CardsGenerate => decoded(
            body,
            kind,
            |p: &GeneratePayload| {
                check_key("card_id", &p.card_id)?;
                check_key("generate_id", &p.generate_id)
            },
            Message::CardsGenerate,
        ),
        MessageKind::CardsReceive => decoded(body, kind, ReceivePayload::validate, Message::CardsReceive),
        MessageKind::CardsRedeem => decoded(body, kind, RedeemPayload::validate, Message::CardsRedeem),
        MessageKind::CardsRedeemReverse => {
            decoded(body, kind, |p: &RedeemReverse| check_key("redeem_id", &p.redeem_id), Message::CardsRedeemReverse)
        }
        MessageKind::CardsPresent => decoded(body, kind, PresentPayload::validate, Message::CardsPresent),
        MessageKind::CardsPresentReceive => decoded(body, kind, PresentReceive::validate, Message::CardsPresentReceive),
        MessageKind::CardsReceiveReverse => decoded(
            body,
            kind,
            |p: &ReceiveReverse| check_key("received_id", &p.received_id),
            Message::CardsReceiveReverse,
        ),
    }
}

/// Decodes the envelope of `kind`, checks its key and its payload (`check`), and wraps it.
fn decoded<P: DeserializeOwned>(
    body: &[u8],
    kind: MessageKind,
    check: impl Fn(&P) -> Result<(), FieldError>,
    wrap: fn(Envelope<P>) -> Message,
) -> Result<Message, String> {
    let e: Envelope<P> = serde_json::from_slice(body).map_err(|e| format!("invalid {} message: {e}", kind.as_str()))?;
    check_key("idempotency_key", &e.idempotency_key).map_err(invalid)?;
    check(&e.payload).map_err(invalid)?;
    Ok(wrap(e))
}

fn invalid(e: FieldError) -> String {
    format!("invalid {}: {}", e.field, e.message)
}
