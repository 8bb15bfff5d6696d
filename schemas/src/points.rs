//! Points (seed 000): the earn event as the ingress takes it and as the broker carries it,
//! and the earn-rule bodies of the rule-management endpoints.
//!
//! Validation lives here, beside the types, so the ingress and the workers check the same
//! things: a worker re-validates every payload, since anyone with broker access can publish.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::FieldError;

/// The built-in produce scenes of seed 000's `scene_info`; tenants add their own by saving a
/// rule with a new `action_scene`.
pub const BUILTIN_PRODUCE_SCENES: &[(&str, &str)] = &[
    ("order_pay", "下单支付"),
    ("user_login", "用户登录"),
    ("user_sign", "签到打卡"),
    ("share_goods", "分享商品"),
    ("invite_new", "邀请新人入会送积分"),
    ("register", "注册送积分"),
    ("campaign", "活动送积分"),
];

/// The built-in consume scenes of seed 000's `scene_info`.
pub const BUILTIN_CONSUME_SCENES: &[(&str, &str)] = &[("user_discount", "积分折扣")];

/// Largest amount accepted, in cents (10 billion yuan): far above any order, far below overflow.
const MAX_AMOUNT_CENTS: i64 = 1_000_000_000_000;
const MAX_POINTS: i64 = 1_000_000_000;

/// Money as integer cents. Accepts a JSON number or a numeric string with at most two decimals,
/// so `99.9`, `"99.90"` and `100` all work and no float rounding ever reaches the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cents(pub i64);

impl Cents {
    pub fn parse(text: &str) -> Result<Cents, String> {
        let text = text.trim();
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (!frac.is_empty() && !digits(frac)) {
            return Err(format!("`{text}` is not a non-negative amount"));
        }
        if frac.len() > 2 {
            return Err(format!("`{text}` has more than two decimals"));
        }
        let whole: i64 = whole.parse().map_err(|_| format!("`{text}` is too large"))?;
        let frac: i64 = format!("{frac:0<2}").parse().unwrap_or(0);
        let cents = whole.checked_mul(100).and_then(|c| c.checked_add(frac));
        match cents {
            Some(c) if c <= MAX_AMOUNT_CENTS => Ok(Cents(c)),
            _ => Err(format!("`{text}` is too large")),
        }
    }

    /// The amount as the seed writes it (`99.90`).
    pub fn to_decimal_string(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// Deserializes an optional amount from a number or a string (see [`Cents`]).
fn de_amount<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cents>, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Cents::parse(&n.to_string()).map(Some).map_err(serde::de::Error::custom),
        Some(Value::String(s)) => Cents::parse(&s).map(Some).map_err(serde::de::Error::custom),
        Some(other) => Err(serde::de::Error::custom(format!("expected a number, found {other}"))),
    }
}

/// Deserializes an optional integer that the seeds sometimes type as Text (`"page_id": "2"`).
pub fn de_lenient_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            n.as_i64().map(Some).ok_or_else(|| serde::de::Error::custom(format!("expected an integer, found {n}")))
        }
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("expected an integer, found `{s}`"))),
        Some(other) => Err(serde::de::Error::custom(format!("expected an integer, found {other}"))),
    }
}

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
    /// When it happened: `YYYY-MM-DD HH:MM:SS` in the tenant's zone, or RFC 3339. Default: now.
    #[serde(default)]
    pub occurred_at: Option<String>,
}

/// The payload of a `points.earn` message (the event number travels as the envelope's key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarnPayload {
    pub member_no: String,
    pub action_scene: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
}

impl EarnEventRequest {
    /// Checks every field and splits the request into its key and the broker payload.
    pub fn validate(self) -> Result<(String, Option<String>, EarnPayload), FieldError> {
        check_key("event_no", &self.event_no)?;
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
        };
        payload.validate()?;
        Ok((self.event_no, self.occurred_at, payload))
    }
}

