//! Seed 004's point rule per member level (Alibaba `alibaba.alsc.crm.point.rule.get`): the rule
//! model with its checks, the management body that writes it, and the query's parameters.
//!
//! A tenant (brand) has at most one live rule of its own and at most one per shop (`shop_id`:
//! the same store code as an earn event's `store_code`). Two live rules for one brand or shop
//! would contradict each other, so a write replaces the live one (its `rule_id` stays).

use serde::{Deserialize, Serialize};

use crate::{
    checks::{check_len, check_range},
    FieldError,
};

/// `allow_product_type` of every SKU.
pub const ALL_PRODUCTS: &str = "ALL";
/// `point_clear_rule_type`: the lots never expire.
pub const NO_CLEAR: &str = "NO_CLEAR";
/// `point_clear_rule_type`: the lots expire `days` after the award.
pub const CLEAR_AFTER_DAYS: &str = "DAYS";

/// `allow_pay_methods[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayMethod {
    pub method_id: String,
    #[serde(default)]
    pub method_name: Option<String>,
    #[serde(default = "yes")]
    pub enable: bool,
}

fn yes() -> bool {
    true
}

/// `member_point_addition_rules[]`: how a level earns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberAdditionRule {
    /// The member level's id (`/loyalty/v1/settings/level`'s `id`, in decimal).
    pub level_id: String,
    #[serde(default = "yes")]
    pub enable: bool,
    /// Yuan per step.
    pub consume_money: i64,
    /// Points per step.
    pub reward_point: i64,
    /// `ALL`, or `SKU`: only the listed `sku_ids` count.
    #[serde(default = "all_products")]
    pub allow_product_type: String,
    #[serde(default)]
    pub sku_ids: Vec<String>,
    /// Whether a recharge (stored-value top-up, scene `recharge`) earns.
    #[serde(default)]
    pub allow_recharge: bool,
}

fn all_products() -> String {
    ALL_PRODUCTS.into()
}

/// `point_addition_rule`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdditionRule {
    /// Empty: every pay method earns.
    #[serde(default)]
    pub allow_pay_methods: Vec<PayMethod>,
    #[serde(default)]
    pub member_point_addition_rules: Vec<MemberAdditionRule>,
}

/// `member_point_deduction_rules[]`: how a level spends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberDeductionRule {
    pub level_id: String,
    #[serde(default = "yes")]
    pub enable: bool,
    /// `deducted_point` points pay `consume_money` yuan.
    pub consume_money: i64,
    pub deducted_point: i64,
    #[serde(default)]
    pub has_upper_limit: bool,
    /// Points per use at most, when `has_upper_limit`.
    #[serde(default)]
    pub max_point: Option<i64>,
}

/// `point_deduction_rule`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeductionRule {
    #[serde(default)]
    pub member_point_deduction_rules: Vec<MemberDeductionRule>,
    /// Whether points may be spent on an order that also uses a coupon.
    #[serde(default)]
    pub with_coupon: bool,
}

/// `point_clear_rule`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearRule {
    /// `NO_CLEAR` (never expire) or `DAYS` (expire `days` after the award).
    pub point_clear_rule_type: String,
    #[serde(default)]
    pub days: Option<i64>,
}

impl Default for ClearRule {
    fn default() -> ClearRule {
        ClearRule { point_clear_rule_type: NO_CLEAR.into(), days: None }
    }
}

/// `POST …/level_rules/save`: a brand's (or a shop's) rule, created or replacing the live one.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveLevelRule {
    pub name: String,
    /// The shop (store code) the rule is for; absent: the brand's rule.
    #[serde(default)]
    pub shop_id: Option<String>,
    /// The brand's id in the caller's system (the query's `out_brand_id`).
    #[serde(default)]
    pub out_brand_id: Option<String>,
    /// The shop's id in the caller's system (the query's `out_shop_id`).
    #[serde(default)]
    pub out_shop_id: Option<String>,
    #[serde(default)]
    pub point_addition_rule: AdditionRule,
    #[serde(default)]
    pub point_deduction_rule: DeductionRule,
    #[serde(default)]
    pub point_clear_rule: ClearRule,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub ext_info: Option<serde_json::Value>,
    /// Who writes it (the seed's `create_by` / `update_by`) and their name.
    #[serde(default)]
    pub operator: Option<String>,
    #[serde(default)]
    pub operator_name: Option<String>,
}

