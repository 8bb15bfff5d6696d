//! The same event twice, by the client or by the broker, is applied once.

use std::{sync::Arc, time::Duration};

use axum::http::StatusCode;
use loyalty_tests::{seed_rule, wait_for, TestEnv};
use schemas::{points::EarnPayload, Envelope, MessageKind};
use serde_json::json;

#[tokio::test]
async fn the_same_event_posted_twice_is_applied_once() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    env.rule("10080", &key, seed_rule()).await;
    let worker = env.default_worker();
    let event = json!({"event_no": "add2022061520282639", "member_no": "ec_1", "action_scene": "order_pay", "amount": 120, "store_code": "ec_mall"});

    let (status, first) = env.event("10080", &key, event.clone(), 5000).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["data"]["status"], json!("applied"), "{first}");
    assert_eq!(first["data"]["points"], json!(20));

    let (status, second) = env.event("10080", &key, event, 5000).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["data"]["status"], json!("duplicate"), "{second}");
    assert_eq!(second["data"]["first"]["status"], json!("applied"));
    assert_eq!(second["data"]["first"]["message_id"], first["data"]["message_id"], "the first outcome is reported");

    assert_eq!(env.scalar("select count(*) from points_ledger").await, 1);
    assert_eq!(env.scalar("select points from member_balance where member_no = 'ec_1'").await, 20);
    let (status, got) = env.get("/api/crm/mgr/points/10080/events/add2022061520282639", &key).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["data"]["status"], json!("applied"));
    let (status, _) = env.get("/api/crm/mgr/points/10080/events/never-sent", &key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    worker.stop(Duration::from_secs(5)).await;
    env.cleanup().await;
}

#[tokio::test]
async fn the_same_message_published_twice_is_applied_once() {
    let env = TestEnv::new().await;
    let key = env.tenant("10080").await;
    env.rule("10080", &key, seed_rule()).await;
    let payload = EarnPayload {
        member_no: "m1".into(),
        action_scene: "order_pay".into(),
        amount: Some(schemas::money::Cents(10_000)),
        order_items: None,
        store_code: None,
        cost_center: None,
        campagin_code: None,
        operator: None,
        event_desc: None,
        pay_method: None,
    };
    let envelope = Envelope::new(MessageKind::PointsEarn, "10080".into(), "dup-1".into(), chrono::Utc::now(), payload);
    let body = serde_json::to_vec(&envelope).unwrap();
    let (conn, channel) = env.channel().await;
    // Published twice, exactly as a publisher retrying after a lost confirm would: same id.
    let (exchange, id) = (env.topology.events_exchange(), envelope.message_id.to_string());
    for _ in 0..2 {
        loyalty_tests::publish_confirmed(&channel, exchange, "points.earn.order_pay", &id, "points.earn", &body).await;
    }
    conn.close(200, "done".into()).await.ok();
    let worker = env.worker(1, false, Arc::default());
    let duplicates = wait_for("the second copy to be seen as a duplicate", Duration::from_secs(10), || async {
        let d: Option<i32> = sqlx::query_scalar("select duplicates from inbox where idem_key = 'dup-1'")
            .fetch_optional(&env.db)
            .await
            .unwrap();
        d.filter(|&d| d >= 1)
    })
    .await;
    assert_eq!(duplicates, 1);
    assert_eq!(env.scalar("select count(*) from points_ledger").await, 1, "applied once");
    assert_eq!(env.scalar("select points from member_balance where member_no = 'm1'").await, 20);
    worker.stop(Duration::from_secs(5)).await;
    env.cleanup().await;
}