impl EarnPayload {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_key("member_no", &self.member_no)?;
        check_scene("action_scene", &self.action_scene)?;
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

/// An identifier chosen by the client: 1–64 printable characters, no spaces.
pub fn check_key(field: &str, value: &str) -> Result<(), FieldError> {
    if value.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    // Keys the system composes (an acceptance: transfer_no/member_no) may be longer.
    let max = if field == "idempotency_key" { 129 } else { 64 };
    if value.chars().count() > max {
        return Err(FieldError::new(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new(field, "must not contain spaces or control characters"));
    }
    Ok(())
}

/// A scene code: lowercase letters, digits and `_`, starting with a letter, at most 64.
pub fn check_scene(field: &str, value: &str) -> Result<(), FieldError> {
    let ok = value.len() <= 64
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(field, "must be 1-64 of a-z, 0-9 and _, starting with a letter"))
    }
}

fn check_len(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.chars().count() > max {
        return Err(FieldError::new(field, format!("must be at most {max} characters")));
    }
    Ok(())
}

/// The free-text fields most requests carry: who did it and why.
fn check_note(operator: Option<&str>, event_desc: Option<&str>) -> Result<(), FieldError> {
    if let Some(op) = operator {
        check_len("operator", op, 128)?;
    }
    if let Some(desc) = event_desc {
        check_len("event_desc", desc, 512)?;
    }
    Ok(())
}

fn check_range(field: &str, value: i64, min: i64, max: i64) -> Result<(), FieldError> {
    if value < min || value > max {
        return Err(FieldError::new(field, format!("must be between {min} and {max}")));
    }
    Ok(())
}

/// How a produce rule computes an award.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PointsType {
    /// `floor(amount / per_money) * change_points`
    Order,
    /// `change_points`
    Event,
}

impl PointsType {
    pub fn as_str(self) -> &'static str {
        match self {
            PointsType::Order => "order",
            PointsType::Event => "event",
        }
    }

    pub fn parse(s: &str) -> Option<PointsType> {
        match s {
            "order" => Some(PointsType::Order),
            "event" => Some(PointsType::Event),
            _ => None,
        }
    }
}

/// A produce (earn) rule of seed 000, as stored and as cached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProduceRule {
    pub rule_id: i64,
    pub rule_name: String,
    pub action_scene: String,
    pub points_type: PointsType,
    /// Days from the award to expiry.
    pub expire_term: i64,
    /// Yuan per step, for `order` rules.
    pub per_money: Option<i64>,
    pub change_points: i64,
    /// Days the award stays frozen (0: spendable at once).
    pub freeze_term: i64,
    pub max_points: Option<i64>,
    pub max_times: Option<i64>,
    /// Length of the rolling window of `max_points` / `max_times`; 0: no window, the limits
    /// count over the member's whole history.
    pub range_days: i64,
    pub mul_rules: bool,
}

impl ProduceRule {
    /// Checks a rule as a whole (after a create, or after an update merged into the old one).
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.rule_name.trim().is_empty() {
            return Err(FieldError::new("rule_name", "must not be empty"));
        }
        check_len("rule_name", &self.rule_name, 64)?;
        check_scene("action_scene", &self.action_scene)?;
        check_range("change_points", self.change_points, 1, MAX_POINTS)?;
        check_range("expire_term", self.expire_term, 1, 36_500)?;
        check_range("freeze_term", self.freeze_term, 0, 36_500)?;
        if self.freeze_term >= self.expire_term {
            return Err(FieldError::new("freeze_term", "must be less than expire_term"));
        }
        match (self.points_type, self.per_money) {
            (PointsType::Order, None) => {
                return Err(FieldError::new("per_money", "is required when points_type is order"));
            }
            (_, Some(p)) => check_range("per_money", p, 1, 100_000_000)?,
            (PointsType::Event, None) => {}
        }
        if let Some(m) = self.max_points {
            check_range("max_points", m, 1, MAX_POINTS)?;
        }
        if let Some(m) = self.max_times {
            check_range("max_times", m, 1, MAX_POINTS)?;
        }
        check_range("range_days", self.range_days, 0, 3_650)?;
        Ok(())
    }

    /// The award before limits: `order` steps of `per_money` yuan, or the flat `event` value.
    pub fn base_award(&self, amount: Option<Cents>) -> Result<i64, &'static str> {
        match self.points_type {
            PointsType::Event => Ok(self.change_points),
            PointsType::Order => {
                let amount = amount.ok_or("amount is required by an order rule")?;
                let step = self.per_money.unwrap_or(1).max(1) * 100;
                Ok((amount.0 / step).saturating_mul(self.change_points))
            }
        }
    }
}