fn check_level(field: &str, level: &str) -> Result<(), FieldError> {
    if level.is_empty() || level.len() > 19 || !level.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError::new(field, "must be a member level id (digits)"));
    }
    Ok(())
}

fn check_opt(field: &str, v: &Option<String>, max: usize) -> Result<(), FieldError> {
    match v {
        Some(v) if v.trim().is_empty() => Err(FieldError::new(field, "must not be blank")),
        Some(v) => check_len(field, v, max),
        None => Ok(()),
    }
}

impl SaveLevelRule {
    /// Checks every field, naming it (`point_addition_rule.member_point_addition_rules[1].consume_money`).
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.name.trim().is_empty() {
            return Err(FieldError::new("name", "must not be empty"));
        }
        check_len("name", &self.name, 64)?;
        check_opt("shop_id", &self.shop_id, 128)?;
        check_opt("out_brand_id", &self.out_brand_id, 128)?;
        check_opt("out_shop_id", &self.out_shop_id, 128)?;
        check_opt("operator", &self.operator, 64)?;
        check_opt("operator_name", &self.operator_name, 64)?;
        let add = &self.point_addition_rule;
        if add.allow_pay_methods.len() > 50 {
            return Err(FieldError::new("point_addition_rule.allow_pay_methods", "at most 50"));
        }
        for (i, m) in add.allow_pay_methods.iter().enumerate() {
            let f = format!("point_addition_rule.allow_pay_methods[{i}]");
            check_opt(&format!("{f}.method_id"), &Some(m.method_id.clone()), 128)?;
            check_opt(&format!("{f}.method_name"), &m.method_name, 128)?;
            if add.allow_pay_methods[..i].iter().any(|o| o.method_id == m.method_id) {
                return Err(FieldError::new(format!("{f}.method_id"), "is listed twice"));
            }
        }
        let rules = &add.member_point_addition_rules;
        if rules.len() > 100 {
            return Err(FieldError::new("point_addition_rule.member_point_addition_rules", "at most 100"));
        }
        for (i, r) in rules.iter().enumerate() {
            let f = format!("point_addition_rule.member_point_addition_rules[{i}]");
            check_level(&format!("{f}.level_id"), &r.level_id)?;
            if rules[..i].iter().any(|o| o.level_id == r.level_id) {
                return Err(FieldError::new(format!("{f}.level_id"), "has a rule already (one per level)"));
            }
            check_range(&format!("{f}.consume_money"), r.consume_money, 1, 100_000_000)?;
            check_range(&format!("{f}.reward_point"), r.reward_point, 1, 1_000_000_000)?;
            match r.allow_product_type.as_str() {
                ALL_PRODUCTS if r.sku_ids.is_empty() => {}
                ALL_PRODUCTS => {
                    return Err(FieldError::new(format!("{f}.sku_ids"), "must be empty when allow_product_type is ALL"))
                }
                "SKU" if r.sku_ids.is_empty() => {
                    return Err(FieldError::new(
                        format!("{f}.sku_ids"),
                        "must list SKUs when allow_product_type is SKU",
                    ))
                }
                "SKU" => {}
                _ => return Err(FieldError::new(format!("{f}.allow_product_type"), "must be ALL or SKU")),
            }
            if r.sku_ids.len() > 1000 {
                return Err(FieldError::new(format!("{f}.sku_ids"), "at most 1000"));
            }
            for (j, s) in r.sku_ids.iter().enumerate() {
                check_opt(&format!("{f}.sku_ids[{j}]"), &Some(s.clone()), 64)?;
            }
        }
        let ded = &self.point_deduction_rule.member_point_deduction_rules;
        if ded.len() > 100 {
            return Err(FieldError::new("point_deduction_rule.member_point_deduction_rules", "at most 100"));
        }
        for (i, r) in ded.iter().enumerate() {
            let f = format!("point_deduction_rule.member_point_deduction_rules[{i}]");
            check_level(&format!("{f}.level_id"), &r.level_id)?;
            if ded[..i].iter().any(|o| o.level_id == r.level_id) {
                return Err(FieldError::new(format!("{f}.level_id"), "has a rule already (one per level)"));
            }
            check_range(&format!("{f}.consume_money"), r.consume_money, 1, 100_000_000)?;
            check_range(&format!("{f}.deducted_point"), r.deducted_point, 1, 1_000_000_000)?;
            match (r.has_upper_limit, r.max_point) {
                (true, None) => {
                    return Err(FieldError::new(format!("{f}.max_point"), "is required when has_upper_limit is true"))
                }
                (_, Some(m)) => check_range(&format!("{f}.max_point"), m, 1, 1_000_000_000)?,
                (false, None) => {}
            }
        }
        let clear = &self.point_clear_rule;
        match (clear.point_clear_rule_type.as_str(), clear.days) {
            (NO_CLEAR, None) => {}
            (NO_CLEAR, Some(_)) => {
                return Err(FieldError::new(
                    "point_clear_rule.days",
                    "must be absent when point_clear_rule_type is NO_CLEAR",
                ))
            }
            (CLEAR_AFTER_DAYS, Some(d)) => check_range("point_clear_rule.days", d, 1, 36_500)?,
            (CLEAR_AFTER_DAYS, None) => {
                return Err(FieldError::new("point_clear_rule.days", "is required when point_clear_rule_type is DAYS"))
            }
            _ => return Err(FieldError::new("point_clear_rule.point_clear_rule_type", "must be NO_CLEAR or DAYS")),
        }
        if let Some(e) = &self.ext_info {
            if !e.is_object() {
                return Err(FieldError::new("ext_info", "must be an object"));
            }
        }
        Ok(())
    }
}

