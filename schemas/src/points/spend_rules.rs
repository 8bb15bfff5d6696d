//! Points spend rules (seed 000's consume rules): tiers of points per yuan, optionally per member
//! level and limited to whitelisted goods, and [`quote_spend`], what a spend takes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{commands::ConsumePayload, MAX_POINTS};
use crate::{
    checks::{check_len, check_range, check_scene},
    money::{de_amount, de_required_amount, ser_yuan, Cents},
    response::Refusal,
    FieldError,
};

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

/// What a spend takes, given the member's available points: `(points, money offset)` (no money
/// when the request named points). `Err` is the refusal's kind and the reason a cashier reads.
/// The ingress's preview and the worker's spend both call this.
pub fn quote_spend(
    rule: Option<&ConsumeRule>,
    p: &ConsumePayload,
    available: i64,
    frozen: i64,
) -> Result<(i64, Option<Cents>), (Refusal, String)> {
    let rule = rule.ok_or_else(|| (Refusal::NoRule, format!("no spend rule for action_scene {}", p.action_scene)))?;
    let tier = rule.tier_for(p.member_level);
    let (points, money) = match p.points {
        Some(points) => (points, None),
        None => {
            let white = tier.white_skus().ok().flatten();
            let payable = p.payable_amount(white.as_deref()).unwrap_or(Cents(0));
            let (points, money) = tier.usable(payable, available);
            if points == 0 {
                // Nothing at all to spend is too few points; points on hand that the amount
                // cannot use are a refusal of their own.
                let code = if available == 0 { Refusal::InsufficientPoints } else { Refusal::NoPointsUsable };
                return Err((
                    code,
                    format!(
                        "no points usable: {available} available, {} points per {} yuan, payable amount {}",
                        tier.base_points,
                        tier.convert_money.to_decimal_string(),
                        payable.to_decimal_string()
                    ),
                ));
            }
            (points, Some(money))
        }
    };
    if points > available {
        let more = if frozen > 0 { format!(" ({frozen} more frozen)") } else { String::new() };
        return Err((
            Refusal::InsufficientPoints,
            format!("insufficient points: {points} requested, {available} available{more}"),
        ));
    }
    Ok((points, money))
}
