//! The envelope every message on the broker carries, whatever its kind.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The schema version this build writes and reads. A message with another version is poison
/// for this build: it is parked with the reason, and can be replayed once a worker that
/// understands it is deployed.
pub const SCHEMA_VERSION: u16 = 1;

/// What a message asks the workers to do. The string form is the `kind` field on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum MessageKind {
    /// A produce (earn) event of seed 000: order paid, login, sign-in, …
    #[serde(rename = "points.earn")]
    PointsEarn,
    /// A spend (seed 000 consume).
    #[serde(rename = "points.consume")]
    PointsConsume,
    /// A reversal (冲正) of an earlier earn or spend.
    #[serde(rename = "points.reverse")]
    PointsReverse,
    /// Points into escrow for another member (转赠); keyed by `transfer_no`.
    #[serde(rename = "points.transfer")]
    PointsTransfer,
    /// The receiver takes a transfer (领取转赠); keyed by `transfer_no`, at most once.
    #[serde(rename = "points.accept")]
    PointsAccept,
    /// An operator freezes some of a member's points.
    #[serde(rename = "points.freeze")]
    PointsFreeze,
    /// An operator releases what an event froze.
    #[serde(rename = "points.unfreeze")]
    PointsUnfreeze,
    /// Run a card stock generation task (seed 003 add/stock).
    #[serde(rename = "cards.generate")]
    CardsGenerate,
    /// A member claims cards (seed 003 member/receive); keyed by `received_id`.
    #[serde(rename = "cards.receive")]
    CardsReceive,
    /// The POS redeems a code; keyed by `redeem_id`.
    #[serde(rename = "cards.redeem")]
    CardsRedeem,
    /// A cancelled sale reverses a redemption; keyed by its `redeem_id`.
    #[serde(rename = "cards.redeem_reverse")]
    CardsRedeemReverse,
    /// A member presents a code to a friend; keyed by the `present_id` the ingress made.
    #[serde(rename = "cards.present")]
    CardsPresent,
    /// A friend receives a present; keyed by `present_id/member_no`.
    #[serde(rename = "cards.present_receive")]
    CardsPresentReceive,
    /// A claim is undone (seed 003 receive_reverse); keyed by its `received_id`.
    #[serde(rename = "cards.receive_reverse")]
    CardsReceiveReverse,
    /// Seed 002 §5: points up or down by a pattern code; keyed by the `externalId` (event_no).
    #[serde(rename = "points.adjust")]
    PointsAdjust,
    /// Seed 002 §11: an order created paid, earning through `order_pay`; keyed by `orderNo`.
    #[serde(rename = "points.order")]
    PointsOrder,
    /// A later step of an order (update, refund, deleteRefund, cancel, delete); keyed by
    /// `orderNo/step/…` as the api composes it.
    #[serde(rename = "points.order_step")]
    PointsOrderStep,
}

