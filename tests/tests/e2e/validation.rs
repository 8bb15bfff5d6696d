//! Bad input gets a 4xx naming the field; the seed's example bodies are accepted; a broker
//! that is down gives 503, never 202.

use axum::http::{Method, StatusCode};
use loyalty_tests::{seed_rule, TestEnv};
use serde_json::{json, Value};

#[tokio::test]
async fn seed_example_bodies_are_accepted() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let p = "/api/crm/mgr/points/10080";
    let rule_id = env.rule("10080", &key, seed_rule()).await;
    let cases: Vec<(&str, String, Value)> = vec![
        (
            "produce_scene/update",
            format!("{p}/rules/produce_scene/update"),
            json!({"rule_id": rule_id, "rule_name": "每日登录", "expire_term": 30, "per_money": 50, "change_points": 15, "freeze_term": 3}),
        ),
        ("rules/query", format!("{p}/rules/query"), json!({"rule_type": "produce", "action_scene": "user_login"})),
        (
            "history",
            format!("{p}/history"),
            json!({"event_type": "produce", "start_time": "2022-06-01 12:00:00", "end_time": "2022-07-01 12:00:00", "member_no": "ec_18165fd7455_JGhyfyLmX"}),
        ),
        (
            "lot_delete (the example's single rule_id)",
            format!("{p}/rules/lot_delete"),
            json!({"rule_id": rule_id, "rule_type": "produce"}),
        ),
    ];
    for (case, path, body) in cases {
        let (status, resp) = env.post(&path, &key, body).await;
        assert_eq!(status, StatusCode::OK, "{case}: {resp}");
        assert_eq!(resp["code"], json!(0), "{case}: {resp}");
    }
    let (status, resp) = env.get(&format!("{p}/scene_info"), &key).await;
    assert_eq!(status, StatusCode::OK);
    let codes: Vec<&str> =
        resp["data"]["produce_scene"].as_array().unwrap().iter().map(|s| s["code"].as_str().unwrap()).collect();
    for scene in ["user_login", "user_sign", "share_goods", "invite_new", "register", "campaign"] {
        assert!(codes.contains(&scene), "scene_info lists {scene}: {codes:?}");
    }
    env.cleanup().await;
}

#[tokio::test]
async fn malformed_rules_get_422_naming_the_field() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let path = "/api/crm/mgr/points/10080/rules/produce_scene";
    let with = |field: &str, value: Value| {
        let mut rule = seed_rule();
        rule[field] = value;
        rule
    };
    let without = |field: &str| {
        let mut rule = seed_rule();
        rule.as_object_mut().unwrap().remove(field);
        rule
    };
    let cases = vec![
        ("missing rule_name", without("rule_name"), "rule_name"),
        ("missing action_scene", without("action_scene"), "action_scene"),
        ("missing points_type", without("points_type"), "points_type"),
        ("missing expire_term", without("expire_term"), "expire_term"),
        ("missing change_points", without("change_points"), "change_points"),
        ("missing range_days", without("range_days"), "range_days"),
        ("points_type not order/event", with("points_type", json!("bonus")), "points_type"),
        ("expire_term a string", with("expire_term", json!("30")), "expire_term"),
        ("change_points zero", with("change_points", json!(0)), "change_points"),
        ("change_points negative", with("change_points", json!(-5)), "change_points"),
        ("per_money missing for an order rule", without("per_money"), "per_money"),
        ("freeze_term not below expire_term", with("freeze_term", json!(30)), "freeze_term"),
        ("range_days negative", with("range_days", json!(-1)), "range_days"),
        ("max_times zero", with("max_times", json!(0)), "max_times"),
        ("action_scene with spaces", with("action_scene", json!("order pay")), "action_scene"),
        ("mul_rules not a bool", with("mul_rules", json!("yes")), "mul_rules"),
        ("an unknown field", with("bonus", json!(1)), "bonus"),
    ];
    for (case, body, field) in cases {
        let (status, resp) = env.post(path, &key, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case}: {resp}");
        assert_eq!(resp["data"]["field"], json!(field), "{case}: {resp}");
        assert!(resp["msg"].as_str().unwrap().contains(field), "{case}: the message names the field: {resp}");
    }
    env.cleanup().await;
}

