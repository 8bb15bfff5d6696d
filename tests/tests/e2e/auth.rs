//! Tenant keys and the admin token.

use std::time::Duration;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use loyalty_tests::{send, wait_for, TestEnv, ADMIN_TOKEN};
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

/// Several keys per tenant: created (shown once), listed by prefix, revoked; a revoked key is
/// refused by another api instance on the same database within moments (PostgreSQL's
/// notification), far sooner than the cache's 10 s, while the tenant's other key still works.
#[tokio::test]
async fn a_revoked_key_is_refused_by_every_api_instance_within_seconds() {
    let env = TestEnv::new().await;
    let first = env.tenant("10080").await;
    let keys = "/api/admin/tenants/10080/keys";
    let (status, created) = env.call(Method::POST, keys, Some(ADMIN_TOKEN), Some(json!({"name": "POS north"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let second = created["data"]["api_key"].as_str().unwrap().to_string();
    let key_id = created["data"]["key_id"].as_i64().unwrap();
    assert_eq!(created["data"]["prefix"].as_str().unwrap(), &second[..11]);
    let (status, _) = env.call(Method::POST, "/api/admin/tenants/nope/keys", Some(ADMIN_TOKEN), Some(json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = env.call(Method::GET, keys, Some(ADMIN_TOKEN), None).await;
    let listed = listed["data"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["key_id"], json!(key_id));
    assert_eq!(listed[0]["name"], json!("POS north"));
    assert!(listed.iter().all(|k| k.get("api_key").is_none() && k["prefix"].as_str().is_some_and(|p| p.len() == 11)));
    let stored: i64 = sqlx::query_scalar("select count(*) from api_key where key_hash = $1")
        .bind(api::auth::hash_key(&second))
        .fetch_one(&env.db)
        .await
        .unwrap();
    assert_eq!(stored, 1, "stored hashed");

    // Two api instances on one database, each with a warm key cache.
    let a = env.router();
    let b = api::app(api::AppState::new(env.settings.clone(), env.db.clone(), env.redis.clone()));
    let query = |router: axum::Router, key: String| async move {
        let req = Request::get("/api/crm/mgr/points/10080/scene_info")
            .header("authorization", format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap();
        send(router, req).await.0
    };
    for router in [&a, &b] {
        for key in [&first, &second] {
            assert_eq!(query(router.clone(), key.clone()).await, StatusCode::OK);
        }
    }
    let revoke = Request::delete(format!("{keys}/{key_id}"))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let (status, revoked) = send(a.clone(), revoke).await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    let at = std::time::Instant::now();
    assert!(revoked["data"]["revoked_at"].is_string(), "{revoked}");
    wait_for("instance b to refuse the revoked key", Duration::from_secs(3), || {
        let (b, second) = (b.clone(), second.clone());
        async move { (query(b, second).await == StatusCode::UNAUTHORIZED).then_some(()) }
    })
    .await;
    let delay = at.elapsed();
    println!("revocation seen by the other instance after {delay:?}");
    assert!(delay < api::auth::KEY_TTL / 4, "{delay:?}: the notification, not the cache's expiry");
    assert_eq!(query(a.clone(), second.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(query(b.clone(), first.clone()).await, StatusCode::OK, "the tenant's other key still works");
    // Revoking again changes nothing; an unknown key is 404.
    let (status, again) = env.call(Method::DELETE, &format!("{keys}/{key_id}"), Some(ADMIN_TOKEN), None).await;
    assert_eq!((status, &again["data"]["revoked_at"]), (StatusCode::OK, &revoked["data"]["revoked_at"]));
    let (status, _) = env.call(Method::DELETE, &format!("{keys}/999999"), Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    env.cleanup().await;
}
