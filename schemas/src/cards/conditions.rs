//! Redemption conditions of seed 003's card table — `store_codes`, `cash_condition` (minimum
//! spend), `qty_condition` (items), `use_with_other_offer` and `use_with_other_coupon` — checked
//! against the order context a redemption may carry (`store_code`, `amount`, `items`,
//! `order_no`, `with_other_offer` on [`RedeemPayload`]).
//!
//! A redemption without any context is a bare scan at a till: nothing says which store or
//! basket it belongs to, so these conditions are not checked and the rules of before hold (the
//! code, its holder, validity, `use_limit` and the redeem window). With a context, a condition
//! the card sets is checked **fail-closed**: the context must carry what the condition needs (a
//! card limited to stores needs `store_code`; a minimum spend needs `amount` or `items`; an item
//! count needs `items`). The alternative, skipping a condition whose data is missing, would let
//! a client escape a condition by leaving a field out.
//!
//! "The other coupons on this order" are the standing (not reversed) redemptions recorded with
//! the same `order_no`; the worker reads them under a per-order lock, so two coupons redeemed on
//! one order at the same instant are checked one after the other. Without `order_no` there is
//! no order to look at and no combination is checked.

use serde::{Deserialize, Serialize};

use super::RedeemPayload;
use crate::{
    checks::{check_key, check_range, check_text},
    money::{check_amount, de_required_amount, Cents},
    response::Refusal,
    FieldError,
};

/// Most lines an order context carries.
pub const MAX_ITEMS: usize = 500;

/// One line of the order in a redeem request (`amount` in yuan, this line's total).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderItemRequest {
    pub sku: String,
    /// The line's amount in yuan (number or string, at most two decimals).
    #[serde(deserialize_with = "de_required_amount")]
    #[schema(value_type = f64, minimum = 0)]
    pub amount: Cents,
    /// How many of the item (at least 1).
    #[schema(minimum = 1, maximum = 100_000)]
    pub qty: i64,
}

/// One line of the order in a `cards.redeem` payload (`amount` in cents).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderItem {
    pub sku: String,
    #[schema(value_type = i64, minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub amount: Cents,
    pub qty: i64,
}

impl From<OrderItemRequest> for OrderItem {
    fn from(i: OrderItemRequest) -> OrderItem {
        OrderItem { sku: i.sku, amount: i.amount, qty: i.qty }
    }
}

/// Checks the context fields of a redeem payload (the rest is checked by its `validate`).
pub(super) fn check_context(p: &RedeemPayload) -> Result<(), FieldError> {
    if let Some(store) = &p.store_code {
        check_text("store_code", store, 1, 64)?;
    }
    if let Some(amount) = p.amount {
        check_amount("amount", amount)?;
    }
    if let Some(items) = &p.items {
        check_items(items)?;
    }
    if let Some(order_no) = &p.order_no {
        check_key("order_no", order_no)?;
    }
    Ok(())
}

/// Checks an order context's lines: at most [`MAX_ITEMS`], each with a SKU, an amount and a
/// quantity of at least 1.
pub fn check_items(items: &[OrderItem]) -> Result<(), FieldError> {
    if items.len() > MAX_ITEMS {
        return Err(FieldError::new("items", format!("must list at most {MAX_ITEMS} lines")));
    }
    for (i, item) in items.iter().enumerate() {
        check_text(&format!("items[{i}].sku"), &item.sku, 1, 128)?;
        check_amount(&format!("items[{i}].amount"), item.amount)?;
        check_range(&format!("items[{i}].qty"), item.qty, 1, 100_000)?;
    }
    Ok(())
}

impl RedeemPayload {
    /// Whether the redemption names an order context (any of its five fields).
    pub fn has_order_context(&self) -> bool {
        self.store_code.is_some()
            || self.amount.is_some()
            || self.items.is_some()
            || self.order_no.is_some()
            || self.with_other_offer.is_some()
    }

    /// The order's amount: `amount`, else the sum of the items' amounts, else unknown.
    pub fn order_amount(&self) -> Option<Cents> {
        self.amount.or_else(|| self.items.as_ref().map(|items| Cents(items.iter().map(|i| i.amount.0).sum())))
    }

    /// How many items the order counts (the sum of `qty`), if it lists them.
    pub fn order_qty(&self) -> Option<i64> {
        self.items.as_ref().map(|items| items.iter().map(|i| i.qty).sum())
    }
}

/// A card's redemption conditions, as stored on it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Conditions {
    /// Seed 003's text: codes separated by commas (`"store_01, store_02"`); none: every store.
    pub store_codes: Option<String>,
    pub cash_condition: Option<Cents>,
    /// 0: no condition.
    pub qty_condition: i64,
    pub use_with_other_offer: bool,
    pub use_with_other_coupon: bool,
}

