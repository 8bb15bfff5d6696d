//! Members (seed 002 "会员模型" / "会员身份模型"): the built-in profile attributes and their
//! types, the tenant's declared `c_` attributes and the checks of a profile write against them,
//! identities, and level definitions with the computation of a member's level.
//!
//! Personal data (`mobile`, `idCard`, `email`, `address`, `birthday`): a check's message never
//! quotes its value, so an error can be answered and logged as it is.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{
    checks::{check_key, check_len, check_range},
    FieldError,
};

/// The built-in attributes' types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Text,
    /// An integer (`gender`).
    Int,
    /// A number (`balance`).
    Number,
    /// `YYYY-MM-DD` (`birthday`).
    Date,
    /// `2016-11-11T11:11:11`, UTC, with or without `Z`.
    DateTime,
}

/// The writable built-in attributes: (seed name, column, type). `id`, `point`, `level`,
/// `dateCreated` and `lastUpdated` are the system's.
pub const BUILTIN: &[(&str, &str, Builtin)] = &[
    ("name", "name", Builtin::Text),
    ("familyName", "family_name", Builtin::Text),
    ("givenName", "given_name", Builtin::Text),
    ("customerId", "customer_id", Builtin::Text),
    ("membershipCode", "membership_code", Builtin::Text),
    ("idCard", "id_card", Builtin::Text),
    ("address", "address", Builtin::Text),
    ("educationBackgro", "education_backgro", Builtin::Text),
    ("img", "img", Builtin::Text),
    ("gender", "gender", Builtin::Int),
    ("mobile", "mobile", Builtin::Text),
    ("email", "email", Builtin::Text),
    ("birthday", "birthday", Builtin::Date),
    ("dateJoin", "date_join", Builtin::DateTime),
    ("createMethod", "create_method", Builtin::Text),
    ("createChannel", "create_channel", Builtin::Text),
    ("industry", "industry", Builtin::Text),
    ("income", "income", Builtin::Text),
    ("balance", "balance", Builtin::Number),
    ("referrer", "referrer", Builtin::Text),
    ("source", "source", Builtin::Text),
    ("contentName", "content_name", Builtin::Text),
    ("campaignId", "campaign_id", Builtin::Text),
    ("country", "country", Builtin::Text),
    ("province", "province", Builtin::Text),
    ("city", "city", Builtin::Text),
    ("county", "county", Builtin::Text),
];

/// The attributes that are personal data: never in a log line, an analytics event or an error.
pub const PERSONAL: &[&str] = &["mobile", "idCard", "email", "address", "birthday"];

/// The attributes a profile write keeps unless `forceUpdate=true` (once set, a member's origin
/// stays what it first was).
pub const FORCE_ONLY: &[&str] = &["source", "contentName", "campaignId"];

/// The attributes the system sets: a write naming one is refused, naming it.
pub const SYSTEM: &[&str] = &["id", "point", "level", "dateCreated", "lastUpdated"];

/// A declared custom attribute's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AttributeType {
    Text,
    Number,
    Date,
    Datetime,
    Boolean,
    Enum,
}

impl AttributeType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeType::Text => "text",
            AttributeType::Number => "number",
            AttributeType::Date => "date",
            AttributeType::Datetime => "datetime",
            AttributeType::Boolean => "boolean",
            AttributeType::Enum => "enum",
        }
    }

    pub fn parse(s: &str) -> Option<AttributeType> {
        serde_json::from_value(Value::String(s.to_string())).ok()
    }
}

/// A custom attribute declaration (`POST /loyalty/v1/settings/attributes`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeDecl {
    /// `c_` then 1-62 letters, digits, `_` or CJK characters.
    pub code: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: AttributeType,
    /// An enum's allowed values (required for `enum`, refused otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
}

/// `c_` and at least one more character, none of them a space, a control or punctuation other
/// than `_` (the seed's own examples include `c_驱蚊器`).
pub fn check_custom_code(field: &str, code: &str) -> Result<(), FieldError> {
    let rest = code.strip_prefix("c_").unwrap_or_default();
    let ok = !rest.is_empty() && code.chars().count() <= 64 && rest.chars().all(|c| c == '_' || c.is_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(field, "must be `c_` followed by 1-62 letters, digits or _"))
    }
}