/// JSON does not tell `30` from `30.0` and JSON Schema calls both integers: the api takes both
/// (schemathesis generates the second), and still names the field of a `30.5`.
#[tokio::test]
async fn integral_floats_are_integers_and_fractions_are_not() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let path = "/api/crm/mgr/points/10080/rules/produce_scene";
    let mut rule = seed_rule();
    rule["expire_term"] = json!(30.0);
    rule["change_points"] = json!(10.0);
    let (status, resp) = env.post(path, &key, rule.clone()).await;
    assert_eq!(status, StatusCode::OK, "30.0 and 10.0 are integers: {resp}");
    let rule_id = resp["data"]["rule_id"].as_i64().expect("rule_id");
    let query = json!({"rule_type": "produce", "rule_id": rule_id as f64});
    let (status, resp) = env.post("/api/crm/mgr/points/10080/rules/query", &key, query).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert!(resp.to_string().contains("\"expire_term\":30"), "stored as the integer 30: {resp}");

    rule["expire_term"] = json!(30.5);
    let (status, resp) = env.post(path, &key, rule).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "30.5 is not an integer: {resp}");
    assert_eq!(resp["data"]["field"], json!("expire_term"), "{resp}");
    env.cleanup().await;
}

/// A body over the limit is 413, whatever it holds (it was 400 before).
#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let body = format!("{{\"event_no\":\"{}\"}}", "x".repeat(30 << 20));
    let (status, resp) =
        env.call_raw(Method::POST, "/api/crm/mgr/points/10080/events", Some(&key), Some(body), true).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{resp}");
    assert_eq!(resp["code"], json!(41300), "{resp}");
    env.cleanup().await;
}

#[tokio::test]
async fn malformed_events_get_4xx_never_5xx() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let path = "/api/crm/mgr/points/10080/events";
    let good = json!({"event_no": "e1", "member_no": "m1", "action_scene": "order_pay", "amount": "99.90"});
    let with = |field: &str, value: Value| {
        let mut e = good.clone();
        e[field] = value;
        e
    };
    let without = |field: &str| {
        let mut e = good.clone();
        e.as_object_mut().unwrap().remove(field);
        e
    };
    let cases = vec![
        ("missing event_no", without("event_no"), "event_no"),
        ("missing member_no", without("member_no"), "member_no"),
        ("missing action_scene", without("action_scene"), "action_scene"),
        ("member_no a number", with("member_no", json!(5)), "member_no"),
        ("empty event_no", with("event_no", json!("")), "event_no"),
        ("event_no too long", with("event_no", json!("x".repeat(65))), "event_no"),
        ("amount negative", with("amount", json!(-1)), "amount"),
        ("amount three decimals", with("amount", json!("1.234")), "amount"),
        ("amount not a number", with("amount", json!("ten")), "amount"),
        ("amount an object", with("amount", json!({"v": 1})), "amount"),
        ("action_scene uppercase", with("action_scene", json!("ORDER")), "action_scene"),
        ("order_items a string", with("order_items", json!("sku1")), "order_items"),
        ("occurred_at not a time", with("occurred_at", json!("yesterday")), "occurred_at"),
        ("store_code too long", with("store_code", json!("s".repeat(129))), "store_code"),
    ];
    for (case, body, field) in cases {
        let (status, resp) = env.post(path, &key, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case}: {resp}");
        assert_eq!(resp["data"]["field"], json!(field), "{case}: {resp}");
    }
    let (status, resp) = env.post(&format!("{path}?wait_ms=99999"), &key, good.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "wait_ms over the limit: {resp}");
    assert_eq!(resp["data"]["field"], json!("wait_ms"));
    let (status, resp) = env.post(&format!("{path}?wait_ms=soon"), &key, good.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "wait_ms not a number: {resp}");

    let raw = [
        ("not JSON", "{\"event_no\": ", true, StatusCode::BAD_REQUEST),
        ("no content type", "{}", false, StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ("a JSON array", "[1]", true, StatusCode::BAD_REQUEST),
    ];
    for (case, body, json_type, want) in raw {
        let (status, resp) = env.call_raw(Method::POST, path, Some(&key), Some(body.to_string()), json_type).await;
        assert_eq!(status, want, "{case}: {resp}");
        assert_ne!(resp["code"], json!(0), "{case}: {resp}");
    }
    let (status, resp) = env.post(path, &key, good).await;
    assert_eq!(status, StatusCode::ACCEPTED, "the good event: {resp}");
    env.cleanup().await;
}

