//! Seed 002's ledger writes: orders (deals, §11) with their steps, and points up and down (§5).
//! The request bodies are read here from JSON, naming the field on every refusal; the broker
//! payloads are what the points workers apply (amounts in integer cents, as every payload).
//!
//! Both go through the points queue: an order's points are earned by the earn computation of
//! the points workers and taken back by their exact reversal, so there is one ledger.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{
    checks::{check_key, check_len},
    members::{parse_datetime, Identity},
    money::{amount_from_json, check_amount, Cents},
    FieldError,
};

/// The message of a required field that is absent (the api answers it as the seed's `400005`).
pub const MISSING: &str = "missing";

/// Largest number of points one incr/decr may name.
pub const MAX_ADJUST_POINTS: i64 = 1_000_000_000;

/// Most lines one order may carry.
pub const MAX_LINES: usize = 500;

/// The ledger `event_no` of an order's points: every produce row of the order (the base award
/// and any campaign bonus) carries it, so a refund or cancel finds them all.
pub fn order_event_no(order_no: &str) -> String {
    format!("{ORDER_EVENT_PREFIX}{order_no}")
}

/// The prefix of orders' ledger `event_no`s, reserved: no native points event may use it.
pub const ORDER_EVENT_PREFIX: &str = "deal/";

/// The earn scene of a points incr/decr: `dmhub_pattern_N`.
pub fn pattern_scene(pattern: i64) -> String {
    format!("dmhub_pattern_{pattern}")
}

/// Points up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Incr,
    Decr,
}

/// The payload of a `points.adjust` message (seed 002 §5; the key is the `externalId`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustPayload {
    pub member_no: String,
    pub direction: Direction,
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub points: i64,
    /// The seed's pattern code: incr 0-5, decr 0-6 (6 积分失效 is an expiry).
    #[schema(minimum = 0, maximum = 6)]
    pub pattern: i64,
}

impl AdjustPayload {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_key("member_no", &self.member_no)?;
        if !(1..=MAX_ADJUST_POINTS).contains(&self.points) {
            return Err(FieldError::new("point", format!("must be between 1 and {MAX_ADJUST_POINTS}")));
        }
        let max = match self.direction {
            Direction::Incr => 5,
            Direction::Decr => 6,
        };
        if !(0..=max).contains(&self.pattern) {
            return Err(FieldError::new("pattern", format!("must be between 0 and {max}")));
        }
        Ok(())
    }
}

/// One line of an order (订单行) as stored and carried; amounts in cents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DealLine {
    pub line_id: String,
    pub product_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The quantity (a number; fractions allowed: weighed goods).
    pub qty: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub price_unit: Option<Cents>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub price_sub_total: Option<Cents>,
}

impl DealLine {
    /// What the line counts for when the order's points are shared out: `priceSubTotal`, else
    /// `priceUnit × qty` (rounded to the cent), else nothing (then all lines share equally).
    pub fn weight(&self) -> Option<i64> {
        self.price_sub_total.map(|c| c.0).or_else(|| self.price_unit.map(|u| (u.0 as f64 * self.qty).round() as i64))
    }
}

/// An order's header and lines (订单头 + 订单行), as stored and carried; amounts in cents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deal {
    pub sales_channel: String,
    pub store: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub date_order: DateTime<Utc>,
    #[schema(value_type = i64)]
    pub amount_discount: Cents,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub amount_total: Option<Cents>,
    #[schema(value_type = i64)]
    pub amount_paid: Cents,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_term: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_tel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_province: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_county: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_street: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<String>,
    pub deal_lines: Vec<DealLine>,
}

/// The optional text fields of the header, with their JSON names (each at most 256).
const HEADER_TEXTS: &[&str] = &[
    "type",
    "couponCode",
    "groupId",
    "paymentTerm",
    "paymentNo",
    "shippingMethod",
    "contactName",
    "contactTel",
    "shippingProvince",
    "shippingCity",
    "shippingCounty",
    "shippingStreet",
    "shippingAddress",
];

fn required<'a>(body: &'a Map<String, Value>, field: &str, at: &str) -> Result<&'a Value, FieldError> {
    match body.get(field) {
        None | Some(Value::Null) => Err(FieldError::new(field, MISSING).within(at)),
        Some(v) => Ok(v),
    }
}

