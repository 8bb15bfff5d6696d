//! Seed 004's point rules per member level: the management writes, the seed's query in its
//! shapes (shop over brand, the level filter, `error_response`), and the incremental sync
//! returning logically deleted rules.

use axum::http::StatusCode;
use loyalty_tests::TestEnv;
use serde_json::{json, Value};

fn rule(name: &str, shop: Option<&str>) -> Value {
    json!({
        "name": name, "shop_id": shop, "out_brand_id": "77653", "operator": "12312", "operator_name": "小明",
        "point_addition_rule": {
            "allow_pay_methods": [{"method_id": "alipay", "method_name": "支付宝", "enable": true}],
            "member_point_addition_rules": [
                {"level_id": "1", "enable": true, "consume_money": 15, "reward_point": 20, "allow_product_type": "ALL", "allow_recharge": true},
                {"level_id": "2", "enable": true, "consume_money": 10, "reward_point": 20, "allow_product_type": "SKU", "sku_ids": ["123"], "allow_recharge": false}
            ]
        },
        "point_deduction_rule": {
            "with_coupon": false,
            "member_point_deduction_rules": [{"level_id": "1", "enable": true, "consume_money": 200, "deducted_point": 1000, "has_upper_limit": true, "max_point": 200}]
        },
        "point_clear_rule": {"point_clear_rule_type": "NO_CLEAR"},
        "ext_info": {"empty": null}
    })
}

async fn get(env: &TestEnv, key: &str, q: Value) -> (StatusCode, Value) {
    env.post("/api/crm/mgr/points/10080/level_rules/get", key, json!({"param_query_point_rule_open_req": q})).await
}

