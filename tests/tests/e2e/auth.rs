//! Tenant keys and the admin token.

use axum::http::{Method, StatusCode};
use loyalty_tests::{TestEnv, ADMIN_TOKEN};
use serde_json::json;

#[tokio::test]
async fn tenant_routes_need_the_tenants_own_key() {
    let env = TestEnv::new().await;
    let key_a = env.tenant("10080").await;
    let key_b = env.tenant("20090").await;
    let path = "/api/crm/mgr/points/10080/scene_info";
    let cases: [(&str, Option<&str>, StatusCode); 5] = [
        ("no key", None, StatusCode::UNAUTHORIZED),
        ("unknown key", Some("lk_not_a_key"), StatusCode::UNAUTHORIZED),
        ("another tenant's key", Some(&key_b), StatusCode::FORBIDDEN),
        ("the admin token", Some(ADMIN_TOKEN), StatusCode::UNAUTHORIZED),
        ("the tenant's key", Some(&key_a), StatusCode::OK),
    ];
    for (case, token, want) in cases {
        let (status, body) = env.call(Method::GET, path, token, None).await;
        assert_eq!(status, want, "{case}: {body}");
        if want != StatusCode::OK {
            assert_ne!(body["code"], json!(0), "{case}: an error has a non-zero code");
            assert!(body["msg"].as_str().is_some_and(|m| !m.is_empty()), "{case}: an error says why");
        }
    }
    // The other tenant's events endpoint refuses tenant A's key too.
    let (status, _) = env
        .post(
            "/api/crm/mgr/points/20090/events",
            &key_a,
            json!({"event_no": "e1", "member_no": "m1", "action_scene": "user_login"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    env.cleanup().await;
}

#[tokio::test]
async fn admin_routes_refuse_tenant_keys() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let body = json!({"crm_id": "30000", "name": "x"});
    let (status, _) = env.call(Method::POST, "/api/admin/tenants", None, Some(body.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no token");
    let (status, _) = env.call(Method::POST, "/api/admin/tenants", Some(&key), Some(body.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a tenant key");
    let (status, _) = env.call(Method::GET, "/api/admin/dlq", Some(&key), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a tenant key on the DLQ");
    let (status, _) = env.call(Method::POST, "/api/admin/tenants", Some(ADMIN_TOKEN), Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "the admin token");
    let (status, _) = env.call(Method::POST, "/api/admin/tenants", Some(ADMIN_TOKEN), Some(body)).await;
    assert_eq!(status, StatusCode::CONFLICT, "the same crm_id twice");
    env.cleanup().await;
}

#[tokio::test]
async fn api_keys_are_stored_hashed() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    let stored: String =
        sqlx::query_scalar("select api_key_hash from tenant where crm_id = '10080'").fetch_one(&env.db).await.unwrap();
    assert_ne!(stored, key);
    assert_eq!(stored, api::auth::hash_key(&key));
    env.cleanup().await;
}