impl AttributeDecl {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_custom_code("code", &self.code)?;
        if self.name.trim().is_empty() {
            return Err(FieldError::new("name", "must not be empty"));
        }
        check_len("name", &self.name, 128)?;
        match (self.kind, &self.options) {
            (AttributeType::Enum, None) => return Err(FieldError::new("options", "an enum needs its values")),
            (AttributeType::Enum, Some(o)) if o.is_empty() || o.len() > 200 => {
                return Err(FieldError::new("options", "must hold 1-200 values"))
            }
            (AttributeType::Enum, Some(o)) => {
                for v in o {
                    check_len("options", v, 128)?;
                }
            }
            (_, Some(_)) => return Err(FieldError::new("options", "only an enum has options")),
            (_, None) => {}
        }
        Ok(())
    }

    /// Checks one value against this declaration; answers the value to store.
    pub fn check_value(&self, value: &Value) -> Result<Value, FieldError> {
        let field = &self.code;
        let wrong = |what: &str| FieldError::new(field.clone(), format!("must be {what}"));
        match (self.kind, value) {
            (_, Value::Null) => Ok(Value::Null),
            (AttributeType::Text, Value::String(s)) => {
                check_len(field, s, 1024)?;
                Ok(value.clone())
            }
            (AttributeType::Text, _) => Err(wrong("a text")),
            (AttributeType::Number, Value::Number(_)) => Ok(value.clone()),
            (AttributeType::Number, _) => Err(wrong("a number")),
            (AttributeType::Boolean, Value::Bool(_)) => Ok(value.clone()),
            (AttributeType::Boolean, _) => Err(wrong("true or false")),
            (AttributeType::Date, Value::String(s)) if parse_date(s).is_some() => Ok(value.clone()),
            (AttributeType::Date, _) => Err(wrong("a date YYYY-MM-DD")),
            (AttributeType::Datetime, Value::String(s)) => match parse_datetime(s) {
                Some(t) => Ok(Value::String(format_datetime(t))),
                None => Err(wrong("a UTC time YYYY-MM-DDTHH:MM:SS")),
            },
            (AttributeType::Datetime, _) => Err(wrong("a UTC time YYYY-MM-DDTHH:MM:SS")),
            (AttributeType::Enum, Value::String(s)) if self.options.as_ref().is_some_and(|o| o.contains(s)) => {
                Ok(value.clone())
            }
            (AttributeType::Enum, _) => Err(wrong("one of the declared options")),
        }
    }
}

pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// The seed's time: `2016-11-11T11:11:11`, UTC, `Z` optional (RFC 3339 offsets are taken too).
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").ok().map(|n| n.and_utc())
}

/// The seed's answer form: `2017-10-31T03:07:47Z`.
pub fn format_datetime(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A built-in attribute's checked value, ready to bind.
#[derive(Debug, Clone, PartialEq)]
pub enum BuiltinValue {
    Text(Option<String>),
    Int(Option<i64>),
    Number(Option<f64>),
    Time(Option<DateTime<Utc>>),
}

/// A checked profile write: the built-ins it sets (column → value) and the custom values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileWrite {
    pub builtins: BTreeMap<&'static str, BuiltinValue>,
    pub custom: Map<String, Value>,
}

impl ProfileWrite {
    pub fn text(&self, column: &str) -> Option<Option<&str>> {
        match self.builtins.get(column) {
            Some(BuiltinValue::Text(t)) => Some(t.as_deref()),
            _ => None,
        }
    }
}

/// Checks a profile body against the built-ins and the tenant's declarations. Keys that are
/// neither a built-in nor `c_` are ignored, as DM Hub ignores them (the seed's own example sends
/// `cm_test2`); an undeclared `c_` key is refused, naming it.
pub fn check_profile(body: &Map<String, Value>, decls: &[AttributeDecl]) -> Result<ProfileWrite, FieldError> {
    let mut write = ProfileWrite::default();
    for (key, value) in body {
        if SYSTEM.contains(&key.as_str()) {
            return Err(FieldError::new(key.clone(), "is set by the system"));
        }
        if let Some(&(_, column, kind)) = BUILTIN.iter().find(|(k, _, _)| k == key) {
            write.builtins.insert(column, check_builtin(key, kind, value)?);
            continue;
        }
        if key.starts_with("c_") {
            let Some(decl) = decls.iter().find(|d| &d.code == key) else {
                return Err(FieldError::new(key.clone(), "is not a declared attribute"));
            };
            write.custom.insert(key.clone(), decl.check_value(value)?);
        }
    }
    Ok(write)
}

