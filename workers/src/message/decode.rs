//! Decoding a delivery into a message this build understands, or a reason it is poison.

use schemas::{
    cards::{
        GeneratePayload, PresentPayload, PresentReceive, ReceivePayload, ReceiveReverse, RedeemPayload, RedeemReverse,
    },
    checks::{check_derived_key, check_key, check_ledger_key},
    orders::{AdjustPayload, OrderPayload, OrderStepPayload},
    points::{
        AcceptPayload, ConsumePayload, EarnPayload, FreezePayload, ReversePayload, TransferPayload, UnfreezePayload,
    },
    trace::TraceContext,
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

/// Decodes and validates a body; `trace` is the trace context its headers carry
/// (`platform::broker::headers::trace`). `Err` is the reason the message is poison.
pub fn decode(body: &[u8], trace: Option<TraceContext>) -> Result<Message, String> {
    let head: Head = serde_json::from_slice(body).map_err(|e| format!("undecodable envelope: {e}"))?;
    if head.schema_version != SCHEMA_VERSION {
        return Err(format!(
            "schema_version {} is not understood by this worker (it reads {SCHEMA_VERSION})",
            head.schema_version
        ));
    }
    let kind = head.kind;
    // Each kind runs its payload's `validate`, the one the HTTP request runs, and checks the key
    // as the HTTP request's: as its id field (`event_no`, `received_id`, …), or where the ingress
    // derives it from the payload, that the message carries that key.
    match kind {
        MessageKind::PointsEarn => decoded(body, trace, kind, plain(kind, EarnPayload::validate), Message::PointsEarn),
        MessageKind::PointsConsume => {
            decoded(body, trace, kind, plain(kind, ConsumePayload::validate), Message::PointsConsume)
        }
        MessageKind::PointsReverse => decoded(
            body,
            trace,
            kind,
            |key, p: &ReversePayload| {
                plain(kind, ReversePayload::validate)(key, p)?;
                p.check_event_no(key)
            },
            Message::PointsReverse,
        ),
        MessageKind::PointsTransfer => {
            decoded(body, trace, kind, plain(kind, TransferPayload::validate), Message::PointsTransfer)
        }
        MessageKind::PointsAccept => {
            decoded(body, trace, kind, keyed(AcceptPayload::validate, AcceptPayload::key), Message::PointsAccept)
        }
        MessageKind::PointsFreeze => {
            decoded(body, trace, kind, plain(kind, FreezePayload::validate), Message::PointsFreeze)
        }
        MessageKind::PointsUnfreeze => {
            decoded(body, trace, kind, plain(kind, UnfreezePayload::validate), Message::PointsUnfreeze)
        }
        MessageKind::CardsGenerate => {
            decoded(body, trace, kind, keyed(GeneratePayload::validate, GeneratePayload::key), Message::CardsGenerate)
        }
        MessageKind::CardsReceive => {
            decoded(body, trace, kind, plain(kind, ReceivePayload::validate), Message::CardsReceive)
        }
        MessageKind::CardsRedeem => {
            decoded(body, trace, kind, plain(kind, RedeemPayload::validate), Message::CardsRedeem)
        }
        MessageKind::CardsRedeemReverse => {
            decoded(body, trace, kind, keyed(RedeemReverse::validate, RedeemReverse::key), Message::CardsRedeemReverse)
        }
        MessageKind::CardsPresent => {
            decoded(body, trace, kind, plain(kind, PresentPayload::validate), Message::CardsPresent)
        }
        MessageKind::CardsPresentReceive => decoded(
            body,
            trace,
            kind,
            keyed(PresentReceive::validate, PresentReceive::key),
            Message::CardsPresentReceive,
        ),
        MessageKind::CardsReceiveReverse => decoded(
            body,
            trace,
            kind,
            keyed(ReceiveReverse::validate, ReceiveReverse::key),
            Message::CardsReceiveReverse,
        ),
        MessageKind::PointsAdjust => {
            decoded(body, trace, kind, plain(kind, AdjustPayload::validate), Message::PointsAdjust)
        }
        MessageKind::PointsOrder => decoded(
            body,
            trace,
            kind,
            |key, p: &OrderPayload| {
                check_key("orderNo", key)?;
                p.validate()
            },
            Message::PointsOrder,
        ),
        MessageKind::PointsOrderStep => decoded(
            body,
            trace,
            kind,
            |key, p: &OrderStepPayload| {
                p.validate()?;
                // The api composes the key as `{orderNo}/{step}…`: a key of another order is refused.
                if !key.starts_with(&format!("{}/", p.order_no)) {
                    return Err(FieldError::new("idempotency_key", "must start with the payload's orderNo and /"));
                }
                Ok(())
            },
            Message::PointsOrderStep,
        ),
    }
}

/// The check of a payload whose key is an id of the HTTP request (named by the kind's
/// `key_kind`): the key as that field, then the payload.
fn plain<P>(
    kind: MessageKind,
    validate: fn(&P) -> Result<(), FieldError>,
) -> impl Fn(&str, &P) -> Result<(), FieldError> {
    move |key, p| {
        match kind.key_kind() {
            // The key is the ledger row's event_no: never an order's (see check_ledger_key).
            "event_no" => check_ledger_key("event_no", key)?,
            other => check_key(other, key)?,
        }
        validate(p)
    }
}

/// The check of a payload whose key the ingress derives from it (`key`): valid, and the
/// message's `idempotency_key` is that key.
fn keyed<P>(
    validate: fn(&P) -> Result<(), FieldError>,
    key: fn(&P) -> String,
) -> impl Fn(&str, &P) -> Result<(), FieldError> {
    move |given, p| {
        validate(p)?;
        check_derived_key(given, &key(p))
    }
}

/// Decodes the envelope of `kind`, checks its key and its payload (`check`, given the key), and
/// wraps it.
fn decoded<P: DeserializeOwned>(
    body: &[u8],
    trace: Option<TraceContext>,
    kind: MessageKind,
    check: impl Fn(&str, &P) -> Result<(), FieldError>,
    wrap: fn(Envelope<P>) -> Message,
) -> Result<Message, String> {
    let mut e: Envelope<P> =
        serde_json::from_slice(body).map_err(|e| format!("invalid {} message: {e}", kind.as_str()))?;
    check_key("idempotency_key", &e.idempotency_key).map_err(invalid)?;
    check(&e.idempotency_key, &e.payload).map_err(invalid)?;
    e.trace = trace;
    Ok(wrap(e))
}

fn invalid(e: FieldError) -> String {
    format!("invalid {}: {}", e.field, e.message)
}