/// `POST .../rules/produce_scene`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProduceRule {
    pub rule_name: String,
    pub action_scene: String,
    pub points_type: PointsType,
    pub expire_term: i64,
    #[serde(default)]
    pub per_money: Option<i64>,
    pub change_points: i64,
    #[serde(default)]
    pub freeze_term: Option<i64>,
    #[serde(default)]
    pub max_points: Option<i64>,
    #[serde(default)]
    pub max_times: Option<i64>,
    pub range_days: i64,
    #[serde(default)]
    pub mul_rules: Option<bool>,
}

impl CreateProduceRule {
    pub fn into_rule(self) -> Result<ProduceRule, FieldError> {
        let rule = ProduceRule {
            rule_id: 0,
            rule_name: self.rule_name,
            action_scene: self.action_scene,
            points_type: self.points_type,
            expire_term: self.expire_term,
            per_money: self.per_money,
            change_points: self.change_points,
            freeze_term: self.freeze_term.unwrap_or(0),
            max_points: self.max_points,
            max_times: self.max_times,
            range_days: self.range_days,
            mul_rules: self.mul_rules.unwrap_or(false),
        };
        rule.validate()?;
        Ok(rule)
    }
}

/// `POST .../rules/produce_scene/update`: every field but `rule_id` is optional.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProduceRule {
    pub rule_id: i64,
    #[serde(default)]
    pub rule_name: Option<String>,
    #[serde(default)]
    pub action_scene: Option<String>,
    #[serde(default)]
    pub points_type: Option<PointsType>,
    #[serde(default)]
    pub expire_term: Option<i64>,
    #[serde(default)]
    pub per_money: Option<i64>,
    #[serde(default)]
    pub change_points: Option<i64>,
    #[serde(default)]
    pub freeze_term: Option<i64>,
    #[serde(default)]
    pub max_points: Option<i64>,
    #[serde(default)]
    pub max_times: Option<i64>,
    #[serde(default)]
    pub range_days: Option<i64>,
    #[serde(default)]
    pub mul_rules: Option<bool>,
}

impl UpdateProduceRule {
    /// The stored rule with this update applied, validated as a whole.
    pub fn merge_into(self, mut rule: ProduceRule) -> Result<ProduceRule, FieldError> {
        macro_rules! take {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { rule.$f = v; } )* };
        }
        take!(rule_name, action_scene, points_type, expire_term, change_points, freeze_term, range_days, mul_rules);
        if self.per_money.is_some() {
            rule.per_money = self.per_money;
        }
        if self.max_points.is_some() {
            rule.max_points = self.max_points;
        }
        if self.max_times.is_some() {
            rule.max_times = self.max_times;
        }
        rule.validate()?;
        Ok(rule)
    }
}

/// The two rule families of seed 000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuleType {
    Produce,
    Consume,
}

/// `POST .../rules/lot_delete`: the seed's table names `rule_id_li`, its example `rule_id`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteRules {
    #[serde(default)]
    pub rule_id_li: Option<Vec<i64>>,
    #[serde(default)]
    pub rule_id: Option<i64>,
    pub rule_type: RuleType,
}