fn text(body: &Map<String, Value>, field: &str, at: &str, max: usize) -> Result<Option<String>, FieldError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            check_len(field, s, max).map_err(|e| e.within(at))?;
            Ok(Some(s.clone()))
        }
        Some(_) => Err(FieldError::new(field, "must be a text").within(at)),
    }
}

fn required_text(body: &Map<String, Value>, field: &str, at: &str, max: usize) -> Result<String, FieldError> {
    required(body, field, at)?;
    let t = text(body, field, at, max)?.unwrap_or_default();
    if t.trim().is_empty() {
        return Err(FieldError::new(field, "must not be blank").within(at));
    }
    Ok(t)
}

fn money(body: &Map<String, Value>, field: &str, at: &str) -> Result<Option<Cents>, FieldError> {
    let v = body.get(field).unwrap_or(&Value::Null);
    let cents = amount_from_json(v, "a number").map_err(|e| FieldError::new(field, e).within(at))?;
    if let Some(c) = cents {
        check_amount(field, c).map_err(|e| e.within(at))?;
    }
    Ok(cents)
}

fn required_money(body: &Map<String, Value>, field: &str, at: &str) -> Result<Cents, FieldError> {
    required(body, field, at)?;
    money(body, field, at).map(|c| c.unwrap_or(Cents(0)))
}

/// The seed's time (`2016-11-11T11:11:11`, UTC; `Z` or an RFC 3339 offset taken too).
pub fn parse_time(body: &Map<String, Value>, field: &str) -> Result<DateTime<Utc>, FieldError> {
    let v = required(body, field, "")?;
    v.as_str()
        .and_then(parse_datetime)
        .ok_or_else(|| FieldError::new(field, "must be a time like 2016-11-11T11:11:11 (UTC)"))
}

/// An `orderNo`: the order's key (1-64 characters, no spaces).
pub fn parse_order_no(body: &Map<String, Value>) -> Result<String, FieldError> {
    match required(body, "orderNo", "")? {
        Value::String(s) => {
            check_key("orderNo", s)?;
            Ok(s.clone())
        }
        _ => Err(FieldError::new("orderNo", "must be a text")),
    }
}

/// The member an order names: `membershipId`, or else `identities` (read by the api, which
/// resolves them).
#[derive(Debug, Clone, PartialEq)]
pub enum MemberRef {
    Id(i64),
    Identities(Vec<Value>),
}

/// `membershipId` (a number ≥ 1), else `identities` (a non-empty list); one is required.
pub fn parse_member_ref(body: &Map<String, Value>) -> Result<MemberRef, FieldError> {
    match body.get("membershipId") {
        None | Some(Value::Null) => {}
        Some(v) => {
            return match v.as_i64().or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)) {
                Some(id) if id >= 1 => Ok(MemberRef::Id(id)),
                _ => Err(FieldError::new("membershipId", "must be a member id (a number, 1 or more)")),
            }
        }
    }
    match body.get("identities") {
        None | Some(Value::Null) => Err(FieldError::new("membershipId", MISSING)),
        Some(Value::Array(list)) if !list.is_empty() => Ok(MemberRef::Identities(list.clone())),
        Some(_) => Err(FieldError::new("identities", "must be a non-empty list of {type, value, name}")),
    }
}

/// Reads the lines of an order (`dealLines`), each `lineId` unique.
fn parse_lines(body: &Map<String, Value>) -> Result<Vec<DealLine>, FieldError> {
    let list = match required(body, "dealLines", "")? {
        Value::Array(list) if !list.is_empty() => list,
        _ => return Err(FieldError::new("dealLines", "must be a non-empty list of lines")),
    };
    if list.len() > MAX_LINES {
        return Err(FieldError::new("dealLines", format!("at most {MAX_LINES} lines")));
    }
    let mut lines: Vec<DealLine> = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let at = format!("dealLines[{i}].");
        let Some(line) = v.as_object() else {
            return Err(FieldError::new(format!("dealLines[{i}]"), "must be an object"));
        };
        let line_id = match required(line, "lineId", &at)? {
            Value::String(s) => {
                check_key("lineId", s).map_err(|e| e.within(&at))?;
                s.clone()
            }
            _ => return Err(FieldError::new("lineId", "must be a text").within(&at)),
        };
        if lines.iter().any(|l| l.line_id == line_id) {
            return Err(FieldError::new("lineId", "must be unique in the order").within(&at));
        }
        let qty = match required(line, "qty", &at)?.as_f64() {
            Some(q) if q > 0.0 && q <= 1e9 => q,
            _ => return Err(FieldError::new("qty", "must be a number above 0").within(&at)),
        };
        lines.push(DealLine {
            line_id,
            product_name: required_text(line, "productName", &at, 256)?,
            product_id: text(line, "productId", &at, 128)?,
            sku_id: text(line, "skuId", &at, 128)?,
            category: text(line, "category", &at, 128)?,
            qty,
            price_unit: money(line, "priceUnit", &at)?,
            price_sub_total: money(line, "priceSubTotal", &at)?,
        });
    }
    Ok(lines)
}

