//! DM Hub coupons (seed 002 §13) over the cards engine: the request bodies of the draw and the
//! redeem, and the mapping of a card definition (seed 003) and a member's code onto DM Hub's
//! `coupon` and `membershipCoupon` words.
//!
//! There is no second coupon store: a DM Hub `coupon` is a card definition (`couponId` is its
//! `card_id`), a `membershipCoupon` is a code a member holds (`couponCode` is its `card_code`).
//! Coupons are created with the native card `create`; DM Hub only reads them (the seed has no
//! create), so the mapping runs one way, card → coupon. The table is in the README ("Coupons").

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    cards::{OrderItem, OrderItemRequest, RedeemPayload},
    checks::{check_key, check_text},
    money::{de_card_amount, Cents},
    FieldError,
};

/// `POST /loyalty/v1/membership/{id}/coupon/draw`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DrawRequest {
    /// The coupon (a card's `card_id`).
    pub coupon_id: String,
    /// Ours, optional: the client's key for this draw (else the `Idempotency-Key` header). The
    /// same key for the same member and coupon draws once; without one every request is a new
    /// draw (up to `drawLimit`).
    #[serde(default)]
    pub external_id: Option<String>,
}

impl DrawRequest {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_key("couponId", &self.coupon_id)?;
        if let Some(k) = &self.external_id {
            check_key("externalId", k)?;
        }
        Ok(())
    }
}

/// `POST /loyalty/v1/membershipCoupon/{couponCode}/redeem`: the seed's `membershipId`, then ours,
/// all optional: the key, and the order context of the redemption conditions (the native
/// redeem's `store_code`, `amount`, `items`, `order_no`, `with_other_offer`, in DM Hub's case).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CouponRedeemRequest {
    pub membership_id: i64,
    /// The client's key for this redemption (else the `Idempotency-Key` header): the same key
    /// redeems once and answers the first outcome again.
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub store_code: Option<String>,
    /// The order's amount in yuan (the minimum spend is checked against it).
    #[serde(default, deserialize_with = "de_card_amount")]
    #[schema(value_type = Option<f64>)]
    pub amount: Option<Cents>,
    #[serde(default)]
    pub items: Option<Vec<OrderItemRequest>>,
    #[serde(default)]
    pub order_no: Option<String>,
    #[serde(default)]
    pub with_other_offer: Option<bool>,
}

impl CouponRedeemRequest {
    /// Checks the body, naming its fields.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.membership_id < 1 {
            return Err(FieldError::new("membershipId", "must be an id (1 or more)"));
        }
        if let Some(k) = &self.external_id {
            check_key("externalId", k)?;
        }
        if let Some(s) = &self.store_code {
            check_text("storeCode", s, 1, 64)?;
        }
        if let Some(o) = &self.order_no {
            check_key("orderNo", o)?;
        }
        if let Some(amount) = self.amount {
            crate::money::check_amount("amount", amount)?;
        }
        if let Some(items) = &self.items {
            let items: Vec<OrderItem> = items.iter().cloned().map(Into::into).collect();
            crate::cards::conditions::check_items(&items)?;
        }
        Ok(())
    }

    /// Checks the body and makes the `cards.redeem` payload (`redeem_channel` `dmhub`).
    pub fn into_payload(
        self,
        member_no: String,
        card_id: String,
        card_code: String,
    ) -> Result<RedeemPayload, FieldError> {
        self.validate()?;
        let payload = RedeemPayload {
            member_no,
            card_id,
            card_code,
            redeem_channel: REDEEM_CHANNEL.into(),
            redeem_extra: String::new(),
            store_code: self.store_code,
            amount: self.amount,
            items: self.items.map(|items| items.into_iter().map(Into::into).collect()),
            order_no: self.order_no,
            with_other_offer: self.with_other_offer,
        };
        payload.validate()?;
        Ok(payload)
    }
}