impl DeleteRules {
    pub fn ids(&self) -> Result<Vec<i64>, FieldError> {
        let mut ids: Vec<i64> = self.rule_id_li.clone().unwrap_or_default();
        ids.extend(self.rule_id);
        if ids.is_empty() {
            return Err(FieldError::new("rule_id_li", "name at least one rule id"));
        }
        if ids.len() > 1000 {
            return Err(FieldError::new("rule_id_li", "at most 1000 ids at once"));
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }
}

/// `POST .../rules/query`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryRules {
    pub rule_type: RuleType,
    #[serde(default)]
    pub action_scene: Option<String>,
    #[serde(default)]
    pub rule_name: Option<String>,
    #[serde(default, deserialize_with = "de_lenient_int")]
    #[schema(value_type = Option<i64>)]
    pub rule_id: Option<i64>,
    #[serde(default, deserialize_with = "de_lenient_int")]
    #[schema(value_type = Option<i64>)]
    pub page_id: Option<i64>,
    #[serde(default, deserialize_with = "de_lenient_int")]
    #[schema(value_type = Option<i64>)]
    pub page_size: Option<i64>,
}

/// Page number and size with the seeds' defaults, checked.
pub fn paging(
    page_id: Option<i64>,
    page_size: Option<i64>,
    default_size: i64,
    max_size: i64,
) -> Result<(i64, i64), FieldError> {
    let page = page_id.unwrap_or(1);
    let size = page_size.unwrap_or(default_size);
    check_range("page_id", page, 1, 1_000_000)?;
    check_range("page_size", size, 1, max_size)?;
    Ok((page, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_parse_numbers_and_strings() {
        for (text, want) in [
            ("100", Some(10000)),
            ("99.9", Some(9990)),
            ("0.01", Some(1)),
            ("1.234", None),
            ("-1", None),
            ("abc", None),
            ("", None),
        ] {
            assert_eq!(Cents::parse(text).ok().map(|c| c.0), want, "case {text:?}");
        }
        assert_eq!(Cents(9990).to_decimal_string(), "99.90");
    }

    #[test]
    fn consume_tiers_round_trip_in_yuan() {
        let tier: ConsumeTier =
            serde_json::from_value(serde_json::json!({"base_points": 50, "convert_money": 2.5})).unwrap();
        assert_eq!(tier.convert_money, Cents(250));
        let back: ConsumeTier = serde_json::from_value(serde_json::to_value(&tier).unwrap()).unwrap();
        assert_eq!(back, tier);
        // 50 points = 2.50 yuan: on 12.00 yuan with 1,000 points, 4 steps = 200 points for 10.00.
        assert_eq!(tier.usable(Cents(1200), 1000), (200, Cents(1000)));
        assert_eq!(tier.usable(Cents(1200), 120), (100, Cents(500)), "points limit the steps");
    }

    #[test]
    fn goods_whitelist_limits_the_payable_amount() {
        let tier: ConsumeTier = serde_json::from_value(
            serde_json::json!({"base_points": 50, "convert_money": 2, "goods_white": {"skus": ["a", "b"]}}),
        )
        .unwrap();
        let white = tier.white_skus().unwrap();
        let spend = |amount: i64, items: serde_json::Value| ConsumePayload {
            member_no: "m".into(),
            action_scene: "user_discount".into(),
            points: None,
            amount: Some(Cents(amount)),
            member_level: None,
            order_items: Some(items),
            store_code: None,
            cost_center: None,
            campagin_code: None,
            operator: None,
            event_desc: None,
        };
        let p = spend(
            10000,
            serde_json::json!([{"sku": "a", "amount": 30}, {"sku": "z", "amount": 50}, {"sku": "b", "amount": "5.5"}]),
        );
        assert!(p.validate().is_ok());
        assert_eq!(p.payable_amount(white.as_deref()), Some(Cents(3550)), "only listed SKUs count");
        assert_eq!(p.payable_amount(None), Some(Cents(10000)), "no whitelist: the whole amount");
        assert!(spend(100, serde_json::json!([{"sku": "a"}])).validate().is_err(), "an item without an amount");
        let bad: Result<ConsumeTier, _> =
            serde_json::from_value(serde_json::json!({"base_points": 50, "convert_money": 2, "goods_white": ["a"]}));
        let rule = ConsumeRule {
            rule_id: 0,
            rule_name: "r".into(),
            action_scene: "user_discount".into(),
            rules_li: vec![bad.unwrap()],
        };
        assert_eq!(rule.validate().unwrap_err().field, "rules_li[0].goods_white");
    }

    #[test]
    fn order_award_floors_per_money_steps() {
        let rule = ProduceRule {
            rule_id: 1,
            rule_name: "下单支付".into(),
            action_scene: "order_pay".into(),
            points_type: PointsType::Order,
            expire_term: 30,
            per_money: Some(50),
            change_points: 10,
            freeze_term: 3,
            max_points: Some(30),
            max_times: Some(10),
            range_days: 1,
            mul_rules: false,
        };
        for (amount, want) in [(4999, 0), (5000, 10), (9999, 10), (10000, 20), (15050, 30)] {
            assert_eq!(rule.base_award(Some(Cents(amount))), Ok(want), "amount {amount} cents");
        }
        assert!(rule.base_award(None).is_err());
    }
}

/// One tier of a spend rule: `base_points` points are worth `convert_money` yuan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumeTier {
    pub base_points: i64,
    /// Yuan per `base_points` points (a number or a string, at most two decimals).
    #[serde(deserialize_with = "de_required_amount", serialize_with = "ser_yuan")]
    #[schema(value_type = f64)]
    pub convert_money: Cents,
    /// The member level this tier is for; absent: every level without a tier of its own.
    #[serde(default)]
    pub consume_level: Option<i64>,
    /// Goods the points may pay for: `{"skus": ["sku1", ...]}`; absent or empty: any goods.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub goods_white: Option<Value>,
}

/// Writes cents as yuan (`200` → `2.0`), the form the API reads, so stored tiers read back.
fn ser_yuan<S: serde::Serializer>(c: &Cents, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(c.0 as f64 / 100.0)
}

fn de_required_amount<'de, D: Deserializer<'de>>(d: D) -> Result<Cents, D::Error> {
    de_amount(d)?.ok_or_else(|| serde::de::Error::custom("expected an amount"))
}

impl ConsumeTier {
    fn validate(&self, i: usize) -> Result<(), FieldError> {
        let f = |name: &str| format!("rules_li[{i}].{name}");
        check_range(&f("base_points"), self.base_points, 1, MAX_POINTS)?;
        if self.convert_money.0 <= 0 {
            return Err(FieldError::new(f("convert_money"), "must be greater than 0"));
        }
        if let Some(level) = self.consume_level {
            check_range(&f("consume_level"), level, 0, 1000)?;
        }
        self.white_skus().map_err(|m| FieldError::new(f("goods_white"), m))?;
        Ok(())
    }

    /// The whitelisted SKUs; `None` when any goods qualify.
    pub fn white_skus(&self) -> Result<Option<Vec<String>>, String> {
        let Some(white) = &self.goods_white else { return Ok(None) };
        if white.is_null() {
            return Ok(None);
        }
        let skus = white.get("skus").ok_or("must be an object like {\"skus\": [\"sku1\"]}")?;
        let skus: Vec<String> =
            serde_json::from_value(skus.clone()).map_err(|_| "skus must be a list of strings".to_string())?;
        Ok((!skus.is_empty()).then_some(skus))
    }

    /// Points usable on `amount` and the money they offset: whole steps of `base_points`,
    /// never worth more than the amount, never more than `available`.
    pub fn usable(&self, amount: Cents, available: i64) -> (i64, Cents) {
        let steps_by_money = amount.0 / self.convert_money.0;
        let steps_by_points = available.max(0) / self.base_points;
        let steps = steps_by_money.min(steps_by_points);
        (steps * self.base_points, Cents(steps * self.convert_money.0))
    }
}

/// A spend rule of seed 000, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsumeRule {
    pub rule_id: i64,
    pub rule_name: String,
    pub action_scene: String,
    pub rules_li: Vec<ConsumeTier>,
}

