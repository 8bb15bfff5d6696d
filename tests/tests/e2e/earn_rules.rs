//! Seed 000's earn-rule semantics, table-driven, through the worker's own apply code against
//! the real database (business time is set per event, so nothing sleeps).

use chrono::{DateTime, Duration, TimeZone, Utc};
use loyalty_tests::TestEnv;
use schemas::{money::Cents, points::EarnPayload, Envelope, MessageKind};
use serde_json::{json, Value};
use workers::{outcome::Outcome, points::earn::apply_batch};

/// What an event should come to: points applied, or a rejection whose reason contains the text.
#[derive(Debug, Clone, Copy)]
enum Want {
    Points(i64),
    Rejected(&'static str),
}

struct Case {
    name: &'static str,
    rules: Vec<Value>,
    /// (member, amount in yuan, seconds after t0, scene)
    events: Vec<(&'static str, Option<&'static str>, i64, &'static str)>,
    want: Vec<Want>,
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 4, 0, 0).unwrap()
}

fn rule(
    points_type: &str,
    change: i64,
    per_money: Option<i64>,
    limits: (Option<i64>, Option<i64>, i64),
    mul: bool,
) -> Value {
    json!({
        "rule_name": "r", "action_scene": "order_pay", "points_type": points_type, "expire_term": 30, "per_money": per_money,
        "change_points": change, "freeze_term": 0, "max_points": limits.0, "max_times": limits.1, "range_days": limits.2, "mul_rules": mul
    })
}

fn cases() -> Vec<Case> {
    let order = |max_points, max_times, range| rule("order", 10, Some(50), (max_points, max_times, range), false);
    let event = |max_times, range| rule("event", 5, None, (None, max_times, range), false);
    vec![
        Case {
            name: "per_money steps are floored",
            rules: vec![order(None, None, 0)],
            events: vec![
                ("m", Some("49.99"), 0, "order_pay"),
                ("m", Some("50"), 1, "order_pay"),
                ("m", Some("149.99"), 2, "order_pay"),
                ("m", Some("150.00"), 3, "order_pay"),
            ],
            want: vec![Want::Rejected("below per_money 50"), Want::Points(10), Want::Points(20), Want::Points(30)],
        },
        Case {
            name: "max_points cuts the award to what is left, then rejects",
            rules: vec![order(Some(30), None, 1)],
            events: vec![
                ("m", Some("120"), 0, "order_pay"),
                ("m", Some("120"), 60, "order_pay"),
                ("m", Some("120"), 120, "order_pay"),
            ],
            want: vec![Want::Points(20), Want::Points(10), Want::Rejected("max_points 30 reached within 1 day")],
        },
        Case {
            name: "max_points counts per member",
            rules: vec![order(Some(30), None, 1)],
            events: vec![
                ("a", Some("150"), 0, "order_pay"),
                ("b", Some("150"), 1, "order_pay"),
                ("a", Some("50"), 2, "order_pay"),
            ],
            want: vec![Want::Points(30), Want::Points(30), Want::Rejected("max_points")],
        },
        Case {
            name: "max_times counts awards in the window",
            rules: vec![event(Some(2), 1)],
            events: vec![("m", None, 0, "order_pay"), ("m", None, 10, "order_pay"), ("m", None, 20, "order_pay")],
            want: vec![Want::Points(5), Want::Points(5), Want::Rejected("max_times 2 reached within 1 day")],
        },
        Case {
            name: "range_days window: one second inside, then exactly one day later",
            rules: vec![event(Some(1), 1)],
            events: vec![
                ("m", None, 0, "order_pay"),
                ("m", None, 86_399, "order_pay"),
                ("m", None, 86_400, "order_pay"),
            ],
            want: vec![Want::Points(5), Want::Rejected("max_times 1"), Want::Points(5)],
        },
        Case {
            name: "range_days 0 counts the whole history",
            rules: vec![event(Some(1), 0)],
            events: vec![("m", None, 0, "order_pay"), ("m", None, 400 * 86_400, "order_pay")],
            want: vec![Want::Points(5), Want::Rejected("max_times 1 reached in total")],
        },
        Case {
            name: "mul_rules: every rule of the scene applies",
            rules: vec![
                rule("order", 10, Some(50), (None, None, 0), true),
                rule("event", 7, None, (None, None, 0), true),
            ],
            events: vec![("m", Some("100"), 0, "order_pay")],
            want: vec![Want::Points(27)],
        },
        Case {
            name: "without mul_rules only the first rule applies",
            rules: vec![
                rule("order", 10, Some(50), (None, None, 0), false),
                rule("event", 7, None, (None, None, 0), false),
            ],
            events: vec![("m", Some("100"), 0, "order_pay")],
            want: vec![Want::Points(20)],
        },
        Case {
            name: "a scene without a rule is rejected",
            rules: vec![event(None, 0)],
            events: vec![("m", None, 0, "user_sign")],
            want: vec![Want::Rejected("no earn rule for action_scene user_sign")],
        },
        Case {
            name: "an order rule needs the amount",
            rules: vec![order(None, None, 0)],
            events: vec![("m", None, 0, "order_pay")],
            want: vec![Want::Rejected("amount is required")],
        },
    ]
}

fn envelope(
    crm: &str,
    n: usize,
    member: &str,
    amount: Option<&str>,
    at: DateTime<Utc>,
    scene: &str,
) -> Envelope<EarnPayload> {
    let payload = EarnPayload {
        member_no: member.into(),
        action_scene: scene.into(),
        amount: amount.map(|a| Cents::parse(a).unwrap()),
        order_items: None,
        store_code: None,
        cost_center: None,
        campagin_code: None,
        operator: None,
        event_desc: None,
        pay_method: None,
    };
    Envelope::new(MessageKind::PointsEarn, crm.into(), format!("ev{n}"), at, payload)
}

fn check(case: &str, mode: &str, got: &[Outcome], want: &[Want]) {
    assert_eq!(got.len(), want.len(), "{case} ({mode})");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        match (g, w) {
            (Outcome::Applied { count: points }, Want::Points(p)) => assert_eq!(points, p, "{case} ({mode}) event {i}"),
            (Outcome::Rejected { reason, .. }, Want::Rejected(text)) => {
                assert!(reason.contains(text), "{case} ({mode}) event {i}: reason {reason:?} should contain {text:?}")
            }
            _ => panic!("{case} ({mode}) event {i}: got {g:?}, want {w:?}"),
        }
    }
}