/// The channel (`out_str`, `redeem_channel`) the cards engine records for DM Hub's draws and
/// redemptions (the card dashboards count by it).
pub const DRAW_CHANNEL: &str = "dmhub";
pub const REDEEM_CHANNEL: &str = "dmhub";

/// DM Hub's `couponType` of a seed 003 `card_type`: 0 代金券 → 1 代金券; 1 折扣券 → 2 折扣券;
/// 2 兑换券 and 4 赠品券 → 3 商品券 (a product is given); 3 包邮券 → 1 代金券 (the shipping
/// fee is the amount taken off).
pub fn coupon_type(card_type: i16) -> i64 {
    match card_type {
        1 => 2,
        2 | 4 => 3,
        _ => 1,
    }
}

/// One of a coupon's channels, as DM Hub shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    /// The coupon's code on that channel (渠道码).
    pub coupon_id: String,
    /// online | offline
    pub coupon_channel: String,
    pub url: Option<String>,
}

/// A card's DM Hub channels: `extra_info.channels` when the card sets it (checked at create by
/// [`check_channels`]); otherwise one channel derived from the card: `offline` when it lists
/// `store_codes` (it is redeemed in stores), else `online`, with the card's `card_id` as the
/// channel's `couponId` and `extra_info.jump_now_path` as its `url`.
pub fn channels(card_id: &str, store_codes: Option<&str>, extra_info: &Value) -> Vec<Channel> {
    if let Some(list) = extra_info.get("channels").and_then(|c| serde_json::from_value(c.clone()).ok()) {
        return list;
    }
    let offline = !crate::cards::conditions::store_list(store_codes).is_empty();
    vec![Channel {
        coupon_id: card_id.to_string(),
        coupon_channel: if offline { "offline" } else { "online" }.into(),
        url: extra_info.get("jump_now_path").and_then(Value::as_str).map(str::to_string),
    }]
}

/// Checks a card's optional `extra_info.channels`: 1 or 2 objects `{couponId, couponChannel,
/// url?}`, `couponChannel` `online` or `offline`, each channel once.
pub fn check_channels(extra_info: &Value) -> Result<(), FieldError> {
    let Some(list) = extra_info.get("channels") else { return Ok(()) };
    let field = "extra_info.channels";
    let list = list.as_array().ok_or_else(|| FieldError::new(field, "must be a list of channels"))?;
    if list.is_empty() || list.len() > 2 {
        return Err(FieldError::new(field, "must list 1 or 2 channels (online, offline)"));
    }
    let mut seen = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let channel: Channel = serde_json::from_value(c.clone()).map_err(|_| {
            FieldError::new(
                format!("{field}[{i}]"),
                "must be {\"couponId\": text, \"couponChannel\": online|offline, \"url\": text or null}",
            )
        })?;
        check_key(&format!("{field}[{i}].couponId"), &channel.coupon_id)?;
        if channel.coupon_channel != "online" && channel.coupon_channel != "offline" {
            return Err(FieldError::new(format!("{field}[{i}].couponChannel"), "must be online or offline"));
        }
        if seen.contains(&channel.coupon_channel) {
            return Err(FieldError::new(format!("{field}[{i}].couponChannel"), "is listed twice"));
        }
        if let Some(url) = &channel.url {
            check_text(&format!("{field}[{i}].url"), url, 0, 256)?;
        }
        seen.push(channel.coupon_channel);
    }
    Ok(())
}

