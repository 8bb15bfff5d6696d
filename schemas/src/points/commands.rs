//! Points commands: the request bodies of the earn, consume, reverse, transfer/accept and
//! freeze/unfreeze endpoints, and the broker payloads they become, with their validation.
//!
//! Validation lives beside the types so the ingress and the workers check the same things: a
//! worker re-validates every payload, since anyone with broker access can publish.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::MAX_POINTS;
use crate::{
    checks::{check_key, check_ledger_key, check_len, check_note, check_range, check_scene},
    money::{amount_from_json, check_amount, de_amount, Cents},
    FieldError,
};

/// `POST /api/crm/mgr/points/{crm_id}/events`: one produce event from an upstream system.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EarnEventRequest {
    /// The upstream system's unique id of this event: the idempotency key.
    pub event_no: String,
    pub member_no: String,
    /// A produce scene: built-in (`order_pay`, `user_login`, …) or one of the tenant's own.
    pub action_scene: String,
    /// Order amount in yuan (number or string, at most two decimals); needed by `order` rules.
    #[serde(default, deserialize_with = "de_amount")]
    #[schema(value_type = Option<f64>)]
    pub amount: Option<Cents>,
    #[serde(default)]
    pub order_items: Option<Value>,
    #[serde(default)]
    pub store_code: Option<String>,
    #[serde(default)]
    pub cost_center: Option<String>,
    /// Spelled as the seed spells it.
    #[serde(default)]
    pub campagin_code: Option<String>,
    #[serde(default)]
    pub operator: Option<String>,
    #[serde(default)]
    pub event_desc: Option<String>,
    /// How the order was paid (seed 004's `method_id`): a level rule earns only on its allowed methods.
    #[serde(default)]
    pub pay_method: Option<String>,
    /// When it happened: `YYYY-MM-DD HH:MM:SS` in the tenant's zone, or RFC 3339. Default: now.
    #[serde(default)]
    pub occurred_at: Option<String>,
}

/// The payload of a `points.earn` message (the event number travels as the envelope's key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EarnPayload {
    pub member_no: String,
    pub action_scene: String,
    /// In cents (the request's `amount` in yuan × 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub amount: Option<Cents>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_items: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_center: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campagin_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_desc: Option<String>,
    /// Seed 004's pay method id; absent in messages from before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pay_method: Option<String>,
}

impl EarnEventRequest {
    /// Checks every field and splits the request into its key and the broker payload.
    pub fn validate(self) -> Result<(String, Option<String>, EarnPayload), FieldError> {
        check_ledger_key("event_no", &self.event_no)?;
        let payload = EarnPayload {
            member_no: self.member_no,
            action_scene: self.action_scene,
            amount: self.amount,
            order_items: self.order_items,
            store_code: self.store_code,
            cost_center: self.cost_center,
            campagin_code: self.campagin_code,
            operator: self.operator,
            event_desc: self.event_desc,
            pay_method: self.pay_method,
        };
        payload.validate()?;
        Ok((self.event_no, self.occurred_at, payload))
    }
}

impl EarnPayload {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_key("member_no", &self.member_no)?;
        check_scene("action_scene", &self.action_scene)?;
        if let Some(amount) = self.amount {
            check_amount("amount", amount)?;
        }
        if let Some(items) = &self.order_items {
            if !(items.is_array() || items.is_object() || items.is_null()) {
                return Err(FieldError::new("order_items", "must be an array or an object"));
            }
        }
        for (field, value) in [
            ("store_code", &self.store_code),
            ("cost_center", &self.cost_center),
            ("campagin_code", &self.campagin_code),
            ("operator", &self.operator),
            ("pay_method", &self.pay_method),
        ] {
            if let Some(v) = value {
                check_len(field, v, 128)?;
            }
        }
        if let Some(desc) = &self.event_desc {
            check_len("event_desc", desc, 512)?;
        }
        Ok(())
    }
}

/// `POST .../consume` and `.../consume/preview`: spend `points`, or as many points as the spend
/// rule lets pay for `amount`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumeRequest {
    /// The idempotency key (not needed by the preview).
    #[serde(default)]
    pub event_no: Option<String>,
    pub member_no: String,
    /// A consume scene (`user_discount`, or one of the tenant's spend rules).
    pub action_scene: String,
    #[serde(default)]
    pub points: Option<i64>,
    #[serde(default, deserialize_with = "de_amount")]
    #[schema(value_type = Option<f64>)]
    pub amount: Option<Cents>,
    /// Selects the spend rule's tier (`consume_level`).
    #[serde(default)]
    pub member_level: Option<i64>,
    /// `[{"sku": "...", "amount": 12.5}, ...]`; with a goods whitelist only listed SKUs count.
    #[serde(default)]
    pub order_items: Option<Value>,
    #[serde(default)]
    pub store_code: Option<String>,
    #[serde(default)]
    pub cost_center: Option<String>,
    #[serde(default)]
    pub campagin_code: Option<String>,
    #[serde(default)]
    pub operator: Option<String>,
    #[serde(default)]
    pub event_desc: Option<String>,
    /// The order also uses a coupon: a level rule (seed 004) with `with_coupon` false refuses the spend.
    #[serde(default)]
    pub with_coupon: Option<bool>,
    #[serde(default)]
    pub occurred_at: Option<String>,
}

