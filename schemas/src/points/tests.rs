//! Unit tests of the points rules and commands: spend tiers, goods whitelists, order awards.

use super::{
    commands::ConsumePayload,
    rules::{DeleteRules, PointsType, ProduceRule, RuleType},
    spend_rules::{ConsumeRule, ConsumeTier},
};
use crate::money::Cents;

#[test]
fn consume_tiers_round_trip_in_yuan() {
    let tier: ConsumeTier =
        serde_json::from_value(serde_json::json!({"base_points": 50, "convert_money": 2.5})).unwrap();
    assert_eq!(tier.convert_money, Cents(250));
    let back: ConsumeTier = serde_json::from_value(serde_json::to_value(&tier).unwrap()).unwrap();
    assert_eq!(back, tier);
    // 50 points = 2.50 yuan: on 12.00 yuan with 1,000 points, 4 steps = 200 points for 10.00.
    assert_eq!(tier.usable(Cents(1200), 1000), (200, Cents(1000)));
    assert_eq!(tier.usable(Cents(1200), 120), (100, Cents(500)), "points limit the steps");
}

#[test]
fn goods_whitelist_limits_the_payable_amount() {
    let tier: ConsumeTier = serde_json::from_value(
        serde_json::json!({"base_points": 50, "convert_money": 2, "goods_white": {"skus": ["a", "b"]}}),
    )
    .unwrap();
    let white = tier.white_skus().unwrap();
    let spend = |amount: i64, items: serde_json::Value| ConsumePayload {
        member_no: "m".into(),
        action_scene: "user_discount".into(),
        points: None,
        amount: Some(Cents(amount)),
        member_level: None,
        order_items: Some(items),
        store_code: None,
        cost_center: None,
        campagin_code: None,
        operator: None,
        event_desc: None,
        with_coupon: None,
    };
    let p = spend(
        10000,
        serde_json::json!([{"sku": "a", "amount": 30}, {"sku": "z", "amount": 50}, {"sku": "b", "amount": "5.5"}]),
    );
    assert!(p.validate().is_ok());
    assert_eq!(p.payable_amount(white.as_deref()), Some(Cents(3550)), "only listed SKUs count");
    assert_eq!(p.payable_amount(None), Some(Cents(10000)), "no whitelist: the whole amount");
    assert!(spend(100, serde_json::json!([{"sku": "a"}])).validate().is_err(), "an item without an amount");
    let bad: Result<ConsumeTier, _> =
        serde_json::from_value(serde_json::json!({"base_points": 50, "convert_money": 2, "goods_white": ["a"]}));
    let rule = ConsumeRule {
        rule_id: 0,
        rule_name: "r".into(),
        action_scene: "user_discount".into(),
        rules_li: vec![bad.unwrap()],
    };
    assert_eq!(rule.validate().unwrap_err().field, "rules_li[0].goods_white");
}

#[test]
fn order_award_floors_per_money_steps() {
    let rule = ProduceRule {
        rule_id: 1,
        rule_name: "下单支付".into(),
        action_scene: "order_pay".into(),
        points_type: PointsType::Order,
        expire_term: 30,
        per_money: Some(50),
        change_points: 10,
        freeze_term: 3,
        max_points: Some(30),
        max_times: Some(10),
        range_days: 1,
        mul_rules: false,
    };
    for (amount, want) in [(4999, 0), (5000, 10), (9999, 10), (10000, 20), (15050, 30)] {
        assert_eq!(rule.base_award(Some(Cents(amount))), Ok(want), "amount {amount} cents");
    }
    assert!(rule.base_award(None).is_err());
}

#[test]
fn a_lot_delete_takes_1000_listed_ids_plus_the_single_one() {
    let delete = |n: usize, single: Option<i64>| DeleteRules {
        rule_id_li: Some((1..=n as i64).collect()),
        rule_id: single,
        rule_type: RuleType::Produce,
    };
    assert_eq!(delete(1000, Some(5000)).ids().map(|ids| ids.len()), Ok(1001));
    assert_eq!(delete(1001, None).ids().map_err(|e| e.field), Err("rule_id_li".to_string()));
    assert_eq!(delete(0, None).ids().map_err(|e| e.field), Err("rule_id_li".to_string()));
}