impl ConsumeRule {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.rule_name.trim().is_empty() {
            return Err(FieldError::new("rule_name", "must not be empty"));
        }
        check_len("rule_name", &self.rule_name, 64)?;
        check_scene("action_scene", &self.action_scene)?;
        if self.rules_li.is_empty() || self.rules_li.len() > 50 {
            return Err(FieldError::new("rules_li", "must hold 1 to 50 tiers"));
        }
        for (i, tier) in self.rules_li.iter().enumerate() {
            tier.validate(i)?;
        }
        let mut levels: Vec<Option<i64>> = self.rules_li.iter().map(|t| t.consume_level).collect();
        levels.sort();
        if levels.windows(2).any(|w| w[0] == w[1]) {
            return Err(FieldError::new("rules_li", "two tiers name the same consume_level"));
        }
        Ok(())
    }

    /// The tier for a member level: the tier of that level, else the tier without a level,
    /// else the lowest level's tier.
    pub fn tier_for(&self, level: Option<i64>) -> &ConsumeTier {
        level
            .and_then(|l| self.rules_li.iter().find(|t| t.consume_level == Some(l)))
            .or_else(|| self.rules_li.iter().find(|t| t.consume_level.is_none()))
            .or_else(|| self.rules_li.iter().min_by_key(|t| t.consume_level))
            .expect("a validated rule has a tier")
    }
}

