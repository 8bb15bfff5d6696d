//! The points ledger: spending, freezing, expiry and reversal, table-driven through the
//! workers' own handlers against the real database, with business time set per step.

use std::collections::HashMap;

use axum::http::StatusCode;
use chrono::{DateTime, Duration, TimeZone, Utc};
use loyalty_tests::TestEnv;
use platform::rules::TenantRules;
use schemas::{
    money::Cents,
    points::{
        AcceptPayload, ConsumePayload, EarnPayload, FreezePayload, ReversePayload, TransferPayload, UnfreezePayload,
    },
    Envelope, MessageKind,
};
use serde_json::json;
use workers::{
    outcome::Outcome,
    points::{
        consume, earn, freeze, reverse,
        sweep::{self, Swept},
        transfer,
    },
};

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 2, 0, 0).unwrap()
}

fn days(d: i64) -> Duration {
    Duration::days(d)
}

/// A tenant with: `order_pay` (1 point per yuan, 30-day expiry), `frozen_pay` (the same, frozen
/// 3 days), `login` (1 point, at most once ever), and the spend rule `user_discount` (50 points
/// = 2 yuan).
pub(crate) struct Ledger {
    pub(crate) env: TestEnv,
    crm: String,
    pub(crate) key: String,
    tenants: HashMap<String, TenantRules>,
}

