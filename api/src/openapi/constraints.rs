//! The request constraints the validation enforces, written into the document's request schemas
//! and query parameters so a client (and schemathesis) knows what is accepted: each entry
//! mirrors a check in `schemas::checks` or a request's `validate` (named beside it).
//!
//! By field name, because a field is checked the same way in every request that carries it
//! (`check_key("member_no", …)` everywhere); the query-style bodies whose fields are filters,
//! not keys, are listed apart in [`FILTERS`].

use serde_json::{json, Value};

/// `check_key`: 1–64 characters, no whitespace or control characters.
fn key() -> Value {
    json!({ "minLength": 1, "maxLength": 64, "pattern": "^[^\\s\\x00-\\x1f\\x7f-\\x9f]+$" })
}

/// `check_text(min 1, max)`: not blank after trimming, at most `max` characters.
fn text(max: u64) -> Value {
    json!({ "maxLength": max, "pattern": NOT_BLANK })
}

/// Some character that is not blank. The checks trim with Rust's `str::trim` (Unicode
/// White_Space), and ECMA-262's `\s` lacks one of those characters, U+0085: a value of only
/// U+0085 matches `\S` yet trims to nothing.
pub(crate) const NOT_BLANK: &str = "[^\\s\\u0085]";

/// `schemas::time`: `YYYY-MM-DD HH:MM:SS` in the tenant's zone, or RFC 3339; empty for none.
/// The pattern stops at day 28, a day every month has: a regular expression that knew each
/// month's length would be unreadable, and a generated 31 April would be refused.
fn time() -> Value {
    json!({ "anyOf": [
        { "type": "null" },
        { "const": "" },
        { "type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8]) ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$" },
        { "type": "string", "format": "date-time" }
    ] })
}

fn at_most(max: u64) -> Value {
    json!({ "maxLength": max })
}

fn range(min: i64, max: i64) -> Value {
    json!({ "minimum": min, "maximum": max })
}

/// `schemas::points::MAX_POINTS`.
const MAX_POINTS: i64 = 1_000_000_000;

const KEYS: &[&str] = &[
    "event_no",
    "member_no",
    "origin_event_no",
    "transfer_no",
    "received_id",
    "redeem_id",
    "present_id",
    "card_id",
    "card_code",
    "generate_id",
];

/// Request bodies whose fields are search filters rather than the values a command stores.
const FILTERS: &[&str] = &["HistoryQuery", "FeedQuery", "QueryRules"];

/// The constraint on `field` of the request body schema `schema`, if the validation has one.
fn body_field(schema: &str, field: &str) -> Option<Value> {
    if FILTERS.contains(&schema) {
        return match (schema, field) {
            ("FeedQuery", "page_id") => Some(json!({ "minimum": 1 })),
            ("FeedQuery", "page_size") => Some(range(2, 500)),
            // The unix times chrono can hold (years -262143 to 262142).
            ("FeedQuery", "time_start" | "time_end") => Some(range(-8_334_601_315_200, 8_210_266_876_799)),
            ("HistoryQuery", "start_time" | "end_time") => Some(time()),
            // The member profile holding it (schemas::members::check_mobile).
            ("HistoryQuery", "mobile") => Some(json!({ "type": ["string", "null"], "pattern": "^\\+?[0-9]{3,20}$" })),
            ("FeedQuery", "order_by") => Some(json!({ "enum": ["create_time", "update_time"] })),
            ("FeedQuery" | "HistoryQuery", "order_asc") => Some(json!({ "enum": [0, 1, null] })),
            ("HistoryQuery", "order_by") => {
                Some(json!({ "enum": ["update_time", "create_time", "points", "auto_id", null] }))
            }
            (_, "page_id") => Some(range(1, 1_000_000)),
            ("HistoryQuery", "page_size") => Some(range(1, 500)),
            ("QueryRules", "page_size") => Some(range(1, 100)),
            ("HistoryQuery", "event_type") => Some(json!({ "enum": [
                "produce", "consume", "transfer", "transfer_return", "accept", "reverse_produce",
                "reverse_consume", "reverse", "settle_debt", "expired", "expire", "freeze", "unfreeze"
            ] })),
            _ => None,
        };
    }
    if KEYS.contains(&field) {
        return Some(key());
    }
    Some(match (schema, field) {
        (_, "action_scene") => json!({ "pattern": "^[a-z][a-z0-9_]{0,63}$" }),
        (_, "operator") => at_most(128),
        (_, "event_desc") => at_most(512),
        (_, "points") => range(1, MAX_POINTS),
        (_, "member_level") => range(0, 1000),
        (_, "rule_name") => text(64),
        (_, "out_str") => text(64),
        (_, "redeem_channel") => text(64),
        (_, "redeem_extra" | "presant_extra") => at_most(256),
        (_, "quantity") => range(1, 10_000_000),
        (_, "change_points" | "max_points") => range(1, MAX_POINTS),
        (_, "expire_term") if schema.contains("Produce") => range(1, 36_500),
        (_, "freeze_term") => range(0, 36_500),
        (_, "per_money") => range(1, 100_000_000),
        (_, "max_times") => range(1, MAX_POINTS),
        (_, "range_days") => range(0, 3_650),
        (_, "rules_li") => json!({ "minItems": 1, "maxItems": 50 }),
        ("ConsumeTier", "base_points") => range(1, MAX_POINTS),
        ("ConsumeTier", "consume_level") => range(0, 1000),
        ("ConsumeTier", "convert_money") => json!({ "exclusiveMinimum": 0 }),
        ("DeleteRules", "rule_id_li") => json!({ "maxItems": 1000 }),
        ("ReceiveRequest", "card_info") => json!({
            "minProperties": 1, "maxProperties": 20,
            "propertyNames": key(), "additionalProperties": { "type": "integer", "minimum": 1, "maximum": 100 }
        }),
        ("CreateCard", "title") => text(64),
        ("CreateCard", "subtitle") => at_most(128),
        ("CreateCard", "notice") => text(32),
        ("CreateCard", "rule") => text(65_535),
        ("CreateCard", "icon") => text(128),
        ("CreateCard", "scene" | "cost_center") => at_most(64),
        ("CreateCard", "card_type") => range(0, 4),
        ("CreateCard", "source") => json!({ "enum": [1, 2] }),
        ("CreateCard", "generate_type") => json!({ "enum": [1, 2] }),
        ("CreateCard", "date_type") => json!({ "enum": [1, 2, 3] }),
        ("CreateCard", "total_quantity") => range(0, 10_000_000),
        ("CreateCard", "qty_condition") => range(0, i64::from(i16::MAX)),
        ("CreateCard", "get_limit" | "use_limit") => range(0, 10_000),
        ("CreateCard", "day_begin_time" | "day_end_time") => range(0, 86_399),
        ("CreateCard", "cost_type") => json!({ "enum": [1, 2, null] }),
        _ => return None,
    })
}

