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
use serde_json::value::RawValue;

use super::Message;

/// The envelope with its payload not parsed yet: the body is read once, the payload then from
/// its own bytes as its kind's type. (Reading the routing fields first and then the whole
/// envelope as the kind's went over every body twice: a third of the decoding, issue 14.)
type Raw<'a> = Envelope<&'a RawValue>;

/// Only the routing fields: what an envelope that does not decode is reported by.
#[derive(Deserialize)]
struct Head {
    kind: MessageKind,
    schema_version: u16,
}

/// Decodes and validates a body; `trace` is the trace context its headers carry
/// (`platform::broker::headers::trace`). `Err` is the reason the message is poison.
pub fn decode(body: &[u8], trace: Option<TraceContext>) -> Result<Message, String> {
    let raw: Raw<'_> = match serde_json::from_slice(body) {
        Ok(raw) => raw,
        Err(e) => return Err(undecodable(body, e)),
    };
    check_version(raw.schema_version)?;
    let kind = raw.kind;
    // Each kind runs its payload's `validate`, the one the HTTP request runs, and checks the key
    // as the HTTP request's: as its id field (`event_no`, `received_id`, …), or where the ingress
    // derives it from the payload, that the message carries that key.
    match kind {
        MessageKind::PointsEarn => decoded(raw, trace, plain(kind, EarnPayload::validate), Message::PointsEarn),
        MessageKind::PointsConsume => {
            decoded(raw, trace, plain(kind, ConsumePayload::validate), Message::PointsConsume)
        }
        MessageKind::PointsReverse => decoded(
            raw,
            trace,
            |key, p: &ReversePayload| {
                plain(kind, ReversePayload::validate)(key, p)?;
                p.check_event_no(key)
            },
            Message::PointsReverse,
        ),
        MessageKind::PointsTransfer => {
            decoded(raw, trace, plain(kind, TransferPayload::validate), Message::PointsTransfer)
        }
        MessageKind::PointsAccept => {
            decoded(raw, trace, keyed(AcceptPayload::validate, AcceptPayload::key), Message::PointsAccept)
        }
        MessageKind::PointsFreeze => decoded(raw, trace, plain(kind, FreezePayload::validate), Message::PointsFreeze),
        MessageKind::PointsUnfreeze => {
            decoded(raw, trace, plain(kind, UnfreezePayload::validate), Message::PointsUnfreeze)
        }
        MessageKind::CardsGenerate => {
            decoded(raw, trace, keyed(GeneratePayload::validate, GeneratePayload::key), Message::CardsGenerate)
        }
        MessageKind::CardsReceive => decoded(raw, trace, plain(kind, ReceivePayload::validate), Message::CardsReceive),
        MessageKind::CardsRedeem => decoded(raw, trace, plain(kind, RedeemPayload::validate), Message::CardsRedeem),
        MessageKind::CardsRedeemReverse => {
            decoded(raw, trace, keyed(RedeemReverse::validate, RedeemReverse::key), Message::CardsRedeemReverse)
        }
        MessageKind::CardsPresent => decoded(raw, trace, plain(kind, PresentPayload::validate), Message::CardsPresent),
        MessageKind::CardsPresentReceive => {
            decoded(raw, trace, keyed(PresentReceive::validate, PresentReceive::key), Message::CardsPresentReceive)
        }
        MessageKind::CardsReceiveReverse => {
            decoded(raw, trace, keyed(ReceiveReverse::validate, ReceiveReverse::key), Message::CardsReceiveReverse)
        }
        MessageKind::PointsAdjust => decoded(raw, trace, plain(kind, AdjustPayload::validate), Message::PointsAdjust),
        MessageKind::PointsOrder => decoded(
            raw,
            trace,
            |key, p: &OrderPayload| {
                check_key("orderNo", key)?;
                p.validate()
            },
            Message::PointsOrder,
        ),
        MessageKind::PointsOrderStep => decoded(
            raw,
            trace,
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

/// Reads the payload of the raw envelope's kind, checks its key and its payload (`check`, given
/// the key), and wraps it.
fn decoded<P: DeserializeOwned>(
    raw: Raw<'_>,
    trace: Option<TraceContext>,
    check: impl Fn(&str, &P) -> Result<(), FieldError>,
    wrap: fn(Envelope<P>) -> Message,
) -> Result<Message, String> {
    let payload: P = serde_json::from_str(raw.payload.get())
        .map_err(|e| format!("invalid {} message: payload: {e}", raw.kind.as_str()))?;
    let mut e = raw.with_payload(payload);
    check_key("idempotency_key", &e.idempotency_key).map_err(invalid)?;
    check(&e.idempotency_key, &e.payload).map_err(invalid)?;
    e.trace = trace;
    Ok(wrap(e))
}

/// Only the version this build reads.
fn check_version(version: u16) -> Result<(), String> {
    if version != SCHEMA_VERSION {
        return Err(format!("schema_version {version} is not understood by this worker (it reads {SCHEMA_VERSION})"));
    }
    Ok(())
}

/// Why an envelope did not decode: another version's, one of a kind with a bad field, or none.
fn undecodable(body: &[u8], error: serde_json::Error) -> String {
    match serde_json::from_slice::<Head>(body) {
        Ok(head) => match check_version(head.schema_version) {
            Err(version) => version,
            Ok(()) => format!("invalid {} message: {error}", head.kind.as_str()),
        },
        Err(e) => format!("undecodable envelope: {e}"),
    }
}

fn invalid(e: FieldError) -> String {
    format!("invalid {}: {}", e.field, e.message)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn body(version: u16, kind: &str, message_id: &str, payload: Value) -> Vec<u8> {
        json!({
            "message_id": message_id, "kind": kind, "schema_version": version, "crm_id": "10080",
            "occurred_at": "2026-11-28T09:00:00Z", "idempotency_key": "e-1", "payload": payload,
        })
        .to_string()
        .into_bytes()
    }

    const ID: &str = "0191c9a4-7b2e-7c3d-9e1f-000000000001";

    #[test]
    fn an_envelope_decodes_once_with_its_kinds_payload_and_the_envelope_fields() {
        let payload = json!({"member_no": "m1", "action_scene": "order_pay", "amount": 1200, "store_code": "s\"1"});
        let Ok(Message::PointsEarn(e)) = decode(&body(SCHEMA_VERSION, "points.earn", ID, payload), None) else {
            panic!("an earn event")
        };
        assert_eq!(
            (e.message_id.to_string().as_str(), e.crm_id.as_str(), e.idempotency_key.as_str()),
            (ID, "10080", "e-1")
        );
        assert_eq!((e.payload.member_no.as_str(), e.payload.store_code.as_deref()), ("m1", Some("s\"1")));
        assert_eq!(e.payload.amount.map(|a| a.0), Some(1200));
    }

    #[test]
    fn a_bad_message_is_poison_with_a_reason_naming_what_is_wrong() {
        let reason = |b: Vec<u8>| decode(&b, None).expect_err("poison");
        let earn = json!({"member_no": "m1", "action_scene": "order_pay"});
        // Another version, even one whose envelope this build cannot read.
        assert!(reason(body(2, "points.earn", ID, earn.clone())).starts_with("schema_version 2 is not understood"));
        assert!(reason(body(2, "points.earn", "not-a-uuid", earn.clone())).starts_with("schema_version 2"));
        // A payload that is not the kind's, and an envelope field that is wrong: the kind is named.
        let missing = reason(body(SCHEMA_VERSION, "points.earn", ID, json!({"action_scene": "x"})));
        assert!(missing.starts_with("invalid points.earn message: payload: missing field `member_no`"), "{missing}");
        let bad_id = reason(body(SCHEMA_VERSION, "points.earn", "not-a-uuid", earn.clone()));
        assert!(bad_id.starts_with("invalid points.earn message: "), "{bad_id}");
        // A valid payload with an invalid field, and a body that is no envelope at all.
        let scene = reason(body(SCHEMA_VERSION, "points.earn", ID, json!({"member_no": "m1", "action_scene": ""})));
        assert!(scene.starts_with("invalid action_scene"), "{scene}");
        assert!(reason(b"{\"kind\": 1".to_vec()).starts_with("undecodable envelope"));
    }
}
