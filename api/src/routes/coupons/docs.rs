//! The coupon routes' request constraints in the OpenAPI document (as `openapi::constraints`
//! does for the native API and `routes::members::docs` for the members): the parameters and
//! bodies of the `/loyalty/v1` coupon paths, and the order context fields of the native redeem.
//! Each entry mirrors a check named beside it. (The answers are described by the structs of
//! [`super::view`] themselves.)

use serde_json::{json, Value};

use crate::openapi::constraints::NOT_BLANK;

/// `check_key`: 1–64 characters, no whitespace or control characters.
fn key() -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[^\\s\\x00-\\x1f\\x7f-\\x9f]+$" })
}

fn text(max: u64) -> Value {
    json!({ "type": "string", "maxLength": max, "pattern": NOT_BLANK })
}

/// `schemas::money::Cents` (at most 10 billion yuan).
fn amount() -> Value {
    json!({ "type": "number", "minimum": 0, "maximum": 10_000_000_000_i64 })
}

/// Writes the constraints into `doc`.
pub fn constrain(doc: &mut Value) {
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let coupon_path = path.starts_with("/loyalty/v1/coupon")
                || path.starts_with("/loyalty/v1/membershipCoupon")
                || path.starts_with("/loyalty/v1/membership/{id}/coupon");
            if !coupon_path {
                continue;
            }
            let Some(item) = item.as_object_mut() else { continue };
            for operation in item.values_mut() {
                for param in operation.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
                    let schema = match param["name"].as_str().unwrap_or_default() {
                        // `queries::path_key`, and getCouponByChannel's optional couponId.
                        "couponId" | "couponCode" => key(),
                        "channel" => json!({ "enum": ["online", "offline"] }),
                        "status" => json!({ "enum": ["normal", "used", "notStarted", null] }),
                        // `commands::client_key`: a header value is visible ASCII.
                        "Idempotency-Key" => json!({ "type": "string", "pattern": "^[\\x21-\\x7e]{1,64}$" }),
                        _ => continue,
                    };
                    param["schema"] = schema;
                }
            }
        }
    }
    let Some(components) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) else { return };
    let mut set = |name: &str, field: &str, schema: Value| {
        if let Some(s) = components.get_mut(name).and_then(|s| s.get_mut("properties")).and_then(|p| p.get_mut(field)) {
            *s = schema;
        }
    };
    // `schemas::coupons::DrawRequest::validate`.
    set("DrawRequest", "couponId", key());
    set("DrawRequest", "externalId", json!({ "anyOf": [key(), { "type": "null" }] }));
    // `schemas::coupons::CouponRedeemRequest::validate`.
    set("CouponRedeemRequest", "membershipId", json!({ "type": "integer", "minimum": 1, "maximum": i64::MAX }));
    set("CouponRedeemRequest", "externalId", json!({ "anyOf": [key(), { "type": "null" }] }));
    set("CouponRedeemRequest", "storeCode", json!({ "anyOf": [text(64), { "type": "null" }] }));
    set("CouponRedeemRequest", "orderNo", json!({ "anyOf": [key(), { "type": "null" }] }));
    // `schemas::cards::conditions::check_context` on the native redeem's order context.
    set("RedeemRequest", "store_code", json!({ "anyOf": [text(64), { "type": "null" }] }));
    set("RedeemRequest", "order_no", json!({ "anyOf": [key(), { "type": "null" }] }));
    for name in ["CouponRedeemRequest", "RedeemRequest"] {
        set(name, "amount", json!({ "anyOf": [amount(), { "type": "null" }] }));
        set(
            name,
            "items",
            json!({ "anyOf": [{ "type": "array", "maxItems": schemas::cards::conditions::MAX_ITEMS,
                                 "items": { "$ref": "#/components/schemas/OrderItemRequest" } }, { "type": "null" }] }),
        );
    }
    set("OrderItemRequest", "sku", text(128));
    set("OrderItemRequest", "amount", amount());
    set("OrderItemRequest", "qty", json!({ "type": "integer", "minimum": 1, "maximum": 100_000 }));
}
