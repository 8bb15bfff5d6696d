//! The audit log of management changes: who (key id or admin), what, before and after, when;
//! read by the tenant, paged; append-only whoever asks.

use axum::http::{Method, StatusCode};
use loyalty_tests::{login_rule, seed_card, TestEnv, ADMIN_TOKEN};
use serde_json::{json, Value};

async fn log(env: &TestEnv, crm_id: &str, key: &str, query: &str) -> Value {
    let (status, body) = env.get(&format!("/api/crm/audit/{crm_id}{query}"), key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

#[tokio::test]
async fn management_changes_are_logged_with_who_what_before_and_after() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let other = env.tenant("20090").await;
    let key_id: i64 =
        sqlx::query_scalar("select key_id from api_key where crm_id = '10080'").fetch_one(&env.db).await.unwrap();

    let rule_id = env.rule("10080", &key, login_rule()).await;
    let (status, _) = env
        .post(
            "/api/crm/mgr/points/10080/rules/produce_scene/update",
            &key,
            json!({"rule_id": rule_id, "change_points": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, card) = env.post("/api/crm/card/10080/create", &key, seed_card()).await;
    assert_eq!(status, StatusCode::OK, "{card}");
    let card_id = card["data"]["card_id"].as_str().unwrap().to_string();
    let (status, _) = env.post("/api/crm/card/10080/remove", &key, json!({"card_id": card_id})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = env
        .post("/api/crm/mgr/points/10080/rules/lot_delete", &key, json!({"rule_type": "produce", "rule_id": rule_id}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = env
        .call(
            Method::PUT,
            "/api/admin/tenants/10080/rate_limit",
            Some(ADMIN_TOKEN),
            Some(json!({"per_second": 9, "burst": 9})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let page = log(&env, "10080", &key, "").await;
    let items = page["items"].as_array().unwrap();
    let what: Vec<(String, String, String)> = items
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().into(),
                e["entity"].as_str().unwrap().into(),
                e["action"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> = [
        ("admin", "rate_limit", "set"),
        ("key", "produce_rule", "delete"),
        ("key", "card", "remove"),
        ("key", "card", "create"),
        ("key", "produce_rule", "update"),
        ("key", "produce_rule", "create"),
        ("admin", "api_key", "create"),
        ("admin", "tenant", "create"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(what, want, "newest first");
    assert_eq!(page["total"], json!(8));
    let update = &items[4];
    assert_eq!(update["actor_key_id"], json!(key_id), "who: the key the request was made with");
    assert_eq!(update["entity_id"], json!(rule_id.to_string()));
    assert_eq!(
        (update["before"]["change_points"].clone(), update["after"]["change_points"].clone()),
        (json!(1), json!(5))
    );
    assert!(update["at"].is_string());
    let removed = &items[2];
    assert_eq!(
        (removed["before"]["removed"].clone(), removed["after"]["removed"].clone()),
        (json!(false), json!(true))
    );
    assert_eq!(items[0]["after"], json!({"per_second": 9, "burst": 9}));
    assert_eq!(items[0]["before"], json!({"per_second": 500, "burst": 1000}));
    assert_eq!(items[0]["actor_key_id"], Value::Null);

    // Paged; another tenant sees only its own; bad paging names the field.
    let second = log(&env, "10080", &key, "?page_id=2&page_size=3").await;
    assert_eq!(second["items"].as_array().unwrap().len(), 3);
    assert_eq!(second["items"][0]["audit_id"], items[3]["audit_id"]);
    let theirs = log(&env, "20090", &other, "").await;
    assert_eq!(theirs["total"], json!(2), "20090's own creation: {theirs}");
    let (status, body) = env.get("/api/crm/audit/10080?page_size=1000", &key).await;
    assert_eq!((status, body["data"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("page_size")));
    let (status, _) = env.get("/api/crm/audit/10080", &other).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Append-only, even for the table's owner.
    for statement in ["update audit_log set action = 'x'", "delete from audit_log", "truncate audit_log"] {
        let refused = sqlx::query(statement).execute(&env.db).await.expect_err(statement);
        assert!(refused.to_string().contains("append-only"), "{statement}: {refused}");
    }
    assert_eq!(env.scalar("select count(*) from audit_log").await, 10);
    env.cleanup().await;
}
