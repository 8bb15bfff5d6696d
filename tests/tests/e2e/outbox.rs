//! The outbox row as the relay sends it: the events' JSON bytes exactly as serde wrote them
//! (a `bytea` the database never parses; issue 14), with every field of each event, absent
//! values as `null`.

use chrono::{TimeZone, Utc};
use loyalty_tests::TestEnv;
use schemas::analytics::{AnalyticsEvent, CardExpired, CardRedeemReversed};
use uuid::Uuid;

#[tokio::test]
async fn outbox_rows_hold_the_events_bytes_as_serialised() {
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
    let (bytes, count): (Vec<u8>, i32) =
        sqlx::query_as("select events, event_count from outbox").fetch_one(&mut *conn).await.unwrap();
    drop(conn);
    assert_eq!(count, 2);
    assert_eq!(bytes, serde_json::to_vec(&events).unwrap(), "stored as serialised, not re-printed");
    let stored: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        stored,
        serde_json::json!([
            {"kind": "cards.expire", "crm_id": "crm1", "card_id": "card1", "event_id": "00000000-0000-0000-0000-000000000001",
             "card_code": "K1", "member_no": null, "occurred_at": "2026-11-27T06:30:15Z"},
            {"kind": "cards.redeem_reverse", "crm_id": "crm1", "card_id": "card1",
             "event_id": "00000000-0000-0000-0000-000000000002", "card_code": "K1", "member_no": "m1", "redeem_id": "r1",
             "occurred_at": "2026-11-27T06:30:15Z", "rollback_status": 2}
        ])
    );
    env.cleanup().await;
}