/// A member coupon's `status` at `now`, from its code's stored status (`platform::status::
/// CodeStatus` as a number) and validity: DM Hub's `normal` (usable now), `used` and
/// `notStarted` (held, not valid yet), and ours for the states DM Hub has no word for:
/// `expired`, `presenting` (being given to a friend), `obsolete` (the claim was reversed).
pub fn member_status(
    code_status: i16,
    valid_begin: Option<chrono::DateTime<chrono::Utc>>,
    valid_end: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> &'static str {
    match code_status {
        3 => "used",
        2 => "presenting",
        4 => "expired",
        5 => "obsolete",
        _ if valid_end.is_some_and(|e| e < now) => "expired",
        _ if valid_begin.is_some_and(|b| b > now) => "notStarted",
        _ => "normal",
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};
    use serde_json::json;

    use super::*;

    #[test]
    fn card_types_map_onto_dm_hubs_three() {
        assert_eq!([0, 1, 2, 3, 4].map(coupon_type), [1, 2, 3, 1, 3]);
    }

    #[test]
    fn channels_come_from_extra_info_or_from_the_stores() {
        let set = json!({"channels": [{"couponId": "w1", "couponChannel": "online", "url": "https://x"}]});
        assert_eq!(
            channels("c", Some("s1"), &set),
            vec![Channel { coupon_id: "w1".into(), coupon_channel: "online".into(), url: Some("https://x".into()) }]
        );
        let plain = json!({"jump_now_path": "/page/card/"});
        assert_eq!(channels("c", Some("s1, s2"), &plain)[0].coupon_channel, "offline");
        assert_eq!(channels("c", Some(" "), &plain)[0].coupon_channel, "online");
        assert_eq!(channels("c", None, &plain)[0].url.as_deref(), Some("/page/card/"));
        assert_eq!(channels("c", None, &plain)[0].coupon_id, "c");
    }

    #[test]
    fn channels_are_checked() {
        assert!(check_channels(&json!({})).is_ok());
        assert!(
            check_channels(&json!({"channels": [{"couponId": "a", "couponChannel": "offline", "url": null}]})).is_ok()
        );
        for (case, v, field) in [
            ("not a list", json!({"channels": 1}), "extra_info.channels"),
            ("empty", json!({"channels": []}), "extra_info.channels"),
            (
                "bad channel",
                json!({"channels": [{"couponId": "a", "couponChannel": "shop"}]}),
                "extra_info.channels[0].couponChannel",
            ),
            (
                "twice",
                json!({"channels": [{"couponId": "a", "couponChannel": "online"}, {"couponId": "b", "couponChannel": "online"}]}),
                "extra_info.channels[1].couponChannel",
            ),
            ("no id", json!({"channels": [{"couponChannel": "online"}]}), "extra_info.channels[0]"),
        ] {
            assert_eq!(check_channels(&v).unwrap_err().field, field, "{case}");
        }
    }

    #[test]
    fn member_statuses() {
        let now = Utc::now();
        let (past, future) = (Some(now - Duration::days(1)), Some(now + Duration::days(1)));
        assert_eq!(member_status(1, past, future, now), "normal");
        assert_eq!(member_status(1, future, None, now), "notStarted");
        assert_eq!(member_status(1, None, past, now), "expired");
        assert_eq!(member_status(1, None, None, now), "normal");
        assert_eq!(member_status(3, past, future, now), "used");
        assert_eq!(member_status(2, None, None, now), "presenting");
        assert_eq!(member_status(4, None, None, now), "expired");
        assert_eq!(member_status(5, None, None, now), "obsolete");
    }

    #[test]
    fn a_redeem_body_names_its_own_fields() {
        let body: CouponRedeemRequest =
            serde_json::from_value(json!({"membershipId": 1, "storeCode": "", "amount": "10.5"})).unwrap();
        let err = body.into_payload("m".into(), "c".into(), "k".into()).unwrap_err();
        assert_eq!(err.field, "storeCode");
        let body: CouponRedeemRequest = serde_json::from_value(
            json!({"membershipId": 1, "amount": 10.5, "items": [{"sku": "a", "amount": 10.5, "qty": 2}], "orderNo": "o1"}),
        )
        .unwrap();
        let p = body.into_payload("m".into(), "c".into(), "k".into()).unwrap();
        assert_eq!((p.amount, p.order_qty(), p.order_no.as_deref()), (Some(Cents(1050)), Some(2), Some("o1")));
        assert!(serde_json::from_value::<CouponRedeemRequest>(json!({"membershipId": 1, "store": "x"})).is_err());
    }
}
