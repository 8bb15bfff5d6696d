//! Analytics events: what the workers put in the outbox and the relay publishes on the analytics
//! exchange, one variant per `kind`. This is the contract the analytics consumer reads: each
//! variant serializes to exactly the JSON object the workers build today (same keys, same value
//! types, `null` where a value is absent), tagged by its `kind` string.
//!
//! Every event carries an `event_id` (a UUID v7 made when the event is built): the relay may send
//! a row twice, so consumers deduplicate on it ([`AnalyticsEvent::event_id`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{money::Cents, trace::TraceContext};

/// The dashboards' `dr` and `mode`.
pub mod range;

#[cfg(test)]
mod tests;

/// One analytics event; its `kind` names the change, `points.*` for the points ledger and
/// `cards.*` for cards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind")]
pub enum AnalyticsEvent {
    /// Points earned by a produce event (one per rule that awarded points).
    #[serde(rename = "points.produce")]
    PointsProduce(PointsProduced),
    /// Points spent.
    #[serde(rename = "points.consume")]
    PointsConsume(PointsLedgerRow),
    /// An earn reversed: the points it gave are taken back.
    #[serde(rename = "points.reverse_produce")]
    PointsReverseProduce(PointsLedgerRow),
    /// A spend reversed: the points it took are given back.
    #[serde(rename = "points.reverse_consume")]
    PointsReverseConsume(PointsLedgerRow),
    /// An operator froze points.
    #[serde(rename = "points.freeze")]
    PointsFreeze(PointsLedgerRow),
    /// Frozen points released (by an operator, or when an earn's `freeze_term` ends).
    #[serde(rename = "points.unfreeze")]
    PointsUnfreeze(PointsLedgerRow),
    /// Points moved into escrow by a transfer.
    #[serde(rename = "points.transfer")]
    PointsTransfer(PointsLedgerRow),
    /// A transfer accepted by its receiver.
    #[serde(rename = "points.accept")]
    PointsAccept(PointsLedgerRow),
    /// A transfer nobody accepted in time, back to its giver.
    #[serde(rename = "points.transfer_return")]
    PointsTransferReturn(PointsLedgerRow),
    /// Points expired.
    #[serde(rename = "points.expire")]
    PointsExpire(PointsLedgerRow),
    /// A member claimed codes of one card (one event per card of a claim).
    #[serde(rename = "cards.receive")]
    CardsReceive(CardReceived),
    /// A claim undone.
    #[serde(rename = "cards.receive_reverse")]
    CardsReceiveReverse(CardReceiveReversed),
    /// A code past its validity.
    #[serde(rename = "cards.expire")]
    CardsExpire(CardExpired),
    /// A code redeemed.
    #[serde(rename = "cards.redeem")]
    CardsRedeem(CardRedeemed),
    /// A redemption reversed.
    #[serde(rename = "cards.redeem_reverse")]
    CardsRedeemReverse(CardRedeemReversed),
    /// A member gave a code as a present.
    #[serde(rename = "cards.present")]
    CardsPresent(CardPresented),
    /// A friend received a present.
    #[serde(rename = "cards.present_receive")]
    CardsPresentReceive(CardPresentReceived),
    /// A present nobody received in time, back to its giver.
    #[serde(rename = "cards.present_return")]
    CardsPresentReturn(CardPresentReturned),
    /// A member's level changed (seed 002 levels): on an earn, on the schedule as windows slide,
    /// or when a definition changed. No personal data: the member is named by its ids.
    #[serde(rename = "members.level_change")]
    MembersLevelChange(MemberLevelChanged),
}

/// The routing keys the outbox relay publishes analytics messages with (one per writing
/// transaction's kind of change; `points.sweep` is the sweeper's expiries and returns). A test
/// of the workers' outbox holds every key its handlers write to this list, which the broker
/// contract (`/asyncapi.json`) publishes.
pub const ROUTING_KEYS: &[&str] = &[
    "points.produce",
    "points.consume",
    "points.reverse",
    "points.transfer",
    "points.accept",
    "points.freeze",
    "points.sweep",
    "cards.receive",
    "cards.receive_reverse",
    "cards.expire",
    "cards.redeem",
    "cards.redeem_reverse",
    "cards.present",
    "cards.present_receive",
    "cards.present_return",
    "members.level",
];