fn check_builtin(key: &str, kind: Builtin, value: &Value) -> Result<BuiltinValue, FieldError> {
    let wrong = |what: &str| FieldError::new(key, format!("must be {what}"));
    Ok(match (kind, value) {
        (Builtin::Text, Value::Null) => BuiltinValue::Text(None),
        (Builtin::Text, Value::String(s)) => {
            match key {
                "mobile" => check_mobile("mobile", s)?,
                "membershipCode" => check_key("membershipCode", s)?,
                "email" if !s.contains('@') || s.chars().count() > 256 => return Err(wrong("an email address")),
                _ => check_len(key, s, 1024)?,
            }
            if s.contains('\0') {
                return Err(wrong("a text without NUL"));
            }
            BuiltinValue::Text(Some(s.clone()))
        }
        // customerId is a number in one of the seed's answers: take it, keep it as text.
        (Builtin::Text, Value::Number(n)) if key == "customerId" => BuiltinValue::Text(Some(n.to_string())),
        (Builtin::Text, _) => return Err(wrong("a text")),
        (Builtin::Int, Value::Null) => BuiltinValue::Int(None),
        (Builtin::Int, Value::Number(n)) => {
            let v = n.as_i64().ok_or_else(|| wrong("0, 1 or 2"))?;
            check_range(key, v, 0, 2)?;
            BuiltinValue::Int(Some(v))
        }
        (Builtin::Int, _) => return Err(wrong("0, 1 or 2")),
        (Builtin::Number, Value::Null) => BuiltinValue::Number(None),
        (Builtin::Number, Value::Number(n)) => {
            BuiltinValue::Number(Some(n.as_f64().filter(|f| f.abs() < 1e15).ok_or_else(|| wrong("a number"))?))
        }
        (Builtin::Number, _) => return Err(wrong("a number")),
        (Builtin::Date, Value::Null) => BuiltinValue::Text(None),
        (Builtin::Date, Value::String(s)) if parse_date(s).is_some() => BuiltinValue::Text(Some(s.clone())),
        (Builtin::Date, _) => return Err(wrong("a date YYYY-MM-DD")),
        (Builtin::DateTime, Value::Null) => BuiltinValue::Time(None),
        (Builtin::DateTime, Value::String(s)) => {
            BuiltinValue::Time(Some(parse_datetime(s).ok_or_else(|| wrong("a UTC time YYYY-MM-DDTHH:MM:SS"))?))
        }
        (Builtin::DateTime, _) => return Err(wrong("a UTC time YYYY-MM-DDTHH:MM:SS")),
    })
}

/// A mobile number: 3-20 digits, an optional leading `+` (never quoted back: personal data).
pub fn check_mobile(field: &str, s: &str) -> Result<(), FieldError> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if (3..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(FieldError::new(field, "must be 3-20 digits, optionally after +"))
    }
}

/// The built-in identity types; a tenant's own start with `c_`.
pub const IDENTITY_TYPES: &[&str] = &["mobile", "wechat", "wechat-unionid", "taobao-account"];

/// `{type, value, name}` as the seed sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Identity {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
    #[serde(default)]
    pub name: Option<String>,
}

impl Identity {
    /// Checks one identity; `at` is its place in the body (`identities[0]`).
    pub fn validate(&self, at: &str) -> Result<(), FieldError> {
        check_identity_type(&format!("{at}.type"), &self.kind)?;
        if self.kind == "mobile" {
            check_mobile(&format!("{at}.value"), &self.value)?;
        } else {
            let field = format!("{at}.value");
            if self.value.trim().is_empty() {
                return Err(FieldError::new(field, "must not be empty"));
            }
            check_len(&field, &self.value, 256)?;
        }
        if let Some(name) = &self.name {
            check_len(&format!("{at}.name"), name, 128)?;
        }
        Ok(())
    }
}

pub fn check_identity_type(field: &str, kind: &str) -> Result<(), FieldError> {
    if IDENTITY_TYPES.contains(&kind) || check_custom_code(field, kind).is_ok() {
        Ok(())
    } else {
        Err(FieldError::new(field, "must be mobile, wechat, wechat-unionid, taobao-account or c_…"))
    }
}

/// One of a level's six rule kinds: met when the member's figure over the last `month` months
/// (or over its lifetime, for the `*Total` kinds) reaches `number`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LevelRule {
    pub enabled: bool,
    #[serde(deserialize_with = "de_whole")]
    pub month: i64,
    pub number: f64,
}

/// A required integer, `2.0` included (an integer to JSON Schema): `checks::de_lenient_int`'s rule.
fn de_whole<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    crate::checks::de_lenient_int(d)?.ok_or_else(|| serde::de::Error::custom("expected an integer"))
}

/// The six kinds, by the seed's names.
pub const RULE_KINDS: &[&str] =
    &["consumption", "consumptionTotal", "frequency", "frequencyTotal", "points", "pointsTotal"];

