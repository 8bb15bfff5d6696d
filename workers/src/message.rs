//! Decoding a delivery into a message this build understands, or a reason it is poison.

use schemas::{
    cards::{
        GeneratePayload, PresentPayload, PresentReceive, ReceivePayload, ReceiveReverse, RedeemPayload, RedeemReverse,
    },
    points::{
        AcceptPayload, ConsumePayload, EarnPayload, FreezePayload, ReversePayload, TransferPayload, UnfreezePayload,
    },
    Envelope, MessageKind, SCHEMA_VERSION,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// A decoded, validated message.
#[derive(Debug, Clone)]
pub enum Message {
    PointsEarn(Envelope<EarnPayload>),
    PointsConsume(Envelope<ConsumePayload>),
    PointsReverse(Envelope<ReversePayload>),
    PointsTransfer(Envelope<TransferPayload>),
    PointsAccept(Envelope<AcceptPayload>),
    PointsFreeze(Envelope<FreezePayload>),
    PointsUnfreeze(Envelope<UnfreezePayload>),
    CardsGenerate(Envelope<GeneratePayload>),
    CardsReceive(Envelope<ReceivePayload>),
    CardsRedeem(Envelope<RedeemPayload>),
    CardsRedeemReverse(Envelope<RedeemReverse>),
    CardsPresent(Envelope<PresentPayload>),
    CardsPresentReceive(Envelope<PresentReceive>),
    CardsReceiveReverse(Envelope<ReceiveReverse>),
}

impl Message {
    pub fn crm_id(&self) -> &str {
        match self {
            Message::PointsEarn(e) => &e.crm_id,
            Message::PointsConsume(e) => &e.crm_id,
            Message::PointsReverse(e) => &e.crm_id,
            Message::PointsTransfer(e) => &e.crm_id,
            Message::PointsAccept(e) => &e.crm_id,
            Message::PointsFreeze(e) => &e.crm_id,
            Message::PointsUnfreeze(e) => &e.crm_id,
            Message::CardsGenerate(e) => &e.crm_id,
            Message::CardsReceive(e) => &e.crm_id,
            Message::CardsRedeem(e) => &e.crm_id,
            Message::CardsRedeemReverse(e) => &e.crm_id,
            Message::CardsPresent(e) => &e.crm_id,
            Message::CardsPresentReceive(e) => &e.crm_id,
            Message::CardsReceiveReverse(e) => &e.crm_id,
        }
    }
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
            let e: Envelope<EarnPayload> = envelope(body, head.kind)?;
            e.payload.validate().map_err(invalid)?;
            Ok(Message::PointsEarn(e))
        }
        MessageKind::PointsConsume => {
            let e: Envelope<ConsumePayload> = envelope(body, head.kind)?;
            e.payload.validate().map_err(invalid)?;
            Ok(Message::PointsConsume(e))
        }
        MessageKind::PointsReverse => {
            let e: Envelope<ReversePayload> = envelope(body, head.kind)?;
            e.payload.validate().map_err(invalid)?;
            Ok(Message::PointsReverse(e))
        }
        MessageKind::PointsTransfer => {
            let e: Envelope<TransferPayload> = envelope(body, head.kind)?;
            e.payload.validate().map_err(invalid)?;
            Ok(Message::PointsTransfer(e))
        }
        MessageKind::PointsAccept => {
            let e: Envelope<AcceptPayload> = envelope(body, head.kind)?;
            e.payload.validate().map_err(invalid)?;
            Ok(Message::PointsAccept(e))
        }
        MessageKind::PointsFreeze => {
            let e: Envelope<FreezePayload> = envelope(body, head.kind)?;
            e.payload.validate().map_err(invalid)?;
            Ok(Message::PointsFreeze(e))
        }
        MessageKind::PointsUnfreeze => {
            let e: Envelope<UnfreezePayload> = envelope(body, head.kind)?;
            e.payload.validate().map_err(invalid)?;
            Ok(Message::PointsUnfreeze(e))
        }
        MessageKind::CardsGenerate => {
            let e: Envelope<GeneratePayload> = envelope(body, head.kind)?;
            schemas::points::check_key("card_id", &e.payload.card_id).map_err(invalid)?;
            schemas::points::check_key("generate_id", &e.payload.generate_id).map_err(invalid)?;
            Ok(Message::CardsGenerate(e))
        }
        MessageKind::CardsReceive => {
            let e: Envelope<ReceivePayload> = envelope(body, head.kind)?;
            e.payload.validate().map_err(invalid)?;
            Ok(Message::CardsReceive(e))
        }
        MessageKind::CardsRedeem => {
            let e: Envelope<RedeemPayload> = envelope(body, head.kind)?;
            e.payload.validate().map_err(invalid)?;
            Ok(Message::CardsRedeem(e))
        }
        MessageKind::CardsRedeemReverse => {
            let e: Envelope<RedeemReverse> = envelope(body, head.kind)?;
            schemas::points::check_key("redeem_id", &e.payload.redeem_id).map_err(invalid)?;
            Ok(Message::CardsRedeemReverse(e))
        }
        MessageKind::CardsPresent => {
            let e: Envelope<PresentPayload> = envelope(body, head.kind)?;
            e.payload.validate().map_err(invalid)?;
            Ok(Message::CardsPresent(e))
        }
        MessageKind::CardsPresentReceive => {
            let e: Envelope<PresentReceive> = envelope(body, head.kind)?;
            e.payload.validate().map_err(invalid)?;
            Ok(Message::CardsPresentReceive(e))
        }
        MessageKind::CardsReceiveReverse => {
            let e: Envelope<ReceiveReverse> = envelope(body, head.kind)?;
            schemas::points::check_key("received_id", &e.payload.received_id).map_err(invalid)?;
            Ok(Message::CardsReceiveReverse(e))
        }
    }
}

fn envelope<P: DeserializeOwned>(body: &[u8], kind: MessageKind) -> Result<Envelope<P>, String> {
    let e: Envelope<P> = serde_json::from_slice(body).map_err(|e| format!("invalid {} message: {e}", kind.as_str()))?;
    schemas::points::check_key("idempotency_key", &e.idempotency_key).map_err(invalid)?;
    Ok(e)
}

fn invalid(e: schemas::FieldError) -> String {
    format!("invalid {}: {}", e.field, e.message)
}
