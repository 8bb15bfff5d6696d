//! Unit tests of the card rules: redeem windows in the tenant's local day, day lists, and the
//! create body's fields from the seed's table design.

use chrono::{TimeZone, Utc};

use super::{day_list, RedeemWindow};
use crate::time::DEFAULT_TIME_ZONE;

#[test]
fn redeem_windows_follow_the_tenants_local_day() {
    // Mondays, 10:00:00..=21:59:59, Asia/Shanghai (UTC+8).
    let window =
        RedeemWindow { weekdays: Some(vec![1]), monthdays: None, day_begin_time: 36_000, day_end_time: 79_199 };
    let utc = |d: u32, h: u32, m: u32, s: u32| Utc.with_ymd_and_hms(2026, 11, d, h, m, s).unwrap();
    // 2026-11-23 is a Monday (local).
    for (case, t, ok) in [
        ("Monday 10:00:00 local", utc(23, 2, 0, 0), true),
        ("Monday 09:59:59 local", utc(23, 1, 59, 59), false),
        ("Monday 21:59:59 local", utc(23, 13, 59, 59), true),
        ("Monday 22:00:00 local", utc(23, 14, 0, 0), false),
        ("Monday 12:00 local is still Monday 04:00 UTC", utc(23, 4, 0, 0), true),
        ("Tuesday 10:00 local is Monday 02:00 UTC: refused", utc(24, 2, 0, 0), false),
        ("Sunday 23:30 UTC is Monday 07:30 local: weekday fine, hour not", utc(22, 23, 30, 0), false),
    ] {
        assert_eq!(window.check(t, DEFAULT_TIME_ZONE).is_ok(), ok, "{case}: {:?}", window.check(t, DEFAULT_TIME_ZONE));
    }
    // The whole day, day boundary: 23:59:59 is the last second of the 1st, 00:00:00 the 2nd.
    let first = RedeemWindow { weekdays: None, monthdays: Some(vec![1]), day_begin_time: 0, day_end_time: 86_399 };
    assert!(
        first.check(Utc.with_ymd_and_hms(2026, 12, 1, 15, 59, 59).unwrap(), DEFAULT_TIME_ZONE).is_ok(),
        "Dec 1st 23:59:59 local"
    );
    assert!(
        first.check(Utc.with_ymd_and_hms(2026, 12, 1, 16, 0, 0).unwrap(), DEFAULT_TIME_ZONE).is_err(),
        "Dec 2nd 00:00:00 local"
    );
    assert!(
        first.check(Utc.with_ymd_and_hms(2026, 11, 30, 16, 0, 0).unwrap(), DEFAULT_TIME_ZONE).is_ok(),
        "Dec 1st 00:00:00 local"
    );
    assert!(
        first.check(Utc.with_ymd_and_hms(2026, 12, 1, 16, 0, 0).unwrap(), chrono_tz::UTC).is_ok(),
        "in UTC it is still the 1st"
    );
}

#[test]
fn day_lists() {
    assert_eq!(day_list("weekdays", "0, 1,6", 0, 6).unwrap(), vec![0, 1, 6]);
    assert!(day_list("weekdays", "7", 0, 6).is_err());
    assert!(day_list("weekdays", "1,1", 0, 6).is_err());
    assert!(day_list("monthdays", "0", 1, 31).is_err());
    assert!(day_list("monthdays", "x", 1, 31).is_err());
}

/// The create body of seed 003's example, with the table design's three extra fields.
fn seed_card() -> serde_json::Value {
    serde_json::json!({
        "card_type": 1, "title": "满100减10", "subtitle": "618满100减10", "source": 2, "scene": "web",
        "notice": "适用说明", "rule": "使用须知", "date_type": 1, "begin_time": 1655481600, "end_time": 1655740799,
        "total_quantity": 10000, "generate_type": 1, "cash_amount": 10, "cash_condition": 100, "discount": 0.8,
        "icon": "aa/bb/cc.jpg",
        "extra_info": {"bg_color": "#1111111", "jump_now_path": "/page/card/", "custom_menu_name": "卡券", "menu_jump_path": "/page/custom/"},
        "use_with_other_offer": true, "use_with_other_coupon": false, "qty_condition": 3
    })
}

#[test]
fn the_table_designs_offer_coupon_and_quantity_fields_are_accepted_and_checked() {
    let card: super::CreateCard = serde_json::from_value(seed_card()).unwrap();
    card.validate().unwrap();
    assert_eq!(
        (card.use_with_other_offer, card.use_with_other_coupon, card.qty_condition),
        (Some(true), Some(false), Some(3))
    );
    for (qty, ok) in [(0, true), (32_767, true), (-1, false), (32_768, false)] {
        let mut body = seed_card();
        body["qty_condition"] = qty.into();
        let card: super::CreateCard = serde_json::from_value(body).unwrap();
        match card.validate() {
            Ok(()) => assert!(ok, "qty_condition {qty} passed"),
            Err(e) => {
                assert!(!ok, "qty_condition {qty}: {e:?}");
                assert_eq!((e.field.as_str(), e.message.as_str()), ("qty_condition", "must be between 0 and 32767"));
            }
        }
    }
    // The seed types them bool and smallint: other JSON types are refused by the body's type.
    for (field, value) in [
        ("use_with_other_offer", serde_json::json!("yes")),
        ("use_with_other_coupon", serde_json::json!(1)),
        ("qty_condition", serde_json::json!(1.5)),
    ] {
        let mut body = seed_card();
        body[field] = value;
        assert!(serde_json::from_value::<super::CreateCard>(body).is_err(), "{field}");
    }
}
