//! What DM Hub's coupon routes answer (seed 002 §13), in the seed's key order: a card as a
//! `coupon`, a member's code as a `membershipCoupon`. The same structs serialize the answers
//! and describe them in the OpenAPI document, so the two cannot drift.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use schemas::{
    cards::conditions::store_list,
    coupons::{channels, coupon_type, member_status, Channel},
    members::format_datetime,
};
use serde::Serialize;
use serde_json::Value;

/// A coupon: a card definition in DM Hub's words (mapping in the README, "Coupons").
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Coupon {
    pub channels: Vec<Channel>,
    /// The card's `card_id`.
    pub coupon_id: String,
    /// The card's `title`.
    pub coupon_label: String,
    /// The card's `title`.
    pub coupon_name: String,
    /// The card's `subtitle`.
    pub coupon_sub_label: String,
    /// 1 代金券 (card_type 0 and 3), 2 折扣券 (1), 3 商品券 (2 and 4).
    pub coupon_type: i64,
    /// Per member (`get_limit`); 0: unlimited.
    pub draw_limit: i64,
    /// The card's `notice` (使用须知).
    pub note: String,
    pub rule: CouponRule,
    /// The card's `total_quantity`.
    pub total: i64,
    /// What can still be drawn: codes in stock, plus codes still to be generated or imported.
    pub store: i64,
    pub valid_date: ValidDate,
    /// 1 a fixed range (date_type 1), 2 relative to the draw (date_type 2), 3 forever (date_type
    /// 3; ours: DM Hub has no word for it).
    pub valid_type: i64,
}

/// `rule`: the seed's four, then ours (DM Hub allows custom rule keys: 自定义规则).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CouponRule {
    /// Minimum spend in yuan (`cash_condition`); null: none.
    pub amount_limit: Option<f64>,
    /// Discount cards: the rate paid (`discount`, 0.8 is 20 % off).
    pub discount: Option<f64>,
    /// Vouchers and free-shipping cards: the amount taken off in yuan (`cash_amount`).
    pub free_fee: Option<f64>,
    /// No SKU list on cards: always null.
    pub goods_limit: Option<String>,
    /// Items the order must count (`qty_condition`); null: none.
    pub qty_limit: Option<i64>,
    /// The stores it is redeemable at (`store_codes`); null: every store.
    pub store_codes: Option<Vec<String>>,
    pub use_with_other_coupon: bool,
    pub use_with_other_offer: bool,
}

/// `validDate`: `startDate`/`endDate` (local dates) for validType 1, `startDays`/`validDays`
/// for 2, empty for 3.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidDate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
}

/// `GET /coupon`: `rows`, with `records` and `total` (pages) when `needTotal=true`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CouponPage {
    pub rows: Vec<Coupon>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

/// `getCouponByChannel`: `rows`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CouponRows {
    pub rows: Vec<Coupon>,
}

/// A member's coupon: one code the member holds, then its coupon's fields.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MembershipCoupon {
    /// When it was drawn, UTC (`2017-06-01T12:12:12Z`).
    pub date_draw: Option<String>,
    /// The last day it can be used (the tenant's local date); null: forever.
    pub end_date: Option<String>,
    pub coupon_id: String,
    /// No QR or barcode images are served: null.
    pub qrcode_url: Option<String>,
    /// The holder's member id; null for a holder without a profile.
    pub membership_id: Option<i64>,
    pub barcode_url: Option<String>,
    /// When it was redeemed, UTC; null while not redeemed (or once the redemption was reversed).
    pub date_redeem: Option<String>,
    pub uuid: Option<String>,
    /// The first day it can be used (the tenant's local date); null: from the draw.
    pub start_date: Option<String>,
    pub coupon_code: String,
    /// normal | used | notStarted (DM Hub's), or ours: expired | presenting | obsolete.
    pub status: String,
    pub coupon_type: i64,
    pub coupon_name: String,
    pub coupon_label: String,
    pub coupon_sub_label: String,
    pub note: String,
    pub channels: Vec<Channel>,
    pub rule: CouponRule,
}

/// `GET /membership/{id}/coupon`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MembershipCouponPage {
    pub rows: Vec<MembershipCoupon>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

/// A draw or redemption queued whose outcome was not known within the wait (HTTP 202): send
/// it again with the same `externalId` (or `Idempotency-Key`) for the outcome.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// `accepted`
    pub result: String,
    pub external_id: String,
}

