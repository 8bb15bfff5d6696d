//! The outbox row as the relay sends it: the events go in as `jsonb` and are stored in
//! PostgreSQL's normal form (its key order, `": "` and `", "` separators, absent values `null`),
//! whatever order serde writes the fields in; so the typed events give the bytes the workers'
//! `json!` objects gave, and consumers that compare or hash the messages see no change.

use chrono::{TimeZone, Utc};
use loyalty_tests::TestEnv;
use schemas::analytics::{AnalyticsEvent, CardExpired, CardRedeemReversed};
use uuid::Uuid;

#[tokio::test]
async fn outbox_rows_keep_the_bytes_of_the_json_objects() {
    let env = TestEnv::new().await;
    let at = Utc.with_ymd_and_hms(2026, 11, 27, 6, 30, 15).unwrap();
    let events = [
        AnalyticsEvent::CardsExpire(CardExpired {
            event_id: Uuid::from_u128(1),
            crm_id: "crm1".into(),
            member_no: None,
            card_id: "card1".into(),
            card_code: "K1".into(),
            occurred_at: at,
            trace: None,
        }),
        AnalyticsEvent::CardsRedeemReverse(CardRedeemReversed {
            event_id: Uuid::from_u128(2),
            crm_id: "crm1".into(),
            member_no: "m1".into(),
            card_id: "card1".into(),
            card_code: "K1".into(),
            redeem_id: "r1".into(),
            rollback_status: 2,
            occurred_at: at,
            trace: None,
        }),
    ];
    let mut conn = env.db.acquire().await.unwrap();
    workers::outbox::write(&mut conn, "cards.test", &events).await.unwrap();
    let (text, count): (String, i32) =
        sqlx::query_as("select events::text, event_count from outbox").fetch_one(&mut *conn).await.unwrap();
    drop(conn);
    assert_eq!(count, 2);
    assert_eq!(
        text,
        concat!(
            r#"[{"kind": "cards.expire", "crm_id": "crm1", "card_id": "card1", "event_id": "00000000-0000-0000-0000-000000000001", "#,
            r#""card_code": "K1", "member_no": null, "occurred_at": "2026-11-27T06:30:15Z"}, "#,
            r#"{"kind": "cards.redeem_reverse", "crm_id": "crm1", "card_id": "card1", "#,
            r#""event_id": "00000000-0000-0000-0000-000000000002", "card_code": "K1", "member_no": "m1", "redeem_id": "r1", "#,
            r#""occurred_at": "2026-11-27T06:30:15Z", "rollback_status": 2}]"#
        )
    );
    env.cleanup().await;
}
