//! The OpenAPI shapes of the `/loyalty/v1` answers (the handlers build them with `json!` in
//! seed 002's key order; these structs only describe them, and schemathesis' response checks
//! hold the two together). Answers are bare, as the seed shows them: no `{code, msg, data}`.

#![allow(dead_code)]

use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::openapi::constraints::NOT_BLANK;

/// `{id, name, priority}`
#[derive(Serialize, ToSchema)]
pub struct LevelRef {
    pub id: i64,
    pub name: String,
    pub priority: i64,
}

/// A member as seed 002 shows it; every declared `c_` attribute follows the built-ins.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    pub id: i64,
    pub name: Option<String>,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub customer_id: Option<String>,
    pub membership_code: Option<String>,
    pub id_card: Option<String>,
    pub address: Option<String>,
    pub education_backgro: Option<String>,
    pub img: Option<String>,
    pub gender: Option<i64>,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub birthday: Option<String>,
    /// UTC, `2017-10-31T03:07:47Z`.
    pub date_join: String,
    pub create_method: Option<String>,
    pub create_channel: Option<String>,
    pub industry: Option<String>,
    pub income: Option<String>,
    pub balance: Option<f64>,
    pub referrer: Option<String>,
    pub last_updated: String,
    pub level: Option<LevelRef>,
    /// Available points now, from the ledger.
    pub point: i64,
    pub source: Option<String>,
    pub content_name: Option<String>,
    pub campaign_id: Option<String>,
    pub country: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub county: Option<String>,
    pub date_created: String,
}