/// Reads an order's header and lines from the body of `/deal` or `/dealService/update`. Fields
/// the seed's table marks required are required; other keys are ignored, as DM Hub ignores them.
pub fn parse_deal(body: &Map<String, Value>) -> Result<Deal, FieldError> {
    let mut texts: Vec<Option<String>> = Vec::with_capacity(HEADER_TEXTS.len());
    for field in HEADER_TEXTS {
        texts.push(text(body, field, "", 256)?);
    }
    let mut t = texts.into_iter();
    let mut next = || t.next().flatten();
    let deal = Deal {
        kind: next(),
        coupon_code: next(),
        group_id: next(),
        payment_term: next(),
        payment_no: next(),
        shipping_method: next(),
        contact_name: next(),
        contact_tel: next(),
        shipping_province: next(),
        shipping_city: next(),
        shipping_county: next(),
        shipping_street: next(),
        shipping_address: next(),
        sales_channel: required_text(body, "salesChannel", "", 128)?,
        store: required_text(body, "store", "", 128)?,
        date_order: parse_time(body, "dateOrder")?,
        amount_discount: required_money(body, "amountDiscount", "")?,
        amount_total: money(body, "amountTotal", "")?,
        amount_paid: required_money(body, "amountPaid", "")?,
        deal_lines: parse_lines(body)?,
    };
    Ok(deal)
}

impl Deal {
    /// Checks a carried order as the request was checked (a worker re-checks every payload).
    pub fn validate(&self) -> Result<(), FieldError> {
        check_len("salesChannel", &self.sales_channel, 128)?;
        check_len("store", &self.store, 128)?;
        check_amount("amountPaid", self.amount_paid)?;
        check_amount("amountDiscount", self.amount_discount)?;
        if self.deal_lines.is_empty() || self.deal_lines.len() > MAX_LINES {
            return Err(FieldError::new("dealLines", format!("must hold 1 to {MAX_LINES} lines")));
        }
        for (i, l) in self.deal_lines.iter().enumerate() {
            check_key(&format!("dealLines[{i}].lineId"), &l.line_id)?;
            if self.deal_lines[..i].iter().any(|o| o.line_id == l.line_id) {
                return Err(FieldError::new(format!("dealLines[{i}].lineId"), "must be unique in the order"));
            }
            if !(l.qty > 0.0 && l.qty <= 1e9) {
                return Err(FieldError::new(format!("dealLines[{i}].qty"), "must be a number above 0"));
            }
        }
        Ok(())
    }

    /// The lines as the earn computation reads them (`order_items`, the shape spend reads):
    /// `[{"sku", "amount" (yuan), "qty", "line_id"}]`; `sku` is the `skuId`, else the `lineId`.
    pub fn order_items(&self) -> Value {
        Value::Array(
            self.deal_lines
                .iter()
                .map(|l| {
                    serde_json::json!({
                        "sku": l.sku_id.clone().unwrap_or_else(|| l.line_id.clone()),
                        "amount": l.weight().map(|c| c as f64 / 100.0).unwrap_or(0.0),
                        "qty": l.qty,
                        "line_id": l.line_id,
                    })
                })
                .collect(),
        )
    }
}

/// The payload of a `points.order` message: an order is created paid (keyed by its `orderNo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderPayload {
    pub member_no: String,
    /// The member's id (seed 002 `membershipId`), when the member has a profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership_id: Option<i64>,
    pub deal: Box<Deal>,
}