/// The payload of a `points.consume` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumePayload {
    pub member_no: String,
    pub action_scene: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<i64>,
    /// In cents (the request's `amount` in yuan × 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub amount: Option<Cents>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_level: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_items: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_center: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campagin_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_desc: Option<String>,
    /// Seed 004's coupon flag; absent in messages from before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_coupon: Option<bool>,
}

impl ConsumeRequest {
    /// Checks every field; splits off the key and the time.
    pub fn validate(self) -> Result<(Option<String>, Option<String>, ConsumePayload), FieldError> {
        if let Some(key) = &self.event_no {
            check_ledger_key("event_no", key)?;
        }
        let payload = ConsumePayload {
            member_no: self.member_no,
            action_scene: self.action_scene,
            points: self.points,
            amount: self.amount,
            member_level: self.member_level,
            order_items: self.order_items,
            store_code: self.store_code,
            cost_center: self.cost_center,
            campagin_code: self.campagin_code,
            operator: self.operator,
            event_desc: self.event_desc,
            with_coupon: self.with_coupon,
        };
        payload.validate()?;
        Ok((self.event_no, self.occurred_at, payload))
    }
}

impl ConsumePayload {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_key("member_no", &self.member_no)?;
        check_scene("action_scene", &self.action_scene)?;
        if let Some(amount) = self.amount {
            check_amount("amount", amount)?;
        }
        match (self.points, self.amount) {
            (None, None) => return Err(FieldError::new("points", "send points, or an amount to pay with points")),
            (Some(p), _) => check_range("points", p, 1, MAX_POINTS)?,
            (None, Some(_)) => {}
        }
        if let Some(level) = self.member_level {
            check_range("member_level", level, 0, 1000)?;
        }
        order_item_amounts(self.order_items.as_ref()).map_err(|m| FieldError::new("order_items", m))?;
        for (field, value) in [
            ("store_code", &self.store_code),
            ("cost_center", &self.cost_center),
            ("campagin_code", &self.campagin_code),
            ("operator", &self.operator),
        ] {
            if let Some(v) = value {
                check_len(field, v, 128)?;
            }
        }
        if let Some(desc) = &self.event_desc {
            check_len("event_desc", desc, 512)?;
        }
        Ok(())
    }

    /// The amount the points may pay for: with a goods whitelist, only the listed SKUs' amounts.
    pub fn payable_amount(&self, white: Option<&[String]>) -> Option<Cents> {
        let amount = self.amount?;
        let Some(white) = white else { return Some(amount) };
        let items = order_item_amounts(self.order_items.as_ref()).ok().flatten().unwrap_or_default();
        let listed: i64 = items.iter().filter(|(sku, _)| white.contains(sku)).map(|(_, c)| c.0).sum();
        Some(Cents(listed.min(amount.0)))
    }
}

/// `order_items` as (sku, amount) pairs; `Ok(None)` when absent. Items without both are skipped
/// only if the list is not an array of objects at all (then it is an error).
pub fn order_item_amounts(items: Option<&Value>) -> Result<Option<Vec<(String, Cents)>>, String> {
    let Some(items) = items else { return Ok(None) };
    if items.is_null() {
        return Ok(None);
    }
    let list = items.as_array().ok_or("must be a list of {\"sku\", \"amount\"} objects")?;
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        let sku = item.get("sku").and_then(Value::as_str);
        // The reason of a bad amount is dropped: the message below names the item's shape.
        let amount = item.get("amount").map(|a| amount_from_json(a, "an amount"));
        match (sku, amount) {
            (Some(sku), Some(Ok(Some(c)))) => out.push((sku.to_string(), c)),
            (None, None) => {} // an item shape of the caller's own: it simply does not count
            _ => return Err("every item with a sku needs an amount (and the reverse)".into()),
        }
    }
    Ok(Some(out))
}

/// `POST .../reverse`: undo an earlier event (an earn or a spend), fully or by `points`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReverseRequest {
    pub event_no: String,
    pub origin_event_no: String,
    #[serde(default)]
    pub points: Option<i64>,
    #[serde(default)]
    pub operator: Option<String>,
    #[serde(default)]
    pub event_desc: Option<String>,
    #[serde(default)]
    pub occurred_at: Option<String>,
}

/// The payload of a `points.reverse` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReversePayload {
    pub origin_event_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_desc: Option<String>,
}

impl ReverseRequest {
    pub fn validate(self) -> Result<(String, Option<String>, ReversePayload), FieldError> {
        check_ledger_key("event_no", &self.event_no)?;
        let payload = ReversePayload {
            origin_event_no: self.origin_event_no,
            points: self.points,
            operator: self.operator,
            event_desc: self.event_desc,
        };
        payload.validate()?;
        payload.check_event_no(&self.event_no)?;
        Ok((self.event_no, self.occurred_at, payload))
    }
}