impl AnalyticsEvent {
    /// Every `kind`, as serde writes it (a unit test holds it to the enum).
    pub const KINDS: &'static [&'static str] = &[
        "points.produce",
        "points.consume",
        "points.reverse_produce",
        "points.reverse_consume",
        "points.freeze",
        "points.unfreeze",
        "points.transfer",
        "points.accept",
        "points.transfer_return",
        "points.expire",
        "cards.receive",
        "cards.receive_reverse",
        "cards.expire",
        "cards.redeem",
        "cards.redeem_reverse",
        "cards.present",
        "cards.present_receive",
        "cards.present_return",
        "members.level_change",
    ];

    /// The id consumers deduplicate on.
    pub fn event_id(&self) -> Uuid {
        self.head().0
    }

    /// The tenant of the event.
    pub fn crm_id(&self) -> &str {
        self.head().1
    }

    /// What every event carries: its id and its tenant.
    fn head(&self) -> (Uuid, &str) {
        match self {
            AnalyticsEvent::PointsProduce(e) => (e.event_id, &e.crm_id),
            AnalyticsEvent::PointsConsume(e)
            | AnalyticsEvent::PointsReverseProduce(e)
            | AnalyticsEvent::PointsReverseConsume(e)
            | AnalyticsEvent::PointsFreeze(e)
            | AnalyticsEvent::PointsUnfreeze(e)
            | AnalyticsEvent::PointsTransfer(e)
            | AnalyticsEvent::PointsAccept(e)
            | AnalyticsEvent::PointsTransferReturn(e)
            | AnalyticsEvent::PointsExpire(e) => (e.event_id, &e.crm_id),
            AnalyticsEvent::CardsReceive(e) => (e.event_id, &e.crm_id),
            AnalyticsEvent::CardsReceiveReverse(e) => (e.event_id, &e.crm_id),
            AnalyticsEvent::CardsExpire(e) => (e.event_id, &e.crm_id),
            AnalyticsEvent::CardsRedeem(e) => (e.event_id, &e.crm_id),
            AnalyticsEvent::CardsRedeemReverse(e) => (e.event_id, &e.crm_id),
            AnalyticsEvent::CardsPresent(e) => (e.event_id, &e.crm_id),
            AnalyticsEvent::CardsPresentReceive(e) => (e.event_id, &e.crm_id),
            AnalyticsEvent::CardsPresentReturn(e) => (e.event_id, &e.crm_id),
            AnalyticsEvent::MembersLevelChange(e) => (e.event_id, &e.crm_id),
        }
    }

    /// The event of a points ledger row (every points kind but `points.produce`, which the
    /// earn worker builds with its lot's times): the variant is the row's `event_type`.
    /// `Err` names an event type without a variant.
    pub fn points_ledger(row: PointsLedgerRow) -> Result<AnalyticsEvent, String> {
        Ok(match row.event_type.as_str() {
            "consume" => AnalyticsEvent::PointsConsume(row),
            "reverse_produce" => AnalyticsEvent::PointsReverseProduce(row),
            "reverse_consume" => AnalyticsEvent::PointsReverseConsume(row),
            "freeze" => AnalyticsEvent::PointsFreeze(row),
            "unfreeze" => AnalyticsEvent::PointsUnfreeze(row),
            "transfer" => AnalyticsEvent::PointsTransfer(row),
            "accept" => AnalyticsEvent::PointsAccept(row),
            "transfer_return" => AnalyticsEvent::PointsTransferReturn(row),
            "expire" => AnalyticsEvent::PointsExpire(row),
            other => return Err(format!("no analytics event for ledger event type `{other}`")),
        })
    }
}

/// `members.level_change`: a member's level moved from one definition to another (either may be
/// none: no level met, or the level was deleted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberLevelChanged {
    pub event_id: Uuid,
    pub crm_id: String,
    pub membership_id: i64,
    pub member_no: String,
    pub from_level: Option<i64>,
    pub to_level: Option<i64>,
    pub from_priority: Option<i64>,
    pub to_priority: Option<i64>,
    /// earn | schedule | rules
    pub reason: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub occurred_at: DateTime<Utc>,
}

/// `points.produce`: one award of one rule to a member, as the earn worker writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PointsProduced {
    pub event_id: Uuid,
    pub crm_id: String,
    pub member_no: String,
    pub event_no: String,
    /// Always `produce`.
    pub event_type: String,
    pub action_scene: String,
    pub rule_id: i64,
    pub points: i64,
    /// The order amount in yuan as a decimal string (`"99.90"`), or `null`.
    #[serde(default, with = "decimal_amount")]
    #[schema(value_type = Option<String>)]
    pub amount: Option<Cents>,
    pub store_code: Option<String>,
    pub cost_center: Option<String>,
    /// Spelled as the seed spells it.
    pub campagin_code: Option<String>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub expire_time: DateTime<Utc>,
    /// When the award becomes spendable; `null`: at once.
    #[serde(serialize_with = "crate::time::rfc3339_option")]
    pub unfreeze_time: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub occurred_at: DateTime<Utc>,
    /// The broker message that carried the earn event.
    pub message_id: Uuid,
    /// Where the change came from: the trace context (W3C `traceparent`, request id) of the
    /// message that caused it; absent for the sweeper's changes and messages without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceContext>,
}