impl OrderPayload {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_key("member_no", &self.member_no)?;
        self.deal.validate()
    }
}

/// What a step does to an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "step", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// The order as it is now (amounts may change: its points are adjusted by the difference).
    Update { deal: Box<Deal> },
    /// Lines refunded; their share of the order's points is taken back.
    Refund {
        lines: Vec<String>,
        #[schema(value_type = i64)]
        refund_total: Cents,
        date_refund: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Undoes the refund keyed `refund_key` (the step key of that refund).
    DeleteRefund { refund_key: String },
    /// Everything left is taken back; the state becomes 已取消.
    Cancel,
    /// The order is deleted (kept, marked deleted); its points are taken back like a cancel.
    Delete,
}

/// The payload of a `points.order_step` message: one step of an existing order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderStepPayload {
    pub order_no: String,
    pub step: Step,
}

impl OrderStepPayload {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_key("orderNo", &self.order_no)?;
        match &self.step {
            Step::Update { deal } => deal.validate(),
            Step::Refund { lines, refund_total, reason, .. } => {
                if lines.is_empty() || lines.len() > MAX_LINES {
                    return Err(FieldError::new("refundLines", format!("must hold 1 to {MAX_LINES} lines")));
                }
                for (i, l) in lines.iter().enumerate() {
                    check_key(&format!("refundLines[{i}].lineId"), l)?;
                }
                check_amount("refundTotal", *refund_total)?;
                if let Some(r) = reason {
                    check_len("reason", r, 512)?;
                }
                Ok(())
            }
            Step::DeleteRefund { refund_key } => check_key("idempotency_key", refund_key),
            Step::Cancel | Step::Delete => Ok(()),
        }
    }
}

/// Reads a refund body's lines (`refundLines[i].lineId`, each once).
pub fn parse_refund_lines(body: &Map<String, Value>) -> Result<Vec<String>, FieldError> {
    let list = match required(body, "refundLines", "")? {
        Value::Array(list) if !list.is_empty() => list,
        _ => return Err(FieldError::new("refundLines", "must be a non-empty list of {lineId}")),
    };
    if list.len() > MAX_LINES {
        return Err(FieldError::new("refundLines", format!("at most {MAX_LINES} lines")));
    }
    let mut lines: Vec<String> = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let at = format!("refundLines[{i}].");
        let obj = v.as_object().ok_or_else(|| FieldError::new(format!("refundLines[{i}]"), "must be {lineId}"))?;
        let id = match required(obj, "lineId", &at)? {
            Value::String(s) => s.clone(),
            _ => return Err(FieldError::new("lineId", "must be a text").within(&at)),
        };
        check_key("lineId", &id).map_err(|e| e.within(&at))?;
        if lines.contains(&id) {
            return Err(FieldError::new("lineId", "is named twice").within(&at));
        }
        lines.push(id);
    }
    Ok(lines)
}

/// Reads a refund's `refundTotal` (required) and `reason`.
pub fn parse_refund_total(body: &Map<String, Value>) -> Result<(Cents, Option<String>), FieldError> {
    Ok((required_money(body, "refundTotal", "")?, text(body, "reason", "", 512)?))
}

/// Identities are checked as the members API checks them.
pub fn check_identities(list: &[Identity]) -> Result<(), FieldError> {
    for (i, id) in list.iter().enumerate() {
        id.validate(&format!("identities[{i}]"))?;
    }
    Ok(())
}

