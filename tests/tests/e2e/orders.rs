//! Seed 002's ledger writes under `/loyalty/v1`: points up and down by pattern code (§5) and
//! orders (§11) through their whole life, each step's points against a hand computation, the
//! same requests twice, refusals that name the field and change nothing, and concurrent refunds.

use std::sync::Arc;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use loyalty_tests::{deal_body, send, wait_for, TestEnv};
use serde_json::{json, Value};

fn message(body: &Value) -> String {
    body["error"]["message"].as_str().unwrap_or_default().to_string()
}

async fn verify_clean(env: &TestEnv, case: &str) {
    let v = workers::verify::violations(&env.db, None).await.unwrap();
    assert!(v.is_empty(), "{case}: verify found {v:?}");
}

#[tokio::test]
async fn points_go_up_and_down_by_each_pattern_code() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let worker = env.default_worker();
    let id = env
        .member(&key, json!({"name": "p", "membershipCode": "m-p"}), json!([{"type": "wechat", "value": "wp"}]))
        .await;
    let mut balance = 0;
    // incr: every pattern 0-5; the answer's point is the new balance.
    for pattern in 0..=5 {
        let points = 10 + pattern;
        let (status, body) = env
            .loyalty(
                Method::POST,
                &format!("/membership/{id}/point/incr"),
                &key,
                Some(json!({"point": points, "pattern": pattern})),
            )
            .await;
        balance += points;
        assert_eq!(status, StatusCode::OK, "incr pattern {pattern}: {body}");
        assert_eq!(body["point"], balance, "incr pattern {pattern}: {body}");
    }
    // decr: every pattern 0-6 (6 is an expiry).
    for pattern in 0..=6 {
        let (status, body) = env
            .loyalty(
                Method::POST,
                &format!("/membership/{id}/point/decr"),
                &key,
                Some(json!({"point": 2, "pattern": pattern})),
            )
            .await;
        balance -= 2;
        assert_eq!(status, StatusCode::OK, "decr pattern {pattern}: {body}");
        assert_eq!(body["point"], balance, "decr pattern {pattern}: {body}");
    }
    assert_eq!(env.member_points(&key, id).await, balance);
    // The ledger: an earn of scene dmhub_pattern_N per incr, a consume per decr but pattern 6,
    // which is an expiry.
    for (sql, want) in [
        ("select count(*) from points_ledger where event_type = 'produce' and action_scene like 'dmhub_pattern_%'", 6),
        ("select count(*) from points_ledger where event_type = 'consume' and action_scene like 'dmhub_pattern_%'", 6),
        ("select count(*) from points_ledger where event_type = 'expire' and action_scene = 'dmhub_pattern_6'", 1),
        ("select count(distinct action_scene) from points_ledger where event_type = 'produce'", 6),
    ] {
        assert_eq!(env.scalar(sql).await, want, "{sql}");
    }
    // The history (seed 000) shows them with their scene; the point log (seed 002) too.
    let (_, history) = env
        .post(
            "/api/crm/mgr/points/10080/history",
            &key,
            json!({"event_type": "produce", "member_no": "m-p", "action_scene": "dmhub_pattern_4"}),
        )
        .await;
    assert_eq!(history["data"]["total"], 1, "{history}");
    // Not enough points: 409 with the numbers, nothing changed.
    let (status, body) = env
        .loyalty(
            Method::POST,
            &format!("/membership/{id}/point/decr"),
            &key,
            Some(json!({"point": 1000, "pattern": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(message(&body).contains(&format!("1000 requested, {balance} available")), "{body}");
    assert_eq!(env.member_points(&key, id).await, balance);
    // An externalId applies once, answered twice alike.
    for _ in 0..2 {
        let (status, body) = env
            .loyalty(
                Method::POST,
                &format!("/membership/{id}/point/incr"),
                &key,
                Some(json!({"point": 5, "pattern": 4, "externalId": "ext-1"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["point"], balance + 5, "{body}");
    }
    balance += 5;
    // So does an Idempotency-Key header.
    for _ in 0..2 {
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("/loyalty/v1/membership/{id}/point/decr?access_token={key}"))
            .header("content-type", "application/json")
            .header("idempotency-key", "hdr-1")
            .body(Body::from(json!({"point": 3, "pattern": 5}).to_string()))
            .unwrap();
        let (status, body) = send(env.router(), req).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["point"], balance - 3, "{body}");
    }
    balance -= 3;
    // Without a key, a repeated request applies again (documented).
    for _ in 0..2 {
        let (status, _) = env
            .loyalty(
                Method::POST,
                &format!("/membership/{id}/point/incr"),
                &key,
                Some(json!({"point": 1, "pattern": 0})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    balance += 2;
    assert_eq!(env.member_points(&key, id).await, balance);
    // Bad input names the field.
    for (path, body, code, field) in [
        ("incr", json!({"point": 1, "pattern": 6}), "400001", "pattern"),
        ("decr", json!({"point": 1, "pattern": 7}), "400001", "pattern"),
        ("incr", json!({"pattern": 1}), "400005", "point"),
        ("incr", json!({"point": 0, "pattern": 1}), "400001", "point"),
        ("incr", json!({"point": 1.5, "pattern": 1}), "400001", "point"),
        ("decr", json!({"point": 1}), "400005", "pattern"),
        ("incr", json!({"point": 1, "pattern": 1, "externalId": "a b"}), "400001", "externalId"),
    ] {
        let (status, answer) =
            env.loyalty(Method::POST, &format!("/membership/{id}/point/{path}"), &key, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
        assert!(message(&answer).contains(field), "{body}: {answer}");
    }
    let (status, _) =
        env.loyalty(Method::POST, "/membership/999999/point/incr", &key, Some(json!({"point": 1, "pattern": 1}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(env.member_points(&key, id).await, balance);
    verify_clean(&env, "patterns").await;
    worker.stop(std::time::Duration::from_secs(5)).await;
    env.cleanup().await;
}

/// The member's points, the order's held points and its state after one step.
async fn after(env: &TestEnv, key: &str, id: i64, order_no: &str) -> (i64, i64, String) {
    let (status, o) = env.loyalty(Method::GET, &format!("/deal/{order_no}"), key, None).await;
    assert_eq!(status, StatusCode::OK, "{o}");
    (env.member_points(key, id).await, o["point"].as_i64().unwrap(), o["state"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn an_orders_whole_life_matches_a_hand_computation() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    env.point_per_yuan("10080", &key).await;
    let worker = env.default_worker();
    // A new customer named by an identity: the order creates the member.
    let who = json!([{"type": "wechat", "value": "new-customer", "name": "cm"}]);
    let body = deal_body("o-1", who.clone(), "100.00", &[("L1", "33.33"), ("L2", "33.33"), ("L3", "33.34")]);
    let (status, o) = env.loyalty(Method::POST, "/deal", &key, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{o}");
    assert_eq!(o["state"], "已付款", "{o}");
    let id = o["membershipId"].as_i64().expect("the member the order created");
    let (_, found) = env
        .loyalty(Method::GET, "/membershipService/getMembershipByIdentity?type=wechat&value=new-customer", &key, None)
        .await;
    assert_eq!(found["membership"]["id"], id, "{found}");
    // Hand computation: 100 yuan × 1 point = 100 points, shared 33/33/34 by amount (33.33 ×
    // 100 / 100 = 33.33 each for L1 and L2, 33.34 for L3; the one point left over goes to the
    // largest remainder, L3).
    let shares: Vec<i64> = o["dealLines"].as_array().unwrap().iter().map(|l| l["point"].as_i64().unwrap()).collect();
    assert_eq!(shares, vec![33, 33, 34], "{o}");
    assert_eq!(after(&env, &key, id, "o-1").await, (100, 100, "已付款".into()));
    // Every header field is stored.
    let (_, stored) = env.loyalty(Method::GET, "/deal/o-1", &key, None).await;
    for (field, want) in [
        ("salesChannel", json!("mini-program")),
        ("store", json!("store_01")),
        ("amountPaid", json!(100.0)),
        ("paymentNo", json!("pay-o-1")),
        ("shippingAddress", json!("1号")),
    ] {
        assert_eq!(stored[field], want, "{field}: {stored}");
    }
    assert_eq!(stored["dealLines"][2]["priceSubTotal"], json!(33.34), "{stored}");

    let refund = |lines: &[&str], total: &str, date: &str| {
        json!({"membershipId": id, "orderNo": "o-1", "dateRefund": date, "refundTotal": total, "reason": "size",
               "refundLines": lines.iter().map(|l| json!({"lineId": l})).collect::<Vec<_>>()})
    };
    // Partial refund of L1: its 33 points.
    let (status, r) = env
        .loyalty(Method::POST, "/dealService/refund", &key, Some(refund(&["L1"], "33.33", "2026-11-20T10:00:00")))
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["point"], -33, "{r}");
    assert_eq!(after(&env, &key, id, "o-1").await, (67, 67, "已付款".into()));
    // deleteRefund gives the 33 back.
    let (status, r) = env
        .loyalty(Method::POST, "/dealService/deleteRefund", &key, Some(json!({"membershipId": id, "orderNo": "o-1"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!((r["point"].clone(), r["refundLines"][0]["lineId"].clone()), (json!(33), json!("L1")), "{r}");
    assert_eq!(after(&env, &key, id, "o-1").await, (100, 100, "已付款".into()));
    // Refund of L3: 34.
    let (status, r) = env
        .loyalty(Method::POST, "/dealService/refund", &key, Some(refund(&["L3"], "33.34", "2026-11-21T10:00:00")))
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(after(&env, &key, id, "o-1").await, (66, 66, "已付款".into()));
    // Cancel: the rest (33 + 33).
    let (status, c) = env
        .loyalty(Method::POST, "/dealService/cancel", &key, Some(json!({"membershipId": id, "orderNo": "o-1"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["state"], "已取消", "{c}");
    assert_eq!(after(&env, &key, id, "o-1").await, (0, 0, "已取消".into()));
    // Every step is on the order with its points.
    let (_, o) = env.loyalty(Method::GET, "/deal/o-1", &key, None).await;
    let steps: Vec<(String, i64)> = o["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap().to_string(), s["point"].as_i64().unwrap()))
        .collect();
    let want: Vec<(String, i64)> =
        [("pay", 100), ("refund", -33), ("delete_refund", 33), ("refund", -34), ("cancel", -66)]
            .iter()
            .map(|(s, p)| (s.to_string(), *p))
            .collect();
    assert_eq!(steps, want, "{o}");
    // A cancelled order takes no refund, and the ledger is whole.
    let (status, r) =
        env.loyalty(Method::POST, "/dealService/refund", &key, Some(refund(&["L2"], "1", "2026-11-22T10:00:00"))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{r}");
    verify_clean(&env, "whole life").await;
    worker.stop(std::time::Duration::from_secs(5)).await;
    env.cleanup().await;
}

#[tokio::test]
async fn an_update_moves_the_points_by_the_difference_and_a_delete_takes_back_the_rest_as_debt() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    env.point_per_yuan("10080", &key).await;
    let worker = env.default_worker();
    let id = env.member(&key, json!({"name": "u"}), json!([{"type": "wechat", "value": "uw"}])).await;
    let (status, o) = env
        .loyalty(Method::POST, "/deal", &key, Some(deal_body("o-4", json!(id), "100", &[("A", "60"), ("B", "40")])))
        .await;
    assert_eq!(status, StatusCode::OK, "{o}");
    assert_eq!(after(&env, &key, id, "o-4").await, (100, 100, "已付款".into()));
    // Up to 150: +50, shared 90/60 again.
    let raised = deal_body("o-4", json!(id), "150", &[("A", "90"), ("B", "60")]);
    let (status, o) = env.loyalty(Method::POST, "/dealService/update", &key, Some(raised.clone())).await;
    assert_eq!(status, StatusCode::OK, "{o}");
    let shares: Vec<i64> = o["dealLines"].as_array().unwrap().iter().map(|l| l["point"].as_i64().unwrap()).collect();
    assert_eq!(shares, vec![90, 60], "{o}");
    assert_eq!(after(&env, &key, id, "o-4").await, (150, 150, "已付款".into()));
    // The same update again changes nothing.
    let (status, _) = env.loyalty(Method::POST, "/dealService/update", &key, Some(raised)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after(&env, &key, id, "o-4").await, (150, 150, "已付款".into()));
    // Down to 80: -70.
    let lowered = deal_body("o-4", json!(id), "80", &[("A", "50"), ("B", "30")]);
    let (status, _) = env.loyalty(Method::POST, "/dealService/update", &key, Some(lowered)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after(&env, &key, id, "o-4").await, (80, 80, "已付款".into()));
    // The member spends 70 of them; deleting the order takes back 80: 10 from its lots, 70 as debt.
    let (status, d) = env
        .loyalty(Method::POST, &format!("/membership/{id}/point/decr"), &key, Some(json!({"point": 70, "pattern": 1})))
        .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    let (status, o) = env
        .loyalty(Method::POST, "/dealService/delete", &key, Some(json!({"membershipId": id, "orderNo": "o-4"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{o}");
    assert_eq!(after(&env, &key, id, "o-4").await, (0, 0, "已删除".into()));
    let (_, summary) = env.get("/api/crm/mgr/points/10080/summary?member_no=1", &key).await;
    assert_eq!(summary["data"]["debt"], 70, "{summary}");
    // The next earning settles the debt first.
    let (status, b) = env
        .loyalty(Method::POST, &format!("/membership/{id}/point/incr"), &key, Some(json!({"point": 100, "pattern": 5})))
        .await;
    assert_eq!((status, b["point"].clone()), (StatusCode::OK, json!(30)), "{b}");
    let (status, _) = env
        .loyalty(Method::POST, "/dealService/delete", &key, Some(json!({"membershipId": id, "orderNo": "o-4", "x": 1})))
        .await;
    assert_eq!(status, StatusCode::OK, "a repeated delete answers the first outcome");
    let (status, r) = env
        .loyalty(Method::POST, "/dealService/cancel", &key, Some(json!({"membershipId": id, "orderNo": "o-4"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "a deleted order is not cancelled: {r}");
    verify_clean(&env, "update and delete").await;
    worker.stop(std::time::Duration::from_secs(5)).await;
    env.cleanup().await;
}

#[tokio::test]
async fn an_orders_coupon_is_redeemed_once_and_a_cancel_reverses_it() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    env.point_per_yuan("10080", &key).await;
    let worker = env.default_worker();
    let monthdays: Vec<String> = (1..=31).map(|d| d.to_string()).collect();
    let overrides = [
        ("total_quantity", json!(5)),
        ("date_type", json!(3)),
        ("weekdays", json!("0,1,2,3,4,5,6")),
        ("monthdays", json!(monthdays.join(","))),
    ];
    let card_id = env.card_in_stock(&key, "10080", &overrides).await;
    let id = env
        .member(&key, json!({"name": "c", "membershipCode": "m-c"}), json!([{"type": "wechat", "value": "cw"}]))
        .await;
    let claim =
        json!({"received_id": "claim-1", "member_no": "m-c", "out_str": "dmhub", "card_info": {card_id.clone(): 1}});
    let (status, body) = env.post("/api/crm/card/10080/member/receive?wait_ms=5000", &key, claim).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let code: String =
        sqlx::query_scalar("select card_code from card_code where member_no = 'm-c'").fetch_one(&env.db).await.unwrap();
    let mut body = deal_body("o-c", json!(id), "150", &[("A", "150")]);
    body["couponCode"] = json!(code);
    for _ in 0..2 {
        let (status, o) = env.loyalty(Method::POST, "/deal", &key, Some(body.clone())).await;
        assert_eq!(status, StatusCode::OK, "{o}");
        assert_eq!(o["couponRedemption"]["status"], "redeemed", "{o}");
    }
    let status_of = |code: String| {
        let db = env.db.clone();
        async move {
            sqlx::query_scalar::<_, i16>("select status from card_code where card_code = $1")
                .bind(code)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    assert_eq!(status_of(code.clone()).await, 3, "redeemed");
    assert_eq!(
        env.scalar("select count(*) from inbox where key_kind = 'redeem_id' and idem_key = 'deal/o-c'").await,
        1
    );
    let channel: String = sqlx::query_scalar("select redeem_channel from card_redeem where redeem_id = 'deal/o-c'")
        .fetch_one(&env.db)
        .await
        .unwrap();
    assert_eq!(channel, "mini-program", "the order's salesChannel");
    let (status, o) = env
        .loyalty(Method::POST, "/dealService/cancel", &key, Some(json!({"membershipId": id, "orderNo": "o-c"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{o}");
    assert_eq!(o["couponRedemption"]["status"], "reversed", "{o}");
    assert_eq!(status_of(code).await, 1, "available again");
    // A code nobody has: the order stands, the coupon is not found.
    let mut body = deal_body("o-d", json!(id), "10", &[("A", "10")]);
    body["couponCode"] = json!("NO-SUCH-CODE");
    let (status, o) = env.loyalty(Method::POST, "/deal", &key, Some(body)).await;
    assert_eq!((status, o["couponRedemption"]["status"].clone()), (StatusCode::OK, json!("not_found")), "{o}");
    worker.stop(std::time::Duration::from_secs(5)).await;
    env.cleanup().await;
}

async fn level_name(env: &TestEnv, key: &str, id: i64) -> String {
    let (_, m) = env.loyalty(Method::GET, &format!("/membership/{id}"), key, None).await;
    m["level"]["name"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn orders_feed_the_level_rules_even_without_points_and_refunds_take_them_out() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let worker = env.default_worker();
    for level in [
        json!({"name": "普通", "priority": 0, "isForever": false, "operator": "or", "rules": {}}),
        json!({"name": "银卡", "priority": 1, "isForever": false, "operator": "or",
               "rules": {"consumption": {"enabled": true, "month": 12, "number": 100}, "frequency": {"enabled": true, "month": 12, "number": 3}}}),
    ] {
        let (status, body) = env.loyalty(Method::POST, "/settings/level", &key, Some(level)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let id = env.member(&key, json!({"name": "l"}), json!([{"type": "wechat", "value": "lw"}])).await;
    assert_eq!(level_name(&env, &key, id).await, "普通");
    // No earn rule: the order earns nothing, and still counts as 120 yuan of consumption.
    let (status, o) = env
        .loyalty(Method::POST, "/deal", &key, Some(deal_body("o-l", json!(id), "120", &[("A", "100"), ("B", "20")])))
        .await;
    assert_eq!(status, StatusCode::OK, "{o}");
    assert_eq!(o["point"], 0, "{o}");
    assert!(o["pointNote"].as_str().unwrap_or_default().contains("no earn rule"), "{o}");
    assert_eq!(level_name(&env, &key, id).await, "银卡");
    // A refund of line A leaves 20 yuan: below the rule.
    let refund = json!({"membershipId": id, "orderNo": "o-l", "dateRefund": "2026-11-20T10:00:00", "refundTotal": 100,
                        "refundLines": [{"lineId": "A"}]});
    let (status, r) = env.loyalty(Method::POST, "/dealService/refund", &key, Some(refund)).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(level_name(&env, &key, id).await, "普通");
    worker.stop(std::time::Duration::from_secs(5)).await;
    env.cleanup().await;
}

#[tokio::test]
async fn the_same_order_and_the_same_refund_twice_apply_once() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    env.point_per_yuan("10080", &key).await;
    let worker = env.default_worker();
    let id = env.member(&key, json!({"name": "t"}), json!([{"type": "wechat", "value": "tw"}])).await;
    let body = deal_body("o-2", json!(id), "50", &[("A", "20"), ("B", "30")]);
    let (s1, first) = env.loyalty(Method::POST, "/deal", &key, Some(body.clone())).await;
    let (s2, second) = env.loyalty(Method::POST, "/deal", &key, Some(body)).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK), "{first} {second}");
    assert_eq!(first["id"], second["id"]);
    assert_eq!(env.member_points(&key, id).await, 50);
    let refund = json!({"membershipId": id, "orderNo": "o-2", "dateRefund": "2026-11-20T10:00:00", "refundTotal": 20,
                        "refundLines": [{"lineId": "A"}]});
    let (s1, r1) = env.loyalty(Method::POST, "/dealService/refund", &key, Some(refund.clone())).await;
    let (s2, r2) = env.loyalty(Method::POST, "/dealService/refund", &key, Some(refund)).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK), "{r1} {r2}");
    assert_eq!((r1["point"].clone(), r2["point"].clone()), (json!(-20), json!(-20)));
    assert_eq!(env.member_points(&key, id).await, 30);
    for _ in 0..2 {
        let (status, r) = env
            .loyalty(
                Method::POST,
                "/dealService/deleteRefund",
                &key,
                Some(json!({"membershipId": id, "orderNo": "o-2"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{r}");
    }
    assert_eq!(env.member_points(&key, id).await, 50);
    for _ in 0..2 {
        let (status, r) = env
            .loyalty(Method::POST, "/dealService/cancel", &key, Some(json!({"membershipId": id, "orderNo": "o-2"})))
            .await;
        assert_eq!(status, StatusCode::OK, "{r}");
    }
    assert_eq!(env.member_points(&key, id).await, 0);
    assert_eq!(env.scalar("select count(*) from deal_step where order_no = 'o-2'").await, 4);
    // The repeats are counted on the first outcomes (the worker counts after the answer went out).
    wait_for("the four repeats counted", std::time::Duration::from_secs(10), || async {
        let n =
            env.scalar("select sum(duplicates)::bigint from inbox where key_kind in ('order_no', 'order_step')").await;
        (n == 4).then_some(())
    })
    .await;
    verify_clean(&env, "twice").await;
    worker.stop(std::time::Duration::from_secs(5)).await;
    env.cleanup().await;
}

#[tokio::test]
async fn bad_orders_and_refunds_are_refused_naming_the_field_and_change_nothing() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    env.point_per_yuan("10080", &key).await;
    let worker = env.default_worker();
    let id = env.member(&key, json!({"name": "b"}), json!([{"type": "wechat", "value": "bw"}])).await;
    let good = deal_body("o-3", json!(id), "40", &[("A", "10"), ("B", "30")]);
    let without = |field: &str| {
        let mut b = good.clone();
        b.as_object_mut().unwrap().remove(field);
        b
    };
    let with = |field: &str, v: Value| {
        let mut b = good.clone();
        b[field] = v;
        b
    };
    for (body, code, field) in [
        (without("orderNo"), "400005", "orderNo"),
        (without("amountPaid"), "400005", "amountPaid"),
        (without("dealLines"), "400005", "dealLines"),
        (without("salesChannel"), "400005", "salesChannel"),
        (without("membershipId"), "400005", "membershipId"),
        (with("amountPaid", json!("12.345")), "400001", "amountPaid"),
        (with("amountPaid", json!(-1)), "400001", "amountPaid"),
        (with("dateOrder", json!("yesterday")), "400001", "dateOrder"),
        (with("dealLines", json!([])), "400001", "dealLines"),
        (
            with(
                "dealLines",
                json!([{"lineId": "A", "productName": "x", "qty": 1}, {"lineId": "A", "productName": "y", "qty": 1}]),
            ),
            "400001",
            "dealLines[1].lineId",
        ),
        (with("dealLines", json!([{"lineId": "A", "productName": "x"}])), "400005", "dealLines[0].qty"),
        (with("dealLines", json!([{"lineId": "A", "productName": "x", "qty": 0}])), "400001", "dealLines[0].qty"),
        (with("membershipId", json!("x")), "400001", "membershipId"),
    ] {
        let (status, answer) = env.loyalty(Method::POST, "/deal", &key, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{field}: {answer}");
        assert!(message(&answer).contains(field), "{field}: {answer}");
    }
    let (status, _) = env.loyalty(Method::POST, "/deal", &key, Some(with("membershipId", json!(424242)))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(env.scalar("select count(*) from deal").await, 0, "nothing stored");
    let (status, o) = env.loyalty(Method::POST, "/deal", &key, Some(good.clone())).await;
    assert_eq!(status, StatusCode::OK, "{o}");
    assert_eq!(env.member_points(&key, id).await, 40);
    let refund = |lines: Value, total: Value| json!({"membershipId": id, "orderNo": "o-3", "dateRefund": "2026-11-20T10:00:00", "refundTotal": total, "refundLines": lines});
    let (status, r) =
        env.loyalty(Method::POST, "/dealService/refund", &key, Some(refund(json!([{"lineId": "A"}]), json!(10)))).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    for (body, status_want, code, field) in [
        (refund(json!([{"lineId": "Z"}]), json!(1)), StatusCode::BAD_REQUEST, "400001", "refundLines[0].lineId"),
        (
            refund(json!([{"lineId": "B"}, {"lineId": "B"}]), json!(1)),
            StatusCode::BAD_REQUEST,
            "400001",
            "refundLines[1].lineId",
        ),
        (refund(json!([]), json!(1)), StatusCode::BAD_REQUEST, "400001", "refundLines"),
        (refund(json!([{"lineId": "B"}]), json!(31)), StatusCode::CONFLICT, "409000", "refundTotal"),
        (refund(json!([{"lineId": "A"}]), json!(1)), StatusCode::CONFLICT, "409000", "already refunded"),
        (
            json!({"orderNo": "o-3", "refundTotal": 1, "refundLines": [{"lineId": "B"}]}),
            StatusCode::BAD_REQUEST,
            "400005",
            "dateRefund",
        ),
        (
            json!({"orderNo": "nope", "dateRefund": "2026-11-20T10:00:00", "refundTotal": 1, "refundLines": [{"lineId": "B"}]}),
            StatusCode::NOT_FOUND,
            "404000",
            "orderNo",
        ),
        (
            json!({"membershipId": id + 1000, "orderNo": "o-3", "dateRefund": "2026-11-20T10:00:00", "refundTotal": 1, "refundLines": [{"lineId": "B"}]}),
            StatusCode::BAD_REQUEST,
            "400001",
            "membershipId",
        ),
    ] {
        let (status, answer) = env.loyalty(Method::POST, "/dealService/refund", &key, Some(body.clone())).await;
        assert_eq!(status, status_want, "{field}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{field}: {answer}");
        assert!(message(&answer).contains(field), "{field}: {answer}");
    }
    assert_eq!(env.member_points(&key, id).await, 30, "only the good refund took points");
    let (_, o) = env.loyalty(Method::GET, "/deal/o-3", &key, None).await;
    assert_eq!(o["steps"].as_array().unwrap().len(), 2, "{o}");
    // The order's ledger key is the order's: the native API can neither reverse it nor earn
    // under it (either would move points the order's steps do not record).
    for (path, body, field) in [
        ("reverse", json!({"event_no": "r-o-3", "origin_event_no": "deal/o-3"}), "origin_event_no"),
        (
            "events",
            json!({"event_no": "deal/o-3", "member_no": "b", "action_scene": "order_pay", "amount": 100}),
            "event_no",
        ),
    ] {
        let (status, answer) = env.post(&format!("/api/crm/mgr/points/10080/{path}"), &key, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {answer}");
        assert_eq!(answer["data"]["field"], json!(field), "{path}: {answer}");
    }
    let incr = json!({"point": 5, "pattern": 4, "externalId": "deal/o-3"});
    let (status, answer) = env.loyalty(Method::POST, &format!("/membership/{id}/point/incr"), &key, Some(incr)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(message(&answer).contains("externalId"), "{answer}");
    assert_eq!(env.member_points(&key, id).await, 30, "the native refusals took nothing");
    verify_clean(&env, "refusals").await;
    worker.stop(std::time::Duration::from_secs(5)).await;
    env.cleanup().await;
}

#[tokio::test]
async fn concurrent_refunds_never_take_back_more_than_the_order_earned() {
    let env = Arc::new(TestEnv::new().await);
    let key = env.tenant("10080").await;
    env.point_per_yuan("10080", &key).await;
    let w1 = env.worker(2, true, Arc::default());
    let w2 = env.worker(2, false, Arc::default());
    let id = env.member(&key, json!({"name": "r"}), json!([{"type": "wechat", "value": "rw"}])).await;
    for round in 0..5 {
        let order_no = format!("race-{round}");
        let body = deal_body(&order_no, json!(id), "90", &[("A", "30"), ("B", "30"), ("C", "30")]);
        let (status, o) = env.loyalty(Method::POST, "/deal", &key, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{o}");
        // Twelve refunds at once: every line alone, in pairs, all three, each on its own date.
        let sets: Vec<Vec<&str>> =
            vec![vec!["A"], vec!["B"], vec!["C"], vec!["A", "B"], vec!["B", "C"], vec!["A", "C"], vec!["A", "B", "C"]];
        let mut tasks = Vec::new();
        for (i, set) in sets.iter().cycle().take(12).enumerate() {
            let env = env.clone();
            let key = key.clone();
            let body = json!({"membershipId": id, "orderNo": order_no, "dateRefund": format!("2026-11-20T10:00:{i:02}"),
                              "refundTotal": 1, "refundLines": set.iter().map(|l| json!({"lineId": l})).collect::<Vec<_>>()});
            tasks.push(tokio::spawn(async move {
                env.loyalty(Method::POST, "/dealService/refund", &key, Some(body)).await
            }));
        }
        let mut taken = 0;
        for t in tasks {
            let (status, body) = t.await.unwrap();
            match status {
                StatusCode::OK => taken -= body["point"].as_i64().unwrap(),
                StatusCode::CONFLICT => assert!(message(&body).contains("already refunded"), "{body}"),
                other => panic!("round {round}: {other} {body}"),
            }
        }
        assert!(taken <= 90, "round {round}: took back {taken} of 90");
        let refunded = env
            .scalar(&format!("select count(*) from deal_line where order_no = '{order_no}' and refund_key is not null"))
            .await;
        let order_taken = env.scalar(&format!("select points_taken from deal where order_no = '{order_no}'")).await;
        assert_eq!(order_taken, taken, "round {round}: the answers add up to what the order lost");
        assert_eq!(order_taken, refunded * 30, "round {round}: each refunded line's 30 points, once");
    }
    verify_clean(&env, "race").await;
    w1.stop(std::time::Duration::from_secs(5)).await;
    w2.stop(std::time::Duration::from_secs(5)).await;
    Arc::try_unwrap(env).ok().expect("one owner").cleanup().await;
}

/// An order's coupon is redeemed with the order as its context: the card's conditions (store,
/// minimum spend before discounts, items) are checked against the order as posted.
#[tokio::test]
async fn an_orders_coupon_meets_the_cards_conditions_with_the_order_as_its_context() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    env.point_per_yuan("10080", &key).await;
    let worker = env.default_worker();
    let conditions = [
        ("store_codes", json!("store_01")),
        ("cash_condition", json!(200)),
        ("qty_condition", json!(2)),
        ("total_quantity", json!(5)),
    ];
    let card_id = env.coupon(&key, "10080", &conditions).await;
    let id = env
        .member(&key, json!({"name": "c", "membershipCode": "m-x"}), json!([{"type": "wechat", "value": "xw"}]))
        .await;
    let codes = env.claim(&key, "10080", "m-x", &card_id, 2).await;

    // 150 before discounts: below the minimum spend; the order stands, the coupon is refused.
    let mut small = deal_body("o-small", json!(id), "150", &[("A", "100"), ("B", "50")]);
    small["couponCode"] = json!(codes[0]);
    let (status, o) = env.loyalty(Method::POST, "/deal", &key, Some(small)).await;
    assert_eq!(status, StatusCode::OK, "{o}");
    assert_eq!(o["couponRedemption"]["status"], "refused", "{o}");
    let reason = o["couponRedemption"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("minimum spend 200.00"), "{o}");
    assert_eq!(o["point"], json!(150), "the order earned all the same: {o}");

    // 250 before a 20 discount (230 paid), two items at store_01: redeemed, and the redemption
    // records the order's context.
    let mut big = deal_body("o-big", json!(id), "230", &[("A", "150"), ("B", "80")]);
    big["amountTotal"] = json!("250");
    big["amountDiscount"] = json!("20");
    big["couponCode"] = json!(codes[1]);
    let (status, o) = env.loyalty(Method::POST, "/deal", &key, Some(big)).await;
    assert_eq!(status, StatusCode::OK, "{o}");
    assert_eq!(o["couponRedemption"]["status"], "redeemed", "{o}");
    let (order_no, store, cents): (Option<String>, Option<String>, Option<i64>) =
        sqlx::query_as("select order_no, store_code, amount_cents from card_redeem where redeem_id = 'deal/o-big'")
            .fetch_one(&env.db)
            .await
            .unwrap();
    assert_eq!((order_no.as_deref(), store.as_deref(), cents), (Some("o-big"), Some("store_01"), Some(25_000)));
    worker.stop(std::time::Duration::from_secs(5)).await;
    env.cleanup().await;
}

/// An order earns seed 001's activity bonus beside its base (the rules work: the same award),
/// and its refunds share out and take back base and bonus alike: a refund of half the order
/// takes back half of both, a cancel the rest, `verify` clean.
#[tokio::test]
async fn an_orders_activity_bonus_is_earned_and_taken_back_with_its_refunds() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    env.point_per_yuan("10080", &key).await;
    let every_100_gives_5 = json!({"type": 1, "amount": 100, "points": 5});
    env.create_activity(
        &key,
        json!({"relate_product_type": 2, "name": "bonus", "expire_type": 2, "start_time": 0, "end_time": 0, "shop_id": 5}),
        every_100_gives_5,
    )
    .await;
    let worker = env.default_worker();
    let id = env
        .member(&key, json!({"name": "b", "membershipCode": "m-b"}), json!([{"type": "wechat", "value": "bw"}]))
        .await;
    // 200 yuan: base 200 (1 a yuan) + bonus floor(200 / 100) × 5 = 10.
    let body = deal_body("o-b", json!(id), "200", &[("L1", "100"), ("L2", "100")]);
    let (status, o) = env.loyalty(Method::POST, "/deal", &key, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{o}");
    assert_eq!(after(&env, &key, id, "o-b").await, (210, 210, "已付款".into()), "base and bonus");
    let campaign =
        env.scalar("select coalesce(sum(points), 0)::bigint from points_ledger where event_no = 'deal/o-b' and action_scene = 'campaign'").await;
    assert_eq!(campaign, 10, "the bonus is a ledger entry of its own under the order's event_no");

    // Refund of L1, half the order: half of 210 = 105 back.
    let refund = json!({"membershipId": id, "orderNo": "o-b", "dateRefund": "2026-11-20T10:00:00", "refundTotal": "100",
                        "reason": "size", "refundLines": [{"lineId": "L1"}]});
    let (status, r) = env.loyalty(Method::POST, "/dealService/refund", &key, Some(refund)).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["point"], -105, "{r}");
    assert_eq!(after(&env, &key, id, "o-b").await, (105, 105, "已付款".into()));
    // Cancel: the rest, bonus included.
    let (status, c) = env
        .loyalty(Method::POST, "/dealService/cancel", &key, Some(json!({"membershipId": id, "orderNo": "o-b"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(env.member_points(&key, id).await, 0);
    assert_eq!(
        env.scalar("select coalesce(sum(points - reversed), 0)::bigint from points_ledger where event_no = 'deal/o-b' and event_type = 'produce'").await,
        0,
        "every produce row of the order, bonus included, is reversed"
    );
    verify_clean(&env, "bonus").await;
    worker.stop(std::time::Duration::from_secs(5)).await;
    env.cleanup().await;
}

/// New orders are written together (the orders, their lines, their `pay` steps: one statement
/// of each for a batch): published before the worker starts, so that it usually takes them in
/// one batch, each keeps its own lines, its lines' shares of its own points, and its own step.
#[tokio::test]
async fn orders_applied_together_keep_their_own_lines_shares_and_steps() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    env.point_per_yuan("10080", &key).await;
    let first = env.member(&key, json!({"name": "a"}), json!([{"type": "wechat", "value": "wa"}])).await;
    let second = env.member(&key, json!({"name": "b"}), json!([{"type": "wechat", "value": "wb"}])).await;
    let orders = [
        ("o-a", first, "60", vec![("A", "10"), ("B", "20"), ("C", "30")]),
        ("o-b", second, "7", vec![("X", "7")]),
        ("o-c", first, "3", vec![("P", "1"), ("Q", "2")]),
    ];
    for (order_no, member, paid, lines) in &orders {
        let (status, body) = env
            .loyalty(Method::POST, "/deal?wait_ms=0", &key, Some(deal_body(order_no, json!(member), paid, lines)))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{order_no}: {body}");
    }
    let worker = env.default_worker();
    wait_for("the three orders applied", std::time::Duration::from_secs(10), || async {
        (env.scalar("select count(*) from inbox where key_kind = 'order_no'").await == 3).then_some(())
    })
    .await;
    assert_eq!((env.member_points(&key, first).await, env.member_points(&key, second).await), (63, 7));
    for (order_no, _, paid, lines) in &orders {
        let earned: i64 = paid.parse().unwrap();
        let (points, steps): (i64, Vec<(String, i64)>) = (
            env.scalar(&format!("select points_earned from deal where order_no = '{order_no}'")).await,
            sqlx::query_as("select step, points from deal_step where order_no = $1")
                .bind(order_no)
                .fetch_all(&env.db)
                .await
                .unwrap(),
        );
        assert_eq!(points, earned, "{order_no}");
        assert_eq!(steps, vec![("pay".to_string(), earned)], "{order_no}");
        let written: Vec<(String, i64)> =
            sqlx::query_as("select line_id, points from deal_line where order_no = $1 order by position")
                .bind(order_no)
                .fetch_all(&env.db)
                .await
                .unwrap();
        // One point per yuan, and each line's amount a whole number of yuan: its share is its amount.
        let expected: Vec<(String, i64)> =
            lines.iter().map(|(id, yuan)| (id.to_string(), yuan.parse().unwrap())).collect();
        assert_eq!(written, expected, "{order_no}");
    }
    verify_clean(&env, "together").await;
    worker.stop(std::time::Duration::from_secs(5)).await;
    env.cleanup().await;
}

/// An order's customer named by identity is found by probing the identity, then its member,
/// whatever the statistics say. Among a tenant's members never analyzed (autovacuum is off on
/// the test machine; in production, new members in bulk before autovacuum comes), the plain join
/// walked every member of the tenant and probed each one's identities: 520 ms a lookup with
/// 1,000 members, `/deal` at 29 orders/s (issue 14, `bench --orders`). Buffers, not time: the
/// walk reads about twelve buffers per member, the probes a few dozen in all.
#[tokio::test]
async fn an_orders_customer_is_found_by_probes_among_members_never_analyzed() {
    let env = TestEnv::new().await;
    env.tenant("10080").await;
    sqlx::query("insert into member (crm_id) select '10080' from generate_series(1, 3000)")
        .execute(&env.db)
        .await
        .unwrap();
    sqlx::query(
        "insert into member_identity (crm_id, member_id, type, value)
         select crm_id, id, 'wechat', 'probe-' || id from member where crm_id = '10080'",
    )
    .execute(&env.db)
    .await
    .unwrap();
    let (id, member_no): (i64, String) =
        sqlx::query_as("select id, member_no from member where crm_id = '10080' order by id offset 1500 limit 1")
            .fetch_one(&env.db)
            .await
            .unwrap();
    // The first identity nobody holds, the second the member's.
    let kinds = vec!["mobile", "wechat"];
    let values = vec!["13900000000".to_string(), format!("probe-{id}")];
    let found: (i64, String) = sqlx::query_as(api::routes::orders::store::FIRST_HOLDER)
        .bind("10080")
        .bind(&kinds)
        .bind(&values)
        .fetch_one(&env.db)
        .await
        .unwrap();
    assert_eq!(found, (id, member_no));

    let explain = format!("explain (analyze, buffers, format json) {}", api::routes::orders::store::FIRST_HOLDER);
    let plan: Value =
        sqlx::query_scalar(&explain).bind("10080").bind(&kinds).bind(&values).fetch_one(&env.db).await.unwrap();
    let buffers = &plan[0]["Plan"];
    let read = buffers["Shared Hit Blocks"].as_i64().unwrap() + buffers["Shared Read Blocks"].as_i64().unwrap();
    assert!(read < 300, "the lookup read {read} buffers among 3,000 members: {plan:#}");
}