/// A points ledger row other than an earn: the shape of every `points.*` kind but
/// `points.produce`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PointsLedgerRow {
    pub event_id: Uuid,
    pub crm_id: String,
    pub member_no: String,
    pub event_no: String,
    /// The event this row reverses, releases or settles; `null` when none.
    pub origin_event_no: Option<String>,
    /// The ledger's event type: the event's `kind` without `points.`.
    pub event_type: String,
    pub action_scene: String,
    pub rule_id: Option<i64>,
    /// Signed: negative when points leave the member's available balance.
    pub points: i64,
    /// The amount in yuan as a decimal string (`"99.90"`), or `null`.
    #[serde(default, with = "decimal_amount")]
    #[schema(value_type = Option<String>)]
    pub amount: Option<Cents>,
    pub store_code: Option<String>,
    pub cost_center: Option<String>,
    /// Spelled as the seed spells it.
    pub campagin_code: Option<String>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub occurred_at: DateTime<Utc>,
    /// Where the change came from: the trace context (W3C `traceparent`, request id) of the
    /// message that caused it; absent for the sweeper's changes and messages without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceContext>,
}

/// `cards.receive`: `quantity` codes of one card claimed by a member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CardReceived {
    pub event_id: Uuid,
    pub crm_id: String,
    pub member_no: String,
    pub card_id: String,
    pub quantity: i64,
    pub received_id: String,
    /// The claim's `out_str`.
    pub channel: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub occurred_at: DateTime<Utc>,
    /// Where the change came from: the trace context (W3C `traceparent`, request id) of the
    /// message that caused it; absent for the sweeper's changes and messages without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceContext>,
}

/// `cards.receive_reverse`: a claim undone, `codes` codes withdrawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CardReceiveReversed {
    pub event_id: Uuid,
    pub crm_id: String,
    pub member_no: String,
    pub received_id: String,
    pub codes: i64,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub occurred_at: DateTime<Utc>,
    /// Where the change came from: the trace context (W3C `traceparent`, request id) of the
    /// message that caused it; absent for the sweeper's changes and messages without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceContext>,
}

/// `cards.expire`: a code past the end of its validity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CardExpired {
    pub event_id: Uuid,
    pub crm_id: String,
    /// `null` for a code nobody had claimed.
    pub member_no: Option<String>,
    pub card_id: String,
    pub card_code: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub occurred_at: DateTime<Utc>,
    /// Where the change came from: the trace context (W3C `traceparent`, request id) of the
    /// message that caused it; absent for the sweeper's changes and messages without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceContext>,
}

/// `cards.redeem`: a code redeemed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CardRedeemed {
    pub event_id: Uuid,
    pub crm_id: String,
    pub member_no: String,
    pub card_id: String,
    pub card_code: String,
    pub redeem_id: String,
    /// The redemption's `redeem_channel`.
    pub channel: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub occurred_at: DateTime<Utc>,
    /// Where the change came from: the trace context (W3C `traceparent`, request id) of the
    /// message that caused it; absent for the sweeper's changes and messages without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceContext>,
}

/// `cards.redeem_reverse`: a redemption reversed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CardRedeemReversed {
    pub event_id: Uuid,
    pub crm_id: String,
    pub member_no: String,
    pub card_id: String,
    pub card_code: String,
    pub redeem_id: String,
    /// 1: the code is available again; 2: it had expired meanwhile.
    pub rollback_status: i16,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub occurred_at: DateTime<Utc>,
    /// Where the change came from: the trace context (W3C `traceparent`, request id) of the
    /// message that caused it; absent for the sweeper's changes and messages without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceContext>,
}

/// `cards.present`: a member gave a code as a present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CardPresented {
    pub event_id: Uuid,
    pub crm_id: String,
    /// The giver.
    pub member_no: String,
    pub card_id: String,
    pub card_code: String,
    pub present_id: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub occurred_at: DateTime<Utc>,
    /// Where the change came from: the trace context (W3C `traceparent`, request id) of the
    /// message that caused it; absent for the sweeper's changes and messages without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceContext>,
}

/// `cards.present_receive`: a friend received a present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CardPresentReceived {
    pub event_id: Uuid,
    pub crm_id: String,
    /// The receiver.
    pub member_no: String,
    /// The giver.
    pub from_member: String,
    pub card_id: String,
    pub present_id: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub occurred_at: DateTime<Utc>,
    /// Where the change came from: the trace context (W3C `traceparent`, request id) of the
    /// message that caused it; absent for the sweeper's changes and messages without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceContext>,
}

/// `cards.present_return`: a present nobody received in time, back to its giver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CardPresentReturned {
    pub event_id: Uuid,
    pub crm_id: String,
    /// The giver, who has the code back.
    pub member_no: String,
    pub card_id: String,
    pub present_id: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub occurred_at: DateTime<Utc>,
    /// Where the change came from: the trace context (W3C `traceparent`, request id) of the
    /// message that caused it; absent for the sweeper's changes and messages without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceContext>,
}

/// An optional amount as the ledger writes it in analytics: a decimal string in yuan
/// (`"99.90"`, see [`Cents::to_decimal_string`]) or `null`.
mod decimal_amount {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::money::Cents;

    pub fn serialize<S: Serializer>(amount: &Option<Cents>, s: S) -> Result<S::Ok, S::Error> {
        match amount {
            Some(c) => s.serialize_str(&c.to_decimal_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cents>, D::Error> {
        Option::<String>::deserialize(d)?.map(|s| Cents::parse(&s).map_err(serde::de::Error::custom)).transpose()
    }
}