/// Shares `total` points out over `weights` by the largest remainder: each share is
/// `floor(total × w / Σw)`, and the points left over go one each to the largest fractional
/// parts (ties to the earlier line). The shares add up to `total` exactly, so refunding every
/// line takes back exactly what the order earned. All weights zero: equal weights.
pub fn share_out(total: i64, weights: &[i64]) -> Vec<i64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let sum: i128 = weights.iter().map(|&w| i128::from(w.max(0))).sum();
    let (weights, sum): (Vec<i128>, i128) = if sum == 0 {
        (vec![1; weights.len()], weights.len() as i128)
    } else {
        (weights.iter().map(|&w| i128::from(w.max(0))).collect(), sum)
    };
    let t = i128::from(total);
    let mut shares: Vec<i64> = weights.iter().map(|w| (t * w / sum) as i64).collect();
    let mut left = total - shares.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    // Largest remainder first; the sort is stable, so ties keep the lines' order.
    order.sort_by(|&a, &b| ((t * weights[b]) % sum).cmp(&((t * weights[a]) % sum)));
    for i in order {
        if left == 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shares_add_up_and_follow_the_weights() {
        assert_eq!(share_out(10, &[100, 100, 100]), vec![4, 3, 3], "ties go to the earlier line");
        assert_eq!(share_out(7, &[50, 25, 25]), vec![3, 2, 2], "the larger remainders get the leftover");
        assert_eq!(share_out(0, &[1, 2]), vec![0, 0]);
        assert_eq!(share_out(5, &[0, 0]), vec![3, 2], "no amounts: equal shares");
        for total in 0..50 {
            let s = share_out(total, &[333, 1, 7000, 12]);
            assert_eq!(s.iter().sum::<i64>(), total, "total {total}");
        }
    }

    #[test]
    fn a_step_payload_reads_back() {
        for step in [Step::Cancel, Step::DeleteRefund { refund_key: "o/refund/x".into() }] {
            let p = OrderStepPayload { order_no: "o".into(), step };
            let back: OrderStepPayload = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
            assert_eq!(back, p);
        }
    }

    /// An error names its field with the path of the object holding it (the path is added on
    /// the error path only: `FieldError::within`).
    #[test]
    fn an_order_refused_names_the_field_with_its_path() {
        let base = json!({"orderNo": "o", "salesChannel": "s", "store": "x", "dateOrder": "2026-11-29T08:00:00",
                          "amountDiscount": 0, "amountPaid": 1,
                          "dealLines": [{"lineId": "A", "productName": "p", "qty": 1, "priceUnit": 1}]});
        assert!(parse_deal(base.as_object().unwrap()).is_ok());
        let refused = |path: &str, value: Value| {
            let mut body = base.clone();
            let (parent, key) = path.rsplit_once('/').unwrap();
            body.pointer_mut(parent).unwrap().as_object_mut().unwrap().insert(key.to_string(), value);
            parse_deal(body.as_object().unwrap()).unwrap_err().field
        };
        assert_eq!(refused("/contactName", json!(1)), "contactName");
        assert_eq!(refused("/contactName", json!("x".repeat(257))), "contactName");
        assert_eq!(refused("/store", json!(" ")), "store");
        assert_eq!(refused("/amountPaid", json!(-1)), "amountPaid");
        assert_eq!(refused("/dealLines/0/productName", json!("x".repeat(257))), "dealLines[0].productName");
        assert_eq!(refused("/dealLines/0/productName", Value::Null), "dealLines[0].productName");
        assert_eq!(refused("/dealLines/0/skuId", json!(7)), "dealLines[0].skuId");
        assert_eq!(refused("/dealLines/0/priceUnit", json!(-1)), "dealLines[0].priceUnit");
        assert_eq!(refused("/dealLines/0/priceUnit", json!(true)), "dealLines[0].priceUnit");
        assert_eq!(refused("/dealLines/0/lineId", json!("a b")), "dealLines[0].lineId");
        assert_eq!(refused("/dealLines/0/lineId", json!(7)), "dealLines[0].lineId");
        assert_eq!(refused("/dealLines/0/qty", json!(0)), "dealLines[0].qty");
        let refund = |lines: Value| {
            let body = json!({ "refundLines": lines });
            parse_refund_lines(body.as_object().unwrap()).unwrap_err().field
        };
        assert_eq!(refund(json!([{"lineId": "A"}, {"lineId": "a b"}])), "refundLines[1].lineId");
        assert_eq!(refund(json!([{"lineId": "A"}, {"lineId": 7}])), "refundLines[1].lineId");
        assert_eq!(refund(json!([{"lineId": "A"}, {"lineId": "A"}])), "refundLines[1].lineId");
    }

    #[test]
    fn adjust_patterns() {
        let p = |direction, pattern| AdjustPayload { member_no: "m".into(), direction, points: 1, pattern };
        assert!(p(Direction::Incr, 5).validate().is_ok());
        assert_eq!(p(Direction::Incr, 6).validate().unwrap_err().field, "pattern");
        assert!(p(Direction::Decr, 6).validate().is_ok());
        assert_eq!(p(Direction::Decr, 7).validate().unwrap_err().field, "pattern");
    }
}