/// A number the card queries take as text (the seeds send `"page_id": "2"`), parsed by
/// `routes::cards::number`: trimmed, empty for none, an optional sign, digits matching `value`.
fn number_text(value: &str) -> Value {
    json!({ "type": "string", "pattern": format!("^\\s*(\\+?0*({value}))?\\s*$") })
}

/// The constraint on a parameter of the operation at `path`.
fn parameter(path: &str, name: &str) -> Option<Value> {
    Some(match name {
        // A filter there, not a key: any text finds what it finds.
        "member_no" if path.ends_with("/present_list") => return None,
        n if KEYS.contains(&n) => key(),
        "key" => json!({ "minLength": 1 }),
        "key_kind" if path.starts_with("/api/crm/card/") => json!({ "enum": [
            "received_id", "receive_reverse", "redeem_id", "redeem_reverse", "present_id", "present_receive", "generate_id"
        ] }),
        "key_kind" => json!({ "enum": ["event_no", "transfer_no", "accept"] }),
        "page_id" => number_text("[1-9][0-9]{0,5}|1000000"),
        "page_size" => number_text("[1-9]|[1-9][0-9]|100"),
        "card_type" | "source" => json!({ "type": "string", "pattern": "^\\s*([+-]?[0-9]{1,18})?\\s*$" }),
        "code_status" => number_text("[1-5]"),
        "received" => number_text("[01]"),
        // `crate::MAX_WAIT`.
        "wait_ms" => range(0, 10_000),
        // `schemas::analytics::range::parse_dr`: a preset, `Nd` (1 ≤ N ≤ 366) or two days (the
        // pattern stops at day 28, as `time()` does; the two days' order and distance are a
        // rule between them, named in scripts/schemathesis.toml).
        "dr" => json!({ "type": "string", "pattern": format!(
            "^\\s*(today|yesterday|this_week|this_month|last_month|([1-9]|[1-9][0-9]|[12][0-9]{{2}}|3[0-5][0-9]|36[0-6])d|{day}[,~]{day})\\s*$",
            day = "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
        ) }),
        "mode" => json!({ "enum": ["by_day", "by_week", "by_month"] }),
        "types" if path.ends_with("/distr") => json!({ "enum": ["source", "redu_source"] }),
        _ => return None,
    })
}

fn merge(target: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (target.as_object_mut(), extra) {
        for (k, v) in extra {
            target.insert(k, v);
        }
    }
}

/// Writes the constraints into the document's request bodies and query parameters.
pub fn apply(doc: &mut Value) {
    let mut bodies = Vec::new();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for operation in item.values_mut() {
                if let Some(name) = operation
                    .pointer("/requestBody/content/application~1json/schema/$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    bodies.push(name.to_string());
                }
                for param in operation.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
                    let name = param["name"].as_str().unwrap_or_default().to_string();
                    if let Some(extra) = parameter(path, &name) {
                        merge(&mut param["schema"], extra);
                    }
                }
            }
        }
    }
    let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) else { return };
    // The spend rule's tiers are checked as its fields are.
    bodies.push("ConsumeTier".into());
    for name in bodies {
        let Some(properties) =
            schemas.get_mut(&name).and_then(|s| s.get_mut("properties")).and_then(Value::as_object_mut)
        else {
            continue;
        };
        for (field, schema) in properties.iter_mut() {
            if let Some(extra) = body_field(&name, field) {
                merge(schema, extra);
            }
        }
    }
    // `lot_delete` deletes `rule_id_li` and `rule_id` together: at least one id between them.
    if let Some(delete) = schemas.get_mut("DeleteRules") {
        delete["anyOf"] = json!([
            { "required": ["rule_id"], "properties": { "rule_id": { "type": "integer" } } },
            { "required": ["rule_id_li"], "properties": { "rule_id_li": { "type": "array", "minItems": 1 } } }
        ]);
    }
}