#[tokio::test]
async fn the_query_answers_in_the_seeds_shape() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let (status, saved) = env.post("/api/crm/mgr/points/10080/level_rules/save", &key, rule("规则1", None)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let brand_rule = saved["data"]["rule_id"].as_str().unwrap().to_string();
    assert_eq!(
        (saved["data"]["create_by"].as_str(), saved["data"]["update_by_name"].as_str()),
        (Some("12312"), Some("小明"))
    );
    let (status, shop) =
        env.post("/api/crm/mgr/points/10080/level_rules/save", &key, rule("门店规则", Some("s1"))).await;
    assert_eq!(status, StatusCode::OK, "{shop}");

    let (status, body) = get(&env, &key, json!({"brand_id": "10080"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r = &body["result"];
    assert_eq!(
        (r["biz_success"].as_bool(), r["result_code"].as_str(), r["result_desc"].as_str()),
        (Some(true), Some("200"), Some("成功"))
    );
    assert_eq!(r["result_view"], "");
    let info = &r["result"];
    assert_eq!(
        (info["rule_id"].as_str(), info["name"].as_str(), info["deleted"].as_bool()),
        (Some(brand_rule.as_str()), Some("规则1"), Some(false))
    );
    assert_eq!(info["point_clear_rule"]["point_clear_rule_type"], "NO_CLEAR");
    assert_eq!(info["point_deduction_rule"]["with_coupon"], false);
    assert_eq!(info["point_addition_rule"]["allow_pay_methods"][0]["method_id"], "alipay");
    assert!(info["gmt_modified"].as_str().unwrap().len() == 19, "YYYY-MM-DD HH:MM:SS: {info}");

    // A shop's rule before the brand's; out_brand_id finds the brand too; level_id filters.
    let (_, body) = get(&env, &key, json!({"out_brand_id": "77653", "shop_id": "s1", "level_id": "2"})).await;
    let info = &body["result"]["result"];
    assert_eq!(info["name"], "门店规则", "{body}");
    let levels: Vec<&str> = info["point_addition_rule"]["member_point_addition_rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["level_id"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["2"]);
    assert_eq!(info["point_deduction_rule"]["member_point_deduction_rules"], json!([]));
    // A shop without its own rule gets the brand's.
    let (_, body) = get(&env, &key, json!({"brand_id": "10080", "shop_id": "s2"})).await;
    assert_eq!(body["result"]["result"]["name"], "规则1", "{body}");
    // Saving again for the brand replaces its rule (same rule_id): never two contradicting rules.
    let (_, again) = env.post("/api/crm/mgr/points/10080/level_rules/save", &key, rule("规则1b", None)).await;
    assert_eq!(again["data"]["rule_id"].as_str(), Some(brand_rule.as_str()), "{again}");

    // Bad input: the seed's error_response naming the field.
    for (q, field) in [
        (json!({"shop_id": "s1"}), "brand_id"),
        (json!({"brand_id": "other"}), "brand_id"),
        (json!({"brand_id": "10080", "level_id": "gold"}), "level_id"),
        (
            json!({"brand_id": "10080", "include_logical_delete": true, "max_update_time": "yesterday"}),
            "max_update_time",
        ),
    ] {
        let (status, body) = get(&env, &key, q.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}: {body}");
        let e = &body["error_response"];
        assert_eq!(e["sub_code"], "isv.invalid-parameter", "{q}: {body}");
        assert!(e["sub_msg"].as_str().unwrap().starts_with(field), "{q}: {body}");
    }
    let (status, body) = env.post("/api/crm/mgr/points/10080/level_rules/get", &key, json!({"nope": 1})).await;
    assert_eq!((status, body["error_response"]["code"].as_i64()), (StatusCode::BAD_REQUEST, Some(40)), "{body}");

    // Malformed rules are refused naming the field.
    let mut bad = rule("x", None);
    bad["point_deduction_rule"]["member_point_deduction_rules"][0].as_object_mut().unwrap().remove("max_point");
    let mut dup = rule("x", None);
    dup["point_addition_rule"]["member_point_addition_rules"][1]["level_id"] = json!("1");
    let mut clear = rule("x", None);
    clear["point_clear_rule"] = json!({"point_clear_rule_type": "DAYS"});
    for (body, field) in [
        (bad, "point_deduction_rule.member_point_deduction_rules[0].max_point"),
        (dup, "point_addition_rule.member_point_addition_rules[1].level_id"),
        (clear, "point_clear_rule.days"),
    ] {
        let (status, answer) = env.post("/api/crm/mgr/points/10080/level_rules/save", &key, body).await;
        assert_eq!(
            (status, answer["data"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{answer}"
        );
    }
    let audited = env.scalar("select count(*) from audit_log where entity = 'level_point_rule'").await;
    assert_eq!(audited, 3);
    env.cleanup().await;
}

#[tokio::test]
async fn the_incremental_sync_returns_deleted_rules() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let (_, a) = env.post("/api/crm/mgr/points/10080/level_rules/save", &key, rule("A", None)).await;
    let (_, b) = env.post("/api/crm/mgr/points/10080/level_rules/save", &key, rule("B", Some("s1"))).await;
    let b_id = b["data"]["rule_id"].as_str().unwrap().to_string();
    // The cursor: the last change the client has seen.
    let cursor = b["data"]["gmt_modified"].as_str().unwrap().to_string();
    assert!(a["data"]["gmt_modified"].as_str().unwrap() <= cursor.as_str());

    let (status, del) = env
        .post("/api/crm/mgr/points/10080/level_rules/delete", &key, json!({"rule_id": b_id, "operator": "ops"}))
        .await;
    assert_eq!((status, del["data"]["deleted"].as_bool()), (StatusCode::OK, Some(true)), "{del}");

    // The normal query no longer sees B: the shop falls back to the brand's rule.
    let (_, body) = get(&env, &key, json!({"brand_id": "10080", "shop_id": "s1"})).await;
    assert_eq!(body["result"]["result"]["name"], "A", "{body}");
    // The sync from the cursor returns B, deleted (and may return A again: at least once).
    let (status, body) =
        get(&env, &key, json!({"brand_id": "10080", "include_logical_delete": true, "max_update_time": cursor})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["result"]["results"].as_array().unwrap();
    let b_row = results.iter().find(|r| r["rule_id"] == b_id.as_str()).unwrap_or_else(|| panic!("B in {body}"));
    assert_eq!((b_row["deleted"].as_bool(), b_row["update_by"].as_str()), (Some(true), Some("ops")));
    // From a cursor after every change: nothing.
    let (_, body) = get(
        &env,
        &key,
        json!({"brand_id": "10080", "include_logical_delete": true, "max_update_time": "2999-01-01 00:00:00"}),
    )
    .await;
    assert_eq!(body["result"]["results"], json!([]), "{body}");
    // Deleting twice: not found.
    let (status, _) = env.post("/api/crm/mgr/points/10080/level_rules/delete", &key, json!({"rule_id": b_id})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    env.cleanup().await;
}

/// How seed 000's rules, seed 004's level rules and seed 001's activities combine on one order,
/// each case against a hand computation and its explanation; `NO_CLEAR` lots never expire under
/// the sweeper; the explanation is served by `…/events/{event_no}/explain` and the point log.
///
/// The tenant: seed 000's order_pay rule (10 points per 50 yuan, 30 days); the brand's level
/// rule (alipay earns, cash is listed but disabled; level A: 1 point per 10 yuan of the order,
/// no recharge; level B: 3 points per 10 yuan of SKU 24 only, recharge allowed; NO_CLEAR);
/// shop s9's rule (every pay method; level A 5 per 10 yuan, level B disabled; expiry after 7 days); activity X (5
/// points per every 100 yuan, every store).
#[tokio::test]
async fn the_three_rule_systems_combine_on_one_order() {
    use axum::http::Method;
    use chrono::{Duration, TimeZone, Utc};
    use schemas::{money::Cents, points::EarnPayload, Envelope, MessageKind};
    use workers::{outcome::Outcome, points::earn::apply_batch};

    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    env.rule("10080", &key, json!({"rule_name": "下单", "action_scene": "order_pay", "points_type": "order", "expire_term": 30, "per_money": 50, "change_points": 10, "range_days": 0})).await;
    let mut levels = Vec::new();
    for (name, priority, rules) in
        [("A", 0, json!({})), ("B", 1, json!({"pointsTotal": {"enabled": true, "month": 12, "number": 100_000_000}}))]
    {
        let body = json!({"name": name, "priority": priority, "isForever": false, "operator": "or", "rules": rules});
        let (status, level) = env.loyalty(Method::POST, "/settings/level", &key, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{level}");
        levels.push(level["id"].as_i64().unwrap());
    }
    let (a, b) = (levels[0].to_string(), levels[1].to_string());
    let brand = json!({
        "name": "品牌规则",
        "point_addition_rule": {
            "allow_pay_methods": [{"method_id": "alipay", "enable": true}, {"method_id": "cash", "enable": false}],
            "member_point_addition_rules": [
                {"level_id": a, "consume_money": 10, "reward_point": 1, "allow_product_type": "ALL", "allow_recharge": false},
                {"level_id": b, "consume_money": 10, "reward_point": 3, "allow_product_type": "SKU", "sku_ids": ["24"], "allow_recharge": true}
            ]
        },
        "point_clear_rule": {"point_clear_rule_type": "NO_CLEAR"}
    });
    let (status, saved) = env.post("/api/crm/mgr/points/10080/level_rules/save", &key, brand).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let brand_id = saved["data"]["rule_id"].as_str().unwrap().to_string();
    let shop = json!({
        "name": "门店规则", "shop_id": "s9",
        "point_addition_rule": {"member_point_addition_rules": [
            {"level_id": a, "consume_money": 10, "reward_point": 5},
            {"level_id": b, "enable": false, "consume_money": 10, "reward_point": 5}
        ]},
        "point_clear_rule": {"point_clear_rule_type": "DAYS", "days": 7}
    });
    let (status, saved) = env.post("/api/crm/mgr/points/10080/level_rules/save", &key, shop).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let shop_id = saved["data"]["rule_id"].as_str().unwrap().to_string();
    let (status, x) = env
        .activity(
            "create",
            &key,
            json!({"activity": {"relate_product_type": 2, "name": "X", "expire_type": 2, "start_time": 0, "end_time": 0, "shop_id": 5},
                   "pointsConsumption": {"type": 1, "amount": 100, "points": 5}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{x}");
    let x = x["data"]["activity"]["id"].as_i64().unwrap();

    let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 4, 0, 0).unwrap();
    let never = schemas::level_rules::never_expires();
    let items = json!([{"sku": "24", "amount": "120", "qty": 1, "line_id": "1"}, {"sku": "25", "amount": "130", "qty": 1, "line_id": "2"}]);
    let bonus = format!("activity {x}: floor(order 250.00 / 100) × 5 = 10");
    struct Case {
        name: &'static str,
        level: Option<String>,
        scene: &'static str,
        amount: &'static str,
        store: &'static str,
        pay: Option<&'static str>,
        points: Option<i64>,
        /// The entries' explanations, or the refusal's reason (a part of it).
        explain: Vec<String>,
        expire: Option<chrono::DateTime<Utc>>,
    }
    let cases = [
        Case {
            name: "level A, alipay: the level replaces order_pay; the activity adds",
            level: Some(a.clone()),
            scene: "order_pay",
            amount: "250",
            store: "s1",
            pay: Some("alipay"),
            points: Some(25 + 10),
            explain: vec![
                format!("level rule {brand_id} (level {a}): floor(order 250.00 / 10) × 1 = 25"),
                bonus.clone(),
            ],
            expire: Some(never),
        },
        Case {
            name: "level A, a disabled pay method: only the activity",
            level: Some(a.clone()),
            scene: "order_pay",
            amount: "250",
            store: "s1",
            pay: Some("cash"),
            points: Some(10),
            explain: vec![bonus.clone()],
            expire: Some(never),
        },
        Case {
            name: "level A, no pay method: only the activity",
            level: Some(a.clone()),
            scene: "order_pay",
            amount: "250",
            store: "s1",
            pay: None,
            points: Some(10),
            explain: vec![bonus.clone()],
            expire: Some(never),
        },
        Case {
            name: "level B: only SKU 24 counts",
            level: Some(b.clone()),
            scene: "order_pay",
            amount: "250",
            store: "s1",
            pay: Some("alipay"),
            points: Some(36 + 10),
            explain: vec![
                format!("level rule {brand_id} (level {b}): floor(listed SKUs 120.00 / 10) × 3 = 36"),
                bonus.clone(),
            ],
            expire: Some(never),
        },
        Case {
            name: "no level: seed 000's order_pay rule",
            level: None,
            scene: "order_pay",
            amount: "250",
            store: "s1",
            pay: Some("alipay"),
            points: Some(50 + 10),
            explain: vec!["order_pay rule 1: floor(250.00 / 50) × 10 = 50".into(), bonus.clone()],
            expire: Some(t0 + Duration::days(30)),
        },
        Case {
            name: "shop s9's own rule: every method, 7 days",
            level: Some(a.clone()),
            scene: "order_pay",
            amount: "250",
            store: "s9",
            pay: Some("cash"),
            points: Some(125 + 10),
            explain: vec![
                format!("level rule {shop_id} (level {a}): floor(order 250.00 / 10) × 5 = 125"),
                bonus.clone(),
            ],
            expire: Some(t0 + Duration::days(7)),
        },
        Case {
            name: "shop s9 disables level B's earning: only the activity",
            level: Some(b.clone()),
            scene: "order_pay",
            amount: "250",
            store: "s9",
            pay: Some("alipay"),
            points: Some(10),
            explain: vec![bonus.clone()],
            expire: Some(t0 + Duration::days(7)),
        },
        Case {
            name: "a recharge where the level does not allow it",
            level: Some(a.clone()),
            scene: "recharge",
            amount: "100",
            store: "s1",
            pay: Some("alipay"),
            points: None,
            explain: vec!["a recharge does not earn (allow_recharge false)".into()],
            expire: None,
        },
        Case {
            name: "a recharge where the level allows it (SKU 24 lines)",
            level: Some(b.clone()),
            scene: "recharge",
            amount: "250",
            store: "s1",
            pay: Some("alipay"),
            points: Some(36),
            explain: vec![format!("level rule {brand_id} (level {b}): floor(listed SKUs 120.00 / 10) × 3 = 36")],
            expire: Some(never),
        },
    ];
    for (n, case) in cases.iter().enumerate() {
        // A fresh member per case: the earn recomputes its level after the award.
        let member_no = format!("m{n}");
        if let Some(level) = &case.level {
            let id = env
                .member(
                    &key,
                    json!({"name": "x", "membershipCode": member_no}),
                    json!([{"type": "wechat", "value": format!("w{n}")}]),
                )
                .await;
            sqlx::query("update member set level_id = $2::bigint where id = $1")
                .bind(id)
                .bind(level)
                .execute(&env.db)
                .await
                .unwrap();
        }
        let tenants = platform::rules::load(&env.db, &["10080".to_string()]).await.unwrap();
        let payload = EarnPayload {
            member_no: member_no.clone(),
            action_scene: case.scene.into(),
            amount: Some(Cents::parse(case.amount).unwrap()),
            order_items: Some(items.clone()),
            store_code: Some(case.store.into()),
            cost_center: None,
            campagin_code: None,
            operator: None,
            event_desc: None,
            pay_method: case.pay.map(str::to_string),
        };
        let no = format!("e{n}");
        let ev = Envelope::new(MessageKind::PointsEarn, "10080".into(), no.clone(), t0, payload);
        let got = apply_batch(&env.db, &tenants, &[ev]).await.unwrap();
        let (status, why) = env.get(&format!("/api/crm/mgr/points/10080/events/{no}/explain"), &key).await;
        assert_eq!(status, StatusCode::OK, "{}: {why}", case.name);
        let text = why["data"]["text"].as_str().unwrap().to_string();
        match (case.points, &got[0]) {
            (Some(p), Outcome::Applied { count }) => {
                assert_eq!(*count, p, "{}", case.name);
                let entries: Vec<String> = why["data"]["entries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["explain"].as_str().unwrap().to_string())
                    .collect();
                assert_eq!(entries, case.explain, "{}", case.name);
                let expires: Vec<chrono::DateTime<Utc>> =
                    sqlx::query_scalar("select expire_time from points_lot where event_no = $1")
                        .bind(&no)
                        .fetch_all(&env.db)
                        .await
                        .unwrap();
                assert!(expires.iter().all(|e| Some(*e) == case.expire), "{}: {expires:?}", case.name);
            }
            (None, Outcome::Rejected { reason, .. }) => {
                assert!(reason.contains(&case.explain[0]), "{}: {reason}", case.name);
                assert!(text.contains(&case.explain[0]), "{}: the explanation says why: {text}", case.name);
            }
            (want, got) => panic!("{}: want {want:?}, got {got:?}", case.name),
        }
    }

    // NO_CLEAR: the sweeper two centuries later expires seed 000's 30-day lot, never these.
    workers::points::sweep::run_once(&env.db, t0 + Duration::days(365 * 200), 1000).await.unwrap();
    let left = env
        .scalar(
            "select coalesce(sum(remaining), 0)::bigint from points_lot where member_no = 'm0' and expired_at is null",
        )
        .await;
    assert_eq!(left, 35, "the level award and its bonus never expire");
    let gone = env.scalar("select count(*) from points_lot where member_no = 'm4' and expired_at is not null").await;
    assert_eq!(gone, 2, "seed 000's award and its bonus expired");
    // The DM Hub point log's remark carries the why.
    let id = env.scalar("select id from member where member_no = 'm0'").await;
    let (status, log) = env.loyalty(Method::GET, &format!("/membership/{id}/point?sord=asc"), &key, None).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    assert!(log.to_string().contains(&format!("level rule {brand_id}")), "{log}");
    let violations = workers::verify::violations(&env.db, None).await.unwrap();
    assert!(violations.is_empty(), "{violations:?}");
    env.cleanup().await;
}

/// A spend follows the member's level entry: its rate, its `max_point` per use, and no points
/// beside a coupon when `with_coupon` is false; a member without a level keeps seed 000's tier.
#[tokio::test]
async fn a_spend_follows_the_level_deduction() {
    use axum::http::Method;
    use chrono::Utc;
    use schemas::{money::Cents, points::ConsumePayload, Envelope, MessageKind};
    use workers::{
        outcome::{Outcome, Refusal},
        points::consume,
    };

    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    env.rule("10080", &key, json!({"rule_name": "签到", "action_scene": "user_sign", "points_type": "event", "expire_term": 30, "change_points": 1000, "range_days": 0})).await;
    let (status, body) = env
        .post(
            "/api/crm/mgr/points/10080/rules/consume_scene",
            &key,
            json!({"rule_name": "积分抵扣", "action_scene": "user_discount", "rules_li": [{"base_points": 10, "convert_money": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, level) = env
        .loyalty(
            Method::POST,
            "/settings/level",
            &key,
            Some(json!({"name": "A", "priority": 0, "isForever": false, "operator": "or", "rules": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{level}");
    let a = level["id"].as_i64().unwrap().to_string();
    let (status, saved) = env
        .post(
            "/api/crm/mgr/points/10080/level_rules/save",
            &key,
            json!({"name": "r", "point_deduction_rule": {"with_coupon": false, "member_point_deduction_rules": [
                {"level_id": a, "consume_money": 1, "deducted_point": 100, "has_upper_limit": true, "max_point": 500}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let rule_id = saved["data"]["rule_id"].as_str().unwrap().to_string();
    env.member(&key, json!({"name": "x", "membershipCode": "gold"}), json!([{"type": "wechat", "value": "w"}])).await;
    for member in ["gold", "plain"] {
        let (status, body) = env
            .event(
                "10080",
                &key,
                json!({"event_no": format!("sign-{member}"), "member_no": member, "action_scene": "user_sign"}),
                0,
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let worker = env.default_worker();
    loyalty_tests::wait_for("the sign-ins", std::time::Duration::from_secs(20), || async {
        (env.scalar("select count(*) from points_lot").await == 2).then_some(())
    })
    .await;
    worker.stop(std::time::Duration::from_secs(5)).await;
    // The level computed at the earn may differ; the test pins it.
    sqlx::query("update member set level_id = $1::bigint where member_no = 'gold'")
        .bind(&a)
        .execute(&env.db)
        .await
        .unwrap();
    let tenants = platform::rules::load(&env.db, &["10080".to_string()]).await.unwrap();
    // The preview quotes as the spend will: the level's rate and cap for gold, seed 000's tier otherwise.
    for (member, points) in [("gold", 500), ("plain", 200)] {
        let (status, body) = env
            .post(
                "/api/crm/mgr/points/10080/consume/preview",
                &key,
                json!({"member_no": member, "action_scene": "user_discount", "amount": 20}),
            )
            .await;
        assert_eq!((status, body["data"]["points"].as_i64()), (StatusCode::OK, Some(points)), "{member}: {body}");
    }
    let spend = |no: &str, member: &str, points: Option<i64>, amount: Option<i64>, coupon: Option<bool>| {
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
            with_coupon: coupon,
        };
        Envelope::new(MessageKind::PointsConsume, "10080".into(), no.into(), Utc::now(), payload)
    };
    /// (case, member, points, amount in yuan, with a coupon, the points taken or the refusal)
    type Case<'a> = (&'a str, &'a str, Option<i64>, Option<i64>, Option<bool>, Result<i64, (Refusal, &'a str)>);
    let cases: [Case<'_>; 5] = [
        ("by amount: the level's rate, cut to max_point", "gold", None, Some(20), None, Ok(500)),
        (
            "points above max_point",
            "gold",
            Some(600),
            None,
            None,
            Err((Refusal::LimitReached, "exceed max_point 500 per use")),
        ),
        (
            "with a coupon",
            "gold",
            Some(100),
            None,
            Some(true),
            Err((Refusal::LevelRule, "do not combine with a coupon")),
        ),
        ("points within the cap", "gold", Some(300), None, Some(false), Ok(300)),
        ("no level: seed 000's tier", "plain", None, Some(20), Some(true), Ok(200)),
    ];
    for (n, (name, member, points, amount, coupon, want)) in cases.into_iter().enumerate() {
        let no = format!("s{n}");
        let got =
            consume::apply(&env.db, &tenants["10080"], &spend(&no, member, points, amount, coupon)).await.unwrap();
        match (want, got) {
            (Ok(p), Outcome::Applied { count }) => assert_eq!(count, p, "{name}"),
            (Err((code, text)), Outcome::Rejected { code: got, reason }) => {
                assert_eq!(got, code, "{name}: {reason}");
                assert!(reason.contains(text), "{name}: {reason}");
            }
            (want, got) => panic!("{name}: want {want:?}, got {got:?}"),
        }
    }
    let (_, why) = env.get("/api/crm/mgr/points/10080/events/s0/explain", &key).await;
    assert_eq!(
        why["data"]["entries"][0]["explain"],
        format!("level rule {rule_id} (level {a}): min(floor(20.00 / 1), floor(500 / 100)) × 100 = 500 points for 5.00 yuan, at most 500 per use"),
        "{why}"
    );
    let violations = workers::verify::violations(&env.db, None).await.unwrap();
    assert!(violations.is_empty(), "{violations:?}");
    env.cleanup().await;
}