#[tokio::test]
async fn earn_rules_table() {
    let env = TestEnv::new().await;
    for (n, case) in cases().into_iter().enumerate() {
        // Each case twice: one event per transaction, and all events in one batch (the windows
        // must see earlier awards of the same batch).
        for (mode, batched) in [("one by one", false), ("one batch", true)] {
            let crm = format!("c{n}{}", if batched { "b" } else { "s" });
            let key = env.tenant(&crm).await;
            for r in &case.rules {
                env.rule(&crm, &key, r.clone()).await;
            }
            let tenants = platform::rules::load(&env.db, std::slice::from_ref(&crm)).await.unwrap();
            let events: Vec<_> = case
                .events
                .iter()
                .enumerate()
                .map(|(i, (m, a, s, scene))| envelope(&crm, i, m, *a, t0() + Duration::seconds(*s), scene))
                .collect();
            let outcomes = if batched {
                apply_batch(&env.db, &tenants, &events).await.unwrap()
            } else {
                let mut all = Vec::new();
                for e in &events {
                    all.extend(apply_batch(&env.db, &tenants, std::slice::from_ref(e)).await.unwrap());
                }
                all
            };
            check(case.name, mode, &outcomes, &case.want);
        }
    }
    let violations = workers::verify::violations(&env.db, None).await.unwrap();
    assert!(violations.is_empty(), "{violations:?}");
    env.cleanup().await;
}

#[tokio::test]
async fn freeze_and_expiry_times_follow_the_rule() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    env.rule("10080", &key, loyalty_tests::seed_rule()).await;
    let tenants = platform::rules::load(&env.db, &["10080".to_string()]).await.unwrap();
    let at = t0();
    let outcomes =
        apply_batch(&env.db, &tenants, &[envelope("10080", 1, "m", Some("100"), at, "order_pay")]).await.unwrap();
    assert_eq!(outcomes, vec![Outcome::Applied { count: 20 }]);
    let (expire, unfreeze, remaining): (DateTime<Utc>, Option<DateTime<Utc>>, i64) =
        sqlx::query_as("select expire_time, unfreeze_time, remaining from points_lot where crm_id = '10080'")
            .fetch_one(&env.db)
            .await
            .unwrap();
    assert_eq!(expire, at + Duration::days(30), "expire_term 30 days");
    assert_eq!(unfreeze, Some(at + Duration::days(3)), "freeze_term 3 days");
    assert_eq!(remaining, 20);
    let (l_expire, l_unfreeze): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
        sqlx::query_as("select expire_time, unfreeze_time from points_ledger where crm_id = '10080'")
            .fetch_one(&env.db)
            .await
            .unwrap();
    assert_eq!((l_expire, l_unfreeze), (Some(expire), unfreeze), "the ledger row shows the lot's times");
    env.cleanup().await;
}

#[tokio::test]
async fn summary_splits_frozen_from_available() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    env.rule("10080", &key, loyalty_tests::seed_rule()).await;
    env.rule("10080", &key, json!({"rule_name": "登录", "action_scene": "user_login", "points_type": "event", "expire_term": 20, "change_points": 4, "range_days": 0})).await;
    let tenants = platform::rules::load(&env.db, &["10080".to_string()]).await.unwrap();
    let now = Utc::now();
    let events =
        [envelope("10080", 1, "m", Some("100"), now, "order_pay"), envelope("10080", 2, "m", None, now, "user_login")];
    apply_batch(&env.db, &tenants, &events).await.unwrap();
    let (status, body) = env.get("/api/crm/mgr/points/10080/summary?member_no=m", &key).await;
    assert_eq!(status, axum::http::StatusCode::OK, "{body}");
    let d = &body["data"];
    assert_eq!(
        (d["points"].as_i64(), d["frozen"].as_i64(), d["available"].as_i64()),
        (Some(24), Some(20), Some(4)),
        "{body}"
    );
    assert_eq!(d["expiring_30d"].as_i64(), Some(4), "the 20-day login lot expires within 30 days: {body}");
    assert_eq!(d["total_produced"].as_i64(), Some(24));
    env.cleanup().await;
}