impl ReversePayload {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_ledger_key("origin_event_no", &self.origin_event_no)?;
        if let Some(p) = self.points {
            check_range("points", p, 1, MAX_POINTS)?;
        }
        check_note(self.operator.as_deref(), self.event_desc.as_deref())?;
        Ok(())
    }

    /// A reversal's own key (`event_no`, or a message's `idempotency_key`) must name another
    /// event than the one it reverses.
    pub fn check_event_no(&self, event_no: &str) -> Result<(), FieldError> {
        if event_no == self.origin_event_no {
            return Err(FieldError::new("origin_event_no", "must name another event than event_no"));
        }
        Ok(())
    }
}

/// `POST .../transfer`: a member gives points to whoever accepts the transfer.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// The transfer's id: its idempotency key, and what the receiver accepts.
    pub transfer_no: String,
    /// The giver.
    pub member_no: String,
    pub points: i64,
    #[serde(default)]
    pub operator: Option<String>,
    #[serde(default)]
    pub event_desc: Option<String>,
    #[serde(default)]
    pub occurred_at: Option<String>,
}

/// Points a member moves out of their available lots, with the operator's note: the payload
/// of a `points.transfer` (into escrow) and of a `points.freeze` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MovePayload {
    pub member_no: String,
    pub points: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_desc: Option<String>,
}

impl MovePayload {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_key("member_no", &self.member_no)?;
        check_range("points", self.points, 1, MAX_POINTS)?;
        check_note(self.operator.as_deref(), self.event_desc.as_deref())?;
        Ok(())
    }
}

/// The payload of a `points.transfer` message.
pub type TransferPayload = MovePayload;

impl TransferRequest {
    pub fn validate(self) -> Result<(String, Option<String>, TransferPayload), FieldError> {
        check_key("transfer_no", &self.transfer_no)?;
        let payload = TransferPayload {
            member_no: self.member_no,
            points: self.points,
            operator: self.operator,
            event_desc: self.event_desc,
        };
        payload.validate()?;
        Ok((self.transfer_no, self.occurred_at, payload))
    }
}

/// `POST .../accept`: the receiver takes a transfer.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    pub transfer_no: String,
    /// The receiver.
    pub member_no: String,
    #[serde(default)]
    pub occurred_at: Option<String>,
}

/// The payload of a `points.accept` message. Its idempotency key is
/// [`AcceptPayload::key`]: one member's acceptance of one transfer, so a refused attempt (the
/// giver, a late one) never blocks the real receiver; the transfer's status makes it accepted
/// at most once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptPayload {
    pub transfer_no: String,
    pub member_no: String,
}

impl AcceptRequest {
    pub fn validate(self) -> Result<(String, Option<String>, AcceptPayload), FieldError> {
        let payload = AcceptPayload { transfer_no: self.transfer_no, member_no: self.member_no };
        payload.validate()?;
        Ok((payload.key(), self.occurred_at, payload))
    }
}

impl AcceptPayload {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_key("transfer_no", &self.transfer_no)?;
        check_key("member_no", &self.member_no)
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.transfer_no, self.member_no)
    }
}

/// `POST .../freeze`: an operator freezes some of a member's available points.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeRequest {
    pub event_no: String,
    pub member_no: String,
    pub points: i64,
    #[serde(default)]
    pub operator: Option<String>,
    #[serde(default)]
    pub event_desc: Option<String>,
    #[serde(default)]
    pub occurred_at: Option<String>,
}

/// The payload of a `points.freeze` message.
pub type FreezePayload = MovePayload;

impl FreezeRequest {
    pub fn validate(self) -> Result<(String, Option<String>, FreezePayload), FieldError> {
        check_ledger_key("event_no", &self.event_no)?;
        let payload = FreezePayload {
            member_no: self.member_no,
            points: self.points,
            operator: self.operator,
            event_desc: self.event_desc,
        };
        payload.validate()?;
        Ok((self.event_no, self.occurred_at, payload))
    }
}

/// `POST .../unfreeze`: releases what an earlier event froze (an operator's freeze, or an
/// earn's `freeze_term`) now.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnfreezeRequest {
    pub event_no: String,
    pub origin_event_no: String,
    #[serde(default)]
    pub operator: Option<String>,
    #[serde(default)]
    pub occurred_at: Option<String>,
}

/// The payload of a `points.unfreeze` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnfreezePayload {
    pub origin_event_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
}

impl UnfreezeRequest {
    pub fn validate(self) -> Result<(String, Option<String>, UnfreezePayload), FieldError> {
        check_ledger_key("event_no", &self.event_no)?;
        let payload = UnfreezePayload { origin_event_no: self.origin_event_no, operator: self.operator };
        payload.validate()?;
        Ok((self.event_no, self.occurred_at, payload))
    }
}

impl UnfreezePayload {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_ledger_key("origin_event_no", &self.origin_event_no)?;
        check_note(self.operator.as_deref(), None)?;
        Ok(())
    }
}