/// The query's `param_query_point_rule_open_req`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryPointRuleOpenReq {
    #[serde(default)]
    pub brand_id: Option<String>,
    #[serde(default)]
    pub out_brand_id: Option<String>,
    #[serde(default)]
    pub shop_id: Option<String>,
    #[serde(default)]
    pub out_shop_id: Option<String>,
    #[serde(default)]
    pub level_id: Option<String>,
    #[serde(default)]
    pub include_logical_delete: Option<bool>,
    /// `YYYY-MM-DD HH:MM:SS` in the tenant's zone.
    #[serde(default)]
    pub max_update_time: Option<String>,
}

/// The query's body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointRuleGet {
    #[serde(default)]
    pub param_query_point_rule_open_req: Option<QueryPointRuleOpenReq>,
}

impl QueryPointRuleOpenReq {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.brand_id.is_none() && self.out_brand_id.is_none() {
            return Err(FieldError::new("brand_id", "brand_id and out_brand_id cannot both be empty"));
        }
        for (f, v) in [
            ("brand_id", &self.brand_id),
            ("out_brand_id", &self.out_brand_id),
            ("shop_id", &self.shop_id),
            ("out_shop_id", &self.out_shop_id),
        ] {
            check_opt(f, v, 128)?;
        }
        if let Some(l) = &self.level_id {
            check_level("level_id", l)?;
        }
        Ok(())
    }
}

/// A live rule as the rule cache carries it to the workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelRuleSet {
    pub rule_id: i64,
    /// The shop (store code) it is for; `None`: the brand's.
    pub shop_id: Option<String>,
    #[serde(default)]
    pub point_addition_rule: AdditionRule,
    #[serde(default)]
    pub point_deduction_rule: DeductionRule,
    #[serde(default)]
    pub point_clear_rule: ClearRule,
}

/// The business time a `NO_CLEAR` lot expires at: never, in practice (the lot's `expire_time`
/// cannot be empty; the sweeper takes lots whose time has come, and this one's never comes).
pub fn never_expires() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::<chrono::Utc>::from_timestamp(253_402_300_799, 0).expect("9999-12-31T23:59:59Z")
}

impl LevelRuleSet {
    /// The lot's expiry of an award at `at` under this rule's clear rule.
    pub fn expire_time(&self, at: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        match (self.point_clear_rule.point_clear_rule_type.as_str(), self.point_clear_rule.days) {
            (CLEAR_AFTER_DAYS, Some(d)) => at + chrono::Duration::days(d),
            _ => never_expires(),
        }
    }

    /// The level's earn entry, enabled or not (a disabled one means the level earns nothing).
    pub fn addition_for(&self, level_id: i64) -> Option<&MemberAdditionRule> {
        let level = level_id.to_string();
        self.point_addition_rule.member_point_addition_rules.iter().find(|r| r.level_id == level)
    }

    /// Whether an order paid with `method` earns: every method when none is listed, else only
    /// an enabled listed one.
    pub fn pay_method_allowed(&self, method: Option<&str>) -> bool {
        let methods = &self.point_addition_rule.allow_pay_methods;
        methods.is_empty() || methods.iter().any(|m| m.enable && Some(m.method_id.as_str()) == method)
    }
}