/// A level definition as the management API takes it and the seed's rules answer shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LevelRequest {
    pub name: String,
    /// 0 the lowest, upwards; unique in a tenant.
    #[serde(deserialize_with = "de_whole")]
    pub priority: i64,
    #[serde(default)]
    pub is_forever: bool,
    /// `or` (default) or `and`.
    #[serde(default)]
    pub operator: Option<String>,
    /// Any of the six kinds (and the seed's free-text `desp`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub rules: Map<String, Value>,
    #[serde(default)]
    pub desp: Option<String>,
}

/// A level's checked rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LevelRules {
    pub kinds: BTreeMap<String, LevelRule>,
}

impl LevelRequest {
    /// Checks every field; answers the operator and the rules.
    pub fn validate(&self) -> Result<(bool, LevelRules), FieldError> {
        if self.name.trim().is_empty() {
            return Err(FieldError::new("name", "must not be empty"));
        }
        check_len("name", &self.name, 64)?;
        check_range("priority", self.priority, 0, 1000)?;
        let and = match self.operator.as_deref() {
            None | Some("or") => false,
            Some("and") => true,
            Some(_) => return Err(FieldError::new("operator", "must be or or and")),
        };
        if let Some(d) = &self.desp {
            check_len("desp", d, 512)?;
        }
        Ok((and, parse_rules(&self.rules)?))
    }
}

/// Parses a `rules` object: each kind `{enabled, month, number}`; `desp` is free text.
pub fn parse_rules(rules: &Map<String, Value>) -> Result<LevelRules, FieldError> {
    let mut out = LevelRules::default();
    for (key, value) in rules {
        let field = format!("rules.{key}");
        if key == "desp" {
            if !value.is_string() && !value.is_null() {
                return Err(FieldError::new(field, "must be a text"));
            }
            continue;
        }
        if !RULE_KINDS.contains(&key.as_str()) {
            return Err(FieldError::new(field, format!("is not a rule kind (one of {})", RULE_KINDS.join(", "))));
        }
        let rule: LevelRule = serde_json::from_value(value.clone())
            .map_err(|e| FieldError::new(field.clone(), format!("must be {{enabled, month, number}}: {e}")))?;
        check_range(&format!("{field}.month"), rule.month, 1, 120)?;
        if !(0.0..=1e12).contains(&rule.number) {
            return Err(FieldError::new(format!("{field}.number"), "must be between 0 and 1000000000000"));
        }
        out.kinds.insert(key.clone(), rule);
    }
    Ok(out)
}

/// A member's figures for the level rules: (window months → value) per windowed kind, and
/// lifetime values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberFigures {
    /// Order amounts in yuan, within `month` months.
    pub consumption: BTreeMap<i64, f64>,
    pub frequency: BTreeMap<i64, f64>,
    pub points: BTreeMap<i64, f64>,
    pub consumption_total: f64,
    pub frequency_total: f64,
    pub points_total: f64,
}

impl MemberFigures {
    fn value(&self, kind: &str, month: i64) -> f64 {
        match kind {
            "consumption" => self.consumption.get(&month).copied().unwrap_or(0.0),
            "frequency" => self.frequency.get(&month).copied().unwrap_or(0.0),
            "points" => self.points.get(&month).copied().unwrap_or(0.0),
            "consumptionTotal" => self.consumption_total,
            "frequencyTotal" => self.frequency_total,
            "pointsTotal" => self.points_total,
            _ => 0.0,
        }
    }
}

impl LevelRules {
    /// Whether a member with `figures` meets the rules. No enabled rule: met (a base level).
    pub fn met(&self, and: bool, figures: &MemberFigures) -> bool {
        let mut enabled = self.kinds.iter().filter(|(_, r)| r.enabled).peekable();
        if enabled.peek().is_none() {
            return true;
        }
        let mut results = enabled.map(|(kind, r)| figures.value(kind, r.month) >= r.number);
        if and {
            results.all(|b| b)
        } else {
            results.any(|b| b)
        }
    }

    /// The windows (months) each windowed kind needs.
    pub fn windows(&self) -> impl Iterator<Item = i64> + '_ {
        self.kinds.iter().filter(|(k, r)| r.enabled && !k.ends_with("Total")).map(|(_, r)| r.month)
    }
}

/// A level as the computation sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelDef {
    pub id: i64,
    pub priority: i64,
    pub is_forever: bool,
    pub and: bool,
    pub rules: LevelRules,
}

