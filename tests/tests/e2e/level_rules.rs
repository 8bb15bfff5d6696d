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
