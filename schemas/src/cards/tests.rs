//! Unit tests of the card rules: redeem windows in the tenant's local day, day lists.

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