/// The card fields the coupon shapes read.
#[derive(Debug, Clone)]
pub struct CardFields {
    pub card_id: String,
    pub card_type: i16,
    pub title: String,
    pub subtitle: String,
    pub notice: String,
    pub cash_amount_cents: Option<i64>,
    pub cash_condition_cents: Option<i64>,
    pub discount: Option<f64>,
    pub qty_condition: i16,
    pub store_codes: Option<String>,
    pub use_with_other_offer: bool,
    pub use_with_other_coupon: bool,
    pub extra_info: Value,
}

fn yuan(cents: Option<i64>) -> Option<f64> {
    cents.map(|c| c as f64 / 100.0)
}

impl CardFields {
    pub fn rule(&self) -> CouponRule {
        let stores: Vec<String> = store_list(self.store_codes.as_deref()).into_iter().map(String::from).collect();
        CouponRule {
            amount_limit: yuan(self.cash_condition_cents.filter(|c| *c > 0)),
            discount: self.discount.filter(|_| self.card_type == 1),
            free_fee: yuan(self.cash_amount_cents.filter(|_| matches!(self.card_type, 0 | 3))),
            goods_limit: None,
            qty_limit: (self.qty_condition > 0).then_some(self.qty_condition.into()),
            store_codes: (!stores.is_empty()).then_some(stores),
            use_with_other_coupon: self.use_with_other_coupon,
            use_with_other_offer: self.use_with_other_offer,
        }
    }

    pub fn channels(&self) -> Vec<Channel> {
        channels(&self.card_id, self.store_codes.as_deref(), &self.extra_info)
    }
}

/// A card row as the coupon shape needs it.
#[derive(Debug)]
pub struct CouponRow {
    pub card: CardFields,
    pub date_type: i16,
    pub begin_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub start_day_count: Option<i32>,
    pub expire_day_count: Option<i32>,
    pub total_quantity: i32,
    pub get_limit: i32,
    pub generated: i64,
    pub in_stock: i64,
}

/// A local date (`2017-12-15`) in the tenant's zone.
fn local_date(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d").to_string()
}

impl CouponRow {
    pub fn view(self, tz: Tz) -> Coupon {
        let (valid_type, valid_date) = match self.date_type {
            1 => (
                1,
                ValidDate {
                    start_days: None,
                    valid_days: None,
                    start_date: self.begin_time.map(|t| local_date(t, tz)),
                    end_date: self.end_time.map(|t| local_date(t, tz)),
                },
            ),
            2 => (
                2,
                ValidDate {
                    start_days: self.start_day_count.map(i64::from),
                    valid_days: self.expire_day_count.map(i64::from),
                    start_date: None,
                    end_date: None,
                },
            ),
            _ => (3, ValidDate { start_days: None, valid_days: None, start_date: None, end_date: None }),
        };
        let to_come = (i64::from(self.total_quantity) - self.generated).max(0);
        let c = &self.card;
        Coupon {
            channels: c.channels(),
            coupon_id: c.card_id.clone(),
            coupon_label: c.title.clone(),
            coupon_name: c.title.clone(),
            coupon_sub_label: c.subtitle.clone(),
            coupon_type: coupon_type(c.card_type),
            draw_limit: self.get_limit.into(),
            note: c.notice.clone(),
            rule: c.rule(),
            total: self.total_quantity.into(),
            store: self.in_stock + to_come,
            valid_date,
            valid_type,
        }
    }
}

/// A held code with its card, as the member coupon shape needs it.
#[derive(Debug)]
pub struct HeldRow {
    pub card: CardFields,
    pub card_code: String,
    pub status: i16,
    pub received_at: Option<DateTime<Utc>>,
    pub valid_begin: Option<DateTime<Utc>>,
    pub valid_end: Option<DateTime<Utc>>,
    pub membership_id: Option<i64>,
    pub redeemed_at: Option<DateTime<Utc>>,
}

impl HeldRow {
    pub fn view(self, tz: Tz, now: DateTime<Utc>) -> MembershipCoupon {
        let c = &self.card;
        MembershipCoupon {
            date_draw: self.received_at.map(format_datetime),
            end_date: self.valid_end.map(|t| local_date(t, tz)),
            coupon_id: c.card_id.clone(),
            qrcode_url: None,
            membership_id: self.membership_id,
            barcode_url: None,
            date_redeem: self.redeemed_at.map(format_datetime),
            uuid: None,
            start_date: self.valid_begin.map(|t| local_date(t, tz)),
            status: member_status(self.status, self.valid_begin, self.valid_end, now).to_string(),
            coupon_code: self.card_code,
            coupon_type: coupon_type(c.card_type),
            coupon_name: c.title.clone(),
            coupon_label: c.title.clone(),
            coupon_sub_label: c.subtitle.clone(),
            note: c.notice.clone(),
            channels: c.channels(),
            rule: c.rule(),
        }
    }
}