#[tokio::test]
async fn history_and_query_filters_are_checked() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let p = "/api/crm/mgr/points/10080";
    let cases = vec![
        ("history without event_type", format!("{p}/history"), json!({}), "event_type"),
        ("history unknown event_type", format!("{p}/history"), json!({"event_type": "gift"}), "event_type"),
        (
            "history bad start_time",
            format!("{p}/history"),
            json!({"event_type": "produce", "start_time": "June"}),
            "start_time",
        ),
        (
            "history page_size over 500",
            format!("{p}/history"),
            json!({"event_type": "produce", "page_size": 501}),
            "page_size",
        ),
        ("history page_id zero", format!("{p}/history"), json!({"event_type": "produce", "page_id": 0}), "page_id"),
        (
            "history bad order_by",
            format!("{p}/history"),
            json!({"event_type": "produce", "order_by": "member_no"}),
            "order_by",
        ),
        (
            "history bad order_asc",
            format!("{p}/history"),
            json!({"event_type": "produce", "order_asc": 2}),
            "order_asc",
        ),
        ("query without rule_type", format!("{p}/rules/query"), json!({}), "rule_type"),
        (
            "query page_size text",
            format!("{p}/rules/query"),
            json!({"rule_type": "produce", "page_size": "many"}),
            "page_size",
        ),
        ("delete without ids", format!("{p}/rules/lot_delete"), json!({"rule_type": "produce"}), "rule_id_li"),
        ("update without rule_id", format!("{p}/rules/produce_scene/update"), json!({"rule_name": "x"}), "rule_id"),
    ];
    for (case, path, body, field) in cases {
        let (status, resp) = env.post(&path, &key, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case}: {resp}");
        assert_eq!(resp["data"]["field"], json!(field), "{case}: {resp}");
    }
    let (status, _) = env.post(&format!("{p}/rules/produce_scene/update"), &key, json!({"rule_id": 999})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "updating a rule that does not exist");
    let (status, resp) = env.get(&format!("{p}/summary"), &key).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "summary without member_no: {resp}");
    assert_eq!(resp["data"]["field"], json!("member_no"));
    env.cleanup().await;
}

#[tokio::test]
async fn broker_unreachable_gives_503_not_202() {
    let mut env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    // Nothing listens on port 1: every connection is refused at once.
    let mut settings = env.settings.clone();
    settings.amqp_url = "amqp://guest:guest@127.0.0.1:1/%2f".into();
    env.state = api::AppState::new(settings, env.db.clone(), env.redis.clone());
    let (status, resp) = env
        .post(
            "/api/crm/mgr/points/10080/events",
            &key,
            json!({"event_no": "e1", "member_no": "m1", "action_scene": "user_login"}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{resp}");
    assert_eq!(resp["code"], json!(50300));
    assert!(resp["msg"].as_str().unwrap().contains("retry"), "{resp}");
    let (status, resp) = env.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{resp}");
    assert_eq!(resp["postgres"], json!("ok"));
    assert_ne!(resp["rabbitmq"], json!("ok"));
    env.cleanup().await;
}

/// A feed window reaching back past PostgreSQL's first timestamp (4714 BC) means "from the
/// beginning" (it was a 500: `timestamp out of range`).
#[tokio::test]
async fn a_feed_from_before_postgres_time_begins_at_the_beginning() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    for path in ["/api/crm/mgr/points/10080/summary/increment", "/api/crm/mgr/member/10080/info/increment"] {
        for (start, end) in [(-1_099_511_627_776_i64, 584_004_i64), (-8_000_000_000_000, -7_000_000_000_000)] {
            let body =
                json!({"page_id": 1, "page_size": 10, "order_by": "update_time", "time_start": start, "time_end": end});
            let (status, resp) = env.post(path, &key, body).await;
            assert_eq!(status, StatusCode::OK, "{path} {start}..{end}: {resp}");
        }
    }
    env.cleanup().await;
}
