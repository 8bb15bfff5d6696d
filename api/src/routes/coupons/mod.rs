//! DM Hub's coupons (seed 002 §13) under `/loyalty/v1`, over the cards engine of seed 003: a
//! coupon is a card definition, a member coupon a code a member holds. There is no second
//! coupon store: the reads are the card tables in DM Hub's shapes ([`view`]), the draw is a
//! `cards.receive` claim and the redemption a `cards.redeem` ([`commands`]). Coupons are created
//! with the native card `create` (the seed only reads them).
//!
//! Authentication and errors are the members' (seed 002's `?access_token=` and
//! `{"error": {"code", "message"}}`, `routes::members::MemberError`), and so is the paging.

pub mod commands;
pub mod docs;
pub mod queries;
pub mod store;
pub mod view;

use axum::{
    routing::{get, post},
    Router,
};

use crate::AppState;

/// The coupon routes (the caller adds the access-token layer).
pub fn router() -> Router<AppState> {
    let v = "/loyalty/v1";
    Router::new()
        .route(&format!("{v}/coupon"), get(queries::list))
        .route(&format!("{v}/coupon/{{couponId}}"), get(queries::one))
        .route(&format!("{v}/couponService/getCouponByChannel"), get(queries::by_channel))
        .route(&format!("{v}/membership/{{id}}/coupon"), get(queries::member_coupons))
        .route(&format!("{v}/membership/{{id}}/coupon/draw"), post(commands::draw))
        .route(&format!("{v}/membershipCoupon/{{couponCode}}"), get(queries::member_coupon))
        .route(&format!("{v}/membershipCoupon/{{couponCode}}/redeem"), post(commands::redeem))
}
