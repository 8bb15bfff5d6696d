//! Points earn rules (seed 000's produce rules) and the rule-management bodies both rule
//! families share: create, update, delete and query, and the built-in scene catalogues.

use serde::{Deserialize, Serialize};

use super::MAX_POINTS;
use crate::{
    checks::{check_len, check_range, check_scene, de_lenient_int},
    money::Cents,
    FieldError,
};

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

    /// The award's arithmetic in words, for the ledger's `explain` ("order_pay rule 3:
    /// floor(120.00 / 50) × 10 = 20").
    pub fn explain(&self, amount: Option<Cents>, base: i64) -> String {
        let who = format!("{} rule {}", self.action_scene, self.rule_id);
        match (self.points_type, amount) {
            (PointsType::Order, Some(a)) => format!(
                "{who}: floor({} / {}) × {} = {base}",
                a.to_decimal_string(),
                self.per_money.unwrap_or(1),
                self.change_points
            ),
            _ => format!("{who}: {base} per event"),
        }
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
        // The list's own bound (the OpenAPI's `maxItems`); `rule_id` may add one more.
        if ids.len() > 1000 {
            return Err(FieldError::new("rule_id_li", "at most 1000 ids at once"));
        }
        ids.extend(self.rule_id);
        if ids.is_empty() {
            return Err(FieldError::new("rule_id_li", "name at least one rule id"));
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