impl MessageKind {
    /// Every kind, in the order the broker contract (`/asyncapi.json`) lists them.
    pub const ALL: &'static [MessageKind] = &[
        MessageKind::PointsEarn,
        MessageKind::PointsConsume,
        MessageKind::PointsReverse,
        MessageKind::PointsTransfer,
        MessageKind::PointsAccept,
        MessageKind::PointsFreeze,
        MessageKind::PointsUnfreeze,
        MessageKind::CardsGenerate,
        MessageKind::CardsReceive,
        MessageKind::CardsRedeem,
        MessageKind::CardsRedeemReverse,
        MessageKind::CardsPresent,
        MessageKind::CardsPresentReceive,
        MessageKind::CardsReceiveReverse,
        MessageKind::PointsAdjust,
        MessageKind::PointsOrder,
        MessageKind::PointsOrderStep,
    ];

    /// Which business key the message's `idempotency_key` is (the inbox keeps them apart).
    pub fn key_kind(self) -> &'static str {
        match self {
            MessageKind::PointsEarn
            | MessageKind::PointsConsume
            | MessageKind::PointsReverse
            | MessageKind::PointsFreeze
            | MessageKind::PointsUnfreeze
            | MessageKind::PointsAdjust => "event_no",
            MessageKind::PointsOrder => "order_no",
            MessageKind::PointsOrderStep => "order_step",
            MessageKind::PointsTransfer => "transfer_no",
            MessageKind::PointsAccept => "accept",
            MessageKind::CardsGenerate => "generate_id",
            MessageKind::CardsReceive => "received_id",
            MessageKind::CardsRedeem => "redeem_id",
            MessageKind::CardsRedeemReverse => "redeem_reverse",
            MessageKind::CardsPresent => "present_id",
            MessageKind::CardsPresentReceive => "present_receive",
            MessageKind::CardsReceiveReverse => "receive_reverse",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::PointsEarn => "points.earn",
            MessageKind::PointsConsume => "points.consume",
            MessageKind::PointsReverse => "points.reverse",
            MessageKind::PointsTransfer => "points.transfer",
            MessageKind::PointsAccept => "points.accept",
            MessageKind::PointsFreeze => "points.freeze",
            MessageKind::PointsUnfreeze => "points.unfreeze",
            MessageKind::CardsGenerate => "cards.generate",
            MessageKind::CardsReceive => "cards.receive",
            MessageKind::CardsRedeem => "cards.redeem",
            MessageKind::CardsRedeemReverse => "cards.redeem_reverse",
            MessageKind::CardsPresent => "cards.present",
            MessageKind::CardsPresentReceive => "cards.present_receive",
            MessageKind::CardsReceiveReverse => "cards.receive_reverse",
            MessageKind::PointsAdjust => "points.adjust",
            MessageKind::PointsOrder => "points.order",
            MessageKind::PointsOrderStep => "points.order_step",
        }
    }
}

/// The broker message: routing metadata plus the kind's payload.
///
/// `idempotency_key` is the business key the worker deduplicates on (`event_no` for points);
/// `message_id` identifies this publication (a client retry publishes a new one), so the
/// ingress can tell "applied by my message" from "a duplicate of an earlier one".
///
/// Its JSON Schema (`/asyncapi.json`) leaves `payload` open: each message of the contract
/// narrows it to its kind's payload type.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(bound = "")]
pub struct Envelope<P> {
    /// This publication's id (a UUID); also the AMQP `message_id` property.
    pub message_id: Uuid,
    pub kind: MessageKind,
    /// Must be the version the workers read (today 1); another is parked as poison.
    #[schema(minimum = 1, maximum = 1)]
    pub schema_version: u16,
    /// The tenant; a crm_id without a tenant is parked as poison.
    pub crm_id: String,
    /// The business time (RFC 3339).
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub occurred_at: DateTime<Utc>,
    /// The business key the workers deduplicate on (`event_no` for most points kinds; see each
    /// message): the same key applies at most once.
    #[schema(min_length = 1, max_length = 129)]
    pub idempotency_key: String,
    #[schema(value_type = Object)]
    pub payload: P,
    /// Where the message came from: not in the body but in the AMQP headers (`traceparent`,
    /// `x-request-id`), which the worker reads into this field when it decodes a delivery.
    #[serde(skip)]
    pub trace: Option<crate::trace::TraceContext>,
}

impl<P> Envelope<P> {
    pub fn new(kind: MessageKind, crm_id: String, key: String, occurred_at: DateTime<Utc>, payload: P) -> Self {
        Envelope {
            message_id: Uuid::now_v7(),
            kind,
            schema_version: SCHEMA_VERSION,
            crm_id,
            occurred_at,
            idempotency_key: key,
            payload,
            trace: None,
        }
    }

    /// The same envelope around another payload: the decoder's, which reads the envelope with
    /// its payload still raw JSON and then the payload as its kind's type.
    pub fn with_payload<Q>(self, payload: Q) -> Envelope<Q> {
        Envelope {
            message_id: self.message_id,
            kind: self.kind,
            schema_version: self.schema_version,
            crm_id: self.crm_id,
            occurred_at: self.occurred_at,
            idempotency_key: self.idempotency_key,
            payload,
            trace: self.trace,
        }
    }
}
