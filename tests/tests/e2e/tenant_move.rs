//! `workers tenant move` (issue 16, item 3): a tenant's rows go to another database with their
//! ids, and the tenant works there as before; the tenant beside it stays.

use std::sync::Arc;

use chrono::Duration;
use loyalty_tests::{tenant_rows, TestEnv};
use serde_json::json;
use workers::{outcome::Outcome, tenant_move::move_tenant};

use crate::ledger::{t0, Ledger};

#[tokio::test]
async fn a_tenant_moves_to_another_database_with_its_ids_and_keeps_working_there() {
    // A history in most tables: earns, a spend, a reversal, a pending transfer, a member with an
    // identity, a card with a claimed code (and so the inbox, the outbox, the audit log, …).
    let l = Ledger::new("10080").await;
    for (no, member, points) in [("e1", "m1", 100), ("e2", "m2", 50), ("e3", "m3", 70)] {
        assert!(matches!(l.earn(no, member, "order_pay", points, t0()).await, Outcome::Applied { .. }));
    }
    assert!(matches!(l.spend("s1", "m1", Some(50), None, t0() + Duration::days(1)).await, Outcome::Applied { .. }));
    assert!(matches!(l.reverse("r1", "e2", Some(10), t0() + Duration::days(1)).await, Outcome::Applied { .. }));
    assert!(matches!(l.give("g1", "m3", 20, t0() + Duration::days(1)).await, Outcome::Applied { .. }));
    let member = l.env.member(&l.key, json!({"name": "a"}), json!([{"type": "wechat", "value": "w1"}])).await;
    let worker = l.env.worker(1, false, Arc::default());
    let card_id = l.env.card_in_stock(&l.key, "10080", &[("date_type", json!(3)), ("total_quantity", json!(5))]).await;
    l.env.claim(&l.key, "10080", "m1", &card_id, 1).await;
    worker.stop(std::time::Duration::from_secs(5)).await;
    // The tenant beside it, which stays.
    let other = l.env.tenant("10081").await;
    l.env.member(&other, json!({"name": "b"}), json!([{"type": "wechat", "value": "w2"}])).await;

    let target = TestEnv::new().await;
    let moved = move_tenant(&l.env.db, &target.db, "10080").await.expect("the move");
    assert!(moved.left_behind.is_empty(), "{moved:?}");
    for table in [
        "tenant",
        "api_key",
        "member",
        "member_identity",
        "points_ledger",
        "points_lot",
        "lot_take",
        "points_transfer",
        "card_info",
        "card_code",
        "inbox",
        "outbox",
        "audit_log",
    ] {
        assert!(moved.rows.get(table).is_some_and(|&n| n > 0), "{table} moved: {moved:?}");
    }
    for (table, &n) in &moved.rows {
        assert_eq!(tenant_rows(&l.env.db, table, "10080").await, 0, "{table}: nothing left in the source");
        assert_eq!(tenant_rows(&target.db, table, "10080").await, n as i64, "{table}: every row in the target");
    }
    assert_eq!(tenant_rows(&l.env.db, "member", "10081").await, 1, "the other tenant stays");
    assert!(workers::verify::violations(&target.db, Some("10080")).await.unwrap().is_empty());
    assert!(workers::verify::violations(&l.env.db, None).await.unwrap().is_empty());

    // There, the tenant's key works, an event applies and a member is created: the target's
    // sequences were moved past the copied ids, so the new rows' keys do not collide.
    let worker = target.worker(1, false, Arc::default());
    let (_, body) = target
        .event(
            "10080",
            &l.key,
            json!({"event_no": "after", "member_no": "m1", "action_scene": "order_pay", "amount": 20}),
            5000,
        )
        .await;
    assert_eq!(body["data"]["status"], json!("applied"), "{body}");
    let newer = target.member(&l.key, json!({"name": "c"}), json!([{"type": "wechat", "value": "w3"}])).await;
    assert!(newer > member, "a new member id ({newer}) past the moved ones ({member})");
    worker.stop(std::time::Duration::from_secs(5)).await;
    assert!(workers::verify::violations(&target.db, Some("10080")).await.unwrap().is_empty());

    // Nothing is left to move; and the way back works the same.
    let err = move_tenant(&l.env.db, &target.db, "10080").await.unwrap_err().to_string();
    assert!(err.contains("no rows"), "{err}");
    let back = move_tenant(&target.db, &l.env.db, "10080").await.expect("the way back");
    assert_eq!(back.rows["points_ledger"], moved.rows["points_ledger"] + 1, "with the event applied there");
    assert!(workers::verify::violations(&l.env.db, None).await.unwrap().is_empty());
    target.cleanup().await;
    l.env.cleanup().await;
}