#[derive(Serialize, ToSchema)]
pub struct IdentityView {
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

#[derive(Serialize, ToSchema)]
pub struct MembershipWithIdentities {
    pub identities: Vec<IdentityView>,
    pub membership: Membership,
}

/// `rows`, with `records` (rows in all) and `total` (pages) when `needTotal=true`.
#[derive(Serialize, ToSchema)]
pub struct MembershipPage {
    pub rows: Vec<Membership>,
    pub records: Option<i64>,
    pub total: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct MembershipsWithIdentities {
    pub rows: Vec<MembershipWithIdentities>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PointLogItem {
    pub id: i64,
    pub content_name: Option<String>,
    pub campaign_id: Option<String>,
    pub date: String,
    pub date_created: String,
    pub last_updated: String,
    pub left_point: i64,
    pub pattern: i64,
    pub source: Option<String>,
    pub new_point: i64,
    pub old_point: i64,
    pub point: i64,
    pub tenant_id: String,
    pub membership_id: i64,
    /// 1 a credit, -1 a debit.
    #[serde(rename = "type")]
    pub kind: i64,
    /// -1 once (partly) reversed, else 0.
    pub status: i64,
    pub expire_date: Option<String>,
    pub remark: Option<String>,
    pub external_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct PointLogPage {
    pub rows: Vec<PointLogItem>,
    pub records: Option<i64>,
    pub total: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExpLogItem {
    pub id: i64,
    pub tenant_id: String,
    pub date_created: String,
    pub membership_id: i64,
    pub last_updated: String,
    pub exp_type: i64,
    pub exp_value: i64,
    pub old_exp: i64,
    pub remark: Option<String>,
    pub date_obtain: String,
    pub external_id: String,
    pub new_exp: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ExpLogPage {
    pub rows: Vec<ExpLogItem>,
    pub records: Option<i64>,
    pub total: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LevelChangeItem {
    pub id: i64,
    pub membership_id: i64,
    pub from_level: Option<i64>,
    pub to_level: Option<i64>,
    pub from_priority: Option<i64>,
    pub to_priority: Option<i64>,
    /// join | earn | schedule
    pub reason: String,
    pub date_created: String,
}

#[derive(Serialize, ToSchema)]
pub struct LevelChangePage {
    pub rows: Vec<LevelChangeItem>,
    pub records: Option<i64>,
    pub total: Option<i64>,
}

/// The MD5 lookup's identity.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Md5Identity {
    pub id: i64,
    pub tenant_id: String,
    pub date_created: String,
    pub membership_id: i64,
    pub last_updated: String,
    pub md5type: String,
    pub value: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub md5value: String,
}

/// `{"error": {"code", "message"}}`; `code` is text, except 409224 and 409225 (numbers, as the
/// seed writes them).
#[derive(Serialize, ToSchema)]
pub struct CompatError {
    pub error: CompatErrorBody,
}

#[derive(Serialize, ToSchema)]
pub struct CompatErrorBody {
    pub code: CompatCode,
    pub message: String,
}

/// Text (`"400005"`), or a number for the identity codes (`409224`), as the seed writes them.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum CompatCode {
    Text(String),
    Number(i64),
}

/// A found identity, or (HTTP 200 too) the seed's `409200` error.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Md5Answer {
    Found(Md5Identity),
    NotFound(CompatError),
}

#[derive(Serialize, ToSchema)]
pub struct Success {
    /// `success`
    pub result: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Erased {
    pub result: String,
    pub membership_id: i64,
    /// The key the member's ledger rows now carry.
    pub pseudonym: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushDevice {
    pub app_key: String,
    /// Null: registered anonymous.
    pub membership_id: Option<i64>,
    pub os: String,
    pub provider: String,
    pub push_id: String,
}

/// `POST /appPush/register`'s body.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushRequest {
    /// jpush | getui
    pub provider: String,
    pub app_key: String,
    pub push_id: String,
    /// android | ios
    pub os: String,
    #[schema(value_type = Option<Object>)]
    pub membership_id: Option<Value>,
    pub mobile: Option<String>,
}

/// `POST /membershipAndIdentities`' body.
#[derive(Serialize, ToSchema)]
pub struct CreateRequest {
    /// The built-in attributes and the tenant's `c_` attributes.
    #[schema(value_type = Object)]
    pub membership: Value,
    pub identities: Vec<schemas::members::Identity>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Level {
    pub desp: Option<String>,
    pub id: i64,
    pub is_forever: bool,
    pub name: String,
    /// or | and
    pub operator: String,
    pub priority: i64,
    /// Any of consumption, consumptionTotal, frequency, frequencyTotal, points, pointsTotal,
    /// each `{enabled, month, number}`, and `desp`.
    #[schema(value_type = Object)]
    pub rules: Value,
    pub status: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Levels {
    pub rows: Vec<Level>,
}

#[derive(Serialize, ToSchema)]
pub struct Attributes {
    pub rows: Vec<schemas::members::AttributeDecl>,
}

fn mobile() -> Value {
    json!({ "type": "string", "pattern": "^\\+?[0-9]{3,20}$" })
}

fn identity_type() -> Value {
    json!({ "type": "string", "pattern": "^(mobile|wechat|wechat-unionid|taobao-account|c_[A-Za-z0-9_]{1,62})$" })
}

/// `schemas::members::Identity::validate`.
fn identity() -> Value {
    json!({
        "type": "object", "required": ["type", "value"],
        "properties": {
            "type": identity_type(),
            "value": { "type": "string", "minLength": 1, "maxLength": 256, "pattern": NOT_BLANK },
            "name": { "type": ["string", "null"], "maxLength": 128 }
        },
        "if": { "properties": { "type": { "const": "mobile" } } },
        "then": { "properties": { "value": mobile() } }
    })
}

fn identities() -> Value {
    json!({ "type": "array", "minItems": 1, "maxItems": 100, "items": identity() })
}

/// `schemas::members::check_profile` over the built-ins (`schemas::members::BUILTIN`).
fn profile() -> Value {
    let text = json!({ "type": ["string", "null"], "maxLength": 1024 });
    let mut properties = serde_json::Map::new();
    for (name, _, kind) in schemas::members::BUILTIN {
        let schema = match (*name, kind) {
            ("mobile", _) => json!({ "type": ["string", "null"], "pattern": "^\\+?[0-9]{3,20}$" }),
            ("membershipCode", _) => {
                json!({ "type": ["string", "null"], "minLength": 1, "maxLength": 64, "pattern": "^[^\\s\\x00-\\x1f\\x7f-\\x9f]+$" })
            }
            ("email", _) => json!({ "type": ["string", "null"], "maxLength": 256, "pattern": "@" }),
            ("customerId", _) => json!({ "type": ["string", "integer", "null"], "maxLength": 1024 }),
            (_, schemas::members::Builtin::Text) => text.clone(),
            (_, schemas::members::Builtin::Int) => json!({ "enum": [0, 1, 2, null] }),
            (_, schemas::members::Builtin::Number) => {
                json!({ "type": ["number", "null"], "minimum": -1e14, "maximum": 1e14 })
            }
            (_, schemas::members::Builtin::Date) => {
                json!({ "type": ["string", "null"], "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$" })
            }
            (_, schemas::members::Builtin::DateTime) => json!({ "type": ["string", "null"],
                "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z?$" }),
        };
        properties.insert(name.to_string(), schema);
    }
    json!({
        "type": "object", "properties": properties,
        "description": "The built-ins, and the tenant's declared `c_` attributes (checked against their declaration). \
                        Other keys are ignored, as DM Hub ignores them; the system's (id, point, level, dateCreated, \
                        lastUpdated) are refused.",
        "propertyNames": { "not": { "enum": schemas::members::SYSTEM } }
    })
}

fn level_rules() -> Value {
    let kind = json!({ "type": "object", "required": ["enabled", "month", "number"], "additionalProperties": false,
        "properties": { "enabled": { "type": "boolean" }, "month": { "type": "integer", "minimum": 1, "maximum": 120 },
                        "number": { "type": "number", "minimum": 0, "maximum": 1e12 } } });
    let mut properties = serde_json::Map::new();
    for k in schemas::members::RULE_KINDS {
        properties.insert(k.to_string(), kind.clone());
    }
    properties.insert("desp".into(), json!({ "type": ["string", "null"] }));
    json!({ "type": "object", "properties": properties, "additionalProperties": false })
}

/// The members' request constraints, written into the document as `openapi::constraints` does
/// for the native API: query parameters of the `/loyalty/v1` paths and the members' bodies.
pub fn constrain(doc: &mut Value) {
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            if !path.starts_with("/loyalty/v1/") {
                continue;
            }
            let Some(item) = item.as_object_mut() else { continue };
            for (method, operation) in item.iter_mut() {
                for param in operation.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
                    let extra = match param["name"].as_str().unwrap_or_default() {
                        "id" => json!({ "type": "integer", "minimum": 1, "maximum": i64::MAX }),
                        // An empty value is absent (`de_lenient_int`): a string may only be empty.
                        "rows" => {
                            json!({ "type": ["integer", "string", "null"], "minimum": 1, "maximum": 500, "maxLength": 0 })
                        }
                        "page" => json!({
                            "type": ["integer", "string", "null"], "minimum": 1, "maximum": 1_000_000, "maxLength": 0
                        }),
                        "sord" => json!({ "enum": ["asc", "desc", null] }),
                        "sidx" if path == "/loyalty/v1/membership" => {
                            json!({ "enum": ["id", "dateCreated", "lastUpdated", "dateJoin", null] })
                        }
                        "sidx" => json!({ "enum": ["id", null] }),
                        "type" => identity_type(),
                        "value" => json!({ "type": "string", "minLength": 1 }),
                        "md5type" => json!({ "enum": ["common", "tmall"] }),
                        "md5value" => json!({ "type": "string", "pattern": "^[0-9a-fA-F]{32}$" }),
                        "code" => json!({ "type": "string", "minLength": 1 }),
                        _ => continue,
                    };
                    param["schema"] = extra;
                }
                let body = match (method.as_str(), path.as_str()) {
                    ("put", "/loyalty/v1/membership/{id}") => profile(),
                    ("post", "/loyalty/v1/membership/{id}/bindIdentity")
                    | ("post", "/loyalty/v1/membershipService/listMembershipByIdentities") => identities(),
                    _ => continue,
                };
                operation["requestBody"]["content"]["application/json"]["schema"] = body;
                operation["requestBody"]["required"] = json!(true);
            }
        }
    }
    let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) else { return };
    let set = |schemas: &mut serde_json::Map<String, Value>, name: &str, field: &str, schema: Value| {
        if let Some(s) = schemas.get_mut(name).and_then(|s| s.get_mut("properties")).and_then(|p| p.get_mut(field)) {
            *s = schema;
        }
    };
    set(schemas, "CreateRequest", "membership", profile());
    set(schemas, "CreateRequest", "identities", identities());
    set(schemas, "PushRequest", "provider", json!({ "enum": ["jpush", "getui"] }));
    set(schemas, "PushRequest", "os", json!({ "enum": ["android", "ios"] }));
    set(schemas, "PushRequest", "appKey", json!({ "type": "string", "minLength": 1, "maxLength": 256 }));
    set(schemas, "PushRequest", "pushId", json!({ "type": "string", "minLength": 1, "maxLength": 256 }));
    set(
        schemas,
        "PushRequest",
        "membershipId",
        json!({ "anyOf": [
        { "type": "integer", "minimum": i64::MIN, "maximum": i64::MAX },
        { "type": "string", "pattern": "^(-?[0-9]{1,18})?$" }, { "type": "null" }] }),
    );
    set(schemas, "PushRequest", "mobile", json!({ "type": ["string", "null"], "pattern": "^(\\+?[0-9]{3,20})?$" }));
    for field in ["oldMobile", "newMobile"] {
        set(schemas, "UpdateMobile", field, mobile());
    }
    set(schemas, "UpdateMobile", "membershipId", json!({ "type": "integer", "minimum": 1, "maximum": i64::MAX }));
    if let Some(s) = schemas.get_mut("UpdateMobile") {
        s["required"] = json!(["oldMobile", "newMobile", "membershipId"]);
    }
    set(schemas, "AttributeDecl", "code", json!({ "type": "string", "pattern": "^c_[A-Za-z0-9_]{1,62}$" }));
    set(schemas, "AttributeDecl", "name", json!({ "type": "string", "maxLength": 128, "pattern": NOT_BLANK }));
    if let Some(s) = schemas.get_mut("AttributeDecl") {
        s["if"] = json!({ "properties": { "type": { "const": "enum" } } });
        s["then"] = json!({ "required": ["options"], "properties": { "options": {
            "type": "array", "minItems": 1, "maxItems": 200, "items": { "type": "string", "maxLength": 128 } } } });
        s["else"] = json!({ "properties": { "options": { "type": "null" } } });
    }
    set(schemas, "LevelRequest", "name", json!({ "type": "string", "maxLength": 64, "pattern": NOT_BLANK }));
    set(schemas, "LevelRequest", "priority", json!({ "type": "integer", "minimum": 0, "maximum": 1000 }));
    set(schemas, "LevelRequest", "operator", json!({ "enum": ["or", "and", null] }));
    set(schemas, "LevelRequest", "desp", json!({ "type": ["string", "null"], "maxLength": 512 }));
    set(schemas, "LevelRequest", "rules", level_rules());
}