/// `POST .../rules/consume_scene`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConsumeRule {
    pub rule_name: String,
    pub action_scene: String,
    pub rules_li: Vec<ConsumeTier>,
}

impl CreateConsumeRule {
    pub fn into_rule(self) -> Result<ConsumeRule, FieldError> {
        let rule = ConsumeRule {
            rule_id: 0,
            rule_name: self.rule_name,
            action_scene: self.action_scene,
            rules_li: self.rules_li,
        };
        rule.validate()?;
        Ok(rule)
    }
}

/// `POST .../rules/consume_scene/update`: the seed's flat `base_points` / `convert_money` change
/// the first tier; `rules_li` replaces all tiers. `expire_term` is in the seed's table but means
/// nothing for a spend rule: it is accepted and ignored.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConsumeRule {
    pub rule_id: i64,
    #[serde(default)]
    pub rule_name: Option<String>,
    #[serde(default)]
    pub action_scene: Option<String>,
    #[serde(default)]
    pub expire_term: Option<i64>,
    #[serde(default)]
    pub base_points: Option<i64>,
    #[serde(default, deserialize_with = "de_amount")]
    #[schema(value_type = Option<f64>)]
    pub convert_money: Option<Cents>,
    #[serde(default)]
    pub rules_li: Option<Vec<ConsumeTier>>,
}

impl UpdateConsumeRule {
    pub fn merge_into(self, mut rule: ConsumeRule) -> Result<ConsumeRule, FieldError> {
        if let Some(v) = self.rule_name {
            rule.rule_name = v;
        }
        if let Some(v) = self.action_scene {
            rule.action_scene = v;
        }
        if let Some(tiers) = self.rules_li {
            rule.rules_li = tiers;
        }
        if let Some(first) = rule.rules_li.first_mut() {
            if let Some(v) = self.base_points {
                first.base_points = v;
            }
            if let Some(v) = self.convert_money {
                first.convert_money = v;
            }
        }
        rule.validate()?;
        Ok(rule)
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
    #[serde(default)]
    pub occurred_at: Option<String>,
}

/// The payload of a `points.consume` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsumePayload {
    pub member_no: String,
    pub action_scene: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
}

