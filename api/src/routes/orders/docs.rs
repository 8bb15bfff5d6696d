//! The OpenAPI shapes of the orders and points up/down requests and answers (the handlers read
//! bodies as JSON maps to name the bad field, and build answers with `json!`; these structs only
//! describe them).

#![allow(dead_code)]

use serde::Serialize;
use utoipa::ToSchema;

/// `{type, value, name}`
#[derive(Serialize, ToSchema)]
pub struct IdentityRef {
    #[serde(rename = "type")]
    #[schema(min_length = 1, max_length = 64)]
    pub kind: String,
    #[schema(min_length = 1, max_length = 256)]
    pub value: String,
    pub name: Option<String>,
}

/// `POST …/point/incr`: pattern 0-5.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IncrRequest {
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub point: i64,
    #[schema(minimum = 0, maximum = 5)]
    pub pattern: i64,
    /// The change's key (the ledger's event_no): applied once. Without it (and without an
    /// `Idempotency-Key` header) a retried request applies again.
    #[schema(min_length = 1, max_length = 64, pattern = "^[^\\s]+$")]
    pub external_id: Option<String>,
}

/// `POST …/point/decr`: pattern 0-6 (6 积分失效 is an expiry).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecrRequest {
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub point: i64,
    #[schema(minimum = 0, maximum = 6)]
    pub pattern: i64,
    #[schema(min_length = 1, max_length = 64, pattern = "^[^\\s]+$")]
    pub external_id: Option<String>,
}

/// The member's points after the change (`null` while queued), the key, what changed.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PointAnswer {
    pub point: Option<i64>,
    pub external_id: String,
    pub changed: Option<i64>,
    pub status: Option<String>,
}

/// 订单行
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DealLineDoc {
    #[schema(min_length = 1, max_length = 64, pattern = "^[^\\s]+$")]
    pub line_id: String,
    #[schema(min_length = 1, max_length = 256)]
    pub product_name: String,
    pub product_id: Option<String>,
    pub sku_id: Option<String>,
    pub category: Option<String>,
    #[schema(exclusive_minimum = 0, maximum = 1_000_000_000)]
    pub qty: f64,
    /// Yuan, at most two decimals.
    pub price_unit: Option<f64>,
    pub price_sub_total: Option<f64>,
}

/// 订单头 + 订单行 (`/deal` and `/dealService/update`); `membershipId` or `identities`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DealRequest {
    pub membership_id: Option<i64>,
    pub identities: Option<Vec<IdentityRef>>,
    #[schema(min_length = 1, max_length = 64, pattern = "^[^\\s]+$")]
    pub order_no: String,
    #[schema(min_length = 1, max_length = 128)]
    pub sales_channel: String,
    #[schema(min_length = 1, max_length = 128)]
    pub store: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// UTC, `2016-11-11T11:11:11`.
    pub date_order: String,
    pub amount_discount: f64,
    pub coupon_code: Option<String>,
    pub group_id: Option<String>,
    pub amount_total: Option<f64>,
    pub amount_paid: f64,
    pub payment_term: Option<String>,
    pub payment_no: Option<String>,
    pub shipping_method: Option<String>,
    pub contact_name: Option<String>,
    pub contact_tel: Option<String>,
    pub shipping_province: Option<String>,
    pub shipping_city: Option<String>,
    pub shipping_county: Option<String>,
    pub shipping_street: Option<String>,
    pub shipping_address: Option<String>,
    #[schema(min_items = 1, max_items = 500)]
    pub deal_lines: Vec<DealLineDoc>,
}

/// An order named by `orderNo` (cancel, delete).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderRef {
    pub membership_id: Option<i64>,
    #[schema(min_length = 1, max_length = 64, pattern = "^[^\\s]+$")]
    pub order_no: String,
}

/// `{lineId}`
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundLine {
    #[schema(min_length = 1, max_length = 64, pattern = "^[^\\s]+$")]
    pub line_id: String,
}

/// 退单
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundRequest {
    pub membership_id: Option<i64>,
    #[schema(min_length = 1, max_length = 64, pattern = "^[^\\s]+$")]
    pub order_no: String,
    /// UTC, `2016-11-11T11:11:11`.
    pub date_refund: String,
    pub refund_total: f64,
    pub reason: Option<String>,
    #[schema(min_items = 1, max_items = 500)]
    pub refund_lines: Vec<RefundLine>,
}

/// 删除退单: the latest refund, or the one of `dateRefund`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteRefundRequest {
    pub membership_id: Option<i64>,
    #[schema(min_length = 1, max_length = 64, pattern = "^[^\\s]+$")]
    pub order_no: String,
    pub date_refund: Option<String>,
}

/// An order: the seed's fields, every header field as sent, the lines with their points, the
/// state (已付款, 已取消, 已删除), `point` held now, `pointEarned`, `pointTaken`, and on GET
/// its `steps`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DealAnswer {
    pub membership_id: Option<i64>,
    pub order_no: String,
    pub id: String,
    pub deal_lines: Vec<serde_json::Value>,
    pub state: String,
    pub point: i64,
    pub point_earned: i64,
    pub point_taken: i64,
    pub steps: Option<Vec<serde_json::Value>>,
}

/// A refund's answer: the seed's fields and `point`, the points it took (negative) or gave back.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundAnswer {
    pub membership_id: Option<i64>,
    pub order_no: String,
    pub refund_total: Option<String>,
    pub date_refund: Option<String>,
    pub refund_lines: Option<Vec<serde_json::Value>>,
    pub point: i64,
    pub order_point: i64,
}

/// 202: queued, the outcome not known yet; the same request again answers it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Queued {
    pub order_no: String,
    pub key: String,
    pub state: String,
}

/// A key as `schemas::checks::check_key` takes it: 1-64 characters, none a space (Rust's
/// `is_whitespace`: ECMA-262's `\s` and U+0085) or a control character.
const KEY: &str = "^[^\\s\\u0000-\\u001f\\u007f-\\u009f\\u0085]{1,64}$";

/// The orders' constraints the derive cannot say, written into the document: the keys in the
/// path, the header and the body.
pub fn constrain(doc: &mut serde_json::Value) {
    if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(serde_json::Value::as_object_mut) {
        for name in ["IncrRequest", "DecrRequest"] {
            if let Some(p) = schemas.get_mut(name).and_then(|s| s.get_mut("properties")) {
                p["externalId"] = serde_json::json!({ "type": ["string", "null"], "pattern": KEY });
            }
        }
    }
    let Some(paths) = doc.get_mut("paths").and_then(serde_json::Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        if !(path.starts_with("/loyalty/v1/deal") || path.contains("/point/")) {
            continue;
        }
        let Some(item) = item.as_object_mut() else { continue };
        for operation in item.values_mut() {
            for param in operation.get_mut("parameters").and_then(serde_json::Value::as_array_mut).into_iter().flatten()
            {
                if matches!(param["name"].as_str(), Some("orderNo" | "Idempotency-Key")) {
                    param["schema"] = serde_json::json!({ "type": "string", "pattern": KEY });
                }
            }
        }
    }
}