impl Ledger {
    pub(crate) async fn new(crm: &str) -> Ledger {
        let env = TestEnv::new().await;
        let key = env.tenant(crm).await;
        for rule in [
            json!({"rule_name": "pay", "action_scene": "order_pay", "points_type": "order", "expire_term": 30, "per_money": 1, "change_points": 1, "range_days": 0}),
            json!({"rule_name": "frozen", "action_scene": "frozen_pay", "points_type": "order", "expire_term": 30, "per_money": 1, "change_points": 1, "freeze_term": 3, "range_days": 0}),
            json!({"rule_name": "login", "action_scene": "user_login", "points_type": "event", "expire_term": 30, "change_points": 1, "max_times": 1, "range_days": 0}),
        ] {
            env.rule(crm, &key, rule).await;
        }
        let (status, body) = env
            .post(
                &format!("/api/crm/mgr/points/{crm}/rules/consume_scene"),
                &key,
                json!({"rule_name": "积分抵扣", "action_scene": "user_discount", "rules_li": [{"base_points": 50, "convert_money": 2, "consume_level": 1}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let tenants = platform::rules::load(&env.db, &[crm.to_string()]).await.unwrap();
        Ledger { env, crm: crm.to_string(), key, tenants }
    }

    pub(crate) async fn earn(&self, no: &str, member: &str, scene: &str, points: i64, at: DateTime<Utc>) -> Outcome {
        let payload = EarnPayload {
            member_no: member.into(),
            action_scene: scene.into(),
            amount: Some(Cents(points * 100)),
            order_items: None,
            store_code: None,
            cost_center: None,
            campagin_code: None,
            operator: None,
            event_desc: None,
            pay_method: None,
        };
        let e = Envelope::new(MessageKind::PointsEarn, self.crm.clone(), no.into(), at, payload);
        earn::apply_batch(&self.env.db, &self.tenants, &[e]).await.unwrap().remove(0)
    }

    pub(crate) async fn spend(
        &self,
        no: &str,
        member: &str,
        points: Option<i64>,
        amount: Option<i64>,
        at: DateTime<Utc>,
    ) -> Outcome {
        let payload = ConsumePayload {
            member_no: member.into(),
            action_scene: "user_discount".into(),
            points,
            amount: amount.map(|y| Cents(y * 100)),
            member_level: None,
            order_items: None,
            store_code: None,
            cost_center: None,
            campagin_code: None,
            operator: None,
            event_desc: None,
            with_coupon: None,
        };
        let e = Envelope::new(MessageKind::PointsConsume, self.crm.clone(), no.into(), at, payload);
        consume::apply(&self.env.db, &self.tenants[&self.crm], &e).await.unwrap()
    }

    pub(crate) async fn reverse(&self, no: &str, origin: &str, points: Option<i64>, at: DateTime<Utc>) -> Outcome {
        let payload = ReversePayload { origin_event_no: origin.into(), points, operator: None, event_desc: None };
        let e = Envelope::new(MessageKind::PointsReverse, self.crm.clone(), no.into(), at, payload);
        reverse::apply(&self.env.db, &self.tenants[&self.crm], &e).await.unwrap()
    }

    pub(crate) async fn give(&self, no: &str, member: &str, points: i64, at: DateTime<Utc>) -> Outcome {
        let payload = TransferPayload { member_no: member.into(), points, operator: None, event_desc: None };
        let e = Envelope::new(MessageKind::PointsTransfer, self.crm.clone(), no.into(), at, payload);
        transfer::give(&self.env.db, &self.tenants[&self.crm], &e).await.unwrap()
    }

    pub(crate) async fn accept(&self, no: &str, member: &str, at: DateTime<Utc>) -> Outcome {
        let payload = AcceptPayload { transfer_no: no.into(), member_no: member.into() };
        let e = Envelope::new(MessageKind::PointsAccept, self.crm.clone(), payload.key(), at, payload);
        transfer::accept(&self.env.db, &self.tenants[&self.crm], &e).await.unwrap()
    }

    pub(crate) async fn freeze(&self, no: &str, member: &str, points: i64, at: DateTime<Utc>) -> Outcome {
        let payload = FreezePayload { member_no: member.into(), points, operator: None, event_desc: None };
        let e = Envelope::new(MessageKind::PointsFreeze, self.crm.clone(), no.into(), at, payload);
        freeze::freeze(&self.env.db, &e).await.unwrap()
    }

    pub(crate) async fn unfreeze(&self, no: &str, origin: &str, at: DateTime<Utc>) -> Outcome {
        let payload = UnfreezePayload { origin_event_no: origin.into(), operator: None };
        let e = Envelope::new(MessageKind::PointsUnfreeze, self.crm.clone(), no.into(), at, payload);
        freeze::unfreeze(&self.env.db, &e).await.unwrap()
    }

    pub(crate) async fn escrow(&self, member: &str) -> i64 {
        sqlx::query_scalar("select escrow from member_balance where crm_id = $1 and member_no = $2")
            .bind(&self.crm)
            .bind(member)
            .fetch_one(&self.env.db)
            .await
            .unwrap()
    }

    pub(crate) async fn sweep(&self, at: DateTime<Utc>) -> Swept {
        sweep::run_once(&self.env.db, at, 1000).await.unwrap()
    }

    pub(crate) async fn held(&self, member: &str) -> (i64, i64) {
        sqlx::query_as("select points, debt from member_balance where crm_id = $1 and member_no = $2")
            .bind(&self.crm)
            .bind(member)
            .fetch_one(&self.env.db)
            .await
            .unwrap()
    }

    pub(crate) async fn lots(&self, member: &str) -> Vec<i64> {
        sqlx::query_scalar("select remaining from points_lot where crm_id = $1 and member_no = $2 order by lot_id")
            .bind(&self.crm)
            .bind(member)
            .fetch_all(&self.env.db)
            .await
            .unwrap()
    }

    pub(crate) async fn verify_clean(&self, case: &str) {
        let v = workers::verify::violations(&self.env.db, None).await.unwrap();
        assert!(v.is_empty(), "{case}: verify found {v:?}");
    }
}

fn applied(points: i64) -> Outcome {
    Outcome::Applied { count: points }
}

fn rejected(o: &Outcome, text: &str, case: &str) {
    match o {
        Outcome::Rejected { reason, .. } => {
            assert!(reason.contains(text), "{case}: {reason:?} should contain {text:?}")
        }
        other => panic!("{case}: expected a rejection containing {text:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn spending_takes_available_points_soonest_expiring_first() {
    let l = Ledger::new("10080").await;
    let t = t0();
    // Exactly the balance.
    assert_eq!(l.earn("a1", "a", "order_pay", 100, t).await, applied(100));
    assert_eq!(l.spend("a2", "a", Some(100), None, t + days(1)).await, applied(100));
    assert_eq!(l.held("a").await, (0, 0), "spend exactly the balance");
    // More than available: rejected with the numbers.
    l.earn("b1", "b", "order_pay", 100, t).await;
    rejected(
        &l.spend("b2", "b", Some(101), None, t).await,
        "insufficient points: 101 requested, 100 available",
        "overspend",
    );
    // Frozen points are never spent, and the reason says they are there.
    l.earn("c1", "c", "frozen_pay", 100, t).await;
    l.earn("c2", "c", "order_pay", 50, t).await;
    rejected(
        &l.spend("c3", "c", Some(60), None, t + days(1)).await,
        "60 requested, 50 available (100 more frozen)",
        "frozen present",
    );
    assert_eq!(l.spend("c4", "c", Some(50), None, t + days(1)).await, applied(50));
    assert_eq!(l.spend("c5", "c", Some(60), None, t + days(3)).await, applied(60), "unfrozen after freeze_term");
    // Soonest-expiring first.
    l.earn("d1", "d", "order_pay", 30, t + days(1)).await; // expires t+31d
    l.earn("d2", "d", "order_pay", 30, t).await; // expires t+30d
    assert_eq!(l.spend("d3", "d", Some(40), None, t + days(2)).await, applied(40));
    assert_eq!(l.lots("d").await, vec![20, 0], "the lot expiring first is emptied first");
    // By amount: 50 points = 2 yuan; 12 yuan takes 300 of 1,000 points.
    l.earn("e1", "e", "order_pay", 1000, t).await;
    assert_eq!(l.spend("e2", "e", None, Some(12), t).await, applied(300));
    rejected(&l.spend("e3", "e", None, Some(1), t).await, "no points usable", "an amount below one step");
    // The same spend twice is applied once.
    assert_eq!(l.spend("e2", "e", None, Some(12), t).await, Outcome::Duplicate);
    assert_eq!(l.held("e").await, (700, 0));
    l.verify_clean("spending").await;
    l.env.cleanup().await;
}

#[tokio::test]
async fn reversals_undo_exactly_their_event() {
    let l = Ledger::new("10080").await;
    let t = t0();
    // A spend reversed partly twice: points go back to their lots, longest-lived first.
    l.earn("a1", "a", "order_pay", 30, t).await; // expires t+30d
    l.earn("a2", "a", "order_pay", 30, t + days(1)).await; // expires t+31d
    l.spend("a3", "a", Some(40), None, t + days(2)).await;
    assert_eq!(l.lots("a").await, vec![0, 20]);
    assert_eq!(l.reverse("a4", "a3", Some(10), t + days(2)).await, applied(10));
    assert_eq!(l.lots("a").await, vec![0, 30], "the longest-lived lot is refilled first");
    assert_eq!(l.reverse("a5", "a3", Some(30), t + days(2)).await, applied(30));
    assert_eq!(l.lots("a").await, vec![30, 30]);
    rejected(&l.reverse("a6", "a3", None, t + days(2)).await, "already fully reversed", "a third reversal");
    assert_eq!(l.reverse("a5", "a3", Some(30), t + days(2)).await, Outcome::Duplicate, "the same reversal again");
    let status: i16 = sqlx::query_scalar("select reverse_status from points_ledger where event_no = 'a3'")
        .fetch_one(&l.env.db)
        .await
        .unwrap();
    assert_eq!(status, 2, "the origin shows it is fully reversed");

    // Reversing more than remains is refused with the numbers.
    l.earn("b1", "b", "order_pay", 50, t).await;
    rejected(&l.reverse("b2", "b1", Some(60), t).await, "cannot reverse 60 points: 50 of the 50", "over-reversal");
    rejected(&l.reverse("b3", "nope", None, t).await, "origin event nope has no earn or spend", "unknown origin");

    // A spend whose lot expired before the reversal: the points come back and expire at once.
    l.earn("c1", "c", "order_pay", 30, t).await;
    l.spend("c2", "c", Some(30), None, t + days(1)).await;
    assert_eq!(l.reverse("c3", "c2", None, t + days(31)).await, applied(30));
    assert_eq!(l.held("c").await, (0, 0));
    let expired: i64 = sqlx::query_scalar("select total_expired from member_balance where member_no = 'c'")
        .fetch_one(&l.env.db)
        .await
        .unwrap();
    assert_eq!(expired, 30);

    // An earn reversed after most of it was spent: the rest becomes a debt, settled by later earnings.
    l.earn("d1", "d", "order_pay", 100, t).await;
    l.spend("d2", "d", Some(70), None, t).await;
    assert_eq!(l.reverse("d3", "d1", None, t).await, applied(100));
    assert_eq!(l.held("d").await, (0, 70), "30 taken back, 70 owed");
    l.earn("d4", "d", "order_pay", 50, t).await;
    assert_eq!(l.held("d").await, (0, 20), "a later earning settles the debt first");
    l.earn("d5", "d", "order_pay", 50, t).await;
    assert_eq!(l.held("d").await, (30, 0));

    // A reversed award does not count against the rule's limits.
    assert_eq!(l.earn("e1", "e", "user_login", 1, t).await, applied(1));
    rejected(&l.earn("e2", "e", "user_login", 1, t).await, "max_times 1", "second login");
    l.reverse("e3", "e1", None, t).await;
    assert_eq!(l.earn("e4", "e", "user_login", 1, t).await, applied(1), "the reversed award is not counted");
    l.verify_clean("reversals").await;
    l.env.cleanup().await;
}

#[tokio::test]
async fn expiry_and_unfreezing_run_once_at_their_time() {
    let l = Ledger::new("10080").await;
    let t = t0();
    l.earn("a1", "a", "order_pay", 30, t).await;
    l.earn("a2", "a", "frozen_pay", 20, t).await;
    l.spend("a3", "a", Some(10), None, t).await;
    assert_eq!(l.sweep(t + days(3) - Duration::seconds(1)).await, Swept::default(), "nothing is due yet");
    assert_eq!(l.sweep(t + days(3)).await, Swept { unfrozen_lots: 1, ..Swept::default() });
    assert_eq!(l.sweep(t + days(3)).await, Swept::default(), "a second run finds nothing");
    assert_eq!(l.sweep(t + days(30) - Duration::seconds(1)).await, Swept::default());
    assert_eq!(l.sweep(t + days(30)).await, Swept { expired_lots: 2, expired_points: 40, ..Swept::default() });
    assert_eq!(l.sweep(t + days(31)).await, Swept::default());
    assert_eq!(l.held("a").await, (0, 0));
    let types: Vec<(String, i64)> =
        sqlx::query_as("select event_type, points from points_ledger where member_no = 'a' order by auto_id")
            .fetch_all(&l.env.db)
            .await
            .unwrap();
    let types: Vec<(&str, i64)> = types.iter().map(|(t, p)| (t.as_str(), *p)).collect();
    assert_eq!(
        types,
        vec![("produce", 30), ("produce", 20), ("consume", -10), ("unfreeze", 20), ("expire", -20), ("expire", -20)]
    );
    l.verify_clean("sweep").await;
    l.env.cleanup().await;
}

#[tokio::test]
async fn spend_expiry_and_reversal_at_once_lose_no_update() {
    let l = Ledger::new("10080").await;
    let t = t0();
    for round in 0..15 {
        let m = format!("m{round}");
        let at = t + days(round);
        l.earn(&format!("{m}-e1"), &m, "order_pay", 40, at - days(30)).await; // due to expire at `at`
        l.earn(&format!("{m}-e2"), &m, "order_pay", 60, at - days(1)).await;
        l.spend(&format!("{m}-s1"), &m, Some(20), None, at - days(1)).await;
        let (s2, r1, s1) = (format!("{m}-s2"), format!("{m}-r1"), format!("{m}-s1"));
        let (spent, swept, reversed) =
            tokio::join!(l.spend(&s2, &m, Some(50), None, at), l.sweep(at), l.reverse(&r1, &s1, None, at));
        for (what, o) in [("spend", &spent), ("reversal", &reversed)] {
            assert!(matches!(o, Outcome::Applied { .. } | Outcome::Rejected { .. }), "round {round} {what}: {o:?}");
        }
        let _ = swept;
        let negative: i64 = sqlx::query_scalar("select count(*) from points_lot where remaining < 0")
            .fetch_one(&l.env.db)
            .await
            .unwrap();
        assert_eq!(negative, 0);
        l.verify_clean(&format!("round {round}")).await;
    }
    l.env.cleanup().await;
}

#[tokio::test]
async fn spending_previewing_and_reversing_through_the_api() {
    let l = Ledger::new("10080").await;
    let (env, key) = (&l.env, l.key.as_str());
    let worker = env.worker(1, false, std::sync::Arc::default());
    let p = "/api/crm/mgr/points/10080";
    let (_, body) = env
        .event(
            "10080",
            key,
            json!({"event_no": "e1", "member_no": "m", "action_scene": "order_pay", "amount": 1000}),
            5000,
        )
        .await;
    assert_eq!(body["data"]["status"], json!("applied"), "{body}");

    let (status, body) = env
        .post(
            &format!("{p}/consume/preview"),
            key,
            json!({"member_no": "m", "action_scene": "user_discount", "amount": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["data"]["points"].as_i64(), body["data"]["money"].as_f64()), (Some(250), Some(10.0)), "{body}");
    assert_eq!(body["data"]["available"], json!(1000));

    let (status, body) = env
        .post(
            &format!("{p}/consume?wait_ms=5000"),
            key,
            json!({"event_no": "s1", "member_no": "m", "action_scene": "user_discount", "amount": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["data"]["status"].as_str(), body["data"]["points"].as_i64()),
        (Some("applied"), Some(250)),
        "{body}"
    );
    let (status, body) = env
        .post(
            &format!("{p}/consume?wait_ms=5000"),
            key,
            json!({"event_no": "s2", "member_no": "m", "action_scene": "user_discount", "points": 5000}),
        )
        .await;
    // A refusal is an error: 409 and the refusal's code (insufficient points).
    assert_eq!((status, body["code"].clone()), (StatusCode::CONFLICT, json!(40907)), "{body}");
    assert_eq!(body["data"]["status"], json!("rejected"), "{body}");
    assert!(body["data"]["reason"].as_str().unwrap().contains("5000 requested, 750 available"), "{body}");

    let (_, body) = env
        .post(
            &format!("{p}/reverse?wait_ms=5000"),
            key,
            json!({"event_no": "r1", "origin_event_no": "s1", "points": 50}),
        )
        .await;
    assert_eq!(
        (body["data"]["status"].as_str(), body["data"]["points"].as_i64()),
        (Some("applied"), Some(50)),
        "{body}"
    );
    let (_, body) = env.get(&format!("{p}/summary?member_no=m"), key).await;
    assert_eq!(body["data"]["points"], json!(800), "{body}");
    assert_eq!(body["data"]["total_consumed"], json!(250), "{body}");
    assert_eq!(body["data"]["total_reversed"], json!(50), "{body}");
    let (_, body) = env.post(&format!("{p}/history"), key, json!({"event_type": "reverse", "member_no": "m"})).await;
    assert_eq!(body["data"]["total"], json!(1), "{body}");
    assert_eq!(body["data"]["items"][0]["origin_event_no"], json!("s1"));

    for (case, path, body, field) in [
        (
            "neither points nor amount",
            "consume",
            json!({"event_no": "x", "member_no": "m", "action_scene": "user_discount"}),
            "points",
        ),
        (
            "consume without event_no",
            "consume",
            json!({"member_no": "m", "action_scene": "user_discount", "points": 1}),
            "event_no",
        ),
        (
            "zero points",
            "consume",
            json!({"event_no": "x", "member_no": "m", "action_scene": "user_discount", "points": 0}),
            "points",
        ),
        ("reverse itself", "reverse", json!({"event_no": "x", "origin_event_no": "x"}), "origin_event_no"),
        ("reverse without origin", "reverse", json!({"event_no": "x"}), "origin_event_no"),
        (
            "tier without base_points",
            "rules/consume_scene",
            json!({"rule_name": "r", "action_scene": "user_discount", "rules_li": [{"convert_money": 2}]}),
            "base_points",
        ),
        (
            "no tiers",
            "rules/consume_scene",
            json!({"rule_name": "r", "action_scene": "user_discount", "rules_li": []}),
            "rules_li",
        ),
        (
            "convert_money zero",
            "rules/consume_scene",
            json!({"rule_name": "r", "action_scene": "user_discount", "rules_li": [{"base_points": 50, "convert_money": 0}]}),
            "rules_li[0].convert_money",
        ),
    ] {
        let (status, resp) = env.post(&format!("{p}/{path}"), key, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case}: {resp}");
        assert_eq!(resp["data"]["field"], json!(field), "{case}: {resp}");
    }
    let (_, body) = env.post(&format!("{p}/rules/query"), key, json!({"rule_type": "consume"})).await;
    assert_eq!(body["data"]["items"][0]["rules_li"][0]["convert_money"], json!(2.0), "{body}");
    let (_, body) = env
        .post(
            &format!("{p}/rules/consume_scene/update"),
            key,
            json!({"rule_id": 1, "rule_name": "积分抵扣现金", "base_points": 50, "convert_money": 2}),
        )
        .await;
    assert_eq!(body["code"], json!(0), "the seed's update example: {body}");
    worker.stop(std::time::Duration::from_secs(5)).await;
    l.env.cleanup().await;
}

#[tokio::test]
async fn transfers_wait_in_escrow_until_accepted_or_returned() {
    let l = Ledger::new("10080").await;
    let t = t0();
    l.earn("g1", "giver", "order_pay", 30, t).await; // expires t+30d
    l.earn("g2", "giver", "order_pay", 100, t + days(5)).await; // expires t+35d
    rejected(&l.give("x0", "giver", 500, t).await, "insufficient points: 500 to transfer", "more than available");

    // Given, then accepted by a friend: the friend's lot keeps the soonest expiry of the points.
    assert_eq!(l.give("x1", "giver", 50, t + days(6)).await, applied(50));
    assert_eq!((l.held("giver").await.0, l.escrow("giver").await), (80, 50));
    rejected(&l.accept("x1", "giver", t + days(6)).await, "cannot accept their own transfer", "transfer to self");
    assert_eq!(l.accept("x1", "friend", t + days(6)).await, applied(50));
    assert_eq!((l.held("friend").await.0, l.escrow("giver").await), (50, 0));
    let expire: DateTime<Utc> = sqlx::query_scalar("select expire_time from points_lot where member_no = 'friend'")
        .fetch_one(&l.env.db)
        .await
        .unwrap();
    assert_eq!(expire, t + days(30), "the soonest expiry of the points given");
    assert_eq!(l.accept("x1", "friend", t + days(6)).await, Outcome::Duplicate, "the same acceptance again");
    rejected(&l.accept("x1", "someone", t + days(6)).await, "already accepted", "accepted at most once");
    let from: Option<String> =
        sqlx::query_scalar("select from_transfer_no from points_ledger where event_type = 'accept'")
            .fetch_one(&l.env.db)
            .await
            .unwrap();
    assert_eq!(from.as_deref(), Some("x1"));

    // Not accepted within 24 h: refused, and the sweeper gives the points back into their lots.
    assert_eq!(l.give("x2", "giver", 40, t + days(7)).await, applied(40));
    rejected(&l.accept("x2", "friend", t + days(8)).await, "timed out", "accept after the time-out");
    assert_eq!(l.sweep(t + days(7) + Duration::hours(23)).await.returned_transfers, 0, "not yet due");
    assert_eq!(l.sweep(t + days(8)).await.returned_transfers, 1);
    assert_eq!(l.sweep(t + days(8)).await.returned_transfers, 0, "returned once");
    assert_eq!((l.held("giver").await.0, l.escrow("giver").await), (80, 0));
    rejected(&l.accept("x2", "another", t + days(8)).await, "already returned", "accept after the return");
    l.verify_clean("transfers").await;
    l.env.cleanup().await;
}

#[tokio::test]
async fn operators_freeze_and_unfreeze_by_event() {
    let l = Ledger::new("10080").await;
    let t = t0();
    l.earn("a1", "a", "order_pay", 100, t).await;
    rejected(&l.freeze("f0", "a", 101, t).await, "cannot freeze 101 points: 100 available", "more than available");
    assert_eq!(l.freeze("f1", "a", 60, t).await, applied(60));
    rejected(
        &l.spend("s1", "a", Some(50), None, t).await,
        "50 requested, 40 available (60 more frozen)",
        "frozen by the operator",
    );
    assert_eq!(l.sweep(t + days(10)).await, Swept::default(), "an operator's freeze does not thaw by itself");
    assert_eq!(l.unfreeze("u1", "f1", t + days(10)).await, applied(60));
    rejected(&l.unfreeze("u2", "f1", t + days(10)).await, "no frozen points to release", "released twice");
    assert_eq!(l.spend("s2", "a", Some(100), None, t + days(10)).await, applied(100));
    // An earn inside its freeze_term, released early.
    l.earn("b1", "b", "frozen_pay", 40, t).await;
    assert_eq!(l.unfreeze("u3", "b1", t + days(1)).await, applied(40));
    assert_eq!(l.spend("s3", "b", Some(40), None, t + days(1)).await, applied(40));
    assert_eq!(l.sweep(t + days(3)).await, Swept::default(), "already released: the sweeper has nothing to do");
    l.verify_clean("freeze").await;
    l.env.cleanup().await;
}