impl ConsumeRequest {
    /// Checks every field; splits off the key and the time.
    pub fn validate(self) -> Result<(Option<String>, Option<String>, ConsumePayload), FieldError> {
        if let Some(key) = &self.event_no {
            check_key("event_no", key)?;
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
        };
        payload.validate()?;
        Ok((self.event_no, self.occurred_at, payload))
    }
}

impl ConsumePayload {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_key("member_no", &self.member_no)?;
        check_scene("action_scene", &self.action_scene)?;
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
fn order_item_amounts(items: Option<&Value>) -> Result<Option<Vec<(String, Cents)>>, String> {
    let Some(items) = items else { return Ok(None) };
    if items.is_null() {
        return Ok(None);
    }
    let list = items.as_array().ok_or("must be a list of {\"sku\", \"amount\"} objects")?;
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        let sku = item.get("sku").and_then(Value::as_str);
        let amount = item.get("amount").map(|a| match a {
            Value::Number(n) => Cents::parse(&n.to_string()),
            Value::String(s) => Cents::parse(s),
            _ => Err("not an amount".into()),
        });
        match (sku, amount) {
            (Some(sku), Some(Ok(c))) => out.push((sku.to_string(), c)),
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
        check_key("event_no", &self.event_no)?;
        let payload = ReversePayload {
            origin_event_no: self.origin_event_no,
            points: self.points,
            operator: self.operator,
            event_desc: self.event_desc,
        };
        payload.validate()?;
        if self.event_no == payload.origin_event_no {
            return Err(FieldError::new("origin_event_no", "must name another event than event_no"));
        }
        Ok((self.event_no, self.occurred_at, payload))
    }
}

impl ReversePayload {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_key("origin_event_no", &self.origin_event_no)?;
        if let Some(p) = self.points {
            check_range("points", p, 1, MAX_POINTS)?;
        }
        check_note(self.operator.as_deref(), self.event_desc.as_deref())?;
        Ok(())
    }
}

/// What a spend takes, given the member's available points: `(points, money offset)` (no money
/// when the request named points). `Err` is the reason a cashier reads. The ingress's preview
/// and the worker's spend both call this.
pub fn quote_spend(
    rule: Option<&ConsumeRule>,
    p: &ConsumePayload,
    available: i64,
    frozen: i64,
) -> Result<(i64, Option<Cents>), String> {
    let rule = rule.ok_or_else(|| format!("no spend rule for action_scene {}", p.action_scene))?;
    let tier = rule.tier_for(p.member_level);
    let (points, money) = match p.points {
        Some(points) => (points, None),
        None => {
            let white = tier.white_skus().ok().flatten();
            let payable = p.payable_amount(white.as_deref()).unwrap_or(Cents(0));
            let (points, money) = tier.usable(payable, available);
            if points == 0 {
                return Err(format!(
                    "no points usable: {available} available, {} points per {} yuan, payable amount {}",
                    tier.base_points,
                    tier.convert_money.to_decimal_string(),
                    payable.to_decimal_string()
                ));
            }
            (points, Some(money))
        }
    };
    if points > available {
        let more = if frozen > 0 { format!(" ({frozen} more frozen)") } else { String::new() };
        return Err(format!("insufficient points: {points} requested, {available} available{more}"));
    }
    Ok((points, money))
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
        check_key("event_no", &self.event_no)?;
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnfreezePayload {
    pub origin_event_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
}

impl UnfreezeRequest {
    pub fn validate(self) -> Result<(String, Option<String>, UnfreezePayload), FieldError> {
        check_key("event_no", &self.event_no)?;
        let payload = UnfreezePayload { origin_event_no: self.origin_event_no, operator: self.operator };
        payload.validate()?;
        Ok((self.event_no, self.occurred_at, payload))
    }
}

impl UnfreezePayload {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_key("origin_event_no", &self.origin_event_no)?;
        check_note(self.operator.as_deref(), None)?;
        Ok(())
    }
}