/// A coupon already redeemed (and not reversed) on the same order.
#[derive(Debug, Clone, PartialEq)]
pub struct OtherCoupon {
    pub card_id: String,
    pub card_code: String,
    pub use_with_other_coupon: bool,
}

/// The store codes a card lists (commas, ASCII or full-width; spaces around each ignored).
pub fn store_list(store_codes: Option<&str>) -> Vec<&str> {
    store_codes.unwrap_or_default().split([',', '，']).map(str::trim).filter(|s| !s.is_empty()).collect()
}

impl Conditions {
    /// Checks the order context of `p` against the card's conditions, `others` being the coupons
    /// already redeemed on the same order. Call it only when `p` has an order context.
    /// `Err` carries the refusal and a reason naming the condition and its numbers.
    pub fn check(&self, p: &RedeemPayload, others: &[OtherCoupon]) -> Result<(), (Refusal, String)> {
        let not_met = |why: String| Err((Refusal::ConditionNotMet, why));
        let stores = store_list(self.store_codes.as_deref());
        if !stores.is_empty() {
            match p.store_code.as_deref() {
                None => {
                    return not_met(format!(
                        "the card is redeemable only at stores {}: the order names no store_code",
                        stores.join(", ")
                    ))
                }
                Some(s) if !stores.contains(&s) => {
                    return not_met(format!("the card is redeemable only at stores {}, not at {s}", stores.join(", ")))
                }
                Some(_) => {}
            }
        }
        if let Some(min) = self.cash_condition.filter(|c| c.0 > 0) {
            match p.order_amount() {
                None => {
                    return not_met(format!(
                        "the card needs a minimum spend of {} (cash_condition): the order names no amount or items",
                        min.to_decimal_string()
                    ))
                }
                Some(amount) if amount < min => {
                    return not_met(format!(
                        "minimum spend {} (cash_condition) not met: the order's amount is {}",
                        min.to_decimal_string(),
                        amount.to_decimal_string()
                    ))
                }
                Some(_) => {}
            }
        }
        if self.qty_condition > 0 {
            match p.order_qty() {
                None => {
                    return not_met(format!(
                        "the card needs {} items (qty_condition): the order names no items",
                        self.qty_condition
                    ))
                }
                Some(qty) if qty < self.qty_condition => {
                    return not_met(format!(
                        "the card needs {} items (qty_condition): the order has {qty}",
                        self.qty_condition
                    ))
                }
                Some(_) => {}
            }
        }
        if p.with_other_offer == Some(true) && !self.use_with_other_offer {
            return not_met(
                "the card cannot be combined with other promotions (use_with_other_offer is false) and the order uses one"
                    .into(),
            );
        }
        if let Some(first) = others.first() {
            if !self.use_with_other_coupon {
                return Err((
                    Refusal::NotCombinable,
                    format!(
                        "the card cannot be combined with other coupons (use_with_other_coupon is false): order {} already has {} redeemed (code {} of card {})",
                        p.order_no.as_deref().unwrap_or_default(),
                        others.len(),
                        first.card_code,
                        first.card_id
                    ),
                ));
            }
            if let Some(other) = others.iter().find(|o| !o.use_with_other_coupon) {
                return Err((
                    Refusal::NotCombinable,
                    format!(
                        "code {} of card {}, already redeemed on order {}, cannot be combined with other coupons (its use_with_other_coupon is false)",
                        other.card_code,
                        other.card_id,
                        p.order_no.as_deref().unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> RedeemPayload {
        RedeemPayload {
            member_no: "m".into(),
            card_id: "c".into(),
            card_code: "k".into(),
            redeem_channel: "pos".into(),
            redeem_extra: String::new(),
            store_code: None,
            amount: None,
            items: None,
            order_no: None,
            with_other_offer: None,
        }
    }

    fn item(amount: i64, qty: i64) -> OrderItem {
        OrderItem { sku: "s".into(), amount: Cents(amount), qty }
    }

    #[test]
    fn each_condition_is_checked_against_the_context_fail_closed() {
        let card = Conditions {
            store_codes: Some("store_01, store_02".into()),
            cash_condition: Some(Cents(10_000)),
            qty_condition: 3,
            use_with_other_offer: false,
            use_with_other_coupon: false,
        };
        let good = RedeemPayload {
            store_code: Some("store_02".into()),
            amount: Some(Cents(10_000)),
            items: Some(vec![item(6_000, 2), item(4_000, 1)]),
            order_no: Some("o1".into()),
            with_other_offer: Some(false),
            ..payload()
        };
        assert_eq!(card.check(&good, &[]), Ok(()));
        let cases: Vec<(&str, RedeemPayload, Refusal, &str)> = vec![
            (
                "another store",
                RedeemPayload { store_code: Some("store_09".into()), ..good.clone() },
                Refusal::ConditionNotMet,
                "only at stores store_01, store_02, not at store_09",
            ),
            (
                "no store",
                RedeemPayload { store_code: None, ..good.clone() },
                Refusal::ConditionNotMet,
                "names no store_code",
            ),
            (
                "below the minimum spend",
                RedeemPayload { amount: Some(Cents(9_999)), ..good.clone() },
                Refusal::ConditionNotMet,
                "minimum spend 100.00 (cash_condition) not met: the order's amount is 99.99",
            ),
            (
                "no amount: the items' sum, below",
                RedeemPayload { amount: None, items: Some(vec![item(5_000, 3)]), ..good.clone() },
                Refusal::ConditionNotMet,
                "the order's amount is 50.00",
            ),
            (
                "no amount, no items",
                RedeemPayload { amount: None, items: None, ..good.clone() },
                Refusal::ConditionNotMet,
                "names no amount or items",
            ),
            (
                "too few items",
                RedeemPayload { items: Some(vec![item(10_000, 2)]), ..good.clone() },
                Refusal::ConditionNotMet,
                "needs 3 items (qty_condition): the order has 2",
            ),
            (
                "another offer",
                RedeemPayload { with_other_offer: Some(true), ..good.clone() },
                Refusal::ConditionNotMet,
                "use_with_other_offer is false",
            ),
        ];
        for (case, p, refusal, why) in cases {
            let (got, reason) = card.check(&p, &[]).expect_err(case);
            assert_eq!(got, refusal, "{case}");
            assert!(reason.contains(why), "{case}: {reason}");
        }
        // The items' sum stands in for a missing amount.
        let by_items = RedeemPayload { amount: None, ..good.clone() };
        assert_eq!(card.check(&by_items, &[]), Ok(()));
    }

    #[test]
    fn a_card_without_conditions_takes_any_context() {
        let p = RedeemPayload { store_code: Some("anywhere".into()), ..payload() };
        assert_eq!(Conditions::default().check(&p, &[]), Ok(()));
        let zero = Conditions { cash_condition: Some(Cents(0)), ..Conditions::default() };
        assert_eq!(zero.check(&RedeemPayload { order_no: Some("o".into()), ..payload() }, &[]), Ok(()));
        assert!(!payload().has_order_context());
        assert!(p.has_order_context());
    }

    #[test]
    fn coupons_combine_only_when_both_allow_it() {
        let p = RedeemPayload { order_no: Some("o1".into()), ..payload() };
        let other = |ok: bool| OtherCoupon { card_id: "c2".into(), card_code: "k2".into(), use_with_other_coupon: ok };
        let alone = Conditions::default();
        let social = Conditions { use_with_other_coupon: true, ..Conditions::default() };
        let (r, why) = alone.check(&p, &[other(true)]).unwrap_err();
        assert_eq!(r, Refusal::NotCombinable);
        assert!(why.contains("order o1 already has 1 redeemed (code k2 of card c2)"), "{why}");
        let (r, why) = social.check(&p, &[other(false)]).unwrap_err();
        assert_eq!(r, Refusal::NotCombinable);
        assert!(why.contains("code k2 of card c2, already redeemed on order o1"), "{why}");
        assert_eq!(social.check(&p, &[other(true)]), Ok(()));
        assert_eq!(alone.check(&p, &[]), Ok(()));
    }

    #[test]
    fn store_lists_take_either_comma() {
        assert_eq!(store_list(Some("a, b，c ,,")), vec!["a", "b", "c"]);
        assert!(store_list(Some("  ")).is_empty());
        assert!(store_list(None).is_empty());
    }

    #[test]
    fn old_payloads_decode_and_new_fields_are_left_out_when_absent() {
        let old = serde_json::json!({"member_no": "m", "card_id": "c", "card_code": "k", "redeem_channel": "pos", "redeem_extra": ""});
        let p: RedeemPayload = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(p, payload());
        assert_eq!(serde_json::to_value(&p).unwrap(), old);
        let with = RedeemPayload { amount: Some(Cents(12_345)), items: Some(vec![item(100, 1)]), ..payload() };
        let v = serde_json::to_value(&with).unwrap();
        assert_eq!(v["amount"], serde_json::json!(12_345));
        assert_eq!(serde_json::from_value::<RedeemPayload>(v).unwrap(), with);
    }
}
