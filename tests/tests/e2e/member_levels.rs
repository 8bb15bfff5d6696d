//! Member levels (seed 002 §10): managing the definitions, the level computed on every earn in
//! the earn's transaction, recomputed by the sweep as windows slide (a forever level never
//! goes down), every change logged and emitted, and a spend without `member_level` using the
//! member's level for the `consume_level` tiers.

use axum::http::{Method, StatusCode};
use chrono::{Months, Utc};
use schemas::{money::Cents, points::ConsumePayload, Envelope, MessageKind};
use serde_json::{json, Value};
use workers::{outcome::Outcome, points::consume};

use crate::ledger::Ledger;

fn rule(enabled: bool, month: i64, number: i64) -> Value {
    json!({"enabled": enabled, "month": month, "number": number})
}

/// Seed §10's first level (the default lowest: every kind disabled), then "2" (100 points within
/// 12 months) and "3" (1000 points in a lifetime, forever).
async fn seed_levels(l: &Ledger) -> (i64, i64, i64) {
    let off = rule(false, 12, 5000);
    let mut ids = Vec::new();
    for body in [
        json!({"name": "1", "priority": 0, "isForever": true, "operator": "or", "rules": {
            "consumption": off, "consumptionTotal": off, "desp": "默认最低等级", "frequency": off,
            "frequencyTotal": off, "points": off, "pointsTotal": off}}),
        json!({"name": "2", "priority": 1, "isForever": false, "operator": "or", "rules": {"points": rule(true, 12, 100)}}),
        json!({"name": "3", "priority": 2, "isForever": true, "operator": "or", "rules": {"pointsTotal": rule(true, 12, 1000)}}),
    ] {
        let (status, level) = l.env.loyalty(Method::POST, "/settings/level", &l.key, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{level}");
        ids.push(level["id"].as_i64().unwrap());
    }
    (ids[0], ids[1], ids[2])
}

async fn level_of(l: &Ledger, id: i64) -> Value {
    let (_, m) = l.env.loyalty(Method::GET, &format!("/membership/{id}"), &l.key, None).await;
    m["level"].clone()
}

#[tokio::test]
async fn levels_are_managed_and_read_in_the_seeds_shape() {
    let l = Ledger::new("10080").await;
    let (base, silver, _) = seed_levels(&l).await;
    let (status, rules) = l.env.loyalty(Method::GET, "/settings/level/rules", &l.key, None).await;
    assert_eq!(status, StatusCode::OK, "{rules}");
    let rows = rules["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["id"], base);
    for key in ["desp", "id", "isForever", "name", "operator", "priority", "rules", "status"] {
        assert!(rows[0].get(key).is_some(), "{key}: {}", rows[0]);
    }
    assert_eq!(rows[0]["rules"]["pointsTotal"], rule(false, 12, 5000));
    assert_eq!(rows[0]["rules"]["desp"], "默认最低等级");
    // Malformed rules name what is wrong; a taken priority is a conflict.
    for (body, field, status) in [
        (
            json!({"name": "x", "priority": 5, "rules": {"points": rule(true, 0, 1)}}),
            "rules.points.month",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "x", "priority": 5, "rules": {"visits": rule(true, 1, 1)}}),
            "rules.visits",
            StatusCode::BAD_REQUEST,
        ),
        (json!({"name": "x", "priority": 5, "operator": "xor"}), "operator", StatusCode::BAD_REQUEST),
        (json!({"name": "x", "priority": 1}), "priority", StatusCode::CONFLICT),
    ] {
        let (got, answer) = l.env.loyalty(Method::POST, "/settings/level", &l.key, Some(body.clone())).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(field), "{body}: {answer}");
    }
    let (status, updated) = l
        .env
        .loyalty(
            Method::PUT,
            &format!("/settings/level/{silver}"),
            &l.key,
            Some(json!({"name": "银卡", "priority": 1, "rules": {"points": rule(true, 6, 200)}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["rules"]["points"], rule(true, 6, 200));
    let (status, _) = l.env.loyalty(Method::DELETE, &format!("/settings/level/{silver}"), &l.key, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = l.env.loyalty(Method::DELETE, &format!("/settings/level/{silver}"), &l.key, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Each change is in the audit log, with the level before and after.
    let (status, log) = l.env.get("/api/crm/audit/10080?page_size=100", &l.key).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let entries: Vec<&Value> = log["data"]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("audit entries: {log}"))
        .iter()
        .filter(|e| e["entity"] == "member_level" && e["entity_id"].as_str() == Some(silver.to_string().as_str()))
        .collect();
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in ["create", "update", "delete"] {
        assert!(actions.contains(&action), "{action} of level {silver} audited: {log}");
    }
    let update = entries.iter().find(|e| e["action"] == "update").unwrap();
    assert_eq!(update["after"]["rules"]["points"], rule(true, 6, 200), "{update}");
    assert!(update["before"].is_object(), "{update}");
    l.env.cleanup().await;
}

#[tokio::test]
async fn an_earn_raises_the_level_the_sweep_lowers_it_as_the_window_slides_and_forever_holds() {
    let l = Ledger::new("10080").await;
    let (base, silver, gold) = seed_levels(&l).await;
    let a = l
        .env
        .member(&l.key, json!({"name": "a", "membershipCode": "m-a"}), json!([{"type": "wechat", "value": "a"}]))
        .await;
    let b = l
        .env
        .member(&l.key, json!({"name": "b", "membershipCode": "m-b"}), json!([{"type": "wechat", "value": "b"}]))
        .await;
    assert_eq!(level_of(&l, a).await, json!({"id": base, "name": "1", "priority": 0}), "the base level on joining");
    let now = Utc::now();
    // 150 points: silver (100 within 12 months), in the earn's own transaction.
    assert_eq!(l.earn("a1", "m-a", "order_pay", 150, now).await, Outcome::Applied { count: 150 });
    assert_eq!(level_of(&l, a).await["id"], silver);
    // 1200 points: gold, which is forever.
    l.earn("b1", "m-b", "order_pay", 1200, now).await;
    assert_eq!(level_of(&l, b).await["id"], gold);
    let events = l.env.scalar("select count(*) from outbox where routing_key = 'members.level'").await;
    assert_eq!(events, 4, "two joins and two raises, each emitted");
    let payload: Value = sqlx::query_scalar(
        "select convert_from(events, 'UTF8')::jsonb from outbox where routing_key = 'members.level' order by id desc limit 1",
    )
    .fetch_one(&l.env.db)
    .await
    .unwrap();
    assert_eq!(payload[0]["kind"], "members.level_change");
    assert_eq!(
        (&payload[0]["from_level"], &payload[0]["to_level"], &payload[0]["reason"]),
        (&json!(base), &json!(gold), &json!("earn"))
    );

    // Thirteen months on, the sweep recomputes: a's window is empty (back to the base); b keeps
    // gold (forever, and its lifetime points still meet it anyway).
    let later = now.checked_add_months(Months::new(13)).unwrap();
    let (checked, changed) = workers::members::levels::sweep(&l.env.db, later, 100).await.unwrap();
    assert_eq!((checked, changed), (2, 1));
    assert_eq!(level_of(&l, a).await["id"], base);
    assert_eq!(level_of(&l, b).await["id"], gold);
    // Checked members are not due again the same day.
    assert_eq!(workers::members::levels::sweep(&l.env.db, later, 100).await.unwrap(), (0, 0));

    // The change log: from, to, why, when.
    let (status, log) =
        l.env.loyalty(Method::GET, &format!("/membership/{a}/level/changeLogs?needTotal=true"), &l.key, None).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let reasons: Vec<&str> = log["rows"].as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["join", "earn", "schedule"]);
    assert_eq!((&log["rows"][2]["fromLevel"], &log["rows"][2]["toLevel"]), (&json!(silver), &json!(base)));
    l.env.cleanup().await;
}

#[tokio::test]
async fn a_spend_without_member_level_uses_the_members_level_for_the_tiers() {
    let l = Ledger::new("10080").await;
    let (_, silver, _) = seed_levels(&l).await;
    let (status, body) = l
        .env
        .post(
            "/api/crm/mgr/points/10080/rules/consume_scene",
            &l.key,
            json!({"rule_name": "按等级抵扣", "action_scene": "level_discount", "rules_li": [
                {"base_points": 100, "convert_money": 1, "consume_level": 0},
                {"base_points": 50, "convert_money": 1, "consume_level": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let tenants = platform::rules::load(&l.env.db, &["10080".to_string()]).await.unwrap();
    let a = l.env.member(&l.key, json!({"membershipCode": "m-s"}), json!([{"type": "wechat", "value": "s"}])).await;
    let now = Utc::now();
    l.earn("s1", "m-s", "order_pay", 500, now).await;
    assert_eq!(level_of(&l, a).await["id"], silver);
    let spend = |no: &str, level: Option<i64>| {
        let payload = ConsumePayload {
            member_no: "m-s".into(),
            action_scene: "level_discount".into(),
            points: None,
            amount: Some(Cents(200)),
            member_level: level,
            order_items: None,
            store_code: None,
            cost_center: None,
            campagin_code: None,
            operator: None,
            event_desc: None,
            with_coupon: None,
        };
        Envelope::new(MessageKind::PointsConsume, "10080".to_string(), no.to_string(), now, payload)
    };
    // 2 yuan at silver's tier (50 points a yuan): 100 points; naming level 0 still wins: 200.
    let o = consume::apply(&l.env.db, &tenants["10080"], &spend("c1", None)).await.unwrap();
    assert_eq!(o, Outcome::Applied { count: 100 });
    let o = consume::apply(&l.env.db, &tenants["10080"], &spend("c2", Some(0))).await.unwrap();
    assert_eq!(o, Outcome::Applied { count: 200 });
    l.env.cleanup().await;
}