impl MemberAdditionRule {
    /// The award of an order: `floor(counted / consume_money) × reward_point`, where `counted` is
    /// the order's amount (`ALL`) or its lines on `sku_ids` (`SKU`); with the arithmetic.
    pub fn award(
        &self,
        rule_id: i64,
        amount: Option<crate::money::Cents>,
        items: &[(String, crate::money::Cents)],
    ) -> (i64, String) {
        let (counted, what) = if self.allow_product_type == ALL_PRODUCTS {
            (amount.map_or(0, |a| a.0), "order")
        } else {
            (items.iter().filter(|(s, _)| self.sku_ids.contains(s)).map(|(_, c)| c.0).sum(), "listed SKUs")
        };
        let steps = counted / (self.consume_money.max(1) * 100);
        let points = steps.saturating_mul(self.reward_point);
        let why = format!(
            "level rule {rule_id} (level {}): floor({what} {} / {}) × {} = {points}",
            self.level_id,
            crate::money::Cents(counted).to_decimal_string(),
            self.consume_money,
            self.reward_point
        );
        (points, why)
    }
}

impl LevelRuleSet {
    /// The level's spend entry, enabled or not (a disabled one refuses the spend).
    pub fn deduction_for(&self, level_id: i64) -> Option<&MemberDeductionRule> {
        let level = level_id.to_string();
        self.point_deduction_rule.member_point_deduction_rules.iter().find(|r| r.level_id == level)
    }

    /// What a spend takes under the level's deduction entry (it replaces seed 000's spend tier):
    /// `deducted_point` points pay `consume_money` yuan; `max_point` caps one use (a spend of
    /// `points` above it is refused, a spend by `amount` is cut to it); with a coupon on the
    /// order it is refused unless `with_coupon`. `(points, money offset, why)`, or the refusal.
    pub fn quote_spend(
        &self,
        entry: &MemberDeductionRule,
        p: &crate::points::ConsumePayload,
        available: i64,
        frozen: i64,
    ) -> Result<(i64, Option<crate::money::Cents>, String), (crate::response::Refusal, String)> {
        use crate::{money::Cents, response::Refusal};
        let who = format!("level rule {} (level {})", self.rule_id, entry.level_id);
        if !entry.enable {
            return Err((Refusal::LevelRule, format!("{who}: this level may not spend points")));
        }
        if p.with_coupon == Some(true) && !self.point_deduction_rule.with_coupon {
            return Err((
                Refusal::LevelRule,
                format!("{who}: points do not combine with a coupon (with_coupon false)"),
            ));
        }
        let cap = if entry.has_upper_limit { entry.max_point } else { None };
        let step_money = entry.consume_money.max(1) * 100;
        let step_points = entry.deducted_point.max(1);
        let (points, money, why) = match p.points {
            Some(points) => {
                if let Some(max) = cap.filter(|m| points > *m) {
                    return Err((
                        Refusal::LimitReached,
                        format!("{who}: {points} points exceed max_point {max} per use"),
                    ));
                }
                (points, None, format!("{who}: {points} points asked"))
            }
            None => {
                let payable = p.amount.unwrap_or(Cents(0));
                let spendable = cap.map_or(available, |m| available.min(m)).max(0);
                let steps = (payable.0 / step_money).min(spendable / step_points);
                let (points, money) = (steps * step_points, Cents(steps * step_money));
                if points == 0 {
                    let code = if available == 0 { Refusal::InsufficientPoints } else { Refusal::NoPointsUsable };
                    return Err((
                        code,
                        format!(
                            "{who}: no points usable: {available} available, {step_points} points per {} yuan, payable amount {}",
                            entry.consume_money,
                            payable.to_decimal_string()
                        ),
                    ));
                }
                let capped = cap.map_or(String::new(), |m| format!(", at most {m} per use"));
                let why = format!(
                    "{who}: min(floor({} / {}), floor({spendable} / {step_points})) × {step_points} = {points} points for {} yuan{capped}",
                    payable.to_decimal_string(),
                    entry.consume_money,
                    money.to_decimal_string()
                );
                (points, Some(money), why)
            }
        };
        if points > available {
            let more = if frozen > 0 { format!(" ({frozen} more frozen)") } else { String::new() };
            return Err((
                Refusal::InsufficientPoints,
                format!("insufficient points: {points} requested, {available} available{more}"),
            ));
        }
        Ok((points, money, why))
    }
}