/// The member's level: the highest whose rules it meets, but never below a level it holds that
/// `isForever` (such a level never goes down).
pub fn compute_level<'a>(
    levels: &'a [LevelDef],
    current: Option<i64>,
    figures: &MemberFigures,
) -> Option<&'a LevelDef> {
    let met = levels.iter().filter(|l| l.rules.met(l.and, figures)).max_by_key(|l| l.priority);
    let held = current.and_then(|id| levels.iter().find(|l| l.id == id)).filter(|l| l.is_forever);
    match (met, held) {
        (Some(m), Some(h)) if h.priority > m.priority => Some(h),
        (None, Some(h)) => Some(h),
        (m, _) => m,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decl(code: &str, kind: AttributeType, options: Option<Vec<&str>>) -> AttributeDecl {
        AttributeDecl {
            code: code.into(),
            name: code.into(),
            kind,
            options: options.map(|o| o.into_iter().map(String::from).collect()),
        }
    }

    #[test]
    fn custom_values_are_checked_against_their_declaration() {
        let decls = vec![
            decl("c_vip", AttributeType::Boolean, None),
            decl("c_size", AttributeType::Enum, Some(vec!["S", "M"])),
            decl("c_since", AttributeType::Datetime, None),
        ];
        for (body, field) in [
            (json!({"c_vip": "true"}), Some("c_vip")),
            (json!({"c_size": "XL"}), Some("c_size")),
            (json!({"c_since": "yesterday"}), Some("c_since")),
            (json!({"c_other": 1}), Some("c_other")),
            (json!({"gender": 7}), Some("gender")),
            (json!({"birthday": "1988-13-01"}), Some("birthday")),
            (json!({"mobile": "13x"}), Some("mobile")),
            (json!({"point": 5}), Some("point")),
            (json!({"c_vip": true, "c_size": "M", "c_since": "2016-11-11T11:11:11", "cm_test2": true}), None),
        ] {
            let got = check_profile(body.as_object().unwrap(), &decls);
            assert_eq!(got.as_ref().err().map(|e| e.field.as_str()), field, "{body}");
        }
    }

    #[test]
    fn a_personal_value_is_never_quoted_in_an_error() {
        for body in [json!({"mobile": "1380000abcd"}), json!({"email": "secret-no-at"}), json!({"birthday": "secret"})]
        {
            let e = check_profile(body.as_object().unwrap(), &[]).unwrap_err();
            let value = body.as_object().unwrap().values().next().unwrap().as_str().unwrap();
            assert!(!e.message.contains(value), "{}", e.message);
        }
    }

    #[test]
    fn the_highest_met_level_wins_and_forever_levels_never_go_down() {
        let rule = |kind: &str, month, number| {
            let mut r = LevelRules::default();
            r.kinds.insert(kind.into(), LevelRule { enabled: true, month, number });
            r
        };
        let levels = vec![
            LevelDef { id: 1, priority: 0, is_forever: true, and: false, rules: LevelRules::default() },
            LevelDef { id: 2, priority: 1, is_forever: false, and: false, rules: rule("points", 12, 100.0) },
            LevelDef { id: 3, priority: 2, is_forever: true, and: false, rules: rule("pointsTotal", 12, 1000.0) },
        ];
        let mut f = MemberFigures::default();
        assert_eq!(compute_level(&levels, None, &f).map(|l| l.id), Some(1));
        f.points.insert(12, 150.0);
        assert_eq!(compute_level(&levels, Some(1), &f).map(|l| l.id), Some(2));
        f.points_total = 1000.0;
        assert_eq!(compute_level(&levels, Some(2), &f).map(|l| l.id), Some(3));
        // The window slid and the lifetime figure is the same: level 3 is forever.
        f.points.clear();
        assert_eq!(compute_level(&levels, Some(3), &f).map(|l| l.id), Some(3));
        // Level 2 is not forever: it falls back to 1 once the window is empty.
        f.points_total = 0.0;
        assert_eq!(compute_level(&levels, Some(2), &f).map(|l| l.id), Some(1));
    }

    #[test]
    fn level_rules_name_the_bad_kind() {
        for (rules, field) in [
            (json!({"points": {"enabled": true, "month": 0, "number": 5}}), "rules.points.month"),
            (json!({"point": {"enabled": true, "month": 1, "number": 5}}), "rules.point"),
            (json!({"frequency": {"enabled": "yes", "month": 1, "number": 5}}), "rules.frequency"),
            (json!({"consumption": {"enabled": true, "month": 1, "number": -1}}), "rules.consumption.number"),
        ] {
            assert_eq!(parse_rules(rules.as_object().unwrap()).unwrap_err().field, field, "{rules}");
        }
    }
}
