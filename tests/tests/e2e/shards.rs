//! Issue 16, item 3: tenants placed on two PostgreSQL clusters by the shard map
//! (`DATABASE_SHARDS`): the main cluster (5432, the `default` shard and the directory) and a
//! second one (`scripts/pg-shard`, 5433, started by the test if it is not up). Each shard has its
//! own workers (`WORKER_SHARD`); the api hands each tenant's requests to its shard.

use std::{sync::Arc, time::Duration};

use axum::http::StatusCode;
use loyalty_tests::{login_rule, script, tenant_rows, wait_for, TestEnv, ADMIN_TOKEN};
use platform::settings::Shard;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_on_two_clusters_under_load_stay_on_their_shard_and_verify_clean() {
    script("pg-shard", &["up"]).await;
    let base = script("pg-shard", &["url"]).await;
    let env = TestEnv::new_with(|s| {
        let database = s.database_url.rsplit('/').next().expect("a database name").to_string();
        s.shards.push(Shard {
            name: "shard2".into(),
            database_url: format!("{base}/{database}_s2"),
            namespace: format!("{}-shard2", s.namespace),
        });
    })
    .await;
    let env = Arc::new(env);
    let shard2 = env.state.of_shard("shard2").expect("the second shard").db.clone();

    // 10080 on the default shard, 10081 on shard2.
    let key_a = env.tenant("10080").await;
    let (status, created) =
        env.post("/api/admin/tenants", ADMIN_TOKEN, json!({"crm_id": "10081", "name": "b", "shard": "shard2"})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["data"]["shard"], json!("shard2"));
    let key_b = created["data"]["api_key"].as_str().expect("api_key").to_string();
    let (status, refused) =
        env.post("/api/admin/tenants", ADMIN_TOKEN, json!({"crm_id": "10082", "name": "c", "shard": "nope"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(refused["msg"].as_str().is_some_and(|m| m.contains("shard")), "{refused}");
    env.rule("10080", &key_a, login_rule()).await;
    env.rule("10081", &key_b, login_rule()).await;

    let default_worker = env.worker(2, true, Arc::default());
    let shard2_worker = env.shard_worker("shard2", 2);
    // Both tenants at once: 4 clients each, 150 events per client.
    let started = std::time::Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..8 {
        let (env, crm_id, key) =
            if client % 2 == 0 { (env.clone(), "10080", key_a.clone()) } else { (env.clone(), "10081", key_b.clone()) };
        clients.spawn(async move {
            for i in 0..150 {
                let event = json!({"event_no": format!("c{client}-{i}"), "member_no": format!("m{}", i % 40), "action_scene": "user_login"});
                env.post_accepted(&format!("/api/crm/mgr/points/{crm_id}/events"), &key, event).await;
            }
        });
    }
    while let Some(r) = clients.join_next().await {
        r.unwrap();
    }
    wait_for("every event applied on its shard", Duration::from_secs(60), || async {
        (tenant_rows(&env.db, "points_ledger", "10080").await == 600
            && tenant_rows(&shard2, "points_ledger", "10081").await == 600)
            .then_some(())
    })
    .await;

    eprintln!("shards: 1,200 events accepted and applied in {:?}", started.elapsed());
    // Each tenant's data on its own shard only; the directory keeps the keys.
    for table in ["points_ledger", "points_lot", "member_balance", "inbox", "outbox", "produce_rule"] {
        assert_eq!(tenant_rows(&env.db, table, "10081").await, 0, "{table}: nothing of shard2's tenant on default");
        assert_eq!(tenant_rows(&shard2, table, "10080").await, 0, "{table}: nothing of default's tenant on shard2");
        assert!(tenant_rows(&shard2, table, "10081").await > 0, "{table}: shard2's tenant on shard2");
    }
    assert_eq!(tenant_rows(&shard2, "tenant", "10081").await, 1, "the tenant row's copy on its shard");
    assert_eq!(tenant_rows(&shard2, "api_key", "10081").await, 0, "keys stay in the directory");
    assert_eq!(tenant_rows(&env.db, "api_key", "10081").await, 1);

    // Reads go to the tenant's shard too.
    let (status, summary) = env.get("/api/crm/mgr/points/10081/summary?member_no=m1", &key_b).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["data"]["points"], json!(16), "16 logins of m1 on shard2: {summary}");
    // Readiness names each shard.
    let (status, ready) = env.call(axum::http::Method::GET, "/readyz", None, None).await;
    assert_eq!((status, ready["shards"].clone()), (StatusCode::OK, json!({"shard2": "ok"})), "{ready}");
    // A poison message on shard2 is parked by shard2's worker; operators see every shard's DLQ.
    let (conn, channel) = env.channel().await;
    let shard2_exchange = env.state.of_shard("shard2").expect("shard2").topology.events_exchange();
    loyalty_tests::publish_confirmed(
        &channel,
        shard2_exchange,
        "points.earn.user_login",
        "bad-json",
        "points.earn",
        b"{not json",
    )
    .await;
    conn.close(200, "done".into()).await.ok();
    let parked = wait_for("the poison parked on shard2", Duration::from_secs(15), || async {
        let (_, parked) = env.get("/api/admin/dlq", ADMIN_TOKEN).await;
        let list = parked["data"].as_array().cloned().unwrap_or_default();
        (!list.is_empty()).then_some(list)
    })
    .await;
    assert!(parked[0]["queue"].as_str().is_some_and(|q| q.contains("-shard2.")), "{parked:?}");
    let (_, only_default) = env.get("/api/admin/dlq?shard=default", ADMIN_TOKEN).await;
    assert_eq!(only_default["data"], json!([]), "{only_default}");

    // 10081 moves to the default shard (its traffic has stopped: every event above is applied).
    let moved = workers::tenant_move::move_to_shard(&env.settings, "10081", "default").await.expect("the move");
    assert_eq!(moved.rows["points_ledger"], 600);
    assert!(
        !moved.rows.contains_key("tenant") && !moved.rows.contains_key("api_key"),
        "the directory's rows stay: {moved:?}"
    );
    assert_eq!(tenant_rows(&shard2, "points_ledger", "10081").await, 0);
    assert_eq!(tenant_rows(&shard2, "tenant", "10081").await, 0, "the shard's copy of the tenant row goes too");
    assert_eq!(tenant_rows(&env.db, "points_ledger", "10081").await, 600);
    assert_eq!(tenant_rows(&env.db, "api_key", "10081").await, 1, "its key stays, and works");
    // The api instances drop their cached keys (a notification): reads come from the new shard,
    // where m1 has its 16 points (the old shard has none now).
    wait_for("10081's reads to come from the default shard", Duration::from_secs(15), || async {
        let (_, summary) = env.get("/api/crm/mgr/points/10081/summary?member_no=m1", &key_b).await;
        (summary["data"]["points"] == json!(16)).then_some(())
    })
    .await;
    let after = json!({"event_no": "after-move", "member_no": "m1", "action_scene": "user_login"});
    let (_, applied) = env.event("10081", &key_b, after, 5000).await;
    assert_eq!(applied["data"]["status"], json!("applied"), "{applied}");
    assert_eq!(tenant_rows(&env.db, "points_ledger", "10081").await, 601, "applied on the new shard");

    default_worker.stop(Duration::from_secs(5)).await;
    shard2_worker.stop(Duration::from_secs(5)).await;
    assert!(workers::verify::violations(&env.db, None).await.unwrap().is_empty(), "verify clean on default");
    assert!(workers::verify::violations(&shard2, None).await.unwrap().is_empty(), "verify clean on shard2");
    Arc::into_inner(env).expect("clients ended").cleanup().await;
}
